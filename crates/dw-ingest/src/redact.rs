//! Redaction at ingest (`ingest.redact`): personal data and secrets that
//! senders' users put in their prompts, replaced before the event is stored,
//! so that neither the store, nor evidence, nor exports ever hold them.
//!
//! What each kind matches is deliberately narrow, because a redaction is
//! forever and detection reads the same text: a number in a math problem is
//! not a phone number, and a hash is not a card.
//!
//! - `email`: `local@domain.tld`;
//! - `phone`: an international number (`+` and 8 to 15 digits, separators
//!   allowed), or a North American one written in groups (`(415) 555-0134`,
//!   `415-555-0134`, `415.555.0134`);
//! - `api_key`: the published shapes of common providers' secrets (`sk-`,
//!   `sk-ant-`, `sk-proj-` keys, AWS access key ids, GitHub and Slack tokens,
//!   Google API keys) and bearer tokens;
//! - `card`: 13 to 19 digits, spaces or dashes between groups, that pass the
//!   Luhn check.
//!
//! Each match is replaced by `[email]`, `[phone]`, `[api_key]` or `[card]`.

use std::borrow::Cow;
use std::sync::LazyLock;

use dw_domain::Event;
use regex::Regex;

/// A kind of data to redact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// E-mail addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// API keys and tokens.
    ApiKey,
    /// Payment card numbers.
    Card,
}

impl Kind {
    /// Every kind, by name.
    pub const ALL: [Kind; 4] = [Kind::Email, Kind::Phone, Kind::ApiKey, Kind::Card];

    /// Its name in settings and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::ApiKey => "api_key",
            Kind::Card => "card",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::ApiKey => "[api_key]",
            Kind::Card => "[card]",
        }
    }

    fn pattern(self) -> &'static Regex {
        static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
                .expect("the e-mail pattern compiles")
        });
        static PHONE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(
                r"(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d(?:[ .\-]?\d){6,13}\b)|(?:(?:\(\d{3}\) ?|\b\d{3}[.\-])\d{3}[.\-]\d{4}\b)",
            )
            .expect("the phone pattern compiles")
        });
        static API_KEY: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(concat!(
                r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}",
                r"|AKIA[0-9A-Z]{16}",
                r"|gh[pousr]_[A-Za-z0-9]{36,}",
                r"|github_pat_[A-Za-z0-9_]{40,}",
                r"|xox[abprs]-[A-Za-z0-9\-]{10,}",
                r"|AIza[0-9A-Za-z_\-]{35})",
                r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{20,}=*"
            ))
            .expect("the key pattern compiles")
        });
        static CARD: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"\b\d(?:[ \-]?\d){12,18}\b").expect("the card pattern compiles"));
        match self {
            Kind::Email => &EMAIL,
            Kind::Phone => &PHONE,
            Kind::ApiKey => &API_KEY,
            Kind::Card => &CARD,
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("{name:?} is not a kind of redaction (known: email, phone, api_key, card)"))
    }
}

/// What to redact, and what was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redaction {
    kinds: Vec<Kind>,
}

/// How many of each kind one batch had replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redacted {
    /// Per kind, in [`Kind::ALL`]'s order.
    pub counts: [u64; 4],
}

impl Redacted {
    /// Replacements in all.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each kind with its count.
    pub fn by_kind(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL.into_iter().zip(self.counts)
    }
}

impl Redaction {
    /// Redacts these kinds (cards and keys first: a key may hold digits, an
    /// address may hold a key's shape).
    pub fn new(mut kinds: Vec<Kind>) -> Self {
        kinds.sort_by_key(|k| match k {
            Kind::ApiKey => 0,
            Kind::Email => 1,
            Kind::Card => 2,
            Kind::Phone => 3,
        });
        kinds.dedup();
        Self { kinds }
    }

    /// Whether anything is redacted.
    pub fn is_off(&self) -> bool {
        self.kinds.is_empty()
    }

