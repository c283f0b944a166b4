//! Conversations with the AI CEO. Each belongs to the member who started it. A message gets
//! a reply built from the org's AI config, the conversation's recent history (as much as fits
//! a token budget, newest first) and the org's snapshot; the reply spends one AI call.

use super::{Snapshot, recent};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, to_item};
use crate::ports::ai::{AiUse, Prompt, Speaker, estimate_tokens};
use crate::ports::table::{Condition, TableError, TxOp};
use crate::tasks::context::OrgContext;
use crate::tenancy::TenantCtx;
use crate::usage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub last_message_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub conversation_id: String,
    pub role: Speaker,
    pub content: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tokens: Option<u32>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// On a question the AI could not answer: why (the question is kept all the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub content: String,
}

/// Tokens of history a prompt carries at most; older messages are left out.
pub const HISTORY_TOKENS: usize = 3_000;
/// Messages read to build the history (the token budget usually stops earlier).
const HISTORY_READ: usize = 50;

pub fn conversation_sk(tenant: &TenantCtx, id: &str) -> String {
    keys::conversation_sk(tenant.user_id(), id)
}

pub async fn start(app: &App, tenant: &TenantCtx, input: NewConversation) -> AppResult<Conversation> {
    let title = model::optional_text("title", input.title.as_deref(), 200)?.unwrap_or_else(|| "New conversation".into());
    let conversation = Conversation {
        id: model::new_id(),
        title,
        created_by: tenant.user_id().to_string(),
        created_at: app.clock.now(),
        last_message_at: None,
        last_message: None,
    };
    app.table
        .put(
            to_item(&tenant.pk(), &conversation_sk(tenant, &conversation.id), &conversation)?,
            Some(Condition::NotExists),
        )
        .await?;
    Ok(conversation)
}

pub async fn list(app: &App, tenant: &TenantCtx, limit: usize, cursor: Option<String>) -> AppResult<(Vec<Conversation>, Option<String>)> {
    model::newest_first(&*app.table, tenant.pk(), keys::conversation_prefix(tenant.user_id()), limit, cursor).await
}

/// Newest first.
pub async fn messages(
    app: &App,
    tenant: &TenantCtx,
    conversation_id: &str,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<ChatMessage>, Option<String>)> {
    model::newest_first(&*app.table, tenant.pk(), keys::message_prefix(conversation_id), limit, cursor).await
}

/// The newest messages that fit `budget` tokens, oldest first.
pub fn bounded_history(newest_first: &[ChatMessage], budget: usize) -> Vec<(Speaker, String)> {
    let mut used = 0;
    let mut kept = Vec::new();
    for message in newest_first {
        let cost = estimate_tokens(&message.content);
        if used + cost > budget {
            break;
        }
        used += cost;
        kept.push((message.role, message.content.clone()));
    }
    kept.reverse();
    kept
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    pub message: ChatMessage,
    pub reply: ChatMessage,
}

/// Answers a member's message. With no AI call left it is 402 and nothing is stored.
/// Otherwise the question is stored first, so nothing the member wrote is lost; then the
/// reply is stored, or, when the AI call fails, the failure on the question.
pub async fn send(
    app: &App,
    tenant: &TenantCtx,
    org: &OrgContext,
    mut conversation: Conversation,
    input: NewMessage,
) -> AppResult<Exchange> {
    let content = model::text("content", &input.content, 8_000)?;
    if org.used(usage::Metric::AiCalls) >= org.plan.limit(usage::Metric::AiCalls) {
        return Err(usage::over_quota(usage::Metric::AiCalls, org.plan));
    }
    let (newest_messages, _) = messages(app, tenant, &conversation.id, HISTORY_READ, None).await?;
    let numbers = Snapshot::of(&recent(app, tenant).await?, org.usage.as_ref(), app.clock.now());
    let mut history = bounded_history(&newest_messages, HISTORY_TOKENS);
    history.push((Speaker::User, content.clone()));
    let prompt = Prompt {
        purpose: AiUse::Routine,
        system: format!(
            "{} {} Answer the member as their CEO would: specific, short, with next steps.",
            org.system_prompt(),
            numbers.describe()
        ),
        messages: history,
        max_tokens: 800,
        output: None,
    };
    let asked_at = app.clock.now();
    let mut message = ChatMessage {
        id: model::new_id(),
        conversation_id: conversation.id.clone(),
        role: Speaker::User,
        content,
        provider: None,
        model: None,
        tokens: None,
        created_at: asked_at,
        error: None,
    };
    conversation.last_message_at = Some(asked_at);
    conversation.last_message = Some(message.content.chars().take(200).collect());
    store(app, tenant, &conversation, &[&message]).await?;

    let completion = match usage::ai_call(app, tenant, org.plan, prompt, "chat").await {
        Ok(completion) => completion,
        Err(e) => {
            message.error = Some(e.public_message());
            let noted = app
                .table
                .put(
                    to_item(&tenant.pk(), &keys::message_sk(&conversation.id, &message.id), &message)?,
                    None,
                )
                .await;
            if let Err(store_error) = noted {
                tracing::warn!(error = %store_error, "the failed reply was not noted on its question");
            }
            return Err(e);
        }
    };
    let answered_at = app.clock.now();
    // The reply sorts right after the question, even when both ids fall in one millisecond.
    let reply_id = ulid::Ulid::from_string(&message.id)
        .ok()
        .and_then(|id| id.increment())
        .map_or_else(model::new_id, |id| id.to_string());
    let reply = ChatMessage {
        id: reply_id,
        conversation_id: conversation.id.clone(),
        role: Speaker::Assistant,
        content: completion.text.clone(),
        provider: Some(completion.provider.clone()),
        model: Some(completion.model.clone()),
        tokens: Some(completion.prompt_tokens + completion.completion_tokens),
        created_at: answered_at,
        error: None,
    };
    conversation.last_message_at = Some(answered_at);
    conversation.last_message = Some(reply.content.chars().take(200).collect());
    store(app, tenant, &conversation, &[&reply]).await?;
    Ok(Exchange { message, reply })
}

