//! Clocks of people and machines: daily rhythms in local time, weekends,
//! think times between turns.

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Poisson};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Relative activity by local hour for people chatting in their own time:
/// low at night, a morning rise, busy afternoons and evenings.
pub const PERSONAL: [f64; 24] = [
    0.18, 0.10, 0.06, 0.04, 0.04, 0.06, 0.14, 0.30, 0.50, 0.70, 0.85, 0.90, 0.85, 0.90, 0.95, 0.95, 0.90, 0.85, 0.85,
    0.95, 1.00, 0.90, 0.65, 0.35,
];

/// Relative activity by local hour for work: office hours with a lunch dip.
pub const OFFICE: [f64; 24] = [
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.20, 0.60, 0.95, 1.00, 0.95, 0.60, 0.85, 1.00, 0.95, 0.85, 0.55, 0.25,
    0.15, 0.12, 0.10, 0.06, 0.03,
];

/// The simulated window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Unix seconds of the first day's midnight (UTC).
    pub start: i64,
    /// Number of days.
    pub days: u32,
}

impl Window {
    /// Unix seconds at the end of the window (exclusive).
    pub fn end(&self) -> i64 {
        self.start + i64::from(self.days) * DAY
    }

    /// Whether a UTC instant falls inside the window.
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && t < self.end()
    }

    /// Whether the given day (0-based) is a Saturday or Sunday in a zone with
    /// this UTC offset (the start date's weekday decides).
    pub fn is_weekend(&self, day: u32, tz_minutes: i32) -> bool {
        let local_midnight = self.start + i64::from(day) * DAY + i64::from(tz_minutes) * 60 + DAY / 2;
        // 1970-01-01 was a Thursday: day 0 of the epoch has weekday index 3 (Monday = 0).
        let weekday = (local_midnight.div_euclid(DAY) + 3).rem_euclid(7);
        weekday >= 5
    }

    /// UTC seconds of a local time of day on a window day.
    pub fn at_local(&self, day: u32, tz_minutes: i32, seconds_into_day: f64) -> i64 {
        self.start + i64::from(day) * DAY - i64::from(tz_minutes) * 60 + seconds_into_day as i64
    }
}

/// Draws a local time of day (seconds) from an hourly rhythm.
pub fn local_time<R: Rng>(rng: &mut R, rhythm: &[f64; 24]) -> f64 {
    let total: f64 = rhythm.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    for (hour, weight) in rhythm.iter().enumerate() {
        if pick < *weight {
            return hour as f64 * 3600.0 + rng.random::<f64>() * 3600.0;
        }
        pick -= weight;
    }
    23.0 * 3600.0 + rng.random::<f64>() * 3600.0
}

/// The rhythm's weight at a UTC instant for a zone.
pub fn weight_at(rhythm: &[f64; 24], utc: i64, tz_minutes: i32) -> f64 {
    let local = utc + i64::from(tz_minutes) * 60;
    rhythm[(local.rem_euclid(DAY) / 3600) as usize]
}

/// A Poisson count with the given mean (0 for a non-positive mean).
pub fn poisson<R: Rng>(rng: &mut R, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map(|p| p.sample(rng) as u32).unwrap_or(0)
}

/// Seconds a person takes between receiving an answer and sending the next
/// message: reading the answer, typing the next one, and some distraction.
pub fn think_time<R: Rng>(rng: &mut R, answer_chars: usize, next_chars: usize) -> f64 {
    let reading = (answer_chars as f64 / 25.0).min(120.0);
    let typing = (next_chars as f64 / 4.0).min(180.0);
    let pause = LogNormal::new(8f64.ln(), 0.9).map(|d| d.sample(rng)).unwrap_or(8.0);
    reading + typing + pause.min(1_800.0)
}

/// Seconds the model takes to produce an answer of this many tokens.
pub fn generation_time(completion_tokens: u32) -> f64 {
    0.4 + f64::from(completion_tokens) / 70.0
}

/// A log-normal draw with the given median and spread, for durations.
pub fn lognormal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.ln(), sigma).map(|d| d.sample(rng)).unwrap_or(median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekends_follow_the_calendar() {
        // 2026-11-02 is a Monday.
        let window = Window { start: 1_793_577_600, days: 7 };
        let weekend: Vec<u32> = (0..7).filter(|d| window.is_weekend(*d, 0)).collect();
        assert_eq!(weekend, vec![5, 6]);
    }

    #[test]
    fn local_times_follow_the_rhythm() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let night = (0..10_000).filter(|_| local_time(&mut rng, &OFFICE) < 6.0 * 3600.0).count();
        // Office hours put about 0.6% of the weight before 6 am.
        assert!(night < 200, "{night}");
    }
}
