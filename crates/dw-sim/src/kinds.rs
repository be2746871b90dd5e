//! The catalogue of simulated account kinds: who they are and how many of
//! each a population holds.

use serde::Serialize;

/// Which kinds a population holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Catalogue {
    /// Every kind.
    #[default]
    Full,
    /// The kinds before the hydra kinds of issue #20: the same seed gives
    /// the same traffic it gave then (the hydra kinds come last and draw
    /// from streams of their own), so regression floors set on those
    /// populations keep guarding them.
    Original,
}

impl Catalogue {
    /// Whether the catalogue holds the kind.
    pub fn holds(self, kind: Kind) -> bool {
        self == Catalogue::Full || !kind.is_hydra()
    }
}

/// A kind of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A person chatting now and then.
    Casual,
    /// A developer building on the official SDKs: tests, re-asks, parameter tweaks.
    Developer,
    /// A person who lives in the chat: many long conversations a day.
    HeavyChat,
    /// A customer-support bot: one system prompt, customers' messages, all day.
    SupportBot,
    /// An app backend: one template, long outputs, high volume.
    AppBackend,
    /// A benchmark harness: multiple choice, answer only, temperature 0.
    EvalRunner,
    /// A one-pass chain-of-thought evaluation of math word problems.
    CotEvalRunner,
    /// A nightly translation batch job.
    TranslationBatch,
    /// A reseller: many end users behind one account.
    Reseller,
    /// Unrelated people behind one campus or carrier network prefix.
    SharedNetwork,
    /// People who all send the same viral prompt on one day.
    ViralPrompt,
    /// Bulk harvesting of generated task instructions.
    BulkInstructions,
    /// Harvesting of reasoning traces with chain-of-thought prompts in several languages.
    ReasoningHarvest,
    /// Replaying benchmarks for rationales.
    BenchmarkReplay,
    /// A low-and-slow farm on shared hosting infrastructure.
    FarmHosting,
    /// A low-and-slow farm behind rotating residential proxies, nothing shared.
    FarmResidential,
    /// An evader that rewords its prompts and fakes follow-ups.
    ParaphraseEvader,
    /// A legitimate account with extraction mixed in.
    MixedExtraction,
    /// A reseller whose end users include extractors.
    ResellerWithExtractors,
    /// Harvesting token log-probabilities.
    LogprobHarvest,
    /// Jumping to a new model on its release day to harvest it.
    ReleaseChaser,
    /// A small app on a cloud provider's shared egress network, with the SDK
    /// version most apps there pin.
    CloudEgressApp,
    /// A person using an open-source agent framework (its system prompt,
    /// client and defaults).
    AgentFrameworkUser,
    /// A developer on a team behind one office NAT address.
    TeamBehindNat,
    /// A customer whose client, system prompt and parameters a farm copies.
    ImitatedCustomer,
    /// A hydra farm rotating over a few hosting networks, one client.
    FarmRotatingHosting,
    /// A hydra farm behind a residential proxy pool harvesting reasoning
    /// with one or two coercion phrases.
    FarmProxyReasoning,
}

impl Kind {
    /// Every kind, in the order a population is made: the original kinds,
    /// benign first, then the hydra kinds of issue #20 (benign first), last
    /// so that adding them left the earlier kinds' traffic as it was.
    pub const ALL: [Kind; 27] = [
        Kind::Casual,
        Kind::Developer,
        Kind::HeavyChat,
        Kind::SupportBot,
        Kind::AppBackend,
        Kind::EvalRunner,
        Kind::CotEvalRunner,
        Kind::TranslationBatch,
        Kind::Reseller,
        Kind::SharedNetwork,
        Kind::ViralPrompt,
        Kind::BulkInstructions,
        Kind::ReasoningHarvest,
        Kind::BenchmarkReplay,
        Kind::FarmHosting,
        Kind::FarmResidential,
        Kind::ParaphraseEvader,
        Kind::MixedExtraction,
        Kind::ResellerWithExtractors,
        Kind::LogprobHarvest,
        Kind::ReleaseChaser,
        Kind::CloudEgressApp,
        Kind::AgentFrameworkUser,
        Kind::TeamBehindNat,
        Kind::ImitatedCustomer,
        Kind::FarmRotatingHosting,
        Kind::FarmProxyReasoning,
    ];

    /// Whether the kind is one of the hydra kinds of issue #20 (the farms
    /// that rotate their infrastructure, and their look-alikes).
    pub fn is_hydra(self) -> bool {
        matches!(
            self,
            Kind::CloudEgressApp
                | Kind::AgentFrameworkUser
                | Kind::TeamBehindNat
                | Kind::ImitatedCustomer
                | Kind::FarmRotatingHosting
                | Kind::FarmProxyReasoning
        )
    }

