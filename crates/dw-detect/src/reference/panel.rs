//! The distillation test against a panel of controls: is the suspect closer
//! to our answers than unrelated models are, not merely closer than one?
//!
//! One control answers "is the suspect closer to us than this model?", and
//! unrelated models differ in that by style alone: two unrelated models of
//! one house, or one that happens to format answers as we do, beat a given
//! control without having learned anything from us. A panel of controls
//! shows how close unrelated models come; the question becomes whether the
//! suspect stands out from them.
//!
//! Each model's closeness is its mean over the items (prompts that we, the
//! suspect and every control answered) of its similarities to our answer,
//! each measure divided by the spread of the models' similarities within an
//! item (pooled over the items), summed over the measures; a per-item
//! difficulty shared by every model cancels out. The models, not the items,
//! are the unit of replication: under the null hypothesis the suspect is one
//! more unrelated model, its closeness a draw from the distribution the
//! controls' closeness comes from. With k controls, the suspect's distance
//! from their mean over their standard deviation and the square root of
//! (1 + 1/k) is then Student-t with k - 1 degrees of freedom (a prediction
//! interval for one new draw, exact for normal draws), and the one-sided
//! p-value says how rarely an unrelated model comes that close. Every
//! control is also put in the suspect's place against the others, which is
//! how often the test would accuse an unrelated model on this data.
//!
//! What it needs: at least three controls (two degrees of freedom), and the
//! more the better: with k controls the p-value falls below 0.001 only when
//! the suspect is many of the controls' standard deviations away. What it
//! cannot tell: why the suspect is closer (see [`super::distillation`]).

use serde::Serialize;

use super::distillation::{Measure, Similarities};

/// The fewest controls the panel test concludes with.
pub const MIN_CONTROLS: usize = 3;

/// One prompt answered by us, the suspect and every control of the panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelItem {
    /// The suspect's answer against ours.
    pub suspect: Similarities,
    /// Each control's answer against ours, in the panel's order.
    pub controls: Vec<Similarities>,
}

/// Where one model falls.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Standing {
    /// The model's name (the set's).
    pub model: String,
    /// Its closeness to our answers (see the module's documentation).
    pub closeness: f64,
    /// Per measure, its mean similarity to our answers.
    pub mean_similarity: Vec<(String, f64)>,
    /// How many of the controls' standard deviations it lies above their mean
    /// (for a control: above the other controls').
    pub t: Option<f64>,
    /// The one-sided p-value of that, Student-t (for a control: as if it were
    /// the suspect, against the other controls).
    pub p_value: Option<f64>,
}

/// The panel test's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PanelTest {
    /// Prompts answered by us, the suspect and every control.
    pub items: usize,
    /// The measures compared on every item.
    pub measures: Vec<String>,
    /// The suspect's standing against the controls.
    pub suspect: Standing,
    /// Each control's standing against the other controls.
    pub controls: Vec<Standing>,
    /// Degrees of freedom of the suspect's t (controls - 1).
    pub degrees_of_freedom: usize,
    /// Controls that, put in the suspect's place, are rejected at `alpha`.
    pub controls_rejected: usize,
    /// The level.
    pub alpha: f64,
    /// Rejected (the suspect stands out from the controls), not rejected, or
    /// why the test does not conclude.
    pub conclusion: super::Conclusion,
    /// The method, in words.
    pub method: String,
}

