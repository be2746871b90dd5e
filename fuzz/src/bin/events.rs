//! Event bodies as `POST /v1/events` reads them: NDJSON and JSON arrays of
//! canonical events, and the gateway formats (LiteLLM, OpenAI pairs).

use dw_ingest::{Format, Source};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = dw_fuzz::limits();
        let lines = dw_fuzz::physical_lines(data);
        let ndjson = dw_ingest::parse_ndjson(data, &limits);
        dw_fuzz::check_batch(&ndjson, &limits, ndjson.lines, lines);
        let array = dw_ingest::parse_json_array(data, &limits);
        dw_fuzz::check_batch(&array, &limits, array.lines, array.lines);
        for format in [Format::Litellm, Format::Openai] {
            let source = Source { format, account: None };
            let ndjson = dw_ingest::parse_ndjson_as(&source, data, &limits);
            dw_fuzz::check_batch(&ndjson, &limits, ndjson.lines, lines);
            let array = dw_ingest::parse_json_as(&source, data, &limits);
            dw_fuzz::check_batch(&array, &limits, array.lines, array.lines);
        }
    });
}
