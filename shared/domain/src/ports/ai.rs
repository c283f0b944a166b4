//! The Ai port: text from a language model. Every answer says which provider and model wrote
//! it and how many tokens it took, so usage is recorded per org per call.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The provider name of the adapter that calls no model (`offline`), in its answers and
/// in `CHIEF_AI_PROVIDER`.
pub const OFFLINE_PROVIDER: &str = "offline";

/// What a call is for, which picks the model: a stronger one for strategy and the agent's
/// reasoning, a cheaper one for routine text (posts, emails, follow-ups, chat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AiUse {
    Strategy,
    Routine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub purpose: AiUse,
    pub system: String,
    /// The conversation so far, oldest first; the last one is what to answer.
    pub messages: Vec<(Speaker, String)>,
    pub max_tokens: u32,
}

impl Prompt {
    pub fn new(purpose: AiUse, system: impl Into<String>, ask: impl Into<String>) -> Self {
        Prompt {
            purpose,
            system: system.into(),
            messages: vec![(Speaker::User, ask.into())],
            max_tokens: 600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub text: String,
    /// `openai` (any OpenAI-compatible endpoint) or `offline`.
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("the AI provider is not configured: {0}")]
    NotConfigured(String),
    #[error("the AI provider is rate limiting: {0}")]
    RateLimited(String),
    #[error("the AI provider refused the request: {0}")]
    Rejected(String),
    #[error("the AI provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Ai: Send + Sync {
    async fn complete(&self, prompt: Prompt) -> Result<Completion, AiError>;
}

/// A rough token count (four characters a token), to bound what a prompt carries.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}
