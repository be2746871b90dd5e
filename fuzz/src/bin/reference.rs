//! Reference-set items (`POST /v1/reference-sets/{id}/items`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = dw_fuzz::limits();
        let parsed = dw_ingest::parse_reference_ndjson(data, &limits);
        assert!(parsed.items.len() as u64 + parsed.rejected.len() as u64 + parsed.unlisted <= parsed.lines.max(1));
        assert!(parsed.rejected.len() <= limits.max_listed_errors);
    });
}
