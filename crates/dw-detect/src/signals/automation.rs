//! Volume and automation: how much an account asks, and whether its clock
//! is a person's or a machine's.

use std::collections::BTreeSet;

use dw_domain::RequestRecord;

use super::{MIN_REQUESTS_FOR_SHAPE, Signal};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

pub(super) fn signals(requests: &[RequestRecord]) -> Vec<Signal> {
    vec![
        requests_per_active_day(requests),
        active_hours(requests),
        hour_profile_flatness(requests),
        interarrival_cv(requests),
        peak_concurrency(requests),
    ]
}

/// Requests needed before the shape of an account's day is measured.
const MIN_REQUESTS_FOR_PROFILE: usize = 100;

/// How flat the account's day is: the mean count of its four quietest hours
/// of the (UTC) day over the mean of its four busiest. A script that runs
/// around the clock is flat (near 1); a service used by people follows their
/// day even when it never stops (support bots, app backends: well below
/// 0.5); a person is 0.
fn hour_profile_flatness(requests: &[RequestRecord]) -> Signal {
    if requests.len() < MIN_REQUESTS_FOR_PROFILE {
        return Signal::not_computed("hour_profile_flatness", "fewer than 100 requests");
    }
    let mut hours = [0usize; 24];
    for r in requests {
        hours[r.ts_ms.div_euclid(HOUR_MS).rem_euclid(24) as usize] += 1;
    }
    let mut sorted = hours;
    sorted.sort_unstable();
    let quiet = sorted[..4].iter().sum::<usize>() as f64 / 4.0;
    let busy = sorted[20..].iter().sum::<usize>() as f64 / 4.0;
    let value = if busy > 0.0 { quiet / busy } else { 0.0 };
    Signal::computed(
        "hour_profile_flatness",
        value,
        format!("quietest hours average {quiet:.1} requests, busiest {busy:.1}"),
        Vec::new(),
    )
}

/// Requests per day on which the account was active at all: a farm member
/// at 30 a day every day and a person at 30 on one day look alike here, and
/// differ in the other signals.
fn requests_per_active_day(requests: &[RequestRecord]) -> Signal {
    let days: BTreeSet<i64> = requests.iter().map(|r| r.ts_ms.div_euclid(DAY_MS)).collect();
    let value = requests.len() as f64 / days.len().max(1) as f64;
    Signal::computed(
        "requests_per_active_day",
        value,
        format!("{} requests on {} active days", requests.len(), days.len()),
        Vec::new(),
    )
}

/// The day of a person the clock coverage is read against: they sleep, and
/// their eight quietest hours carry 1% of their requests (a late night, an
/// early start), spread evenly over those hours; the other 16 carry the
/// rest, evenly. Evenly is generous to the person: real sessions
/// bunch up, so a real day covers fewer hours than this one.
/// The 1% is a judgement, not a fit. At 3% the signal would end near 740
/// requests; refitted, it lost half its weight, and with it the paraphrasing
/// evaders it caught (300 to 500 requests covering every hour; measured in
/// `docs/evaluation.md`, signals-v5).
const NIGHT_HOURS: f64 = 8.0;
const NIGHT_SHARE: f64 = 0.01;

/// Hours of the clock a person's day is expected to touch with `n` requests.
fn expected_human_hours(n: usize) -> f64 {
    let n = n as f64;
    let day_hours = 24.0 - NIGHT_HOURS;
    let per_day_hour = (1.0 - NIGHT_SHARE) / day_hours;
    let per_night_hour = NIGHT_SHARE / NIGHT_HOURS;
    day_hours * (1.0 - (1.0 - per_day_hour).powf(n)) + NIGHT_HOURS * (1.0 - (1.0 - per_night_hour).powf(n))
}

/// Past this, a person's day at the account's volume would leave less than
/// half an hour of the clock untouched: coverage no longer tells a script
/// from people (a service with many users fills the clock by volume alone),
/// and the shape of the day (`hour_profile_flatness`) speaks instead.
const MAX_EXPECTED_HOURS: f64 = 23.5;

