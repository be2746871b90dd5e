//! Closed sets of names (a flag's status, a job's state, ...): each a Rust
//! enum whose variants have one stored and serialized name, declared with
//! [`named!`], so that the name lives in one place.

use std::fmt;

/// An unknown name for one of the named types, with the names there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being named (`status`, `subject kind`, `action`).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The names there are.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?} (expected {})", self.what, self.given, self.expected.join(", "))
    }
}

impl std::error::Error for UnknownName {}

/// Declares a closed set of names: the enum, `ALL`, `as_str`, `Display` and
/// `FromStr` (whose error lists the names).
macro_rules! named {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        // The names are the variants' in snake case (serde, and the OpenAPI
        // schema, read `rename_all`; each type's tests check they are `$text`).
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored and serialized name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| $crate::names::UnknownName {
                    what: $what,
                    given: s.to_owned(),
                    expected: $name::NAMES,
                })
            }
        }
    };
}

pub(crate) use named;
