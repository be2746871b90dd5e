//! What the provider knows of each simulated account: when it was opened,
//! its organization and country, and fingerprints of its payment instrument
//! and e-mail domain, after what providers have reported of campaigns
//! (accounts opened in bursts, a few payment instruments shared across many
//! accounts) and of ordinary customers (old accounts, a team's accounts on
//! one corporate card, families sharing a card, big e-mail providers).
//!
//! Drawn from a random stream of its own, so the traffic of a seed is the
//! same with or without attributes. Some values are missing on purpose: real
//! account records are incomplete.

use std::collections::BTreeMap;

use dw_domain::AccountAttributes;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Simulation;
use crate::kinds::Kind;
use crate::timing::DAY;

/// The random stream of attributes (the accounts' traffic streams are 1..=n).
const STREAM: u64 = u64::MAX - 7;

/// Countries of the simulated customers.
const COUNTRIES: [&str; 12] = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "KR", "CA", "SG", "NL", "PL"];

/// Big e-mail providers that unrelated people share.
const BIG_PROVIDERS: usize = 5;

fn hash(seed: u64, what: &str, n: u64) -> String {
    let text = format!("{seed}:{what}:{n}");
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{what}_{h:016x}")
}

/// Days before `start` drawn log-uniformly between `low` and `high`.
fn days_before(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    (low.ln() + rng.random::<f64>() * (high.ln() - low.ln())).exp()
}

