//! Topics of a window's prompts: spherical k-means over a sample of the
//! window's prompt embeddings, then every embedded prompt assigned to its
//! nearest topic. The coverage signals read an account's spread over these
//! topics; they describe an account against the window's own traffic, not
//! against a fixed taxonomy, so a provider whose customers all write code
//! still sees which accounts sweep every corner of it.
//!
//! Deterministic: the same sample in the same order gives the same topics
//! (k-means++ seeding from a fixed splitmix64 stream).

use crate::templates::mix;

/// At most this many topics.
pub const MAX_TOPICS: usize = 32;

/// At least this many sampled prompts per topic: a window with fewer than
/// `2 * MIN_PER_TOPIC` embedded prompts has no topics.
pub const MIN_PER_TOPIC: usize = 10;

/// Lloyd iterations at most (they usually settle well before).
const MAX_ITERATIONS: usize = 30;

/// k-means runs from different seedings; the most cohesive is kept.
const SEEDINGS: usize = 3;

/// The seed of the k-means++ stream.
const SEED: u64 = 0x746f_7069_6373_2d31; // "topics-1"

/// A window's topics: unit-length centroids of one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    centroids: Vec<Vec<f32>>,
    /// How many sampled prompts each topic was fitted on.
    sizes: Vec<usize>,
}

impl Topics {
    /// Fits topics on `sample` (prompt vectors, any length, one dimension):
    /// `min(MAX_TOPICS, n / MIN_PER_TOPIC)` of them. `None` when there are
    /// too few vectors for two topics, or the vectors' dimensions differ.
    pub fn fit(sample: &[Vec<f32>]) -> Option<Self> {
        let dim = sample.first()?.len();
        if dim == 0 || sample.iter().any(|v| v.len() != dim) {
            return None;
        }
        let k = MAX_TOPICS.min(sample.len() / MIN_PER_TOPIC);
        if k < 2 {
            return None;
        }
        let points: Vec<Vec<f32>> = sample.iter().map(|v| unit(v)).collect();
        // Lloyd's iterations settle in a local optimum that depends on the
        // seeding: keep the best of a few seedings, as k-means usually does.
        let mut state = SEED;
        let mut best: Option<(f64, Self)> = None;
        for _ in 0..SEEDINGS {
            let (fit, cohesion) = lloyd(&points, k, &mut state);
            if best.as_ref().is_none_or(|(b, _)| cohesion > *b) {
                best = Some((cohesion, fit));
            }
        }
        best.map(|(_, fit)| fit)
    }

    /// How many topics.
    pub fn len(&self) -> usize {
        self.centroids.len()
    }

    /// Never true: a fit without a topic gives `None`.
    pub fn is_empty(&self) -> bool {
        self.centroids.is_empty()
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.centroids[0].len()
    }

    /// How many sampled prompts each topic was fitted on.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The nearest topic of a vector and its cosine similarity to it; `None`
    /// for a vector of another dimension.
    pub fn assign(&self, vector: &[f32]) -> Option<(usize, f32)> {
        (vector.len() == self.dim()).then(|| nearest(&self.centroids, &unit(vector)))
    }
}

/// One k-means run from a k-means++ seeding drawn from `state`: the topics
/// and their cohesion (the summed cosine of every point to its centroid).
fn lloyd(points: &[Vec<f32>], k: usize, state: &mut u64) -> (Topics, f64) {
    let dim = points[0].len();
    let mut centroids = seed_centroids(points, k, state);
    let k = centroids.len();
    let mut assignment = vec![usize::MAX; points.len()];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (p, slot) in points.iter().zip(assignment.iter_mut()) {
            let (best, _) = nearest(&centroids, p);
            if *slot != best {
                *slot = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0f32; dim]; k];
        for (p, &c) in points.iter().zip(&assignment) {
            sums[c].iter_mut().zip(p).for_each(|(s, x)| *s += x);
        }
        for (centroid, sum) in centroids.iter_mut().zip(sums) {
            // An emptied topic keeps its centroid.
            if sum.iter().any(|x| *x != 0.0) {
                *centroid = unit(&sum);
            }
        }
    }
    let mut sizes = vec![0; k];
    let mut cohesion = 0.0;
    for (p, &c) in points.iter().zip(&assignment) {
        sizes[c] += 1;
        cohesion += f64::from(dot(p, &centroids[c]));
    }
    (Topics { centroids, sizes }, cohesion)
}

