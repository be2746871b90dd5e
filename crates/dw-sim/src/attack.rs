//! Attack kinds, after what providers have reported of distillation
//! campaigns. Attackers use the official SDKs' user agents and ordinary
//! parameters where they can: they do not announce themselves.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use crate::benign;
use crate::corpus::{Answered, Text};
use crate::phrasing::{self, fill};
use crate::timing::{self, DAY, PERSONAL};
use crate::traffic::{Exchange, Gen, Model, Params};

/// Times of a harvesting script between `from` and `to` (Unix seconds):
/// bursts of up to `burst` requests fired together by parallel workers,
/// spaced so the average is `per_day`, with a pause of some hours now and
/// then (a crash, a rate limit, a new batch being prepared).
pub fn script_times(g: &mut Gen, from: f64, to: f64, per_day: f64, burst: u32) -> Vec<f64> {
    let mut times = Vec::new();
    let burst = burst.max(1);
    let gap = DAY as f64 / per_day.max(1e-6) * f64::from(burst);
    let mut t = from + g.rng.random::<f64>() * gap;
    while t < to {
        for _ in 0..g.rng.random_range(1..=burst) {
            times.push(t + g.rng.random::<f64>() * 2.0);
        }
        t += gap * (0.7 + 0.6 * g.rng.random::<f64>());
        if g.rng.random_bool(0.004) {
            t += timing::lognormal(&mut g.rng, 3.0 * 3600.0, 0.7);
        }
    }
    times
}

/// Harvesting parameters: long answers, a usual temperature, sometimes
/// several choices per request.
fn harvest_params(g: &mut Gen) -> Params {
    Params {
        temperature: Some(*g.pick(&[0.7, 0.8, 1.0])),
        max_tokens: Some(*g.pick(&[2048, 4096, 8192])),
        n: if g.rng.random_bool(0.25) { Some(g.rng.random_range(2..=4)) } else { None },
        ..Params::default()
    }
}

/// The account's own order of the instruction pool.
fn shuffled_instructions(g: &mut Gen) -> Vec<usize> {
    let mut order: Vec<usize> = (0..g.corpus.instructions.len()).collect();
    order.shuffle(&mut g.rng);
    order
}

/// Bulk harvesting of generated task instructions: round the clock, parallel
/// workers, one wrapper, long answers.
pub fn bulk_instructions(g: &mut Gen) {
    let per_day = g.rng.random_range(150.0..350.0);
    let burst = g.rng.random_range(2..=8);
    let times = script_times(g, g.window.start as f64, g.window.end() as f64, per_day, burst);
    harvest_instructions(g, &times, None);
}

/// Instruction-harvesting requests at the given times.
fn harvest_instructions(g: &mut Gen, times: &[f64], end_user: Option<u32>) {
    let wrapper = *g.pick(&phrasing::HARVEST_WRAPPERS);
    let system = g.rng.random_bool(0.5).then(|| Text::from("You are a helpful assistant."));
    let params = harvest_params(g);
    let order = shuffled_instructions(g);
    for (k, t) in times.iter().enumerate() {
        let task = g.corpus.instructions[order[k % order.len()]].clone();
        let mut exchange =
            Exchange::single(Text::from(fill(wrapper, &task.prompt)), task.response, params, Model::Current);
        exchange.system = system.clone();
        exchange.end_user = end_user;
        g.emit(*t, exchange);
    }
}

/// A reasoning request in the given language placement: in the system
/// prompt, or appended to the problem.
fn reasoning_exchange(source: Answered, request: &str, in_system: bool, params: Params, model: Model) -> Exchange {
    if in_system {
        Exchange::single(source.prompt, source.response, params, model).with_system(Text::from(request))
    } else {
        Exchange::single(Text::from(format!("{}\n\n{request}", source.prompt)), source.response, params, model)
    }
}

/// A reasoning problem with a sampled trace (several samples of one problem
/// are different traces), or a math word problem with its worked solution.
fn reasoning_source(g: &mut Gen) -> Answered {
    if g.rng.random_bool(0.7) {
        let trace = g.pick(&g.corpus.traces).clone();
        Answered { prompt: trace.prompt, response: trace.response }
    } else {
        g.pick(&g.corpus.gsm8k).clone()
    }
}

/// Reasoning-trace harvesting: math problems sampled several times for
/// different chains of thought, asked for in several languages.
pub fn reasoning_harvest(g: &mut Gen) {
    let per_day = g.rng.random_range(60.0..140.0);
    let count = g.rng.random_range(2..=4);
    let languages: Vec<&str> = phrasing::REASONING_REQUESTS.choose_multiple(&mut g.rng, count).copied().collect();
    let in_system = g.rng.random_bool(0.5);
    let params = Params { temperature: Some(*g.pick(&[0.6, 0.8, 1.0])), max_tokens: Some(4096), ..Params::default() };
    let burst = g.rng.random_range(1..=4);
    for t in script_times(g, g.window.start as f64, g.window.end() as f64, per_day, burst) {
        let source = reasoning_source(g);
        let request = *g.pick(&languages);
        let exchange = reasoning_exchange(source, request, in_system, params, Model::Current);
        g.emit(t, exchange);
    }
}

