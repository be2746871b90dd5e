//! The simulator on the sample shipped in the repository: deterministic per
//! seed, valid ingest format, and every kind with the shape it is meant to
//! have.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use dw_sim::traffic::Model;
use dw_sim::{Corpus, Kind, SimConfig, SimEvent, Simulation};

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
        Corpus::load(&dir).expect("the repository's data sample loads")
    })
}

/// One simulation shared by the shape tests (scale 0.25: every kind present).
fn sim() -> &'static Simulation {
    static SIM: OnceLock<Simulation> = OnceLock::new();
    SIM.get_or_init(|| dw_sim::simulate(SimConfig { seed: 11, scale: 0.25, ..SimConfig::default() }, corpus()).unwrap())
}

fn events_of(sim: &Simulation, kind: Kind) -> BTreeMap<u32, Vec<&SimEvent>> {
    let mut out: BTreeMap<u32, Vec<&SimEvent>> = BTreeMap::new();
    for event in &sim.events {
        if sim.accounts[event.account as usize].kind == kind {
            out.entry(event.account).or_default().push(event);
        }
    }
    out
}

fn written(sim: &Simulation) -> (Vec<u8>, Vec<u8>) {
    let mut events = Vec::new();
    let mut labels = Vec::new();
    dw_sim::output::write_events(sim, &mut events).unwrap();
    dw_sim::output::write_labels(sim, &mut labels).unwrap();
    (events, labels)
}

#[test]
fn the_same_seed_writes_the_same_files_and_another_seed_does_not() {
    let config = SimConfig { seed: 5, scale: 0.05, days: 3, ..SimConfig::default() };
    let a = written(&dw_sim::simulate(config, corpus()).unwrap());
    let b = written(&dw_sim::simulate(config, corpus()).unwrap());
    assert!(a == b, "same seed, different output");
    let c = written(&dw_sim::simulate(SimConfig { seed: 6, ..config }, corpus()).unwrap());
    assert!(a.0 != c.0 && a.1 != c.1, "another seed gave the same output");
}

#[test]
fn every_written_event_passes_ingest_validation_and_stays_in_the_window() {
    let sim = sim();
    let (events, labels) = written(sim);
    let limits = dw_ingest::Limits::default();
    let window = sim.config.window();
    let mut count = 0;
    for (i, line) in events.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let event =
            dw_ingest::parse_event(line, i as u64 + 1, &limits).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert!(window.contains(event.timestamp.unix_timestamp()));
        count += 1;
    }
    assert_eq!(count, sim.events.len());
    let labels = String::from_utf8(labels).unwrap();
    assert_eq!(labels.lines().count(), sim.accounts.len() + 1);
    assert_eq!(labels.lines().next(), Some("account_id,label,kind,campaign"));
}

#[test]
fn every_kind_is_present_and_labelled_by_whether_it_extracts() {
    let sim = sim();
    for kind in Kind::ALL {
        let accounts: Vec<_> = sim.accounts.iter().filter(|a| a.kind == kind).collect();
        assert!(!accounts.is_empty(), "{kind:?} missing");
        assert!(!events_of(sim, kind).is_empty(), "{kind:?} sent nothing");
        for account in accounts {
            assert_eq!(account.label() == 1, kind.is_attack());
            assert_eq!(account.campaign.is_some(), kind.campaign_size().is_some(), "{kind:?}");
        }
    }
    // Ground truth per request: pure benign kinds never extract.
    for event in &sim.events {
        if !sim.accounts[event.account as usize].kind.is_attack() {
            assert!(!event.extraction);
        }
    }
}

#[test]
fn scale_one_is_about_1500_accounts_and_100000_events() {
    let sim = dw_sim::simulate(SimConfig { seed: 2, ..SimConfig::default() }, corpus()).unwrap();
    assert!((1_300..=1_700).contains(&sim.accounts.len()), "{}", sim.accounts.len());
    assert!((75_000..=130_000).contains(&sim.events.len()), "{}", sim.events.len());
}

