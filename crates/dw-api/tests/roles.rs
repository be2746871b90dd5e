//! Who may call what, for every route the router has: the test walks the
//! router's own table (`dw_api::routes()`), so a new route is checked the
//! day it is added, against the access it declares there.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use dw_api::{Access, ApiConfig, ApiState};
use dw_app::{App, AppConfig};
use dw_domain::Role;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tower::ServiceExt;

/// The route's path with every `{parameter}` filled in.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('1');
            }
            '}' => inside = false,
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn every_route_admits_exactly_the_roles_it_declares(pool: PgPool) {
    let app = App::new(pool, AppConfig::default());
    let actor = dw_app::Actor { name: "cli:test".into(), role: "admin".into() };
    let mut keys = Vec::new();
    for role in Role::ALL {
        let key = app.create_key(&format!("{role} key"), role, &actor).await.unwrap();
        keys.push((role, key.secret.expose_secret().to_owned()));
    }
    let router = dw_api::router(ApiState::new(app, ApiConfig::default()));
    let call = |method: &Method, path: &str, key: Option<&str>| {
        let mut request = Request::builder().method(method.clone()).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = if matches!(*method, Method::POST | Method::PATCH | Method::PUT) {
            request.header(header::CONTENT_TYPE, "application/json").body(Body::from("{}"))
        } else {
            request.body(Body::empty())
        };
        router.clone().oneshot(request.unwrap())
    };

    let routes = dw_api::routes();
    assert!(routes.len() >= 40, "the table holds every route: {}", routes.len());
    let mut seen = BTreeSet::new();
    for route in &routes {
        assert!(seen.insert((route.method.to_string(), route.path)), "{} {} twice", route.method, route.path);
        let path = concrete(route.path);
        let anonymous = call(&route.method, &path, None).await.unwrap().status();
        let Some(allowed) = route.access.roles() else {
            assert!(
                anonymous != StatusCode::UNAUTHORIZED && anonymous != StatusCode::FORBIDDEN,
                "{} {path} is public, answered {anonymous}",
                route.method
            );
            continue;
        };
        assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{} {path} without a key", route.method);
        let (status, _) = {
            let response = call(&route.method, &path, Some("dw_not_a_key")).await.unwrap();
            (response.status(), ())
        };
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path} with an unknown key", route.method);
        for (role, key) in &keys {
            let status = call(&route.method, &path, Some(key)).await.unwrap().status();
            if allowed.contains(role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{} {path} as {role} (declared {:?}): {status}",
                    route.method,
                    route.access
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {path} as {role} (declared {:?})",
                    route.method,
                    route.access
                );
            }
        }
    }
    // Every keyed route declares one of the roles, and admin may call them all.
    assert!(routes.iter().filter_map(|r| r.access.roles()).all(|roles| roles.contains(&Role::Admin)));
    assert!(routes.iter().any(|r| r.access == Access::AnyKey));
}
