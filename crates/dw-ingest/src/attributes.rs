//! Account attributes from CSV (`distillwatch accounts import`): a header
//! naming the columns, then one account per line. Every bad line is reported
//! with its line and column; the good ones are kept.

use std::collections::HashMap;

use dw_domain::LineError;
use dw_domain::attributes::{ATTRIBUTE_COLUMNS, AccountAttributes};
use dw_domain::csv::split_record;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The good rows and the bad lines of an attributes file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedAttributes {
    /// One per account, in file order.
    pub accounts: Vec<AccountAttributes>,
    /// Every rejected line.
    pub rejected: Vec<LineError>,
    /// The columns the header named: an import sets these (an empty value
    /// clears one) and leaves the others as stored.
    pub columns: Vec<&'static str>,
}

/// Parses an attributes file. `Err` when the header is unusable (nothing
/// can be read then); otherwise every line is either kept or rejected.
pub fn parse_attributes_csv(text: &str) -> Result<ParsedAttributes, LineError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(LineError::field(
            1,
            "header",
            format!("empty file: expected the header {}", ATTRIBUTE_COLUMNS.join(",")),
        ));
    };
    let columns = split_record(header.trim_start_matches('\u{feff}')).map_err(|e| LineError::field(1, "header", e))?;
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, column) in columns.iter().enumerate() {
        let column = column.trim();
        let Some(known) = ATTRIBUTE_COLUMNS.iter().find(|c| **c == column) else {
            return Err(LineError::field(
                1,
                column.to_owned(),
                format!("unknown column; the columns are {}", ATTRIBUTE_COLUMNS.join(", ")),
            ));
        };
        if index.insert(known, i).is_some() {
            return Err(LineError::field(1, column.to_owned(), "column given twice"));
        }
    }
    if !index.contains_key("account_id") {
        return Err(LineError::field(1, "account_id", "the header must name an account_id column"));
    }
    let mut parsed = ParsedAttributes {
        columns: ATTRIBUTE_COLUMNS.iter().copied().filter(|c| index.contains_key(c)).collect(),
        ..ParsedAttributes::default()
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (i, line) in lines {
        let number = i as u64 + 1;
        match parse_row(line, number, &columns, &index) {
            Ok(row) => match seen.get(&row.account_id) {
                Some(first) => parsed.rejected.push(LineError::field(
                    number,
                    "account_id",
                    format!("{} is already given on line {first}", row.account_id),
                )),
                None => {
                    seen.insert(row.account_id.clone(), number);
                    parsed.accounts.push(row);
                }
            },
            Err(e) => parsed.rejected.push(e),
        }
    }
    Ok(parsed)
}

fn parse_row(
    line: &str,
    number: u64,
    columns: &[String],
    index: &HashMap<&str, usize>,
) -> Result<AccountAttributes, LineError> {
    let fields = split_record(line).map_err(|e| LineError { line: number, field: None, error: e })?;
    if fields.len() != columns.len() {
        return Err(LineError {
            line: number,
            field: None,
            error: format!("{} fields, but the header names {}", fields.len(), columns.len()),
        });
    }
    let get = |name: &str| index.get(name).map(|i| fields[*i].trim()).filter(|v| !v.is_empty());
    let account_id = get("account_id").ok_or_else(|| LineError::field(number, "account_id", "must not be empty"))?;
    if account_id.len() > 256 {
        return Err(LineError::field(number, "account_id", "longer than 256 bytes"));
    }
    let created_at_ms = get("created_at").map(|v| instant(v, number)).transpose()?;
    let country = get("country")
        .map(|v| {
            if v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic()) {
                Ok(v.to_ascii_uppercase())
            } else {
                Err(LineError::field(number, "country", format!("{v:?} is not a two-letter ISO 3166-1 code")))
            }
        })
        .transpose()?;
    let org = get("org").map(str::to_owned);
    let payment_fingerprint =
        get("payment_fingerprint").map(|v| fingerprint(v, "payment_fingerprint", number)).transpose()?;
    let email_domain_fingerprint =
        get("email_domain_fingerprint").map(|v| fingerprint(v, "email_domain_fingerprint", number)).transpose()?;
    Ok(AccountAttributes {
        account_id: account_id.to_owned(),
        created_at_ms,
        org,
        country,
        payment_fingerprint,
        email_domain_fingerprint,
    })
}

fn instant(value: &str, number: u64) -> Result<i64, LineError> {
    let parsed = OffsetDateTime::parse(value, &Rfc3339).or_else(|_| {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(value, &format).map(|d| d.midnight().assume_utc())
    });
    parsed.map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64).map_err(|_| {
        LineError::field(number, "created_at", format!("{value:?} is not an RFC 3339 timestamp or a YYYY-MM-DD date"))
    })
}

