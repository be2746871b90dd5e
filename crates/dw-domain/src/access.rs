//! API keys and the roles that decide what a key may do.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What an API key may do. Roles are not ordered: `admin` may do everything,
/// `analyst` reads and works flags, `ingest` may only send events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends usage events.
    Ingest,
    /// Reads scores and works flags.
    Analyst,
    /// Everything, including keys and configuration.
    Admin,
}

impl Role {
    /// Every role, in the order they are documented.
    pub const ALL: [Role; 3] = [Role::Ingest, Role::Analyst, Role::Admin];

    /// The role's name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Whether a key of this role may act where any of `allowed` is required.
    /// `admin` is allowed everywhere.
    pub fn permits(self, allowed: &[Role]) -> bool {
        self == Role::Admin || allowed.contains(&self)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of `ingest`, `analyst`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl std::fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown role {:?}: expected one of ingest, analyst, admin", self.0)
    }
}

impl std::error::Error for UnknownRole {}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A stored API key (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// Stable id of the key.
    pub key_id: Uuid,
    /// A person's name for the key.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    /// What the source sending with this key logs of each conversation
    /// (ingest keys; events and batches that say otherwise keep their own).
    pub history: crate::HistoryLogging,
    /// When the key was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the key was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When the key was last used (updated at most once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_is_allowed_everywhere_and_others_only_where_named() {
        assert!(Role::Admin.permits(&[Role::Ingest]));
        assert!(Role::Ingest.permits(&[Role::Ingest]));
        assert!(!Role::Analyst.permits(&[Role::Ingest]));
        assert!(!Role::Ingest.permits(&[Role::Analyst]));
        assert!(!Role::Analyst.permits(&[Role::Admin]));
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
    }
}
