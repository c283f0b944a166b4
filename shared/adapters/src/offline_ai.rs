//! The Ai port without a network, for local runs and tests: deterministic text built from
//! the prompt, marked `offline` in its provider and in the text itself, so nobody mistakes
//! it for a model's writing.

use async_trait::async_trait;
use chief::ports::ai::{Ai, AiError, AiUse, Completion, OFFLINE_PROVIDER, Prompt, estimate_tokens};

pub struct OfflineAi;

fn excerpt(text: &str, chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= chars {
        flat
    } else {
        format!("{}…", flat.chars().take(chars).collect::<String>())
    }
}

#[async_trait]
impl Ai for OfflineAi {
    async fn complete(&self, prompt: Prompt) -> Result<Completion, AiError> {
        let ask = prompt.messages.last().map(|(_, m)| m.as_str()).unwrap_or_default();
        let kind = match prompt.purpose {
            AiUse::Strategy => "strategy",
            AiUse::Routine => "draft",
        };
        // A structured prompt gets a value of its schema, each text labelled.
        let text = match &prompt.output {
            Some(output) => output
                .offline_answer(ask, &format!("offline AI {kind}, no model was called"))
                .to_string(),
            None => format!(
                "[offline AI {kind}, no model was called] {}",
                excerpt(ask, (prompt.max_tokens as usize * 4).clamp(40, 400))
            ),
        };
        Ok(Completion {
            prompt_tokens: (estimate_tokens(&prompt.system) + prompt.messages.iter().map(|(_, m)| estimate_tokens(m)).sum::<usize>())
                as u32,
            completion_tokens: estimate_tokens(&text) as u32,
            text,
            provider: OFFLINE_PROVIDER.into(),
            model: format!("offline-{kind}"),
        })
    }
}
