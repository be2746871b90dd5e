//! Telling two operations apart inside one linked cluster by the work they
//! do: complementary coverage.
//!
//! An operation that harvests a task set splits it among its accounts: each
//! account sends its own slice, and no account repeats another's tasks (that
//! would waste the quota the accounts exist to spread). Two operations that
//! sweep one public task set do repeat each other's tasks: the same item
//! goes out once from an account of each. So when the accounts a set of
//! shared traces joined (one kit, one proxy pool) fall into two groups whose
//! members repeat tasks across the groups and never within them, they are
//! two jobs, and two operators.
//!
//! The test reads the graph of accounts that sent a common task. One job
//! split into slices gives no edge at all; one job drawn at random (with
//! repeats) gives edges everywhere, and its graph has as many odd cycles as
//! even ones; two jobs give edges across only, a graph with no odd cycle. A
//! sparse graph is a forest and two-colours whatever made it, so the split
//! needs many independent cycles ([`MIN_CYCLES`] by the graph's cycle rank),
//! nearly all of them even: with `r` independent cycles, each odd with
//! probability about one half when one job is drawn at random, a two-colouring
//! that leaves `w` edges inside its groups is accepted when a binomial
//! `(r, 1/2)` count reaches `w` or fewer with probability under
//! [`super::footprint::SURPRISE_P`].
//!
//! Tasks are compared through one key per prompt: the smallest hash of its
//! four-word shingles, once the shingles of the account's own frame (those
//! in [`FRAME_PROMPTS`] or more of its prompts: a wrapper, a coercion
//! phrase, a greeting) are set aside, so the same task under two wrappers
//! keeps most of its shingles and often its key. Keys are sampled alike
//! for every account (those below a fixed threshold), so two accounts keep
//! the same tasks' keys.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::templates::mix;

/// Prompts with fewer words are not tasks (greetings, follow-ups).
pub const MIN_TASK_WORDS: usize = 8;

/// Words per shingle.
pub const SHINGLE_WORDS: usize = 4;

/// A shingle in at least this many of an account's prompts is its frame.
pub const FRAME_PROMPTS: usize = 3;

/// One task key in this many is kept, the same ones for every account.
pub const SAMPLE: u64 = 4;

/// An account keeps at most this many task keys (its smallest).
pub const MAX_TASKS: usize = 1024;

/// A task sent by more accounts of a cluster than this is a popular item,
/// not a slice of a job: it is left out of the graph.
pub const MAX_HOLDERS: usize = 6;

/// A split needs at least this many independent cycles in the graph.
pub const MIN_CYCLES: usize = 20;

/// Each side of a split holds at least this many accounts that sent a
/// common task.
pub const MIN_PART: usize = 3;

/// How many times a cluster's parts are split again (three or more jobs).
const MAX_DEPTH: usize = 4;

const SEED: u64 = 0x7461_736b_7368_696e; // "taskshin"

/// The hashes of a text's four-word shingles (words: lowercase alphanumeric
/// runs), sorted and deduplicated; empty when it has fewer than
/// [`MIN_TASK_WORDS`] words.
fn shingles(text: &str) -> Vec<u64> {
    let words: Vec<u64> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut x = 0xcbf2_9ce4_8422_2325u64;
            for c in w.chars().flat_map(char::to_lowercase) {
                x = (x ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3);
            }
            x
        })
        .collect();
    if words.len() < MIN_TASK_WORDS {
        return Vec::new();
    }
    let mut out: Vec<u64> =
        words.windows(SHINGLE_WORDS).map(|w| w.iter().fold(SEED, |h, word| mix(h ^ word))).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// An account's sampled task keys, ascending: one key per prompt of at least
/// [`MIN_TASK_WORDS`] words (its smallest shingle outside the account's
/// frame), those below the sampling threshold, at most [`MAX_TASKS`].
pub fn task_keys<'a>(prompts: impl Iterator<Item = &'a str>) -> Vec<u64> {
    let sets: Vec<Vec<u64>> = prompts.map(shingles).filter(|s| !s.is_empty()).collect();
    let mut seen: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for set in &sets {
        for s in set {
            *seen.entry(*s).or_default() += 1;
        }
    }
    let threshold = u64::MAX / SAMPLE;
    let mut keys: Vec<u64> = sets
        .iter()
        .filter_map(|set| set.iter().copied().filter(|s| seen[s] < FRAME_PROMPTS).map(mix).min())
        // Sampled on a hash of its own: the smallest of a prompt's hashes is small.
        .filter(|k| mix(k ^ SEED) < threshold)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.truncate(MAX_TASKS);
    keys
}

/// Two groups of a cluster told apart by their tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// A label per member (in the order given): members with one label are
    /// one job.
    pub labels: Vec<usize>,
    /// Per label, the words that say why it stands apart.
    pub notes: BTreeMap<usize, String>,
}