/// Share of the 24 hours of the (UTC) clock in which the account was ever
/// active: people sleep, scripts do not. Measured only at volumes where a
/// person's day would still leave part of the clock empty.
fn active_hours(requests: &[RequestRecord]) -> Signal {
    if requests.len() < MIN_REQUESTS_FOR_SHAPE {
        return Signal::not_computed("active_hours", "fewer than 20 requests");
    }
    let expected = expected_human_hours(requests.len());
    if expected > MAX_EXPECTED_HOURS {
        return Signal::not_computed(
            "active_hours",
            format!("at {} requests a person's day would fill the clock too", requests.len()),
        );
    }
    let hours: BTreeSet<i64> = requests.iter().map(|r| r.ts_ms.div_euclid(HOUR_MS).rem_euclid(24)).collect();
    Signal::computed(
        "active_hours",
        hours.len() as f64 / 24.0,
        format!(
            "active in {} of 24 hours of the day; a person's day at this volume touches about {expected:.0}",
            hours.len()
        ),
        Vec::new(),
    )
}

/// Coefficient of variation of the gaps between consecutive requests, over
/// gaps of at least two seconds (parallel workers' bursts are counted by
/// concurrency instead): a script's pacing is regular (low), a person's
/// sessions and nights are not (high).
fn interarrival_cv(requests: &[RequestRecord]) -> Signal {
    let gaps: Vec<f64> =
        requests.windows(2).map(|w| (w[1].ts_ms - w[0].ts_ms) as f64 / 1000.0).filter(|g| *g >= 2.0).collect();
    if gaps.len() < MIN_REQUESTS_FOR_SHAPE {
        return Signal::not_computed("interarrival_cv", "fewer than 20 gaps of 2 s or more");
    }
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    let cv = variance.sqrt() / mean;
    Signal::computed(
        "interarrival_cv",
        cv,
        format!("{} gaps, mean {:.0} s, coefficient of variation {cv:.2}", gaps.len(), mean),
        Vec::new(),
    )
}

/// Most requests started within any 10 seconds: parallel workers.
fn peak_concurrency(requests: &[RequestRecord]) -> Signal {
    let mut peak = 0;
    let mut at = None;
    let mut start = 0;
    for (end, r) in requests.iter().enumerate() {
        while r.ts_ms - requests[start].ts_ms >= 10_000 {
            start += 1;
        }
        if end + 1 - start > peak {
            peak = end + 1 - start;
            at = Some(requests[start].event_id.clone());
        }
    }
    Signal::computed(
        "peak_concurrency",
        peak as f64,
        format!("at most {peak} requests started within 10 s"),
        at.into_iter().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::request;
    use super::*;

    #[test]
    fn a_script_covers_the_clock_evenly_and_a_burst_counts_as_concurrency() {
        let script: Vec<_> = (0..96).map(|i| request(i, i as i64 * 15 * 60_000, "p")).collect();
        let signals = signals(&script);
        assert_eq!(signals[0].value, Some(96.0));
        assert_eq!(signals[1].value, Some(1.0));
        assert!(signals[2].value.is_none(), "under 100 requests the day's profile is not measured");
        assert!(signals[3].value.unwrap() < 0.01, "perfectly regular");
        assert_eq!(signals[4].value, Some(1.0));

        let long_script: Vec<_> = (0..288).map(|i| request(i, i as i64 * 15 * 60_000, "p")).collect();
        assert_eq!(super::signals(&long_script)[2].value, Some(1.0), "flat");
        // A service whose traffic follows its users' day: busy afternoons, quiet nights.
        let service: Vec<_> = (0..24i64)
            .flat_map(|h| (0..if (10..22).contains(&h) { 20 } else { 2 }).map(move |k| (h, k)))
            .enumerate()
            .map(|(i, (h, k))| request(i, h * HOUR_MS + k * 60_000, "p"))
            .collect();
        assert_eq!(super::signals(&service)[2].value, Some(0.1));

        // At a few hundred requests coverage still separates a script from a
        // person; at a few thousand a person's day would fill the clock too.
        assert!(expected_human_hours(96) < 18.0 && expected_human_hours(1_000) < 22.0);
        let busy_service: Vec<_> = (0..5_000).map(|i| request(i, i as i64 * 2 * 60_000, "p")).collect();
        let coverage = &super::signals(&busy_service)[1];
        assert!(coverage.value.is_none(), "{coverage:?}");
        assert!(coverage.detail.contains("at 5000 requests"), "{}", coverage.detail);

        let burst: Vec<_> = (0..5).map(|i| request(i, 1_000 * i as i64, "p")).collect();
        let burst_signals = super::signals(&burst);
        assert_eq!(burst_signals[4].value, Some(5.0));
        assert!(burst_signals[1].value.is_none() && burst_signals[1].detail.starts_with("not computed"));
    }
}
