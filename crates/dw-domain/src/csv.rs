//! The CSV dialect of distillwatch's files (RFC 4180): comma-separated,
//! fields quoted when they hold a comma, quote or line break, quotes doubled.
//! One record per line: a quoted line break is written but not read back.

/// A field, quoted when it must be.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// A field that a spreadsheet will show as text, never run as a formula:
/// text opening with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading apostrophe (OWASP's advice against CSV injection), then [`field`].
pub fn safe_field(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { field(&format!("'{text}")) } else { field(text) }
}

/// Splits one line into its fields, unquoting them; `Err` names the 1-based
/// column where quoting is broken.
pub fn split_record(line: &str) -> Result<Vec<String>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("column {}: unterminated quoted field", fields.len() + 1)),
                }
            }
            match chars.next() {
                None => {
                    fields.push(value);
                    return Ok(fields);
                }
                Some(',') => fields.push(value),
                Some(_) => return Err(format!("column {}: text after a closing quote", fields.len() + 1)),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(value);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => value.push(c),
                }
            }
            fields.push(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let fields = ["plain", "with,comma", "with \"quote\"", ""];
        let line = fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(",");
        assert_eq!(line, "plain,\"with,comma\",\"with \"\"quote\"\"\",");
        assert_eq!(split_record(&line).unwrap(), fields);
    }

    #[test]
    fn formulas_are_defused_and_plain_text_is_not() {
        assert_eq!(safe_field("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
        for text in ["+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"] {
            assert!(safe_field(text).trim_start_matches('"').starts_with('\''), "{text}");
        }
        assert_eq!(safe_field("a prompt, with a comma"), "\"a prompt, with a comma\"");
        assert_eq!(safe_field("0.75"), "0.75");
    }

    #[test]
    fn broken_quotes_name_the_column() {
        assert_eq!(split_record("a,\"b").unwrap_err(), "column 2: unterminated quoted field");
        assert_eq!(split_record("a,\"b\"c").unwrap_err(), "column 2: text after a closing quote");
    }
}
