//! The Ai port on any OpenAI-compatible chat-completions endpoint (async-openai). The key is
//! read from Secrets on use. async-openai retries rate limits (429, except
//! `insufficient_quota`), server errors and failed connections 3 times, after Retry-After or
//! 100 ms doubling; a call, retries included, has a deadline of its own.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs, ResponseFormat, ResponseFormatJsonSchema,
};
use async_trait::async_trait;
use chief::config::{ConfigError, optional};
use chief::ports::ai::{Ai, AiError, AiUse, Completion, Prompt, Speaker, estimate_tokens};
use chief::ports::secrets::{SecretName, Secrets, SecretsError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
pub struct AiSettings {
    /// `None` for api.openai.com; any OpenAI-compatible base URL (ending in `/v1`) otherwise.
    pub base_url: Option<String>,
    pub strategy_model: String,
    pub routine_model: String,
    /// The deadline of one call, retries included.
    pub timeout: Duration,
}

impl Default for AiSettings {
    fn default() -> Self {
        AiSettings {
            base_url: None,
            strategy_model: "gpt-4.1".into(),
            routine_model: "gpt-4.1-mini".into(),
            timeout: Duration::from_secs(25),
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
        crate::tls::install_default_provider();
        let client = Client::with_config(config);
        *cached = Some((key, client.clone()));
        Ok(client)
    }

    async fn call(&self, client: &Client<OpenAIConfig>, prompt: &Prompt) -> Result<Completion, AiError> {
        let model = self.model(prompt.purpose).to_string();
        let mut messages: Vec<ChatCompletionRequestMessage> = vec![ChatCompletionRequestSystemMessage::from(prompt.system.clone()).into()];
        for (speaker, text) in &prompt.messages {
            messages.push(match speaker {
                Speaker::User => ChatCompletionRequestUserMessage::from(text.clone()).into(),
                Speaker::Assistant => ChatCompletionRequestAssistantMessage::from(text.clone()).into(),
            });
        }
        let mut request = CreateChatCompletionRequestArgs::default();
        request
            .model(model.clone())
            .messages(messages)
            .max_completion_tokens(prompt.max_tokens);
        if let Some(output) = &prompt.output {
            request.response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    name: output.name.into(),
                    schema: output.schema.clone(),
                    description: None,
                    strict: None,
                },
            });
        }
        let request = request.build().map_err(|e| AiError::Rejected(e.to_string()))?;
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
            if api.api_error.r#type.as_deref() == Some("insufficient_quota") {
                return AiError::NotConfigured(format!("the AI account has no credit left: {message}"));
            }
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
        self.call(&client, &prompt).await
    }
}

/// Which Ai adapter, from `CHIEF_AI_PROVIDER` (`openai` for any OpenAI-compatible endpoint,
/// or `offline`), with `default` when unset; the endpoint from `CHIEF_AI_BASE_URL`, the models
/// from `CHIEF_AI_MODEL_STRATEGY` and `CHIEF_AI_MODEL_ROUTINE`, the per-attempt timeout from
/// `CHIEF_AI_TIMEOUT_SECONDS`.
pub fn from_env(secrets: Arc<dyn Secrets>, default: &str) -> Result<Arc<dyn Ai>, ConfigError> {
    let provider = optional("CHIEF_AI_PROVIDER").unwrap_or_else(|| default.to_string());
    match provider.as_str() {
        chief::ports::ai::OFFLINE_PROVIDER => Ok(Arc::new(crate::offline_ai::OfflineAi)),
        PROVIDER => {
            let defaults = AiSettings::default();
            let timeout = match optional("CHIEF_AI_TIMEOUT_SECONDS") {
                None => defaults.timeout,
                Some(v) => Duration::from_secs(
                    v.parse()
                        .map_err(|_| ConfigError::Invalid(format!("CHIEF_AI_TIMEOUT_SECONDS={v} is not a number of seconds")))?,
                ),
            };
            let settings = AiSettings {
                base_url: optional("CHIEF_AI_BASE_URL"),
                strategy_model: optional("CHIEF_AI_MODEL_STRATEGY").unwrap_or(defaults.strategy_model),
                routine_model: optional("CHIEF_AI_MODEL_ROUTINE").unwrap_or(defaults.routine_model),
                timeout,
            };
            Ok(Arc::new(OpenAiCompatible::new(secrets, settings)))
        }
        other => Err(ConfigError::Invalid(format!("CHIEF_AI_PROVIDER={other}: use openai or offline"))),
    }
}