    /// `text` with every match replaced, and how many of each.
    pub fn text<'a>(&self, text: &'a str, counts: &mut Redacted) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for &kind in &self.kinds {
            let index = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
            let pattern = kind.pattern();
            if !pattern.is_match(&out) {
                continue;
            }
            let mut replaced = 0;
            let next = pattern
                .replace_all(&out, |found: &regex::Captures<'_>| {
                    let hit = &found[0];
                    if kind == Kind::Card && !crate::luhn::passes(hit) {
                        return hit.to_owned();
                    }
                    replaced += 1;
                    kind.placeholder().to_owned()
                })
                .into_owned();
            counts.counts[index] += replaced;
            if replaced > 0 {
                out = Cow::Owned(next);
            }
        }
        out
    }

    /// Redacts an event's texts in place: its messages, prompt, system
    /// prompt and completion.
    pub fn event(&self, event: &mut Event, counts: &mut Redacted) {
        if self.is_off() {
            return;
        }
        let apply = |text: &mut String, counts: &mut Redacted| {
            if let Cow::Owned(redacted) = self.text(text, counts) {
                *text = redacted;
            }
        };
        // The prompt and the system prompt are taken from the messages when
        // there are any: their replacements are counted once, in the messages.
        let mut copies = Redacted::default();
        let derived = match &mut event.request.messages {
            Some(messages) => {
                for message in messages {
                    apply(&mut message.content, counts);
                }
                &mut copies
            }
            None => &mut *counts,
        };
        apply(&mut event.request.prompt, derived);
        if let Some(system) = &mut event.request.system_prompt {
            apply(system, derived);
        }
        if let Some(content) = event.response.as_mut().and_then(|r| r.content.as_mut()) {
            apply(content, counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> (String, Redacted) {
        let mut counts = Redacted::default();
        let out = Redaction::new(Kind::ALL.to_vec()).text(text, &mut counts).into_owned();
        (out, counts)
    }

    #[test]
    fn each_kind_is_replaced_and_counted() {
        let (out, counts) = redact(
            "Mail jane.doe+work@mail.example.co.uk or call +44 20 7946 0958 / (415) 555-0134; \
             my key is sk-proj-abcdefghijklmnopqrstuvwx12 and AKIAIOSFODNN7EXAMPLE; \
             card 4111 1111 1111 1111, Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        );
        assert_eq!(
            out,
            "Mail [email] or call [phone] / [phone]; my key is [api_key] and [api_key]; card [card], \
             Authorization: [api_key]"
        );
        let by_kind: Vec<(&str, u64)> = counts.by_kind().map(|(k, n)| (k.name(), n)).collect();
        assert_eq!(by_kind, [("email", 1), ("phone", 2), ("api_key", 3), ("card", 1)]);
        assert_eq!(counts.total(), 7);
    }

    #[test]
    fn numbers_that_are_not_personal_data_stay() {
        for text in [
            "Compute 1234567890123 * 2 and 17*23.",
            "The year 2026 had 365 days; pi is 3.14159265358979.",
            "Order 4111 1111 1111 1112 failed the check.",
            "ISBN 978-3-16-148410-0 and version 1.108.14, call 555-0134.",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "an @mention and a user@localhost",
        ] {
            let (out, counts) = redact(text);
            assert_eq!((out.as_str(), counts.total()), (text, 0), "{text:?}");
        }
    }

    #[test]
    fn kinds_parse_by_name_and_off_redacts_nothing() {
        assert_eq!("api_key".parse::<Kind>(), Ok(Kind::ApiKey));
        assert!("ssn".parse::<Kind>().unwrap_err().contains("known: email, phone, api_key, card"));
        let off = Redaction::default();
        let mut counts = Redacted::default();
        assert_eq!(off.text("jane@example.com", &mut counts), "jane@example.com");
        assert_eq!(counts.total(), 0);
    }
}
