//! OTLP/HTTP exports (traces and logs, protobuf and JSON) and OTLP files.

use dw_ingest::formats::otlp::{Encoding, parse_logs, parse_traces};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = dw_fuzz::limits();
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            if let Ok(traces) = parse_traces(data, encoding, &limits) {
                dw_fuzz::check_batch(&traces.batch, &limits, traces.spans, traces.spans);
                assert!(traces.batch.events.len() as u64 + traces.awaiting.len() as u64 <= traces.spans);
            }
            let _ = parse_logs(data, encoding, &limits);
        }
        if let Ok(file) = dw_ingest::formats::parse_otlp_file(data, "fuzz.logs", &limits) {
            dw_fuzz::check_batch(&file.batch, &limits, file.batch.lines, file.batch.lines);
        }
    });
}