/// Runs the panel test on `items` for the suspect and the controls named
/// `controls` (in the items' order); `min_items` and `alpha` as the paired
/// test's.
pub fn panel_test(suspect: &str, controls: &[&str], items: &[PanelItem], min_items: usize, alpha: f64) -> PanelTest {
    let method = "each model's closeness to our answers is its mean over the items of its similarity on each measure, \
                  divided by the spread of the models' similarities within an item (pooled), summed over the measures; \
                  the suspect's closeness is compared with the controls' as one more draw from their distribution \
                  (a one-sided Student-t prediction test with controls - 1 degrees of freedom), and every control in \
                  turn against the others"
        .to_owned();
    let k = controls.len();
    let inconclusive = |reason: String| PanelTest {
        items: items.len(),
        measures: Vec::new(),
        suspect: Standing {
            model: suspect.to_owned(),
            closeness: 0.0,
            mean_similarity: Vec::new(),
            t: None,
            p_value: None,
        },
        controls: Vec::new(),
        degrees_of_freedom: k.saturating_sub(1),
        controls_rejected: 0,
        alpha,
        conclusion: super::Conclusion::Inconclusive { reason },
        method: method.clone(),
    };
    if k < MIN_CONTROLS {
        return inconclusive(format!("{k} control set(s): the panel test needs at least {MIN_CONTROLS}"));
    }
    let items: Vec<&PanelItem> = items.iter().filter(|i| i.controls.len() == k).collect();
    if items.len() < min_items {
        return inconclusive(format!(
            "only {} item(s) were answered by us, the suspect and every control; the test needs at least {min_items}",
            items.len()
        ));
    }
    // A measure counts when every model has it on at least `min_items` items.
    let models = k + 1;
    let value = |item: &PanelItem, model: usize, measure: Measure| {
        if model == 0 { item.suspect.get(measure) } else { item.controls[model - 1].get(measure) }
    };
    let mut closeness = vec![0.0; models];
    let mut means: Vec<Vec<(String, f64)>> = vec![Vec::new(); models];
    let mut used = Vec::new();
    for measure in Measure::ALL {
        let rows: Vec<Vec<f64>> = items
            .iter()
            .filter_map(|item| (0..models).map(|m| value(item, m, measure)).collect::<Option<Vec<f64>>>())
            .collect();
        if rows.len() < min_items {
            continue;
        }
        // The spread of the models within an item, pooled over the items.
        let within: f64 = rows
            .iter()
            .map(|row| {
                let centre = row.iter().sum::<f64>() / models as f64;
                row.iter().map(|v| (v - centre).powi(2)).sum::<f64>()
            })
            .sum::<f64>()
            / (rows.len() * (models - 1)) as f64;
        let scale = within.sqrt();
        used.push(measure.name().to_owned());
        for (m, total) in closeness.iter_mut().enumerate() {
            let mean = rows.iter().map(|row| row[m]).sum::<f64>() / rows.len() as f64;
            means[m].push((measure.name().to_owned(), mean));
            if scale > 0.0 {
                *total += mean / scale;
            }
        }
    }
    if used.is_empty() {
        return inconclusive(format!("no measure was computed for every model on {min_items} items"));
    }
    let names: Vec<&str> = std::iter::once(suspect).chain(controls.iter().copied()).collect();
    let control_values: Vec<f64> = closeness[1..].to_vec();
    let (t, p) = standing(closeness[0], &control_values);
    let mut standings = Vec::new();
    for j in 0..k {
        let others: Vec<f64> = control_values.iter().enumerate().filter(|(l, _)| *l != j).map(|(_, v)| *v).collect();
        let (t, p) = if others.len() >= 2 { standing(control_values[j], &others) } else { (None, None) };
        standings.push(Standing {
            model: names[j + 1].to_owned(),
            closeness: control_values[j],
            mean_similarity: means[j + 1].clone(),
            t,
            p_value: p,
        });
    }
    let controls_rejected = standings.iter().filter(|s| s.p_value.is_some_and(|p| p < alpha)).count();
    let p_value = p.unwrap_or(1.0);
    PanelTest {
        items: items.len(),
        measures: used,
        suspect: Standing {
            model: suspect.to_owned(),
            closeness: closeness[0],
            mean_similarity: means[0].clone(),
            t,
            p_value: p,
        },
        controls: standings,
        degrees_of_freedom: k - 1,
        controls_rejected,
        alpha,
        conclusion: if p_value < alpha {
            super::Conclusion::Rejected { p_value }
        } else {
            super::Conclusion::NotRejected { p_value }
        },
        method,
    }
}