/// Benchmark replay: the datasets in their own order, each item asked for a
/// worked rationale.
pub fn benchmark_replay(g: &mut Gen) {
    let per_day = g.rng.random_range(80.0..200.0);
    let wrapper = *g.pick(&phrasing::RATIONALE_REQUESTS);
    let params = Params { temperature: Some(*g.pick(&[0.0, 0.7])), max_tokens: Some(2048), ..Params::default() };
    let gsm_offset = g.rng.random_range(0..g.corpus.gsm8k.len());
    let mmlu_offset = g.rng.random_range(0..g.corpus.mmlu.len());
    let (mut gsm, mut mmlu) = (0, 0);
    for t in script_times(g, g.window.start as f64, g.window.end() as f64, per_day, 3) {
        let (prompt, response) = if g.rng.random_bool(0.7) {
            let item = g.corpus.gsm8k[(gsm_offset + gsm) % g.corpus.gsm8k.len()].clone();
            gsm += 1;
            (item.prompt, item.response)
        } else {
            let item = g.corpus.mmlu[(mmlu_offset + mmlu) % g.corpus.mmlu.len()].clone();
            mmlu += 1;
            (item.prompt, Text::from(format!("The correct answer is {}.", item.answer)))
        };
        g.emit(t, Exchange::single(Text::from(fill(wrapper, &prompt)), response, params, Model::Current));
    }
}

/// The task a farm's campaign sweeps: instructions first, then Self-Instruct prompts.
pub(crate) fn farm_task(g: &Gen, index: usize) -> Answered {
    let instructions = &g.corpus.instructions;
    if index < instructions.len() {
        instructions[index].clone()
    } else {
        g.corpus.self_instruct[(index - instructions.len()) % g.corpus.self_instruct.len()].clone()
    }
}

/// Number of tasks a farm campaign sweeps.
pub fn farm_task_count(corpus: &crate::corpus::Corpus) -> usize {
    corpus.instructions.len() + corpus.self_instruct.len()
}

/// A low-and-slow farm member: its slice of the campaign's sweep at a few
/// dozen requests a day, never above the campaign's daily cap. On hosting
/// infrastructure the operator's scheduler runs every member in the same
/// hours with one wrapper; behind rotating residential proxies each member
/// keeps a person's rhythm in its own zone and the wrappers vary.
pub fn farm(g: &mut Gen, residential: bool) {
    let Some((campaign, member)) = g.world.campaign_of(g.account) else { return };
    let campaign = campaign.clone();
    let mut k = 0;
    for day in 0..g.window.days {
        let quota = g.rng.random_range(15..=campaign.daily_cap);
        let mut times: Vec<f64> = if residential {
            (0..quota)
                .map(|_| g.window.at_local(day, g.tz_minutes, timing::local_time(&mut g.rng, &PERSONAL)) as f64)
                .collect()
        } else {
            // The scheduler works through every member's quota over a 10-hour shift.
            let shift_start = g.window.start + i64::from(day) * DAY + i64::from(campaign.schedule_hour) * 3600;
            (0..quota)
                .map(|i| {
                    shift_start as f64 + f64::from(i) * 36_000.0 / f64::from(quota) + g.rng.random::<f64>() * 300.0
                })
                .collect()
        };
        // Keep each day's requests inside that (UTC) day, so the cap holds per
        // calendar day: a shift or a local evening that runs past midnight
        // wraps to the same day's early hours rather than piling up at its end.
        let day_start = (g.window.start + i64::from(day) * DAY) as f64;
        for t in &mut times {
            *t = day_start + (*t - day_start).rem_euclid(DAY as f64);
        }
        times.sort_by(f64::total_cmp);
        for t in times {
            let task = farm_task(g, campaign.task(member, k));
            k += 1;
            let (wrapper, params) = if residential {
                let params = Params { temperature: *g.pick(&[None, Some(0.7), Some(1.0)]), ..Params::default() };
                (*g.pick(&phrasing::HARVEST_WRAPPERS[..3]), params)
            } else {
                (campaign.wrapper, Params { temperature: Some(0.7), max_tokens: Some(4096), ..Params::default() })
            };
            g.emit(t, Exchange::single(Text::from(fill(wrapper, &task.prompt)), task.response, params, Model::Current));
        }
    }
}

