//! Who may call what, for every route the router has: the test walks the
//! router's own table (`dw_api::routes()`), so a new route is checked the
//! day it is added, against the access it declares there: API routes with
//! keys, console pages with sessions (an ingest key cannot open one).

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use dw_api::{Access, ApiConfig, ApiState, Via};
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

    // The console's pages: a session per role that may sign in (ingest keys may not).
    let mut sessions = Vec::new();
    for (role, key) in &keys {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("key={key}")))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let cookie = response.headers().get(header::SET_COOKIE).map(|c| c.to_str().unwrap().to_owned());
        if *role == Role::Ingest {
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "an ingest key cannot sign in");
            assert!(cookie.is_none());
            continue;
        }
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{role} signs in");
        let token = cookie.unwrap().split(';').next().unwrap().strip_prefix("dw_session=").unwrap().to_owned();
        let csrf = dw_app::csrf_token(&secrecy::SecretString::from(token.clone()));
        sessions.push((*role, token, csrf));
    }
    let visit = |method: &Method, path: &str, session: Option<&(Role, String, String)>| {
        let mut request = Request::builder().method(method.clone()).uri(path);
        if let Some((_, token, _)) = session {
            request = request.header(header::COOKIE, format!("dw_session={token}"));
        }
        let body = session.map(|(_, _, csrf)| format!("csrf={csrf}")).unwrap_or_default();
        let request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        router.clone().oneshot(request.body(Body::from(body)).unwrap())
    };

    let routes = dw_api::routes();
    assert!(routes.len() >= 40, "the table holds every route: {}", routes.len());
    let mut seen = BTreeSet::new();
    for route in &routes {
        assert!(seen.insert((route.method.to_string(), route.path)), "{} {} twice", route.method, route.path);
        let path = concrete(route.path);
        if route.via == Via::Session {
            let anonymous = visit(&route.method, &path, None).await.unwrap();
            let Some(allowed) = route.access.roles() else {
                let status = anonymous.status();
                assert!(
                    status != StatusCode::FORBIDDEN
                        && anonymous.headers().get(header::LOCATION).is_none_or(|l| l != "/sign-in"),
                    "{} {path} is public, answered {status}",
                    route.method
                );
                continue;
            };
            assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{} {path} without a session", route.method);
            assert_eq!(anonymous.headers().get(header::LOCATION).unwrap(), "/sign-in");
            for session in &sessions {
                let role = session.0;
                let response = visit(&route.method, &path, Some(session)).await.unwrap();
                let status = response.status();
                // Sent to sign in because the session was not taken; a sign-out that
                // clears the cookie was admitted.
                let signed_out = response
                    .headers()
                    .get(header::SET_COOKIE)
                    .is_some_and(|c| c.to_str().unwrap().contains("Max-Age=0"));
                let to_sign_in =
                    !signed_out && response.headers().get(header::LOCATION).is_some_and(|l| l == "/sign-in");
                if allowed.contains(&role) {
                    assert!(
                        status != StatusCode::FORBIDDEN && !to_sign_in,
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
            continue;
        }
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
    assert!(routes.iter().any(|r| r.via == Via::Session && r.access == Access::Admin));
}
