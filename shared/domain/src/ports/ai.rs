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
    /// When set, the answer must be one JSON value of this schema (structured output); the
    /// caller still validates it, as a model may answer otherwise.
    pub output: Option<OutputSchema>,
}

/// The JSON schema an answer must follow, with a name for the provider (`a-z`, `_`), and
/// what a provider without a model answers instead (by default a value of the schema built
/// from the schema alone, see [`example_of`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    pub name: &'static str,
    pub schema: serde_json::Value,
    pub offline: Option<OfflineAnswer>,
}

/// How a provider without a model answers a structured prompt, from the prompt's last
/// message: for the flows whose offline answer must follow what they are given (a
/// sentiment from the words of the text), not only the schema's shape.
#[derive(Clone, Copy)]
pub struct OfflineAnswer(pub fn(&str) -> serde_json::Value);

impl PartialEq for OfflineAnswer {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl std::fmt::Debug for OfflineAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OfflineAnswer")
    }
}

impl OutputSchema {
    /// What a provider without a model answers: the flow's own offline answer, or a value
    /// of the schema with each text saying `label`.
    pub fn offline_answer(&self, ask: &str, label: &str) -> serde_json::Value {
        match self.offline {
            Some(OfflineAnswer(answer)) => answer(ask),
            None => example_of(&self.schema, label),
        }
    }
}

/// Untrusted text as data between `<tag>` and `</tag>`: anything in it that looks like a
/// delimiter is defused, so it cannot close the block and speak outside it. The instructions
/// around it say that what is between the tags is data, never instructions.
pub fn delimited(tag: &str, text: &str) -> String {
    let defused = text.replace('<', "‹").replace('>', "›");
    format!("<{tag}>\n{defused}\n</{tag}>")
}

/// The data between an ask's `<tag>` delimiters, as `delimited` put it there.
pub fn data_of<'a>(tag: &str, ask: &'a str) -> &'a str {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let start = ask.find(&open).map_or(0, |i| i + open.len());
    let end = ask.rfind(&close).filter(|&end| end >= start).unwrap_or(ask.len());
    ask[start..end].trim()
}

impl Prompt {
    pub fn new(purpose: AiUse, system: impl Into<String>, ask: impl Into<String>) -> Self {
        Prompt {
            purpose,
            system: system.into(),
            messages: vec![(Speaker::User, ask.into())],
            max_tokens: 600,
            output: None,
        }
    }

    /// A prompt whose answer is one JSON value of `schema`.
    pub fn structured(mut self, name: &'static str, schema: serde_json::Value, max_tokens: u32) -> Self {
        self.output = Some(OutputSchema {
            name,
            schema,
            offline: None,
        });
        self.max_tokens = max_tokens;
        self
    }

    /// What a provider without a model answers to this structured prompt (see [`OfflineAnswer`]).
    pub fn answered_offline_by(mut self, answer: fn(&str) -> serde_json::Value) -> Self {
        if let Some(output) = &mut self.output {
            output.offline = Some(OfflineAnswer(answer));
        }
        self
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

/// A value of `schema` built from the schema alone, each text saying `label`: what a provider
/// without a model answers to a structured prompt, so the flows that validate structured
/// output run offline. Arrays get their `minItems` (at least one), numbers their `minimum`,
/// enums their first value; a text's `maxLength` is kept.
pub fn example_of(schema: &serde_json::Value, label: &str) -> serde_json::Value {
    use serde_json::{Value, json};
    fn build(schema: &Value, label: &str, name: &str, index: usize) -> Value {
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.get(index % e.len().max(1)))
        {
            return first.clone();
        }
        let kind = match schema.get("type") {
            Some(Value::Array(kinds)) => kinds.iter().find(|k| *k != "null").and_then(Value::as_str).unwrap_or("null"),
            Some(Value::String(kind)) => kind.as_str(),
            _ => "string",
        };
        match kind {
            "object" => {
                let mut object = serde_json::Map::new();
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (key, property) in properties {
                        object.insert(key.clone(), build(property, label, key, index));
                    }
                }
                Value::Object(object)
            }
            "array" => {
                let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
                let items = schema.get("items").cloned().unwrap_or(json!({"type": "string"}));
                Value::Array((0..count).map(|i| build(&items, label, name, i)).collect())
            }
            "integer" | "number" => {
                let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
                let max = schema.get("maximum").and_then(Value::as_i64).unwrap_or(min + 10);
                json!((min + index as i64).min(max).max(min))
            }
            "boolean" => json!(false),
            "null" => Value::Null,
            _ => {
                let text = format!("[{label}] {name} {}", index + 1);
                let max = schema.get("maxLength").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
                json!(text.chars().take(max).collect::<String>())
            }
        }
    }
    build(schema, label, "value", 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_example_follows_its_schema() {
        let schema = json!({"type": "object", "properties": {
            "pillars": {"type": "array", "minItems": 3, "maxItems": 5, "items": {"type": "string", "maxLength": 30}},
            "platform": {"enum": ["x", "linkedin"]},
            "perWeek": {"type": "integer", "minimum": 1, "maximum": 14},
            "why": {"type": ["string", "null"]}
        }});
        let example = example_of(&schema, "offline AI");
        assert_eq!(example["pillars"].as_array().unwrap().len(), 3);
        assert_eq!(example["pillars"][1], "[offline AI] pillars 2");
        assert_eq!((example["platform"].clone(), example["perWeek"].clone()), (json!("x"), json!(1)));
        assert!(example["why"].as_str().unwrap().starts_with("[offline AI]"));
    }
}