/// Greedy k-means++: the first centroid drawn uniformly; for each next one,
/// a few candidates drawn with probability proportional to their squared
/// distance from the nearest chosen centroid (for unit vectors, 2 - 2 cos),
/// and the candidate that leaves the smallest total kept. Plain k-means++
/// puts two centroids into one tight group too often when the groups are as
/// many as the topics asked for.
fn seed_centroids(points: &[Vec<f32>], k: usize, state: &mut u64) -> Vec<Vec<f32>> {
    let mut next = || {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (mix(*state) >> 11) as f64 / (1u64 << 53) as f64
    };
    let distances_to =
        |centroid: &[f32]| -> Vec<f64> { points.iter().map(|p| f64::from(1.0 - dot(p, centroid)).max(0.0)).collect() };
    let candidates = 2 + (k as f64).ln() as usize;
    let first = ((next() * points.len() as f64) as usize).min(points.len() - 1);
    let mut centroids = vec![points[first].clone()];
    let mut distance = distances_to(&points[first]);
    while centroids.len() < k {
        let total: f64 = distance.iter().sum();
        if total <= 0.0 {
            // Every point sits on a centroid already.
            break;
        }
        let mut best: Option<(f64, Vec<f64>, usize)> = None;
        for _ in 0..candidates {
            let mut target = next() * total;
            let mut chosen = points.len() - 1;
            for (i, d) in distance.iter().enumerate() {
                if target < *d {
                    chosen = i;
                    break;
                }
                target -= d;
            }
            let merged: Vec<f64> = distance.iter().zip(distances_to(&points[chosen])).map(|(a, b)| a.min(b)).collect();
            let left: f64 = merged.iter().sum();
            if best.as_ref().is_none_or(|(b, _, _)| left < *b) {
                best = Some((left, merged, chosen));
            }
        }
        let (_, merged, chosen) = best.expect("at least two candidates");
        centroids.push(points[chosen].clone());
        distance = merged;
    }
    centroids
}

fn nearest(centroids: &[Vec<f32>], point: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let s = dot(c, point);
        if s > best.1 {
            best = (i, s);
        }
    }
    best
}

/// The dot product (the cosine similarity of unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v` scaled to unit length (a zero vector stays zero).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v.to_vec() }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `per` noisy points around each of `axes` orthogonal directions in `dim`.
    pub(crate) fn blobs(axes: usize, per: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = 7u64;
        let mut noise = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            ((mix(state) >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.3
        };
        let mut out = Vec::new();
        for _ in 0..per {
            for a in 0..axes {
                let mut v: Vec<f32> = (0..dim).map(|_| noise()).collect();
                v[a] += 1.0;
                out.push(unit(&v));
            }
        }
        out
    }

    #[test]
    fn separated_groups_become_one_topic_each() {
        let points = blobs(4, MIN_PER_TOPIC, 16);
        let topics = Topics::fit(&points).unwrap();
        assert_eq!(topics.len(), 4);
        // Every group's points land in one topic, and different groups in different topics.
        let mut topic_of_axis = Vec::new();
        for a in 0..4 {
            let assigned: Vec<usize> = points.iter().skip(a).step_by(4).map(|p| topics.assign(p).unwrap().0).collect();
            assert!(assigned.iter().all(|t| *t == assigned[0]), "axis {a}: {assigned:?}");
            topic_of_axis.push(assigned[0]);
        }
        topic_of_axis.sort_unstable();
        topic_of_axis.dedup();
        assert_eq!(topic_of_axis.len(), 4);
        assert_eq!(topics.sizes().iter().sum::<usize>(), points.len());
    }

    #[test]
    fn same_sample_same_topics() {
        let points = blobs(5, 30, 24);
        assert_eq!(Topics::fit(&points), Topics::fit(&points));
        assert_eq!(Topics::fit(&points).unwrap().len(), MAX_TOPICS.min(150 / MIN_PER_TOPIC));
    }

    #[test]
    fn too_few_or_mixed_vectors_give_no_topics() {
        assert_eq!(Topics::fit(&blobs(1, 19, 8)), None);
        assert!(Topics::fit(&blobs(2, 10, 8)).is_some());
        let mut mixed = blobs(2, 10, 8);
        mixed.push(vec![1.0; 9]);
        assert_eq!(Topics::fit(&mixed), None);
        assert_eq!(Topics::fit(&[]), None);
        let topics = Topics::fit(&blobs(2, 10, 8)).unwrap();
        assert_eq!(topics.assign(&[1.0; 3]), None);
    }

    #[test]
    fn identical_points_do_not_break_seeding() {
        // Nothing to tell apart: one topic, not four copies of it.
        let same = vec![unit(&[1.0, 2.0, 3.0]); 40];
        let topics = Topics::fit(&same).unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics.assign(&[1.0, 2.0, 3.0]).unwrap().0, 0);
        assert_eq!(topics.sizes()[0], 40);
    }
}