/// How far `value` lies above `others` as one more draw from their
/// distribution: t and its one-sided p-value (None when they do not spread).
pub(super) fn standing(value: f64, others: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = others.len();
    let mean = others.iter().sum::<f64>() / n as f64;
    let sd = (others.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    if sd <= 0.0 || !sd.is_finite() {
        return (None, None);
    }
    let t = (value - mean) / (sd * (1.0 + 1.0 / n as f64).sqrt());
    (Some(t), Some(student_t_upper(t, n - 1)))
}

/// P(T > t) for Student's t with `df` (a positive whole number) degrees of
/// freedom, from the closed forms of P(|T| < t) in θ = atan(t / √df)
/// (Abramowitz and Stegun 26.7.3 and 26.7.4).
pub fn student_t_upper(t: f64, df: usize) -> f64 {
    assert!(df >= 1, "Student's t needs a degree of freedom");
    if t.is_nan() {
        return f64::NAN;
    }
    let x = t.abs();
    let theta = (x / (df as f64).sqrt()).atan();
    let (s, c) = (theta.sin(), theta.cos());
    let c2 = c * c;
    let within = if df.is_multiple_of(2) {
        // sin θ (1 + cos²θ / 2 + 1·3 / (2·4) cos⁴θ + ... up to cos^(df-2) θ)
        let (mut term, mut sum) = (1.0, 1.0);
        for j in 1..df / 2 {
            term *= c2 * (2 * j - 1) as f64 / (2 * j) as f64;
            sum += term;
        }
        s * sum
    } else {
        // (2/π) (θ + sin θ cos θ (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ... up to cos^(df-3) θ))
        let mut series = 0.0;
        if df > 1 {
            let (mut term, mut sum) = (1.0, 1.0);
            for j in 1..(df - 1) / 2 {
                term *= c2 * (2 * j) as f64 / (2 * j + 1) as f64;
                sum += term;
            }
            series = s * c * sum;
        }
        2.0 / std::f64::consts::PI * (theta + series)
    };
    let upper = ((1.0 - within) / 2.0).clamp(0.0, 1.0);
    if t >= 0.0 { upper } else { 1.0 - upper }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Conclusion;

    fn sims(ngram: f64, format: f64) -> Similarities {
        Similarities { embedding_cosine: None, ngram_overlap: ngram, format_profile: format }
    }

    /// A deterministic jitter in [-0.5, 0.5).
    fn jitter(i: usize, m: usize) -> f64 {
        let x = crate::templates::mix((i * 31 + m) as u64);
        (x % 10_000) as f64 / 10_000.0 - 0.5
    }

    /// Items where model m's similarities sit at `level[m]`, with item noise
    /// shared by all models (difficulty) and each model's own, drawn for
    /// `seed`.
    fn panel_drawn(levels: &[f64], n: usize, seed: usize) -> Vec<PanelItem> {
        (0..n)
            .map(|i| {
                let draw = |m: usize| jitter(seed * 1_000_003 + i, m);
                let difficulty = 0.2 * draw(99);
                let of = |m: usize| {
                    let v = levels[m] + difficulty + 0.05 * draw(m);
                    sims(v, 0.5 + v / 2.0)
                };
                PanelItem { suspect: of(0), controls: (1..levels.len()).map(of).collect() }
            })
            .collect()
    }

    fn panel(levels: &[f64], n: usize) -> Vec<PanelItem> {
        panel_drawn(levels, n, 0)
    }

    #[test]
    fn student_t_tails_match_known_values() {
        // Known quantiles: t(0.975, 1) = 12.706, t(0.975, 2) = 4.303, t(0.95, 4) = 2.132,
        // t(0.999, 4) = 7.173, t(0.99, 7) = 2.998.
        for (t, df, p) in [(12.706, 1, 0.025), (4.303, 2, 0.025), (2.132, 4, 0.05), (7.173, 4, 0.001), (2.998, 7, 0.01)]
        {
            let got = student_t_upper(t, df);
            assert!((got - p).abs() < p * 0.01, "P(T{df} > {t}) = {got}, expected {p}");
        }
        assert!((student_t_upper(0.0, 5) - 0.5).abs() < 1e-12);
        assert!((student_t_upper(-2.132, 4) - 0.95).abs() < 1e-3);
    }

    #[test]
    fn a_student_far_closer_than_every_unrelated_model_stands_out() {
        let items = panel(&[0.60, 0.20, 0.24, 0.18, 0.22, 0.21], 200);
        let test = panel_test("student", &["a", "b", "c", "d", "e"], &items, 30, 0.05);
        let Conclusion::Rejected { p_value } = test.conclusion else { panic!("{test:?}") };
        assert!(p_value < 0.001, "{test:?}");
        assert_eq!(test.degrees_of_freedom, 4);
        assert_eq!(test.controls_rejected, 0, "{test:?}");
        assert_eq!(test.measures, ["ngram_overlap", "format_profile"]);
    }

    #[test]
    fn an_unrelated_model_that_beats_one_control_does_not_stand_out_from_the_panel() {
        // Closer than the weakest control (0.16), as style alone makes it, but inside the panel's spread.
        let items = panel(&[0.26, 0.16, 0.30, 0.20, 0.24, 0.28], 300);
        let test = panel_test("unrelated", &["a", "b", "c", "d", "e"], &items, 30, 0.05);
        assert!(matches!(test.conclusion, Conclusion::NotRejected { .. }), "{test:?}");
        // ... while the paired test against the weakest control alone rejects it.
        let paired: Vec<crate::reference::AlignedItem> = items
            .iter()
            .enumerate()
            .map(|(i, item)| crate::reference::AlignedItem {
                item: i.to_string(),
                suspect: item.suspect,
                control: item.controls[0],
            })
            .collect();
        let one = crate::reference::distillation_test(&paired, &crate::reference::TestConfig::default());
        assert!(matches!(one.conclusion, Conclusion::Rejected { .. }), "{one:?}");
    }

    #[test]
    fn every_control_is_put_in_the_suspects_place() {
        let items = panel(&[0.6, 0.2, 0.24, 0.18, 0.22], 100);
        let test = panel_test("s", &["a", "b", "c", "d"], &items, 30, 0.05);
        assert_eq!(test.controls.iter().map(|c| c.model.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert!(test.controls.iter().all(|c| c.p_value.is_some() && c.t.is_some()), "{test:?}");
        // The closest control has the largest t among them.
        let best = test.controls.iter().max_by(|x, y| x.closeness.total_cmp(&y.closeness)).unwrap();
        assert_eq!(best.model, "b");
    }

    #[test]
    fn too_few_controls_or_items_do_not_conclude() {
        let items = panel(&[0.6, 0.2, 0.3], 100);
        let test = panel_test("s", &["a", "b"], &items, 30, 0.05);
        assert!(matches!(&test.conclusion, Conclusion::Inconclusive { reason } if reason.contains("at least 3")));
        let items = panel(&[0.6, 0.2, 0.3, 0.25], 10);
        let test = panel_test("s", &["a", "b", "c"], &items, 30, 0.05);
        assert!(matches!(&test.conclusion, Conclusion::Inconclusive { reason } if reason.contains("only 10 item")));
    }

    #[test]
    fn exchangeable_models_are_rejected_at_about_the_level() {
        // Every model's closeness drawn from one (nearly normal) distribution: the suspect is rejected at
        // 0.05 in about 5% of panels (the test is exact for normal draws).
        let normal = |r: usize, m: usize| (0..12).map(|u| jitter(7_000_000 + r, 16 * m + u)).sum::<f64>();
        let mut rejected = 0;
        let panels = 2000;
        for r in 0..panels {
            let levels: Vec<f64> = (0..6).map(|m| 0.3 + 0.03 * normal(r, m)).collect();
            let items = panel_drawn(&levels, 40, r + 1);
            let test = panel_test("s", &["a", "b", "c", "d", "e"], &items, 30, 0.05);
            rejected += usize::from(matches!(test.conclusion, Conclusion::Rejected { .. }));
        }
        let rate = rejected as f64 / panels as f64;
        assert!((0.035..=0.065).contains(&rate), "rejected {rejected} of {panels}");
    }
}
