//! The Ai port on any OpenAI-compatible chat-completions endpoint (async-openai). The key is
//! read from Secrets on use; each attempt has a timeout, and rate limits and server errors
//! are retried a bounded number of times with a growing pause.

use crate::ports::ai::{Ai, AiError, AiUse, Completion, Prompt, Speaker, estimate_tokens};
use crate::ports::secrets::{SecretName, Secrets, SecretsError};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
pub struct AiSettings {
    /// `None` for api.openai.com; any OpenAI-compatible base URL (ending in `/v1`) otherwise.
    pub base_url: Option<String>,
    pub strategy_model: String,
    pub routine_model: String,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The pause before the first retry; it doubles after each.
    pub first_backoff: Duration,
}

impl Default for AiSettings {
    fn default() -> Self {
        AiSettings {
            base_url: None,
            strategy_model: "gpt-4.1".into(),
            routine_model: "gpt-4.1-mini".into(),
            timeout: Duration::from_secs(30),
            attempts: 3,
            first_backoff: Duration::from_millis(500),
        }
    }
}

pub const PROVIDER: &str = "openai";

pub struct OpenAiCompatible {
    secrets: Arc<dyn Secrets>,
    settings: AiSettings,
    client: Mutex<Option<(String, Client<OpenAIConfig>)>>,
}

impl OpenAiCompatible {
    pub fn new(secrets: Arc<dyn Secrets>, settings: AiSettings) -> Self {
        OpenAiCompatible {
            secrets,
            settings,
            client: Mutex::new(None),
        }
    }

    pub fn model(&self, purpose: AiUse) -> &str {
        match purpose {
            AiUse::Strategy => &self.settings.strategy_model,
            AiUse::Routine => &self.settings.routine_model,
        }
    }

    /// The client for the current key, built once per key.
    async fn client(&self) -> Result<Client<OpenAIConfig>, AiError> {
        let key = match self.secrets.get(SecretName::AiApiKey).await {
            Ok(key) => key,
            Err(SecretsError::Missing(_)) => {
                return Err(AiError::NotConfigured(
                    "set OPENAI_API_KEY (locally) or the AI key secret (in the cloud), or use the offline provider".into(),
                ));
            }
            Err(SecretsError::Unavailable(e)) => return Err(AiError::Unavailable(e)),
        };
        let mut cached = self.client.lock().await;
        if let Some((cached_key, client)) = cached.as_ref()
            && *cached_key == key
        {
            return Ok(client.clone());
        }
        let mut config = OpenAIConfig::new().with_api_key(key.clone());
        if let Some(base) = &self.settings.base_url {
            config = config.with_api_base(base.trim_end_matches('/'));
        }
        let client = Client::with_config(config);
        *cached = Some((key, client.clone()));
        Ok(client)
    }

    async fn attempt(&self, client: &Client<OpenAIConfig>, prompt: &Prompt) -> Result<Completion, AiError> {
        let model = self.model(prompt.purpose).to_string();
        let mut messages: Vec<ChatCompletionRequestMessage> = vec![ChatCompletionRequestSystemMessage::from(prompt.system.clone()).into()];
        for (speaker, text) in &prompt.messages {
            messages.push(match speaker {
                Speaker::User => ChatCompletionRequestUserMessage::from(text.clone()).into(),
                Speaker::Assistant => ChatCompletionRequestAssistantMessage::from(text.clone()).into(),
            });
        }
        let request = CreateChatCompletionRequestArgs::default()
            .model(model.clone())
            .messages(messages)
            .max_completion_tokens(prompt.max_tokens)
            .build()
            .map_err(|e| AiError::Rejected(e.to_string()))?;
        let response = tokio::time::timeout(self.settings.timeout, client.chat().create(request))
            .await
            .map_err(|_| AiError::Unavailable(format!("no answer within {} s", self.settings.timeout.as_secs())))?
            .map_err(map_error)?;
        let text = response
            .choices
            .into_iter()
            .find_map(|c| c.message.content)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| AiError::Unavailable("the answer held no text".into()))?;
        let (prompt_tokens, completion_tokens) = match response.usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
            None => (
                prompt.messages.iter().map(|(_, m)| estimate_tokens(m) as u32).sum(),
                estimate_tokens(&text) as u32,
            ),
        };
        Ok(Completion {
            text: text.trim().to_string(),
            provider: PROVIDER.into(),
            model: if response.model.is_empty() { model } else { response.model },
            prompt_tokens,
            completion_tokens,
        })
    }
}

fn map_error(e: OpenAIError) -> AiError {
    match e {
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let message = api.api_error.message;
            match status {
                429 => AiError::RateLimited(message),
                401 | 403 => AiError::NotConfigured(format!("the key was refused: {message}")),
                s if s >= 500 => AiError::Unavailable(format!("status {s}: {message}")),
                s => AiError::Rejected(format!("status {s}: {message}")),
            }
        }
        OpenAIError::InvalidArgument(m) => AiError::Rejected(m),
        other => AiError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl Ai for OpenAiCompatible {
    async fn complete(&self, prompt: Prompt) -> Result<Completion, AiError> {
        let client = self.client().await?;
        let mut pause = self.settings.first_backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(&client, &prompt).await {
                Err(AiError::RateLimited(m) | AiError::Unavailable(m)) if attempt < self.settings.attempts => {
                    tracing::warn!(attempt, reason = %m, "AI call failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}
