//! Benign kinds, the hard ones included: bots, backends, evaluation
//! harnesses, batch jobs and resellers that share much of an extractor's
//! surface (volume, templates, benchmarks, round-the-clock traffic).

use rand::Rng;

use crate::corpus::Text;
use crate::phrasing::{self, fill, headline};
use crate::timing::{self, OFFICE, PERSONAL};
use crate::traffic::{ChatThread, Exchange, Gen, Model, Params, tokens};

/// Parameters of chat clients: mostly defaults, sometimes a temperature.
fn chat_params(g: &mut Gen) -> Params {
    let mut params = Params::default();
    if g.rng.random_bool(0.25) {
        params.temperature = Some(*g.pick(&[0.7, 1.0, 0.5]));
    }
    if g.rng.random_bool(0.2) {
        params.max_tokens = Some(*g.pick(&[1024, 2048, 4096]));
    }
    params
}

/// Sessions of a person: on each day active with probability `p_active`
/// (scaled by `weekend` at weekends and by the account's intensity), about
/// `sessions` sessions (times the intensity) at times drawn from the rhythm,
/// each playing `threads` conversations.
fn person_days(g: &mut Gen, p_active: f64, weekend: f64, sessions: f64, threads: (u32, u32), stop: f64) {
    let p_active = (p_active * g.intensity.sqrt()).min(1.0);
    for day in 0..g.window.days {
        let p = if g.window.is_weekend(day, g.tz_minutes) { (p_active * weekend).min(1.0) } else { p_active };
        if !g.rng.random_bool(p) {
            continue;
        }
        let count = timing::poisson(&mut g.rng, sessions * g.intensity.sqrt()).max(1);
        for _ in 0..count {
            let local = timing::local_time(&mut g.rng, &PERSONAL);
            let mut t = g.window.at_local(day, g.tz_minutes, local) as f64;
            for _ in 0..g.rng.random_range(threads.0..=threads.1) {
                let thread = g.person_thread();
                let params = chat_params(g);
                let model = g.model_at(t, Model::Current, 0.3);
                t = g.chat(t, &thread, params, model, stop);
                t += timing::lognormal(&mut g.rng, 90.0, 1.0);
            }
        }
    }
}

/// A person chatting now and then.
pub fn casual(g: &mut Gen) {
    person_days(g, 0.3, 1.2, 1.3, (1, 2), 0.35);
}

/// A person who also sends the day's viral prompt.
pub fn viral_prompt(g: &mut Gen) {
    casual(g);
    let viral = g.world.viral.clone();
    // Sharing decays over the afternoon and evening after it starts.
    let delay = timing::lognormal(&mut g.rng, 3.0 * 3600.0, 0.8).min(20.0 * 3600.0);
    let prompt = if g.rng.random_bool(0.7) {
        viral.prompt.clone()
    } else {
        Text::from(format!(
            "{} {}",
            g.pick(&["Try this:", "lol", "ok everyone is doing this:", "Saw this online -"]),
            viral.prompt
        ))
    };
    let thread = ChatThread { system: None, turns: vec![prompt], first_response: Some(viral.response), end_user: None };
    let params = chat_params(g);
    g.chat(viral.at as f64 + delay, &thread, params, Model::Current, 1.0);
}

/// A person behind a network prefix shared with unrelated people.
pub fn shared_network(g: &mut Gen) {
    casual(g);
}

/// A person who lives in the chat.
pub fn heavy_chat(g: &mut Gen) {
    person_days(g, 0.9, 1.0, 3.0, (2, 4), 0.2);
}

/// A developer: office hours, custom system prompts, re-asks with edits and
/// temperature tweaks, some multi-turn testing, early adoption of new models.
pub fn developer(g: &mut Gen) {
    let system = Text::from(*g.pick(&phrasing::DEVELOPER_SYSTEM_PROMPTS));
    let adoption = if g.rng.random_bool(0.4) { 0.9 } else { 0.1 };
    for day in 0..g.window.days {
        let p = if g.window.is_weekend(day, g.tz_minutes) { 0.12 } else { 0.55 };
        if !g.rng.random_bool(p) {
            continue;
        }
        for _ in 0..timing::poisson(&mut g.rng, 1.8 * g.intensity).max(1) {
            let local = timing::local_time(&mut g.rng, &OFFICE);
            let mut t = g.window.at_local(day, g.tz_minutes, local) as f64;
            for _ in 0..g.rng.random_range(2..=8) {
                let model = g.model_at(t, Model::Current, adoption);
                let mut thread = g.person_thread();
                thread.system = Some(system.clone());
                let mut params = Params { temperature: Some(0.7), max_tokens: Some(1024), ..Params::default() };
                if g.rng.random_bool(0.35) {
                    t = g.chat(t, &thread, params, model, 0.4);
                } else {
                    // Re-asks of the same prompt while tuning: edits and a temperature sweep.
                    let prompt = thread.turns[0].clone();
                    let first = thread.first_response.clone().unwrap_or_else(|| g.any_response());
                    for attempt in 0..g.rng.random_range(1..=4) {
                        let prompt = if attempt > 0 && g.rng.random_bool(0.5) {
                            Text::from(format!("{prompt}{}", g.pick(&phrasing::DEVELOPER_EDITS)))
                        } else {
                            prompt.clone()
                        };
                        if attempt > 0 {
                            params.temperature = Some(*g.pick(&[0.0, 0.2, 0.5, 0.7, 1.0, 1.2]));
                        }
                        let response = if attempt == 0 { first.clone() } else { g.any_response() };
                        let completion = tokens(&response);
                        g.emit(t, Exchange::single(prompt, response, params, model).with_system(system.clone()));
                        t += timing::generation_time(completion) + timing::lognormal(&mut g.rng, 25.0, 0.8);
                    }
                }
                t += timing::lognormal(&mut g.rng, 120.0, 1.0);
            }
        }
    }
}

