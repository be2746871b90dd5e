//! Account attributes: what the provider knows of its accounts.

use dw_ingest::ParsedAttributes;

use crate::{App, AppError};

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttributesImport {
    /// Accounts described for the first time.
    pub inserted: u64,
    /// Accounts whose attributes were updated.
    pub updated: u64,
}

impl App {
    /// Stores the good rows of an attributes file in one transaction: new
    /// accounts are inserted; for known ones the file's columns are set and
    /// the others kept.
    pub async fn import_account_attributes(&self, parsed: &ParsedAttributes) -> Result<AttributesImport, AppError> {
        let mut tx = self.pool.begin().await?;
        let (inserted, updated) = dw_store::attributes::upsert(&mut tx, &parsed.accounts, &parsed.columns).await?;
        tx.commit().await?;
        Ok(AttributesImport { inserted, updated })
    }
}