/// Every account's attributes, in account order.
pub fn account_attributes(sim: &Simulation) -> Vec<AccountAttributes> {
    let seed = sim.config.seed;
    let start = sim.config.window().start;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM);
    let ms = |unix_seconds: f64| (unix_seconds * 1000.0) as i64;

    // Each campaign: when its accounts were opened, its cards, its e-mail domain.
    struct Operator {
        opened: f64,
        cards: Vec<String>,
        domain: String,
        /// The share of members that pay with one of the operator's cards.
        card_share: f64,
        /// Days over which the members were opened.
        spread_days: f64,
    }
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for campaign in sim.accounts.iter().filter_map(|a| a.campaign.as_deref()) {
        *sizes.entry(campaign).or_default() += 1;
    }
    let mut operators: BTreeMap<&str, Operator> = BTreeMap::new();
    for (n, account) in sim.accounts.iter().enumerate() {
        let Some(campaign) = account.campaign.as_deref() else { continue };
        if matches!(account.kind, Kind::FarmRotatingHosting | Kind::FarmProxyReasoning) {
            // Hydra operators draw how much they share from ranges, from a
            // stream of their own (the other accounts' attributes stay as
            // they were): cards from none to all, sign-ups from hours to weeks.
            operators.entry(campaign).or_insert_with(|| {
                let mut own = ChaCha8Rng::seed_from_u64(seed ^ 0x4859_4452_4100_0000 ^ n as u64);
                let cards = (0..own.random_range(1..=4)).map(|c| hash(seed, "card", (n as u64) << 8 | c)).collect();
                let domain = hash(seed, "domain", own.random_range(0..BIG_PROVIDERS as u64));
                Operator {
                    opened: start as f64 - days_before(&mut own, 2.0, 60.0) * DAY as f64,
                    cards,
                    domain,
                    card_share: *[0.0, 0.3, 0.7, 1.0].choose(&mut own).unwrap_or(&0.0),
                    spread_days: days_before(&mut own, 0.1, 21.0),
                }
            });
            continue;
        }
        operators.entry(campaign).or_insert_with(|| {
            // A card for every 16 accounts at most: cards are what an operator has few of.
            let most = 1 + sizes[campaign] as u64 / 16;
            let cards = (0..rng.random_range(1..=most)).map(|c| hash(seed, "card", (n as u64) << 8 | c)).collect();
            let domain = if rng.random_bool(0.6) {
                hash(seed, "domain", 1_000_000 + n as u64)
            } else {
                hash(seed, "domain", rng.random_range(0..BIG_PROVIDERS as u64))
            };
            Operator {
                opened: start as f64 - days_before(&mut rng, 4.0, 40.0) * DAY as f64,
                cards,
                domain,
                card_share: 0.85,
                spread_days: 2.0,
            }
        });
    }

    // Developer teams of two to six share an organization and a corporate card.
    let mut team_of: BTreeMap<usize, usize> = BTreeMap::new();
    let developers: Vec<usize> =
        sim.accounts.iter().enumerate().filter(|(_, a)| a.kind == Kind::Developer).map(|(i, _)| i).collect();
    let mut i = 0;
    while i < developers.len() {
        // About a quarter of developers work in teams.
        if rng.random_bool(0.08) {
            let size = rng.random_range(2..=6).min(developers.len() - i);
            for member in &developers[i..i + size] {
                team_of.insert(*member, developers[i]);
            }
            i += size;
        } else {
            i += 1;
        }
    }

    // A few enterprises give many employees a seat on one corporate card: the
    // largest benign clusters, which a link term must not flag for their size.
    let mut enterprise_of: BTreeMap<usize, usize> = BTreeMap::new();
    let people: Vec<usize> = sim
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.kind, Kind::Casual | Kind::HeavyChat))
        .map(|(i, _)| i)
        .collect();
    let enterprises = (people.len() / 250).max(1);
    for e in 0..enterprises {
        let size = rng.random_range(15..=50).min(people.len() / 8);
        for member in people.iter().skip(e).step_by(enterprises * 3).take(size) {
            enterprise_of.insert(*member, e);
        }
    }

    let mut out = Vec::with_capacity(sim.accounts.len());
    let mut family_card: Option<String> = None;
    for (n, account) in sim.accounts.iter().enumerate() {
        let own_card = hash(seed, "card", 1 << 40 | n as u64);
        let big_provider = hash(seed, "domain", rng.random_range(0..BIG_PROVIDERS as u64));
        let mut attributes = AccountAttributes {
            account_id: account.id.clone(),
            country: Some((*COUNTRIES.choose(&mut rng).unwrap_or(&"US")).to_owned()),
            ..AccountAttributes::default()
        };
        let (opened, org, card, domain) =
            match (account.kind, account.campaign.as_deref().and_then(|c| operators.get(c))) {
                (_, Some(operator)) => {
                    // Most members pay with one of the operator's cards; a few with their own.
                    let card = if rng.random_bool(operator.card_share) {
                        operator.cards.choose(&mut rng).cloned().unwrap_or(own_card)
                    } else {
                        own_card
                    };
                    let opened = operator.opened + rng.random::<f64>() * operator.spread_days * DAY as f64;
                    (opened, None, card, operator.domain.clone())
                }
                (Kind::Developer, _) => {
                    let team = team_of.get(&n).copied();
                    let card = team.map_or(own_card, |lead| hash(seed, "team-card", lead as u64));
                    let org = team.map(|lead| hash(seed, "org", lead as u64));
                    let domain = team.map_or(big_provider, |lead| hash(seed, "team-domain", lead as u64));
                    (start as f64 - days_before(&mut rng, 2.0, 1500.0) * DAY as f64, org, card, domain)
                }
                (Kind::Casual | Kind::HeavyChat, _) if enterprise_of.contains_key(&n) => {
                    let e = enterprise_of[&n] as u64;
                    let card = hash(seed, "enterprise-card", e);
                    let org = hash(seed, "enterprise", e);
                    let domain = hash(seed, "enterprise-domain", e);
                    (start as f64 - days_before(&mut rng, 10.0, 700.0) * DAY as f64, Some(org), card, domain)
                }
                (Kind::Casual | Kind::ViralPrompt | Kind::HeavyChat, _) => {
                    // A few households: two people on one card.
                    let card = match family_card.take() {
                        Some(card) => card,
                        None if rng.random_bool(0.03) => {
                            family_card = Some(own_card.clone());
                            own_card
                        }
                        None => own_card,
                    };
                    (start as f64 - days_before(&mut rng, 1.0, 1500.0) * DAY as f64, None, card, big_provider)
                }
                (Kind::SharedNetwork, _) => {
                    // Students and staff of one campus: its domain, their own cards.
                    let domain = hash(seed, "campus-domain", (n % 4) as u64);
                    (start as f64 - days_before(&mut rng, 1.0, 900.0) * DAY as f64, None, own_card, domain)
                }
                (Kind::BulkInstructions | Kind::ReasoningHarvest | Kind::BenchmarkReplay | Kind::LogprobHarvest, _) => {
                    (start as f64 - days_before(&mut rng, 1.0, 120.0) * DAY as f64, None, own_card, big_provider)
                }
                (Kind::MixedExtraction | Kind::ReleaseChaser, _) => {
                    (start as f64 - days_before(&mut rng, 30.0, 1500.0) * DAY as f64, None, own_card, big_provider)
                }
                _ => {
                    // Businesses: their own organization, card and domain.
                    let org = hash(seed, "org", 1 << 40 | n as u64);
                    let domain = hash(seed, "company-domain", n as u64);
                    (start as f64 - days_before(&mut rng, 20.0, 1500.0) * DAY as f64, Some(org), own_card, domain)
                }
            };
        attributes.created_at_ms = Some(ms(opened));
        attributes.org = org;
        // Records are incomplete: some have no card (free tier) or no domain on file.
        attributes.payment_fingerprint = rng.random_bool(0.92).then_some(card);
        attributes.email_domain_fingerprint = rng.random_bool(0.95).then_some(domain);
        out.push(attributes);
    }
    out
}