    /// The kind's name in label files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Casual => "casual",
            Kind::Developer => "developer",
            Kind::HeavyChat => "heavy_chat",
            Kind::SupportBot => "support_bot",
            Kind::AppBackend => "app_backend",
            Kind::EvalRunner => "eval_runner",
            Kind::CotEvalRunner => "cot_eval_runner",
            Kind::TranslationBatch => "translation_batch",
            Kind::Reseller => "reseller",
            Kind::SharedNetwork => "shared_network",
            Kind::ViralPrompt => "viral_prompt",
            Kind::BulkInstructions => "bulk_instructions",
            Kind::ReasoningHarvest => "reasoning_harvest",
            Kind::BenchmarkReplay => "benchmark_replay",
            Kind::FarmHosting => "farm_hosting",
            Kind::FarmResidential => "farm_residential",
            Kind::ParaphraseEvader => "paraphrase_evader",
            Kind::MixedExtraction => "mixed_extraction",
            Kind::ResellerWithExtractors => "reseller_with_extractors",
            Kind::LogprobHarvest => "logprob_harvest",
            Kind::ReleaseChaser => "release_chaser",
            Kind::CloudEgressApp => "cloud_egress_app",
            Kind::AgentFrameworkUser => "agent_framework_user",
            Kind::TeamBehindNat => "team_behind_nat",
            Kind::ImitatedCustomer => "imitated_customer",
            Kind::FarmRotatingHosting => "farm_rotating_hosting",
            Kind::FarmProxyReasoning => "farm_proxy_reasoning",
        }
    }

    /// The kind of a name, as written by [`Kind::name`].
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether any of this kind's traffic is extraction.
    pub fn is_attack(self) -> bool {
        matches!(
            self,
            Kind::BulkInstructions
                | Kind::ReasoningHarvest
                | Kind::BenchmarkReplay
                | Kind::FarmHosting
                | Kind::FarmResidential
                | Kind::ParaphraseEvader
                | Kind::MixedExtraction
                | Kind::ResellerWithExtractors
                | Kind::LogprobHarvest
                | Kind::ReleaseChaser
                | Kind::FarmRotatingHosting
                | Kind::FarmProxyReasoning
        )
    }

    /// Accounts of this kind at scale 1 (about 1,500 accounts and 100,000
    /// events over 7 days in all).
    pub fn accounts_at_scale_one(self) -> f64 {
        match self {
            Kind::Casual => 640.0,
            Kind::Developer => 240.0,
            Kind::HeavyChat => 80.0,
            Kind::SupportBot => 6.0,
            Kind::AppBackend => 6.0,
            Kind::EvalRunner => 6.0,
            Kind::CotEvalRunner => 4.0,
            Kind::TranslationBatch => 6.0,
            Kind::Reseller => 4.0,
            Kind::SharedNetwork => 60.0,
            Kind::ViralPrompt => 300.0,
            Kind::BulkInstructions => 4.0,
            Kind::ReasoningHarvest => 4.0,
            Kind::BenchmarkReplay => 3.0,
            Kind::FarmHosting => 40.0,
            Kind::FarmResidential => 40.0,
            Kind::ParaphraseEvader => 8.0,
            Kind::MixedExtraction => 10.0,
            Kind::ResellerWithExtractors => 2.0,
            Kind::LogprobHarvest => 3.0,
            Kind::ReleaseChaser => 3.0,
            Kind::CloudEgressApp => 40.0,
            Kind::AgentFrameworkUser => 40.0,
            Kind::TeamBehindNat => 30.0,
            Kind::ImitatedCustomer => 2.0,
            Kind::FarmRotatingHosting => 30.0,
            Kind::FarmProxyReasoning => 40.0,
        }
    }

    /// The fewest accounts of this kind in any population, so that every kind
    /// is present even in a small suite (campaigns need a few members to be
    /// campaigns).
    pub fn minimum_accounts(self) -> usize {
        match self {
            Kind::FarmHosting | Kind::FarmResidential | Kind::FarmRotatingHosting | Kind::FarmProxyReasoning => 6,
            Kind::CloudEgressApp | Kind::AgentFrameworkUser => 10,
            Kind::TeamBehindNat => 2 * crate::hydra::TEAM_SIZE,
            Kind::ParaphraseEvader => 3,
            Kind::SharedNetwork => 8,
            Kind::ViralPrompt => 20,
            _ => 1,
        }
    }

    /// Accounts of this kind at a scale.
    pub fn accounts_at(self, scale: f64) -> usize {
        ((self.accounts_at_scale_one() * scale).round() as usize).max(self.minimum_accounts())
    }

    /// Members per campaign, for kinds run as linked campaigns (`None` for
    /// kinds whose accounts act alone).
    pub fn campaign_size(self) -> Option<usize> {
        match self {
            Kind::FarmHosting | Kind::FarmResidential | Kind::FarmProxyReasoning => Some(40),
            Kind::FarmRotatingHosting => Some(30),
            Kind::ParaphraseEvader => Some(4),
            _ => None,
        }
    }
}
