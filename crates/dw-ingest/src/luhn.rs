//! The Luhn (mod 10) check that every issued payment card number passes:
//! one place for the attributes CSV's refusal of raw card numbers and for
//! redaction at ingest.

/// Whether the digits of `text` (anything else ignored) pass the check:
/// from the right, every second digit doubled (less 9 when over 9), the sum
/// a multiple of ten.
pub(crate) fn passes(text: &str) -> bool {
    let sum: u32 = text
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect::<Vec<u32>>()
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_textbook_example_passes_and_a_changed_digit_fails() {
        assert!(super::passes("79927398713"));
        assert!(!super::passes("79927398714"));
        assert!(super::passes("4111 1111 1111 1111"), "separators are ignored");
    }
}
