//! What the provider knows about an account beyond its traffic: when it was
//! opened, its organization and country, and fingerprints (salted hashes) of
//! its payment instrument and e-mail domain. All optional.

/// One account's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountAttributes {
    /// The account.
    pub account_id: String,
    /// When the provider opened it, in milliseconds since the Unix epoch.
    pub created_at_ms: Option<i64>,
    /// Its organization.
    pub org: Option<String>,
    /// Its country (ISO 3166-1 alpha-2, upper case).
    pub country: Option<String>,
    /// A fingerprint (hash) of its payment instrument.
    pub payment_fingerprint: Option<String>,
    /// A fingerprint (hash) of its e-mail domain.
    pub email_domain_fingerprint: Option<String>,
}

/// The columns of an attributes file; `account_id` is required, the others
/// may be left out or left empty.
pub const ATTRIBUTE_COLUMNS: [&str; 6] =
    ["account_id", "created_at", "org", "country", "payment_fingerprint", "email_domain_fingerprint"];
