//! The accounts' attributes CSV (`distillwatch accounts import`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok(parsed) = dw_ingest::parse_attributes_csv(text) {
            let lines = text.lines().count() as u64;
            assert!(parsed.accounts.len() as u64 + parsed.rejected.len() as u64 <= lines);
            for account in &parsed.accounts {
                assert!(!account.account_id.is_empty());
            }
        }
    });
}
