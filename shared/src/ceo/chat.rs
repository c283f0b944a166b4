//! Conversations with the AI CEO. Each belongs to the member who started it. A message gets
//! a reply built from the org's AI config, the conversation's recent history (as much as fits
//! a token budget, newest first) and the org's snapshot; the reply spends one AI call.

use super::{OrgContext, Snapshot, recent};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::model::{self, to_item};
use crate::orgs::access::TenantCtx;
use crate::ports::ai::{AiUse, Prompt, Speaker, estimate_tokens};
use crate::ports::table::{Condition, TableError, TxOp};
use crate::usage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub created_by: String,
    pub created_at: String,
    pub last_message_at: Option<String>,
    pub last_message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: String,
    pub conversation_id: String,
    pub role: Speaker,
    pub content: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tokens: Option<u32>,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
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
        created_at: crate::clock::timestamp(app.clock.now()),
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    pub message: ChatMessage,
    pub reply: ChatMessage,
}

/// Answers a member's message. Over the AI-call quota it is 402 and nothing is stored; the
/// question and the reply are stored together, after the reply exists.
pub async fn send(
    app: &App,
    tenant: &TenantCtx,
    org: &OrgContext,
    mut conversation: Conversation,
    input: NewMessage,
) -> AppResult<Exchange> {
    let content = model::text("content", &input.content, 8_000)?;
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
    };
    let asked_at = crate::clock::timestamp(app.clock.now());
    let completion = usage::ai_call(app, tenant, org.plan, prompt, "chat").await?;
    let answered_at = crate::clock::timestamp(app.clock.now());
    let message = ChatMessage {
        id: model::new_id(),
        conversation_id: conversation.id.clone(),
        role: Speaker::User,
        content,
        provider: None,
        model: None,
        tokens: None,
        created_at: asked_at,
    };
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
        created_at: answered_at.clone(),
    };
    conversation.last_message_at = Some(answered_at);
    conversation.last_message = Some(reply.content.chars().take(200).collect());
    let put = |m: &ChatMessage| -> AppResult<TxOp> {
        Ok(TxOp::Put {
            item: to_item(&tenant.pk(), &keys::message_sk(&conversation.id, &m.id), m)?,
            condition: Some(Condition::NotExists),
        })
    };
    app.table
        .transact(vec![
            put(&message)?,
            put(&reply)?,
            TxOp::Put {
                item: to_item(&tenant.pk(), &conversation_sk(tenant, &conversation.id), &conversation)?,
                condition: Some(Condition::Exists),
            },
        ])
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { op: Some(2) } => AppError::NotFound("conversation"),
            other => other.into(),
        })?;
    Ok(Exchange { message, reply })
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
            created_at: "t".into(),
        }
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