/// Stores new messages with the conversation's last-message summary, in one write.
async fn store(app: &App, tenant: &TenantCtx, conversation: &Conversation, new: &[&ChatMessage]) -> AppResult<()> {
    let mut ops = Vec::with_capacity(new.len() + 1);
    for m in new {
        ops.push(TxOp::Put {
            item: to_item(&tenant.pk(), &keys::message_sk(&conversation.id, &m.id), m)?,
            condition: Some(Condition::NotExists),
        });
    }
    ops.push(TxOp::Put {
        item: to_item(&tenant.pk(), &conversation_sk(tenant, &conversation.id), conversation)?,
        condition: Some(Condition::Exists),
    });
    let last = ops.len() - 1;
    app.table.transact(ops).await.map_err(|e| match e {
        TableError::ConditionFailed { op: Some(op) } if op == last => AppError::NotFound("conversation"),
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: Speaker, content: &str) -> ChatMessage {
        ChatMessage {
            id: "m".into(),
            conversation_id: "c".into(),
            role,
            content: content.into(),
            provider: None,
            model: None,
            tokens: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            error: None,
        }
    }

    struct Down;

    #[async_trait::async_trait]
    impl crate::ports::ai::Ai for Down {
        async fn complete(&self, _: Prompt) -> Result<crate::ports::ai::Completion, crate::ports::ai::AiError> {
            Err(crate::ports::ai::AiError::Unavailable("connection refused by 10.0.0.1".into()))
        }
    }

    #[tokio::test]
    async fn a_question_the_ai_cannot_answer_is_kept_with_the_reason() {
        let mut t = crate::testing::app();
        t.app.ai = std::sync::Arc::new(Down);
        let tenant = crate::executor::tests::org(&t, crate::usage::Plan::Pro).await;
        let now = t.app.clock.now();
        let keys: Vec<_> = OrgContext::sort_keys(now).into_iter().map(|sk| tenant.key(sk)).collect();
        let org = OrgContext::from_items(t.app.table.get_many(&keys).await.unwrap(), now).unwrap();
        let conversation = start(&t.app, &tenant, NewConversation { title: None }).await.unwrap();
        let id = conversation.id.clone();
        let asked = NewMessage {
            content: "How do we grow?".into(),
        };
        let outcome = send(&t.app, &tenant, &org, conversation, asked).await;
        assert!(matches!(&outcome, Err(AppError::AiUnavailable(_))), "{outcome:?}");
        let (kept, _) = messages(&t.app, &tenant, &id, 10, None).await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].content, "How do we grow?");
        let reason = kept[0].error.as_deref().unwrap();
        assert!(reason.contains("unavailable") && !reason.contains("10.0.0.1"), "{reason}");
        let used = t.app.table.get(&usage::usage_key(&tenant, now)).await.unwrap();
        assert_eq!(
            usage::used(used.as_ref(), usage::Metric::AiCalls),
            0,
            "the failed call was given back"
        );
    }

    #[test]
    fn history_is_bounded_by_tokens_not_count_and_keeps_the_newest_in_order() {
        let newest_first = [
            msg(Speaker::Assistant, &"a".repeat(400)),
            msg(Speaker::User, &"b".repeat(400)),
            msg(Speaker::Assistant, &"c".repeat(400)),
        ];
        let kept = bounded_history(&newest_first, 250);
        assert_eq!(kept.len(), 2);
        assert!(kept[0].1.starts_with('b') && kept[1].1.starts_with('a'));
        let many_small: Vec<_> = (0..40).map(|_| msg(Speaker::User, "hi")).collect();
        assert_eq!(bounded_history(&many_small, 250).len(), 40);
    }
}