/// A fingerprint must be a hash, never the thing itself: a raw card number or
/// an e-mail address is refused, so that such data never reaches the store.
fn fingerprint(value: &str, field: &str, number: u64) -> Result<String, LineError> {
    if looks_like_card_number(value) {
        return Err(LineError::field(
            number,
            field,
            "looks like a raw card number: send a salted hash of it, never the number",
        ));
    }
    if value.contains('@') {
        return Err(LineError::field(number, field, "looks like an e-mail address: send a salted hash of the domain"));
    }
    if value.len() < 8 || value.len() > 128 || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(LineError::field(number, field, "expected a hash: 8 to 128 printable ASCII characters"));
    }
    Ok(value.to_owned())
}

/// Whether `value` is a payment card number in any separator format: no
/// letters, 12 to 19 digits whatever separates them (spaces, dashes, dots,
/// slashes, ...), and the digits pass the Luhn check that every issued card
/// number passes (a numeric hash passes it one time in ten; a card number
/// always does).
fn looks_like_card_number(value: &str) -> bool {
    if value.chars().any(char::is_alphabetic) {
        return false;
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (12..=19).contains(&digits) && crate::luhn::passes(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_in_any_order_empty_values_and_dates() {
        let text = "country,account_id,created_at,payment_fingerprint\n\
                    de,acct_1,2026-10-30,sha256:9f86d081884c7d65\n\
                    ,acct_2,2026-10-30T12:00:00Z,\n";
        let parsed = parse_attributes_csv(text).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(parsed.accounts.len(), 2);
        let first = &parsed.accounts[0];
        assert_eq!(first.country.as_deref(), Some("DE"));
        assert_eq!(first.created_at_ms, Some(1_793_318_400_000));
        assert_eq!(first.payment_fingerprint.as_deref(), Some("sha256:9f86d081884c7d65"));
        assert_eq!((first.org.as_ref(), first.email_domain_fingerprint.as_ref()), (None, None));
        assert_eq!(parsed.accounts[1].created_at_ms, Some(1_793_361_600_000));
        assert_eq!(parsed.accounts[1].country, None);
        assert_eq!(parsed.columns, ["account_id", "created_at", "country", "payment_fingerprint"]);
    }

    #[test]
    fn bad_lines_say_where_and_good_lines_are_kept() {
        let text = "account_id,created_at,country,payment_fingerprint,email_domain_fingerprint\n\
                    a1,2026-13-01,,,\n\
                    a2,,Germany,,\n\
                    a3,,,4111 1111 1111 1111,\n\
                    a4,,,,user@example.com\n\
                    a5,,,short,\n\
                    ,,,,\n\
                    a6,,\n\
                    a7,2026-11-01,FR,f00dbabe12345678,deadbeefcafe0001\n\
                    a7,,,,\n";
        let parsed = parse_attributes_csv(text).unwrap();
        assert_eq!(parsed.accounts.iter().map(|a| a.account_id.as_str()).collect::<Vec<_>>(), ["a7"]);
        let got: Vec<(u64, Option<&str>)> = parsed.rejected.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(
            got,
            [
                (2, Some("created_at")),
                (3, Some("country")),
                (4, Some("payment_fingerprint")),
                (5, Some("email_domain_fingerprint")),
                (6, Some("payment_fingerprint")),
                (7, Some("account_id")),
                (8, None),
                (10, Some("account_id")),
            ]
        );
        assert!(parsed.rejected[2].error.contains("raw card number"));
        assert!(parsed.rejected[7].error.contains("already given on line 9"));
    }

    #[test]
    fn card_numbers_are_refused_in_any_separator_format_by_their_luhn_check() {
        // Test numbers of the card networks, written as people and exports write them.
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111.1111.1111.1111",
            "4111/1111/1111/1111",
            "4111_1111_1111_1111",
            " 5500 0055 5555 5559 ",
            "3782-822463-10005",
            "6011\t0009\t9013\t9424",
            "(4012) 8888 8888 1881",
        ] {
            assert!(looks_like_card_number(card), "{card:?} passed");
            let err = fingerprint(card, "payment_fingerprint", 3).unwrap_err();
            assert!(err.error.contains("raw card number"), "{card:?}: {}", err.error);
        }
        // Hashes, numeric ones that fail the check, and numbers of the wrong length go in.
        for hash in ["sha256:9f86d081884c7d65", "4111.1111.1111.1112", "41111111111", "f00dbabe12345678"] {
            assert!(!looks_like_card_number(hash), "{hash:?} refused");
        }
        assert!(crate::luhn::passes("79927398713"), "the Luhn check's textbook example");
        assert!(!crate::luhn::passes("79927398714"));
    }

    #[test]
    fn an_unusable_header_is_one_clear_error() {
        assert_eq!(parse_attributes_csv("").unwrap_err().field.as_deref(), Some("header"));
        let unknown = parse_attributes_csv("account_id,card_number\n").unwrap_err();
        assert_eq!(unknown.field.as_deref(), Some("card_number"));
        assert!(unknown.error.contains("unknown column"));
        assert_eq!(parse_attributes_csv("org,country\n").unwrap_err().field.as_deref(), Some("account_id"));
    }
}
