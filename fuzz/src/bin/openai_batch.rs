//! A Batch API input file and its output file, joined by `custom_id` (the
//! input is cut in two at its first 0xFF byte, which JSON never holds).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let cut = data.iter().position(|b| *b == 0xFF).unwrap_or(data.len());
        let (input, output) = (&data[..cut], data.get(cut + 1..).unwrap_or_default());
        let limits = dw_fuzz::limits();
        let parsed = dw_ingest::parse_openai_batch(input, output, Some("acct"), &limits);
        // One outcome per input line, and a rejection per answer no request has.
        let (inputs, outputs) = (dw_fuzz::physical_lines(input), dw_fuzz::physical_lines(output));
        dw_fuzz::check_batch(&parsed, &limits, inputs + outputs, inputs);
    });
}