#[cfg(test)]
mod tests {
    //! The adapter against a local OpenAI-compatible stand-in that records each request and
    //! answers from a script: completions, rate limits, server errors, refusals, slowness.
    use super::*;
    use chief::ports::secrets::SecretsError;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use serde_json::{Value, json};
    use std::collections::VecDeque;
    use std::sync::Mutex as StdMutex;

    struct Key(Option<&'static str>);

    #[async_trait]
    impl Secrets for Key {
        async fn get(&self, name: SecretName) -> Result<String, SecretsError> {
            assert_eq!(name, SecretName::AiApiKey);
            self.0.map(str::to_string).ok_or(SecretsError::Missing("ai-api-key"))
        }
    }

    #[derive(Clone)]
    struct Answer {
        status: u16,
        body: Value,
        delay: Duration,
    }

    fn completion(text: &str) -> Answer {
        Answer {
            status: 200,
            body: json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1_795_000_000, "model": "fixture-model-2026",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
            }),
            delay: Duration::ZERO,
        }
    }

    fn error(status: u16, kind: &str) -> Answer {
        Answer {
            status,
            body: json!({"error": {"message": format!("fixture says {kind}"), "type": kind, "param": null, "code": null}}),
            delay: Duration::ZERO,
        }
    }

    struct Recorded {
        path: String,
        authorization: String,
        body: Value,
    }

    struct Fixture {
        base: String,
        script: Arc<StdMutex<VecDeque<Answer>>>,
        seen: Arc<StdMutex<Vec<Recorded>>>,
    }

    impl Fixture {
        async fn start(script: Vec<Answer>) -> Fixture {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}/v1", listener.local_addr().unwrap());
            let script = Arc::new(StdMutex::new(VecDeque::from(script)));
            let seen = Arc::new(StdMutex::new(Vec::new()));
            let (s, r) = (script.clone(), seen.clone());
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let (s, r) = (s.clone(), r.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let (s, r) = (s.clone(), r.clone());
                            async move {
                                let path = req.uri().path().to_string();
                                let authorization = req
                                    .headers()
                                    .get("authorization")
                                    .map(|v| v.to_str().unwrap().to_string())
                                    .unwrap_or_default();
                                let bytes = req.into_body().collect().await.unwrap().to_bytes();
                                r.lock().unwrap().push(Recorded {
                                    path,
                                    authorization,
                                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                                });
                                let answer = s.lock().unwrap().pop_front().unwrap_or_else(|| error(500, "script_exhausted"));
                                tokio::time::sleep(answer.delay).await;
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(answer.status)
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(answer.body.to_string())))
                                        .unwrap(),
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            Fixture { base, script, seen }
        }

        fn adapter(&self, key: Option<&'static str>, timeout: Duration) -> OpenAiCompatible {
            OpenAiCompatible::new(
                Arc::new(Key(key)),
                AiSettings {
                    base_url: Some(self.base.clone()),
                    strategy_model: "strong-model".into(),
                    routine_model: "cheap-model".into(),
                    timeout,
                },
            )
        }

        fn requests(&self) -> usize {
            self.seen.lock().unwrap().len()
        }
    }

    fn prompt(purpose: AiUse) -> Prompt {
        Prompt {
            purpose,
            system: "You are Chief.".into(),
            messages: vec![
                (Speaker::User, "Hello".into()),
                (Speaker::Assistant, "Hi, how can I help?".into()),
                (Speaker::User, "Plan my week".into()),
            ],
            max_tokens: 300,
            output: None,
        }
    }

    #[tokio::test]
    async fn sends_the_key_the_model_of_its_use_and_the_conversation_and_reads_text_and_tokens() {
        let f = Fixture::start(vec![completion("  Post on Tuesday.  "), completion("Grow.")]).await;
        let ai = f.adapter(Some("sk-fixture"), Duration::from_secs(5));
        let answer = ai.complete(prompt(AiUse::Routine)).await.unwrap();
        assert_eq!(
            answer,
            Completion {
                text: "Post on Tuesday.".into(),
                provider: "openai".into(),
                model: "fixture-model-2026".into(),
                prompt_tokens: 42,
                completion_tokens: 7,
            }
        );
        ai.complete(prompt(AiUse::Strategy)).await.unwrap();
        let seen = f.seen.lock().unwrap();
        assert_eq!(seen[0].path, "/v1/chat/completions");
        assert_eq!(seen[0].authorization, "Bearer sk-fixture");
        let body = &seen[0].body;
        assert_eq!(body["model"], "cheap-model");
        assert_eq!(body["max_completion_tokens"], 300);
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(body["messages"][0]["content"], "You are Chief.");
        assert_eq!(body["messages"][3]["content"], "Plan my week");
        assert_eq!(seen[1].body["model"], "strong-model");
    }

    #[tokio::test]
    async fn honours_the_ai_contract() {
        let f = Fixture::start(vec![completion("One."), completion("Two.")]).await;
        crate::contract::ai::answers_say_who_wrote_them_and_what_they_cost(
            &f.adapter(Some("sk-fixture"), Duration::from_secs(5)),
            PROVIDER,
        )
        .await;
    }

    #[tokio::test]
    async fn rate_limits_and_server_errors_are_retried_a_bounded_number_of_times() {
        let f = Fixture::start(vec![error(429, "rate_limit_error"), error(503, "overloaded"), completion("Done.")]).await;
        let ai = f.adapter(Some("sk-fixture"), Duration::from_secs(5));
        assert_eq!(ai.complete(prompt(AiUse::Routine)).await.unwrap().text, "Done.");
        assert_eq!(f.requests(), 3);

        f.script.lock().unwrap().extend(vec![error(429, "rate_limit_error"); 5]);
        let outcome = ai.complete(prompt(AiUse::Routine)).await;
        assert!(matches!(outcome, Err(AiError::RateLimited(_))), "{outcome:?}");
        assert_eq!(f.requests(), 7, "the first try and three retries, then it gives up");
        // Out of credit is not a rate limit: no retry.
        f.script.lock().unwrap().clear();
        f.script.lock().unwrap().push_back(error(429, "insufficient_quota"));
        assert!(matches!(ai.complete(prompt(AiUse::Routine)).await, Err(AiError::NotConfigured(_))));
        assert_eq!(f.requests(), 8);
    }

    #[tokio::test]
    async fn refusals_are_not_retried_and_a_missing_or_refused_key_says_so() {
        let f = Fixture::start(vec![error(400, "invalid_request_error"), error(401, "invalid_api_key")]).await;
        let ai = f.adapter(Some("sk-fixture"), Duration::from_secs(5));
        assert!(matches!(ai.complete(prompt(AiUse::Routine)).await, Err(AiError::Rejected(_))));
        assert_eq!(f.requests(), 1);
        assert!(matches!(ai.complete(prompt(AiUse::Routine)).await, Err(AiError::NotConfigured(_))));
        let keyless = f.adapter(None, Duration::from_secs(5));
        assert!(matches!(
            keyless.complete(prompt(AiUse::Routine)).await,
            Err(AiError::NotConfigured(_))
        ));
        assert_eq!(f.requests(), 2, "no request without a key");
    }

    #[tokio::test]
    async fn a_call_has_a_deadline() {
        let slow = Answer {
            delay: Duration::from_secs(5),
            ..completion("late")
        };
        let f = Fixture::start(vec![slow]).await;
        let ai = f.adapter(Some("sk-fixture"), Duration::from_millis(200));
        let outcome = ai.complete(prompt(AiUse::Routine)).await;
        assert!(
            matches!(&outcome, Err(AiError::Unavailable(m)) if m.contains("no answer within")),
            "{outcome:?}"
        );
    }
}