/// The jobs among a cluster's members, from their task keys (one slice per
/// member, in member order): `None` when the members are one job as far as
/// their tasks tell.
pub fn jobs(tasks: &[&[u64]]) -> Option<Split> {
    let n = tasks.len();
    let mut holders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (member, keys) in tasks.iter().enumerate() {
        for k in keys.iter() {
            holders.entry(*k).or_default().push(member);
        }
    }
    // Each pair of accounts that sent a common task, with how many they share.
    let mut edges: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for members in holders.values().filter(|m| m.len() >= 2 && m.len() <= MAX_HOLDERS) {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if a != b {
                    *edges.entry((*a.min(b), *a.max(b))).or_default() += 1;
                }
            }
        }
    }
    let mut labels = vec![0usize; n];
    let mut notes = BTreeMap::new();
    let mut next = 1;
    split(&(0..n).collect::<Vec<_>>(), &edges, &mut labels, &mut notes, &mut next, 0);
    (next > 1).then_some(Split { labels, notes })
}

/// Splits `members` (all labelled alike) in two when their graph says two
/// jobs, labelling the smaller side anew, then each side again.
fn split(
    members: &[usize],
    edges: &BTreeMap<(usize, usize), usize>,
    labels: &mut [usize],
    notes: &mut BTreeMap<usize, String>,
    next: &mut usize,
    depth: usize,
) {
    if depth >= MAX_DEPTH || members.len() < 2 * MIN_PART {
        return;
    }
    let inside: BTreeSet<usize> = members.iter().copied().collect();
    let mut adjacent: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    let mut count = 0usize;
    for ((a, b), shared) in edges.iter().filter(|((a, b), _)| inside.contains(a) && inside.contains(b)) {
        adjacent.entry(*a).or_default().push((*b, *shared));
        adjacent.entry(*b).or_default().push((*a, *shared));
        count += 1;
    }
    // Two colours by breadth-first search, then members that share more tasks
    // with accounts of their own colour than with the other's move over (a
    // chance repeat is one task; two slices of one task set overlap in many).
    let mut colour: BTreeMap<usize, bool> = BTreeMap::new();
    let mut components = 0usize;
    for start in adjacent.keys() {
        if colour.contains_key(start) {
            continue;
        }
        components += 1;
        colour.insert(*start, false);
        let mut queue = VecDeque::from([*start]);
        while let Some(at) = queue.pop_front() {
            let here = colour[&at];
            for (next, _) in &adjacent[&at] {
                if !colour.contains_key(next) {
                    colour.insert(*next, !here);
                    queue.push_back(*next);
                }
            }
        }
    }
    for _ in 0..50 {
        let mut moved = false;
        for (member, neighbours) in &adjacent {
            let same: usize = neighbours.iter().filter(|(n, _)| colour[n] == colour[member]).map(|(_, w)| w).sum();
            let all: usize = neighbours.iter().map(|(_, w)| w).sum();
            if 2 * same > all {
                let c = colour[member];
                colour.insert(*member, !c);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let within =
        edges.keys().filter(|(a, b)| inside.contains(a) && inside.contains(b) && colour[a] == colour[b]).count();
    let cycles = (count + components).saturating_sub(adjacent.len());
    let (side_a, side_b): (Vec<usize>, Vec<usize>) = adjacent.keys().partition(|m| !colour[m]);
    if cycles < MIN_CYCLES
        || side_a.len() < MIN_PART
        || side_b.len() < MIN_PART
        || binomial_half_at_most(cycles, within) >= super::footprint::SURPRISE_P
    {
        return;
    }
    // The smaller side is labelled anew; members that share no task with any
    // other stay with the larger.
    let smaller = if side_a.len() >= side_b.len() { side_b } else { side_a };
    let label = *next;
    *next += 1;
    for m in &smaller {
        labels[*m] = label;
    }
    let across = count - within;
    let words = |other: usize| {
        format!(
            "told apart by their tasks from {other} accounts that share these traces: {across} pairs of accounts \
             across the two groups sent a common task and {within} pairs within them, as two jobs over one task set \
             do (one job split among its accounts does not repeat itself)"
        )
    };
    let rest: Vec<usize> = members.iter().copied().filter(|m| labels[*m] != label).collect();
    let parent = labels[rest[0]];
    notes.insert(label, words(rest.len()));
    notes.entry(parent).or_insert_with(|| words(smaller.len()));
    split(&rest, edges, labels, notes, next, depth + 1);
    split(&smaller, edges, labels, notes, next, depth + 1);
}

/// P(X ≤ k) for X ~ Binomial(n, 1/2).
fn binomial_half_at_most(n: usize, k: usize) -> f64 {
    if k >= n {
        return 1.0;
    }
    let ln_half = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0;
    let mut total = 0.0;
    for j in 0..=k {
        if j > 0 {
            ln_choose += ((n - j + 1) as f64).ln() - (j as f64).ln();
        }
        total += (ln_choose + ln_half).exp();
    }
    total.min(1.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const VOCABULARY: [&str; 40] = [
        "explain",
        "the",
        "history",
        "of",
        "a",
        "river",
        "city",
        "write",
        "poem",
        "about",
        "summer",
        "rain",
        "compare",
        "two",
        "methods",
        "for",
        "sorting",
        "list",
        "numbers",
        "describe",
        "how",
        "bread",
        "rises",
        "why",
        "do",
        "stars",
        "shine",
        "give",
        "three",
        "reasons",
        "to",
        "learn",
        "music",
        "plan",
        "trip",
        "mountain",
        "village",
        "translate",
        "this",
        "sentence",
    ];

    /// Task `i` of a public task set: twelve to twenty words of its own.
    fn task(i: usize) -> String {
        let mut state = mix(i as u64 + 1);
        let len = 12 + (state % 9) as usize;
        (0..len)
            .map(|_| {
                state = mix(state);
                VOCABULARY[(state % VOCABULARY.len() as u64) as usize]
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_same_task_under_two_wrappers_keeps_its_key_and_the_wrappers_do_not_count() {
        let tasks: Vec<String> = (0..400).map(task).collect();
        let a: Vec<String> = tasks.iter().map(|t| format!("Answer the following carefully and in full: {t}")).collect();
        let b: Vec<String> = tasks.iter().map(|t| format!("{t}. Think step by step before you answer.")).collect();
        let (ka, kb) = (task_keys(a.iter().map(String::as_str)), task_keys(b.iter().map(String::as_str)));
        assert!(ka.len() > 50 && ka.len() < 200, "one in {SAMPLE} kept: {}", ka.len());
        let shared = ka.iter().filter(|k| kb.binary_search(k).is_ok()).count();
        assert!(shared * 2 > ka.len(), "most tasks keep their key across wrappers: {shared} of {}", ka.len());
        // Short prompts are not tasks.
        assert!(task_keys(["thanks, that helps", "and why?"].into_iter()).is_empty());
    }

    /// `members` accounts of one job over `pool` tasks, shuffled by the
    /// operation (`seed`), each account its own slice of `per` tasks.
    pub(crate) fn sliced(members: usize, per: usize, seed: u64, pool: usize) -> Vec<Vec<u64>> {
        let mut order: Vec<usize> = (0..pool).collect();
        let mut state = seed;
        for i in (1..pool).rev() {
            state = mix(state);
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        (0..members)
            .map(|m| {
                let prompts: Vec<String> = (0..per).map(|k| task(order[(m * per + k) % pool])).collect();
                task_keys(prompts.iter().map(String::as_str))
            })
            .collect()
    }

    #[test]
    fn one_job_in_slices_is_one_and_two_jobs_over_one_task_set_are_two() {
        let one = sliced(30, 150, 1, 4500);
        assert_eq!(jobs(&one.iter().map(Vec::as_slice).collect::<Vec<_>>()), None, "no task repeats");
        // A second operation sweeps the same 4,500 tasks in slices of its own.
        let mut both = one.clone();
        both.extend(sliced(20, 225, 2, 4500));
        let split = jobs(&both.iter().map(Vec::as_slice).collect::<Vec<_>>()).expect("two jobs");
        let first = split.labels[0];
        assert!(split.labels[..30].iter().all(|l| *l == first), "{:?}", split.labels);
        assert!(split.labels[30..].iter().all(|l| *l != first), "{:?}", split.labels);
        assert!(
            split.notes[&split.labels[30]].starts_with("told apart by their tasks from 30 accounts"),
            "{:?}",
            split.notes
        );
    }

    #[test]
    fn one_job_drawn_at_random_with_repeats_is_not_split() {
        // Forty accounts drawing tasks at random from one pool of 1,500: they
        // repeat each other's tasks everywhere, in odd cycles as in even ones.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut draw = |pool: usize| {
            state = mix(state);
            (state % pool as u64) as usize
        };
        let accounts: Vec<Vec<u64>> = (0..40)
            .map(|_| {
                let prompts: Vec<String> = (0..60).map(|_| task(draw(1500))).collect();
                task_keys(prompts.iter().map(String::as_str))
            })
            .collect();
        assert_eq!(jobs(&accounts.iter().map(Vec::as_slice).collect::<Vec<_>>()), None);
    }

    #[test]
    fn a_few_repeats_make_a_forest_and_a_forest_is_not_split() {
        // Two groups that repeat only a handful of tasks across: too few
        // cycles to tell two jobs from chance.
        let mut accounts = sliced(10, 40, 3, 100_000);
        accounts.extend(sliced(10, 40, 3, 100_000).into_iter().map(|mut k| {
            k.truncate(1);
            k
        }));
        assert_eq!(jobs(&accounts.iter().map(Vec::as_slice).collect::<Vec<_>>()), None);
        assert!((binomial_half_at_most(20, 0) - 0.5f64.powi(20)).abs() < 1e-12);
        assert!((binomial_half_at_most(4, 2) - 11.0 / 16.0).abs() < 1e-12);
    }
}
