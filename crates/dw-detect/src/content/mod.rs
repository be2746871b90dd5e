//! Learned models of prompt content, each with its weights committed beside
//! it and the command that trained them named in its documentation.

pub mod instruction;

pub use instruction::InstructionClassifier;

/// Whether any content model reads prompt vectors: audits embed their
/// sample of prompts only then.
pub fn needs_prompt_vectors() -> bool {
    InstructionClassifier::builtin().dim > 0
}