#[test]
fn farm_members_stay_under_the_daily_cap_and_sweep_disjoint_slices() {
    let sim = sim();
    for kind in [Kind::FarmHosting, Kind::FarmResidential] {
        let members = events_of(sim, kind);
        assert!(members.len() >= 6);
        let mut prompts_by_member = Vec::new();
        for events in members.values() {
            let mut per_day: HashMap<i64, u32> = HashMap::new();
            for e in events {
                *per_day.entry(e.ts_ms.div_euclid(86_400_000)).or_default() += 1;
            }
            // Every campaign's cap is at most 45 a day.
            assert!(per_day.values().all(|n| *n <= 45), "{kind:?} over its cap: {per_day:?}");
            prompts_by_member.push(events.iter().map(|e| e.exchange.prompt.to_string()).collect::<BTreeSet<_>>());
        }
        // Complementary coverage: members rarely ask what another member asked.
        let shared = prompts_by_member
            .iter()
            .enumerate()
            .flat_map(|(i, a)| prompts_by_member[i + 1..].iter().map(move |b| a.intersection(b).count()))
            .sum::<usize>();
        let total: usize = prompts_by_member.iter().map(BTreeSet::len).sum();
        assert_eq!(shared, 0, "{kind:?}: {shared} of {total} prompts asked by two members");
    }
    // Hosting farms come from one /24; residential ones from a new address almost every time.
    for events in events_of(sim, Kind::FarmHosting).values() {
        let nets: BTreeSet<_> =
            events.iter().map(|e| e.ip.to_string().rsplit_once('.').unwrap().0.to_owned()).collect();
        assert_eq!(nets.len(), 1);
    }
    for events in events_of(sim, Kind::FarmResidential).values() {
        let ips: BTreeSet<_> = events.iter().map(|e| e.ip).collect();
        assert!(ips.len() * 10 >= events.len() * 9);
    }
}

#[test]
fn mixed_accounts_extract_the_share_they_were_given() {
    for (account, events) in events_of(sim(), Kind::MixedExtraction) {
        let extraction = events.iter().filter(|e| e.extraction).count() as f64;
        let share = extraction / events.len() as f64;
        assert!((0.08..=0.32).contains(&share), "account {account}: share {share}");
    }
}

#[test]
fn bots_and_harnesses_have_their_shape() {
    let sim = sim();
    for events in events_of(sim, Kind::SupportBot).values() {
        let systems: BTreeSet<_> = events.iter().map(|e| e.exchange.system.clone()).collect();
        assert_eq!(systems.len(), 1, "one system prompt");
        assert!(events.iter().all(|e| e.exchange.conversation.is_some()));
        // Customers arrive day and night.
        let hours: BTreeSet<_> = events.iter().map(|e| e.ts_ms.div_euclid(3_600_000) % 24).collect();
        assert!(hours.len() >= 20);
    }
    for events in events_of(sim, Kind::EvalRunner).values() {
        assert!(events.iter().all(|e| e.exchange.params.temperature == Some(0.0) && e.exchange.response.len() <= 4));
    }
    for events in events_of(sim, Kind::TranslationBatch).values() {
        assert!(events.iter().all(|e| e.exchange.prompt.starts_with("Translate the following text into")));
    }
    for events in events_of(sim, Kind::Reseller).values() {
        let users: BTreeSet<_> = events.iter().filter_map(|e| e.exchange.end_user).collect();
        assert!(users.len() >= 20, "a reseller serves many end users");
    }
    for events in events_of(sim, Kind::LogprobHarvest).values() {
        assert!(events.iter().all(|e| e.exchange.params.logprobs == Some(true)));
    }
}

#[test]
fn release_chasers_jump_to_the_new_model_when_it_is_released() {
    let sim = sim();
    let release_ms = sim.release_at * 1000;
    assert!(sim.events.iter().all(|e| e.exchange.model != Model::New || e.ts_ms >= release_ms));
    for events in events_of(sim, Kind::ReleaseChaser).values() {
        let before = events.iter().filter(|e| e.ts_ms < release_ms).count();
        let after_new = events.iter().filter(|e| e.ts_ms >= release_ms && e.exchange.model == Model::New).count();
        assert!(after_new > before * 5, "before {before}, new model after {after_new}");
        let first_new = events.iter().find(|e| e.exchange.model == Model::New).unwrap();
        assert!(first_new.ts_ms - release_ms <= 2 * 3_600_000 + 60_000, "within hours of the release");
    }
}

#[test]
fn people_sleep_and_scripts_do_not() {
    let sim = sim();
    // Local hours need each account's zone; use the spread of UTC hours per account instead:
    // a person's requests cover few hours of the clock, a script's cover nearly all.
    let coverage = |kind: Kind| {
        let members = events_of(sim, kind);
        let covered: Vec<usize> = members
            .values()
            .filter(|e| e.len() >= 30)
            .map(|events| events.iter().map(|e| e.ts_ms.div_euclid(3_600_000) % 24).collect::<BTreeSet<_>>().len())
            .collect();
        covered.iter().sum::<usize>() as f64 / covered.len().max(1) as f64
    };
    assert!(coverage(Kind::BulkInstructions) >= 23.0);
    assert!(coverage(Kind::HeavyChat) < 20.0, "{}", coverage(Kind::HeavyChat));
}