/// Writes attributes as the CSV `distillwatch accounts import` reads.
pub fn write_attributes<W: std::io::Write>(attributes: &[AccountAttributes], mut out: W) -> std::io::Result<()> {
    use dw_domain::csv::field;
    writeln!(out, "{}", dw_domain::attributes::ATTRIBUTE_COLUMNS.join(","))?;
    for a in attributes {
        let created = a.created_at_ms.map(crate::rfc3339_millis).unwrap_or_default();
        let text = |v: &Option<String>| v.as_deref().map(field).unwrap_or_default();
        writeln!(
            out,
            "{},{created},{},{},{},{}",
            field(&a.account_id),
            text(&a.org),
            text(&a.country),
            text(&a.payment_fingerprint),
            text(&a.email_domain_fingerprint)
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Simulation {
        let corpus = crate::corpus::Corpus::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/sample"
        )))
        .unwrap();
        crate::simulate(crate::SimConfig { scale: 0.5, ..crate::SimConfig::default() }, &corpus).unwrap()
    }

    #[test]
    fn campaigns_share_cards_and_open_in_a_burst_and_customers_mostly_do_not() {
        let sim = sim();
        let attributes = account_attributes(&sim);
        assert_eq!(attributes.len(), sim.accounts.len());
        assert_eq!(attributes, account_attributes(&sim), "deterministic");
        let mut holders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, a) in attributes.iter().enumerate() {
            if let Some(card) = a.payment_fingerprint.as_deref() {
                holders.entry(card).or_default().push(i);
            }
        }
        let shared: Vec<&Vec<usize>> = holders.values().filter(|h| h.len() >= 2).collect();
        // Most members of the original campaigns pay with a card their operator shares (hydra
        // operators draw how many do, from none to all), and no card is shared across campaigns.
        let (mut in_campaigns, mut on_operator_cards) = (0, 0);
        let hydra = |a: &crate::SimAccount| matches!(a.kind, Kind::FarmRotatingHosting | Kind::FarmProxyReasoning);
        for campaign in sim
            .accounts
            .iter()
            .filter(|a| !hydra(a))
            .filter_map(|a| a.campaign.as_deref())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let members: Vec<usize> =
                (0..sim.accounts.len()).filter(|i| sim.accounts[*i].campaign.as_deref() == Some(campaign)).collect();
            let widest = shared.iter().map(|h| h.iter().filter(|i| members.contains(i)).count()).max().unwrap_or(0);
            in_campaigns += members.len();
            on_operator_cards += widest;
            let opened: Vec<i64> = members.iter().filter_map(|i| attributes[*i].created_at_ms).collect();
            let spread = opened.iter().max().unwrap() - opened.iter().min().unwrap();
            assert!(spread <= 2 * 86_400_000, "{campaign}: opened within two days");
        }
        assert!(on_operator_cards * 2 >= in_campaigns, "{on_operator_cards} of {in_campaigns} on an operator's card");
        let hydra_members = sim.accounts.iter().filter(|a| hydra(a)).count();
        assert!(hydra_members >= 12, "{hydra_members}");
        for h in &shared {
            let campaigns: std::collections::BTreeSet<Option<&str>> =
                h.iter().map(|i| sim.accounts[*i].campaign.as_deref()).collect();
            assert_eq!(campaigns.len(), 1, "a card is one operator's, or one team's, or one family's");
        }
        // Benign sharing exists (teams, families) but is rare.
        let benign_sharing = shared.iter().filter(|h| !sim.accounts[h[0]].kind.is_attack()).count();
        assert!(benign_sharing >= 1);
        let benign = sim.accounts.iter().filter(|a| !a.kind.is_attack()).count();
        let benign_in_shared: usize =
            shared.iter().filter(|h| !sim.accounts[h[0]].kind.is_attack()).map(|h| h.len()).sum();
        assert!(benign_in_shared * 5 < benign, "{benign_in_shared} of {benign} benign accounts share a card");
        let largest_benign = shared.iter().filter(|h| !sim.accounts[h[0]].kind.is_attack()).map(|h| h.len()).max();
        assert!(largest_benign >= Some(10), "an enterprise's seats on one card: {largest_benign:?}");
        let mut csv = Vec::new();
        write_attributes(&attributes, &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert!(text.starts_with("account_id,created_at,org,country,payment_fingerprint,email_domain_fingerprint\n"));
        assert_eq!(text.lines().count(), attributes.len() + 1);
    }
}
