//! Body decoding: gzip and zstd, under the body limit whatever the ratio.

use dw_ingest::{ContentEncoding, decode_body};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limit = 64 * 1024;
        for encoding in [ContentEncoding::Gzip, ContentEncoding::Zstd, ContentEncoding::Identity] {
            if let Ok(decoded) = decode_body(data, encoding, limit) {
                assert!(decoded.len() <= limit, "decoded past the limit");
            }
        }
    });
}
