//! Bearer-key authentication and role checks.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use dw_domain::{ApiKey, Role};
use secrecy::SecretString;

use crate::{ApiError, ApiState};

/// The authenticated caller of a `/v1` route.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey);

impl Caller {
    /// The caller as the audit log and flag histories name them.
    pub fn actor(&self) -> dw_app::Actor {
        dw_app::Actor::of_key(&self.0)
    }

    /// Succeeds when the caller's role may act where `allowed` roles may
    /// (`admin` always may).
    pub fn require(&self, allowed: &[Role]) -> Result<&ApiKey, ApiError> {
        if self.0.role.permits(allowed) {
            Ok(&self.0)
        } else {
            let needed: Vec<&str> = allowed.iter().map(|r| r.as_str()).chain(["admin"]).collect();
            Err(ApiError::Forbidden { role: self.0.role.to_string(), needed: needed.join(", ") })
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::MissingKey)?;
        let text = header.to_str().map_err(|_| ApiError::MissingKey)?;
        let (scheme, key) = text.trim().split_once(' ').ok_or(ApiError::MissingKey)?;
        if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
            return Err(ApiError::MissingKey);
        }
        let secret = SecretString::from(key.trim().to_owned());
        let key = state.app().authenticate(&secret).await?.ok_or(ApiError::InvalidKey)?;
        tracing::Span::current().record("key_id", tracing::field::display(key.key_id));
        Ok(Caller(key))
    }
}

/// An ingest caller of the Langfuse OTLP path: HTTP Basic credentials whose
/// password is an ingest key (the username, Langfuse's public key, is kept,
/// not checked), or a bearer key as on every other route.
#[derive(Debug, Clone)]
pub struct BasicIngest {
    /// The caller, once its key's role is checked.
    pub caller: Caller,
    /// The Basic username (Langfuse's public key), when Basic was used.
    pub username: Option<String>,
}

impl FromRequestParts<ApiState> for BasicIngest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        use base64::Engine as _;
        let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::MissingKey)?;
        let text = header.to_str().map_err(|_| ApiError::MissingKey)?.trim();
        let Some((scheme, credentials)) = text.split_once(' ') else { return Err(ApiError::MissingKey) };
        if !scheme.eq_ignore_ascii_case("basic") {
            let Ingest(caller) = Ingest::from_request_parts(parts, state).await?;
            return Ok(Self { caller, username: None });
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(ApiError::MissingKey)?;
        let (username, password) = decoded.split_once(':').ok_or(ApiError::MissingKey)?;
        let secret = SecretString::from(password.to_owned());
        let key = state.app().authenticate(&secret).await?.ok_or(ApiError::InvalidKey)?;
        tracing::Span::current().record("key_id", tracing::field::display(key.key_id));
        let caller = Caller(key);
        caller.require(Ingest::ALLOWED)?;
        Ok(Self { caller, username: (!username.is_empty()).then(|| username.to_owned()) })
    }
}

/// A role gate: an extractor that admits the keys of [`RoleGate::ALLOWED`]
/// roles (and `admin`), and answers 401 or 403 before the handler runs.
macro_rules! role_gate {
    ($(#[$doc:meta])* $name:ident, $($role:expr),+) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl $name {
            /// The roles it admits (`admin` is always admitted too).
            pub const ALLOWED: &'static [Role] = &[$($role),+];
        }

        impl FromRequestParts<ApiState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require(Self::ALLOWED)?;
                Ok(Self(caller))
            }
        }
    };
}

role_gate!(
    /// A caller with an `ingest` (or `admin`) key.
    Ingest,
    Role::Ingest
);
role_gate!(
    /// A caller with an `analyst` (or `admin`) key.
    Analyst,
    Role::Analyst
);
role_gate!(
    /// A caller with an `admin` key.
    Admin,
    Role::Admin
);