#[test]
fn the_viral_prompt_is_sent_by_every_viral_account_within_a_day() {
    let sim = sim();
    let from = sim.viral_at * 1000;
    let to = from + 21 * 3_600_000;
    for (account, events) in events_of(sim, Kind::ViralPrompt) {
        assert!(
            events.iter().any(|e| e.exchange.prompt.contains(&*sim.viral_prompt) && (from..to).contains(&e.ts_ms)),
            "account {account} did not send the viral prompt within the day"
        );
    }
}

#[test]
fn shared_network_members_share_a_prefix() {
    let sim = sim();
    let prefixes: BTreeSet<String> = events_of(sim, Kind::SharedNetwork)
        .values()
        .flat_map(|events| events.iter().map(|e| e.ip.to_string().split('.').take(2).collect::<Vec<_>>().join(".")))
        .collect();
    assert!(prefixes.len() <= 4, "{prefixes:?}");
}

#[test]
fn bad_settings_are_refused_with_the_flag_named() {
    let err = dw_sim::simulate(SimConfig { days: 0, ..SimConfig::default() }, corpus()).unwrap_err();
    assert!(err.to_string().contains("--days"));
    let err = dw_sim::simulate(SimConfig { scale: 0.0, ..SimConfig::default() }, corpus()).unwrap_err();
    assert!(err.to_string().contains("--scale"));
}

/// The /24 of an address, as its first three octets.
fn slash24(ip: std::net::IpAddr) -> [u8; 3] {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            [o[0], o[1], o[2]]
        }
        std::net::IpAddr::V6(_) => [0; 3],
    }
}

#[test]
fn hydra_farms_rotate_their_infrastructure_and_share_their_software() {
    let sim = sim();
    for kind in [Kind::FarmRotatingHosting, Kind::FarmProxyReasoning] {
        let members = events_of(sim, kind);
        assert!(members.len() >= 6, "{kind:?}: {} members", members.len());
        let agents: BTreeSet<&str> = members.values().flatten().map(|e| &*e.user_agent).collect();
        assert_eq!(agents.len(), 1, "{kind:?}: one client for the whole campaign: {agents:?}");
        for events in members.values() {
            let networks: BTreeSet<[u8; 3]> = events.iter().map(|e| slash24(e.ip)).collect();
            if kind == Kind::FarmRotatingHosting {
                assert!((2..=4).contains(&networks.len()), "a few hosting networks, not one: {networks:?}");
            } else if events.len() >= 20 {
                assert!(networks.len() * 10 >= events.len() * 9, "a fresh address nearly every request");
            }
        }
    }
    // Reasoning farms append their coercion phrases.
    let reasoning = events_of(sim, Kind::FarmProxyReasoning);
    let coerced = reasoning
        .values()
        .flatten()
        .filter(|e| dw_sim::phrasing::REASONING_REQUESTS.iter().any(|p| e.exchange.prompt.ends_with(p)))
        .count();
    assert!(coerced * 2 >= reasoning.values().map(Vec::len).sum::<usize>(), "{coerced}");
}

#[test]
fn look_alikes_share_one_kind_of_trace_with_farms() {
    let sim = sim();
    // Apps on a shared egress: few networks, many apps, each its own template.
    let apps = events_of(sim, Kind::CloudEgressApp);
    let networks: BTreeSet<[u8; 3]> = apps.values().flatten().map(|e| slash24(e.ip)).collect();
    assert!(networks.len() <= 2 && apps.len() >= 10, "{} apps on {} networks", apps.len(), networks.len());
    // Framework users: one system prompt, each on their own network.
    let users = events_of(sim, Kind::AgentFrameworkUser);
    let systems: BTreeSet<Option<&str>> = users.values().flatten().map(|e| e.exchange.system.as_deref()).collect();
    assert_eq!(systems.len(), 1);
    let homes: BTreeSet<[u8; 3]> = users.values().map(|e| slash24(e[0].ip)).collect();
    assert_eq!(homes.len(), users.len());
    // Teams: five developers behind one office address.
    let team = events_of(sim, Kind::TeamBehindNat);
    let offices: BTreeSet<std::net::IpAddr> = team.values().flatten().map(|e| e.ip).collect();
    assert_eq!(offices.len(), team.len().div_ceil(dw_sim::hydra::TEAM_SIZE), "{offices:?}");
}
