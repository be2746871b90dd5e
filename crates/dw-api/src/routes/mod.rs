//! The routes, one module per resource.

pub(crate) mod accounts;
pub(crate) mod allowlist;
pub(crate) mod audits;
pub(crate) mod clusters;
pub(crate) mod events;
pub(crate) mod flags;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod otlp;
pub(crate) mod params;
pub(crate) mod reference_sets;
