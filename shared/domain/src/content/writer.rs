//! Posts written by the AI: a batch of drafts for one platform from the active strategy (one
//! AI call, whatever the batch), and a rewrite of one draft from feedback. Each answer is
//! structured, validated, then made to fit its platform's rules.

use super::posts::{NewPost, Post, PostStatus, new_post, save};
use super::strategy::Strategy;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::model;
use crate::platforms::{self, Platform};
use crate::ports::ai::{AiUse, Prompt};
use crate::ports::table::TxOp;
use crate::tasks::context::OrgContext;
use crate::tenancy::TenantCtx;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenerateRequest {
    pub platform: Platform,
    /// 1 to 30 drafts.
    pub count: u32,
    /// One of the strategy's pillars, or any theme.
    pub pillar: Option<String>,
    pub topic: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OptimizeRequest {
    /// What to change.
    pub feedback: String,
}

/// One written post as the model answers it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Written {
    text: String,
    #[serde(default)]
    hashtags: Vec<String>,
}

fn post_schema(max_length: usize) -> Value {
    json!({
        "type": "object", "additionalProperties": false, "required": ["text", "hashtags"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": max_length},
            "hashtags": {"type": "array", "maxItems": 10, "items": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,50}$", "maxLength": 50}}
        }
    })
}

fn batch_schema(count: u32, max_length: usize) -> Value {
    json!({
        "type": "object", "additionalProperties": false, "required": ["posts"],
        "properties": {"posts": {"type": "array", "minItems": count, "maxItems": count, "items": post_schema(max_length)}}
    })
}

/// A written post, cleaned and made to fit.
fn fitted(platform: Platform, written: Written) -> Result<(String, Vec<String>), String> {
    let text = written.text.trim();
    if text.is_empty() {
        return Err("a post's text is empty".into());
    }
    // Hashtags the model wrote badly are dropped rather than failing the batch.
    let tags: Vec<String> = written
        .hashtags
        .into_iter()
        .filter_map(|t| platforms::clean_hashtags(vec![t]).ok().and_then(|mut v| v.pop()))
        .collect();
    let text: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
    Ok(platforms::fit(platform, &text, tags))
}

fn parse_batch(answer: &str, platform: Platform, count: u32) -> Result<Vec<(String, Vec<String>)>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        posts: Vec<Written>,
    }
    let batch: Batch = serde_json::from_str(answer.trim()).map_err(|e| format!("not a batch of posts: {e}"))?;
    if batch.posts.len() != count as usize {
        return Err(format!("{} posts were asked for, {} came", count, batch.posts.len()));
    }
    batch.posts.into_iter().map(|w| fitted(platform, w)).collect()
}

/// Drafts from the active strategy, stored together.
pub async fn generate(
    app: &App,
    tenant: &TenantCtx,
    org: &OrgContext,
    strategy: &Strategy,
    input: GenerateRequest,
) -> AppResult<Vec<Post>> {
    if !(1..=30).contains(&input.count) {
        return Err(AppError::validation("count must be from 1 to 30"));
    }
    let pillar = model::optional_text("pillar", input.pillar.as_deref(), 100)?;
    let topic = model::optional_text("topic", input.topic.as_deref(), 500)?;
    let rules = input.platform.rules();
    let pillars: Vec<String> = strategy
        .plan
        .pillars
        .iter()
        .map(|p| format!("{} ({})", p.name, p.description))
        .collect();
    let mut ask = format!(
        "{} Strategy v{}: pillars {}; tone {}; voice {}. Write {} distinct {} posts, each at most {} characters with its hashtags.",
        org.profile.describe(),
        strategy.version,
        pillars.join("; "),
        strategy.plan.tone,
        strategy.plan.voice,
        input.count,
        input.platform.as_str(),
        rules.max_length
    );
    if let Some(pillar) = &pillar {
        ask.push_str(&format!(" Pillar: {pillar}."));
    }
    if let Some(topic) = &topic {
        ask.push_str(&format!(" Topic: {topic}."));
    }
    let max_tokens = (200 * input.count).clamp(400, 8_000);
    let prompt =
        Prompt::new(AiUse::Routine, org.system_prompt(), ask).structured("posts", batch_schema(input.count, rules.max_length), max_tokens);
    let (written, completion) = crate::usage::structured_call(app, tenant, org.plan, prompt, "posts", |answer| {
        parse_batch(answer, input.platform, input.count)
    })
    .await?;
    let now = app.clock.now();
    let mut posts = Vec::with_capacity(written.len());
    for (text, hashtags) in written {
        let mut post = new_post(
            now,
            tenant.user_id(),
            NewPost {
                platform: input.platform,
                text,
                hashtags,
                media_urls: Vec::new(),
                pillar: pillar.clone(),
                content_id: None,
                thread: Vec::new(),
            },
        )?;
        post.written_by = Some(format!("{}:{}", completion.provider, completion.model));
        posts.push(post);
    }
    let ops = posts.iter().map(|p| p.write(tenant, 0)).collect::<AppResult<Vec<TxOp>>>()?;
    app.table.transact(ops).await?;
    Ok(posts)
}

/// Rewrites a post's text from feedback (one AI call); it is a draft again after.
pub async fn optimize(app: &App, tenant: &TenantCtx, org: &OrgContext, mut post: Post, input: OptimizeRequest) -> AppResult<Post> {
    let feedback = model::text("feedback", &input.feedback, 1_000)?;
    if !matches!(post.status, PostStatus::Draft | PostStatus::Approved | PostStatus::Failed) {
        return Err(AppError::conflict(
            "POST_NOT_EDITABLE",
            "only a draft, approved or failed post can be rewritten: unschedule it first",
        ));
    }
    let rules = post.platform.rules();
    let ask = format!(
        "{} Rewrite this {} post (at most {} characters with its hashtags) following the feedback. Post: <<<{}>>> Feedback: <<<{feedback}>>>",
        org.profile.describe(),
        post.platform.as_str(),
        rules.max_length,
        post.outgoing_text()
    );
    let prompt = Prompt::new(AiUse::Routine, org.system_prompt(), ask).structured("post", post_schema(rules.max_length), 1_200);
    let platform = post.platform;
    let ((text, hashtags), completion) = crate::usage::structured_call(app, tenant, org.plan, prompt, "optimize_post", |answer| {
        let written: Written = serde_json::from_str(answer.trim()).map_err(|e| format!("not a post: {e}"))?;
        fitted(platform, written)
    })
    .await?;
    post.text = text;
    post.hashtags = hashtags;
    post.written_by = Some(format!("{}:{}", completion.provider, completion.model));
    post.approval = None;
    post.status = PostStatus::Draft;
    post.error = None;
    save(app, tenant, post, Vec::new()).await
}