/// An evader: its slice of the operator's job, reworded like a person would
/// write it, at a person's hours, with fake follow-ups in a conversation.
pub fn paraphrase_evader(g: &mut Gen) {
    let Some((campaign, member)) = g.world.campaign_of(g.account) else { return };
    let campaign = campaign.clone();
    let mut k = 0;
    for day in 0..g.window.days {
        for _ in 0..g.rng.random_range(25..=60) {
            let t = g.window.at_local(day, g.tz_minutes, timing::local_time(&mut g.rng, &PERSONAL)) as f64;
            let task = farm_task(g, campaign.task(member, k));
            k += 1;
            let prompt = Text::from(phrasing::casualize(&mut g.rng, &task.prompt));
            let params = benign::any_chat_params(g);
            let conversation = Some(g.conversation());
            let mut first = Exchange::single(prompt.clone(), task.response.clone(), params, Model::Current);
            first.conversation = conversation;
            g.emit(t, first);
            if g.rng.random_bool(0.35) {
                let followup = Text::from(*g.pick(&phrasing::FAKE_FOLLOWUPS));
                let response = g.any_response();
                let mut second = Exchange::single(followup, response, params, Model::Current);
                second.history = vec![prompt, task.response];
                second.conversation = conversation;
                let delay = timing::think_time(&mut g.rng, second.history[1].len(), second.prompt.len());
                g.emit(t + delay, second);
            }
        }
    }
}

/// A legitimate account with extraction mixed in: 10 to 30 percent of its
/// requests harvest instructions, from the same key, address and client.
pub fn mixed_extraction(g: &mut Gen) {
    if g.rng.random_bool(0.5) {
        benign::developer(g)
    } else {
        benign::heavy_chat(g)
    }
    if g.events.len() < 20 {
        benign::heavy_chat(g);
    }
    let legit = g.events.len() as f64;
    let share = g.rng.random_range(0.10..=0.30);
    let extraction = (legit * share / (1.0 - share)).round().max(1.0) as usize;
    let mut times: Vec<f64> = (0..extraction)
        .map(|_| g.window.start as f64 + g.rng.random::<f64>() * (g.window.end() - g.window.start) as f64)
        .collect();
    times.sort_by(f64::total_cmp);
    g.extracting = true;
    harvest_instructions(g, &times, None);
    g.extracting = false;
}

/// A reseller whose end users include one to three extractors.
pub fn reseller_with_extractors(g: &mut Gen) {
    let users = g.rng.random_range(40..=80);
    benign::reseller_users(g, users);
    g.extracting = true;
    for _ in 0..g.rng.random_range(1..=3) {
        let end_user = Some(g.rng.random());
        let per_day = g.rng.random_range(80.0..200.0);
        let from = g.window.start as f64 + g.rng.random::<f64>() * 2.0 * DAY as f64;
        let times = script_times(g, from, g.window.end() as f64, per_day, 2);
        harvest_instructions(g, &times, end_user);
    }
    g.extracting = false;
}

/// Log-probability harvesting: every request asks for the top alternatives
/// of each token.
pub fn logprob_harvest(g: &mut Gen) {
    let per_day = g.rng.random_range(100.0..250.0);
    let params = Params {
        temperature: Some(*g.pick(&[0.0, 1.0])),
        max_tokens: Some(*g.pick(&[256, 512, 1024])),
        logprobs: Some(true),
        top_logprobs: Some(g.rng.random_range(5..=20)),
        ..Params::default()
    };
    for t in script_times(g, g.window.start as f64, g.window.end() as f64, per_day, 4) {
        let (prompt, response) = if g.rng.random_bool(0.6) {
            let task = g.pick(&g.corpus.instructions).clone();
            (task.prompt, task.response)
        } else {
            let thread = g.person_thread();
            let response = thread.first_response.clone().unwrap_or_else(|| g.any_response());
            (thread.turns[0].clone(), response)
        };
        g.emit(t, Exchange::single(prompt, response, params, Model::Current));
    }
}

/// Release chasing: a quiet account that turns to the new model within
/// hours of its release and harvests it at volume.
pub fn release_chaser(g: &mut Gen) {
    let release = g.world.release_at as f64;
    for day in 0..g.window.days {
        let day_start = (g.window.start + i64::from(day) * DAY) as f64;
        if day_start >= release {
            break;
        }
        for _ in 0..g.rng.random_range(3..=12) {
            let t = g.window.at_local(day, g.tz_minutes, timing::local_time(&mut g.rng, &PERSONAL)) as f64;
            if t >= release {
                continue;
            }
            let thread = g.person_thread();
            let params = benign::any_chat_params(g);
            g.chat(t, &thread, params, Model::Current, 0.5);
        }
    }
    g.extracting = true;
    let start = release + g.rng.random::<f64>() * 2.0 * 3600.0;
    let per_day = g.rng.random_range(250.0..450.0);
    let params = harvest_params(g);
    let request = *g.pick(&phrasing::REASONING_REQUESTS);
    let order = shuffled_instructions(g);
    for (k, t) in script_times(g, start, g.window.end() as f64, per_day, 6).into_iter().enumerate() {
        let exchange = if g.rng.random_bool(0.3) {
            let source = reasoning_source(g);
            reasoning_exchange(source, request, false, params, Model::New)
        } else {
            let task = g.corpus.instructions[order[k % order.len()]].clone();
            Exchange::single(task.prompt, task.response, params, Model::New)
        };
        g.emit(t, exchange);
    }
}