/// Arrivals of a service's own users over the window: a Poisson process whose
/// hourly rate follows the rhythm in the service's zone, never below `floor`
/// of the peak (users in other zones).
pub(crate) fn service_arrivals(g: &mut Gen, per_day: f64, rhythm: &[f64; 24], floor: f64) -> Vec<f64> {
    let mean: f64 = rhythm.iter().map(|w| w.max(floor)).sum::<f64>() / 24.0;
    let mut times = Vec::new();
    for hour in 0..i64::from(g.window.days) * 24 {
        let at = g.window.start + hour * 3600;
        let weight = timing::weight_at(rhythm, at, g.tz_minutes).max(floor);
        let count = timing::poisson(&mut g.rng, per_day / 24.0 * weight / mean);
        for _ in 0..count {
            times.push(at as f64 + g.rng.random::<f64>() * 3600.0);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

/// A customer-support bot: its company's system prompt on every request,
/// customers' messages as conversations, all day.
pub fn support_bot(g: &mut Gen) {
    let company = *g.pick(&phrasing::COMPANIES);
    let system = Text::from(phrasing::support_system_prompt(company));
    let per_day = 180.0 * g.intensity;
    let params = Params { temperature: Some(0.3), max_tokens: Some(512), ..Params::default() };
    // A conversation is `turns` requests; arrivals are conversations.
    for start in service_arrivals(g, per_day / 2.0, &PERSONAL, 0.15) {
        let mut thread = g.human_thread();
        thread.system = Some(system.clone());
        thread.end_user = Some(g.rng.random());
        g.chat(start, &thread, params, Model::Mini, 0.45);
    }
}

/// An app backend: one template filled with its users' input, long outputs.
pub fn app_backend(g: &mut Gen) {
    let template = *g.pick(&phrasing::APP_TEMPLATES);
    let per_day = 250.0 * g.intensity;
    let params = Params { temperature: Some(0.9), max_tokens: Some(2048), ..Params::default() };
    let model = if g.rng.random_bool(0.5) { Model::Mini } else { Model::Current };
    for t in service_arrivals(g, per_day, &PERSONAL, 0.1) {
        let source = g.person_thread();
        let input = headline(&source.turns[0], 160);
        let response = long_response(g);
        let mut exchange = Exchange::single(Text::from(fill(template, &input)), response, params, model);
        exchange.end_user = Some(g.rng.random_range(0..5_000));
        g.emit(t, exchange);
    }
}

/// A real model answer of at least 1,200 bytes (a few tries, then any).
fn long_response(g: &mut Gen) -> Text {
    for _ in 0..6 {
        let response = if g.rng.random_bool(0.5) {
            g.pick(&g.corpus.arena).response.clone()
        } else {
            g.pick(&g.corpus.instructions).response.clone()
        };
        if response.len() >= 1_200 {
            return response;
        }
    }
    g.any_response()
}

/// A benchmark harness: one or two runs in the week over a multiple-choice
/// suite, answer only, temperature 0, several workers in parallel; the same
/// items again in a later run (comparing models after the release).
pub fn eval_runner(g: &mut Gen) {
    let pool_len = g.corpus.mmlu.len();
    let items = g.rng.random_range(300..=900).min(pool_len);
    let offset = g.rng.random_range(0..pool_len);
    let instruction = *g.pick(&phrasing::ANSWER_ONLY);
    let legacy = g.rng.random_bool(0.4);
    let runs = g.rng.random_range(1..=2);
    for run in 0..runs {
        let day = g.rng.random_range(0..g.window.days);
        let local = timing::local_time(&mut g.rng, &OFFICE);
        let start = g.window.at_local(day, g.tz_minutes, local) as f64;
        let model =
            if run == 1 || g.rng.random_bool(0.3) { g.model_at(start, Model::Current, 1.0) } else { Model::Current };
        let workers = g.rng.random_range(4..=16) as f64;
        let mut t = start;
        for i in 0..items {
            let item = g.corpus.mmlu[(offset + i) % pool_len].clone();
            let answer =
                if g.rng.random_bool(0.7) { item.answer.clone() } else { Text::from(*g.pick(&["A", "B", "C", "D"])) };
            let prompt = Text::from(format!("{}\n{instruction}", item.prompt));
            let params = Params { temperature: Some(0.0), max_tokens: Some(1), ..Params::default() };
            let mut exchange = Exchange::single(prompt, answer, params, model);
            exchange.legacy_completion = legacy;
            g.emit(t, exchange);
            t += timing::lognormal(&mut g.rng, 0.6, 0.4) / workers;
        }
    }
}

/// A one-pass chain-of-thought evaluation of math word problems.
pub fn cot_eval_runner(g: &mut Gen) {
    let pool_len = g.corpus.gsm8k.len();
    let items = g.rng.random_range(250..=700).min(pool_len);
    let offset = g.rng.random_range(0..pool_len);
    let instruction = Text::from(*g.pick(&phrasing::COT_EVAL));
    let day = g.rng.random_range(0..g.window.days);
    let start = g.window.at_local(day, g.tz_minutes, timing::local_time(&mut g.rng, &OFFICE)) as f64;
    let model = g.model_at(start, Model::Current, 0.5);
    let workers = g.rng.random_range(2..=8) as f64;
    let mut t = start;
    for i in 0..items {
        let item = g.corpus.gsm8k[(offset + i) % pool_len].clone();
        let params = Params { temperature: Some(0.0), max_tokens: Some(512), seed: Some(1234), ..Params::default() };
        let completion = tokens(&item.response);
        g.emit(t, Exchange::single(item.prompt, item.response, params, model).with_system(instruction.clone()));
        t += (timing::generation_time(completion) + timing::lognormal(&mut g.rng, 0.3, 0.5)) / workers;
    }
}

/// A nightly translation batch: every night at the same local hour, a queue
/// of documents, one after another.
///
/// The data has no parallel text, so the completion is the source passage
/// itself: its length and shape are a translation's, its language is not.
pub fn translation_batch(g: &mut Gen) {
    let language = *g.pick(&phrasing::TRANSLATION_LANGUAGES);
    let hour = g.rng.random_range(0..4) as f64;
    let params = Params { temperature: Some(0.2), max_tokens: Some(4096), ..Params::default() };
    for day in 0..g.window.days {
        if g.window.is_weekend(day, g.tz_minutes) && g.rng.random_bool(0.7) {
            continue;
        }
        let mut t = g.window.at_local(day, g.tz_minutes, hour * 3600.0 + g.rng.random::<f64>() * 600.0) as f64;
        for _ in 0..g.rng.random_range(60..=220) {
            let passage = g.any_response();
            let prompt = format!("Translate the following text into {language}. Keep the formatting.\n\n{passage}");
            let completion = tokens(&passage);
            g.emit(t, Exchange::single(Text::from(prompt), passage, params, Model::Mini));
            t += timing::generation_time(completion) + g.rng.random::<f64>();
        }
    }
}

/// A reseller: end users of its own product in many zones, all billed to
/// one account, sent from its servers with its backend's user agent; passes
/// each end user's id along.
pub fn reseller(g: &mut Gen) {
    let users = g.rng.random_range(40..=90);
    reseller_users(g, users);
}

/// Traffic of `users` end users behind a reseller account.
pub fn reseller_users(g: &mut Gen, users: u32) {
    let home_tz = g.tz_minutes;
    for _ in 0..users {
        let end_user: u32 = g.rng.random();
        g.tz_minutes = *g.pick(&[-480, -300, -180, 0, 60, 120, 330, 480, 540]);
        let heavy = g.rng.random_bool(0.2);
        let p_active = if heavy { 0.8 } else { 0.35 };
        for day in 0..g.window.days {
            if !g.rng.random_bool(p_active) {
                continue;
            }
            let local = timing::local_time(&mut g.rng, &PERSONAL);
            let mut t = g.window.at_local(day, g.tz_minutes, local) as f64;
            for _ in 0..g.rng.random_range(1..=if heavy { 4 } else { 2 }) {
                let mut thread = g.person_thread();
                thread.end_user = Some(end_user);
                let params = chat_params(g);
                t = g.chat(t, &thread, params, Model::Current, 0.3);
                t += timing::lognormal(&mut g.rng, 120.0, 1.0);
            }
        }
    }
    g.tz_minutes = home_tz;
}

/// One of the person kinds' parameter choices, for extraction mixed into
/// their account.
pub fn any_chat_params(g: &mut Gen) -> Params {
    chat_params(g)
}
