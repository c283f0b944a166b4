//! Invitations: an admin invites an address with a role; a token is mailed; the signed-in
//! owner of that address accepts it. Only the token's SHA-256 is stored.

use super::{Membership, Role, owners_change};
use crate::app::App;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::ids::UserId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::mailer::Email;
use crate::ports::table::{Condition, Item, Key, TableError, TxOp};
use crate::tenancy::TenantCtx;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub invited_by: UserId,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing)]
    #[serde(default)]
    pub token_hash: String,
}

pub fn token_hash(token: &str) -> String {
    crate::model::sha256_hex(token.as_bytes())
}

fn invitation_key(hash: &str) -> Key {
    Key::new(keys::invitation_pk(hash), keys::CLAIM_SK)
}

/// The stored form keeps the hash (the model skips it when answering clients).
fn stored(invitation: &Invitation, pk: &str, sk: &str, ttl: i64) -> AppResult<Item> {
    let mut item = to_item(pk, sk, invitation)?;
    item.insert("tokenHash".into(), invitation.token_hash.clone().into());
    item.insert("ttl".into(), ttl.into());
    Ok(item)
}

/// `previous` is the address's pending invitation, read with the caller's authorisation.
pub async fn invite(
    app: &App,
    tenant: &TenantCtx,
    org_name: &str,
    email: String,
    role: Role,
    previous: Option<&Item>,
) -> AppResult<Invitation> {
    tenant.require(Role::Admin)?;
    if role == Role::Owner {
        tenant.require(Role::Owner)?;
    }
    if let Some(user_id) = crate::auth::user_id_by_email(app, &email).await?
        && app.table.get(&tenant.key(keys::member_sk(&user_id))).await?.is_some()
    {
        return Err(AppError::conflict("ALREADY_MEMBER", "this address belongs to a member already"));
    }
    // Each invitation is a mail to any address with a name the org chose: bounded a day.
    let quota = crate::ratelimit::Window::new(
        app,
        "INVITE#ORG",
        tenant.org_id(),
        Some(app.settings.invitations_per_org_day),
        crate::ratelimit::DAY,
    );
    quota.take(app, "too many invitations sent today: try again tomorrow").await?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let now = app.clock.now();
    let expires = now + app.settings.invitation_ttl;
    let invitation = Invitation {
        org_id: tenant.org_id().clone(),
        email: email.clone(),
        role,
        invited_by: tenant.user_id().clone(),
        created_at: now,
        expires_at: expires,
        token_hash: token_hash(&token),
    };
    let org_key = tenant.key(keys::org_invite_sk(&email));
    // Inviting an address again replaces its invitation: the earlier link stops working.
    let mut ops = vec![
        TxOp::Put {
            item: stored(&invitation, &org_key.pk, &org_key.sk, expires.timestamp())?,
            condition: None,
        },
        TxOp::Put {
            item: stored(
                &invitation,
                &keys::invitation_pk(&invitation.token_hash),
                keys::CLAIM_SK,
                expires.timestamp(),
            )?,
            condition: Some(Condition::NotExists),
        },
    ];
    if let Some(old) = previous.and_then(|p| p.get("tokenHash")).and_then(|h| h.as_str()) {
        ops.push(TxOp::Delete {
            key: invitation_key(old),
            condition: None,
        });
    }
    let details = serde_json::json!({"role": role, "expiresAt": crate::clock::timestamp(expires)});
    ops.push(crate::audit::entry(
        tenant,
        now,
        "invitation.sent",
        format!("invitation:{email}"),
        details,
    )?);
    app.table.transact(ops).await?;

    let link = format!("{}/invitations/{token}", app.settings.app_url.trim_end_matches('/'));
    let mail = Email {
        to: email.clone(),
        subject: format!("You are invited to {org_name} on Chief"),
        text: format!(
            "You have been invited to join {org_name} on Chief as {}.\n\nAccept the invitation:\n{link}\n\nOr accept it through the API with this token:\n{token}\n\nThe invitation expires at {}.\n",
            role.as_str(),
            invitation.expires_at
        ),
    };
    if let Err(e) = app.mailer.send(mail).await {
        // An invitation nobody can receive is taken back, so the admin can simply try again.
        app.table
            .transact(vec![
                TxOp::Delete {
                    key: org_key,
                    condition: None,
                },
                TxOp::Delete {
                    key: invitation_key(&invitation.token_hash),
                    condition: None,
                },
            ])
            .await?;
        quota.give_back(app).await;
        return Err(AppError::unavailable("the invitation could not be mailed", e));
    }
    tracing::info!(org_id = %tenant.org_id(), "invitation sent");
    Ok(invitation)
}

pub async fn pending(app: &App, tenant: &TenantCtx) -> AppResult<Vec<Invitation>> {
    let page = app
        .table
        .query(
            crate::ports::table::Query::partition(tenant.pk())
                .prefix(keys::INVITE_PREFIX)
                .limit(100),
        )
        .await?;
    page.items.into_iter().map(from_item).collect()
}

/// Takes back a pending invitation: its link stops working at once.
pub async fn revoke(app: &App, tenant: &TenantCtx, pending: Option<Item>) -> AppResult<()> {
    tenant.require(Role::Admin)?;
    let pending = pending.ok_or(AppError::NotFound("invitation"))?;
    let invitation: Invitation = from_item(pending.clone())?;
    if invitation.role == Role::Owner {
        tenant.require(Role::Owner)?;
    }
    let mut ops = vec![TxOp::Delete {
        key: tenant.key(keys::org_invite_sk(&invitation.email)),
        condition: Some(Condition::Exists),
    }];
    if let Some(hash) = pending.get("tokenHash").and_then(|h| h.as_str()) {
        ops.push(TxOp::Delete {
            key: invitation_key(hash),
            condition: None,
        });
    }
    let target = format!("invitation:{}", invitation.email);
    ops.push(crate::audit::entry(
        tenant,
        app.clock.now(),
        "invitation.revoked",
        target,
        serde_json::json!({"role": invitation.role}),
    )?);
    match app.table.transact(ops).await {
        Ok(()) => Ok(()),
        Err(TableError::ConditionFailed { .. }) => Err(AppError::NotFound("invitation")),
        Err(e) => Err(e.into()),
    }
}

/// Whether `inviter` may still grant `role`: an admin for members and admins, an owner for
/// owners (someone removed or demoted since cannot).
fn may_grant(inviter: Option<&Membership>, role: Role) -> bool {
    inviter.is_some_and(|m| m.role >= Role::Admin && (role != Role::Owner || m.role == Role::Owner))
}

/// Joins the signed-in user to the inviting org. The membership is created and the token
/// consumed in one transaction, so a token works once, even when accepted twice at once.
pub async fn accept(app: &App, principal: &Principal, token: &str) -> AppResult<Membership> {
    if token.len() > 200 {
        return Err(AppError::NotFound("invitation"));
    }
    let hash = token_hash(token);
    let item = app
        .table
        .get(&invitation_key(&hash))
        .await?
        .ok_or(AppError::NotFound("invitation"))?;
    let invitation: Invitation = from_item(item)?;
    if !invitation.email.eq_ignore_ascii_case(principal.email()) {
        return Err(AppError::Forbidden(
            "this invitation was sent to another address: sign in with that one".into(),
        ));
    }
    let user = crate::auth::user_by_id(app, principal.user_id())
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    // The token proves access to the mailbox once; membership is for an account that owns it.
    if !user.email_verified {
        return Err(AppError::ForbiddenUntil {
            code: "EMAIL_NOT_VERIFIED",
            message: "verify your email address first: use the link mailed at sign-up, or ask for a new one".into(),
        });
    }
    let inviter_key = Key::new(keys::org_pk(&invitation.org_id), keys::member_sk(&invitation.invited_by));
    let inviter: Option<Membership> = app.table.get(&inviter_key).await?.map(from_item).transpose()?;
    if !may_grant(inviter.as_ref(), invitation.role) {
        return Err(AppError::Forbidden(format!(
            "whoever sent this invitation can no longer grant the {} role: ask an admin to invite you again",
            invitation.role.as_str()
        )));
    }
    let membership = Membership {
        org_id: invitation.org_id.clone(),
        user_id: user.id,
        email: user.email,
        name: user.name,
        role: invitation.role,
        joined_at: app.clock.now(),
        version: 1,
    };
    let org_pk = keys::org_pk(&invitation.org_id);
    let mut ops = vec![
        TxOp::Put {
            item: membership.to_item()?,
            condition: Some(Condition::NotExists),
        },
        TxOp::Delete {
            key: invitation_key(&hash),
            condition: Some(Condition::Exists),
        },
        TxOp::Delete {
            key: Key::new(org_pk.clone(), keys::org_invite_sk(&invitation.email)),
            condition: None,
        },
        TxOp::Check {
            key: Key::new(org_pk, keys::ORG_SK),
            condition: Condition::Exists,
        },
        // The inviter's role as read: a demotion meanwhile fails the acceptance.
        TxOp::Check {
            key: inviter_key,
            condition: Condition::VersionEquals(inviter.map_or(0, |m| m.version)),
        },
    ];
    if invitation.role == Role::Owner {
        ops.push(owners_change(&invitation.org_id, 1));
    }
    let joined = crate::tenancy::TenantCtx::joined(&invitation.org_id, principal, invitation.role);
    let details = serde_json::json!({"role": invitation.role, "invitedBy": invitation.invited_by});
    ops.push(crate::audit::entry(
        &joined,
        membership.joined_at,
        "invitation.accepted",
        format!("member:{}", membership.user_id),
        details,
    )?);
    match app.table.transact(ops).await {
        Ok(()) => Ok(membership),
        Err(TableError::ConditionFailed { op: Some(0) }) => Err(AppError::conflict(
            "ALREADY_MEMBER",
            "you are a member of this organisation already",
        )),
        Err(TableError::ConditionFailed { .. }) => Err(AppError::NotFound("invitation")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_org_sends_a_bounded_number_of_invitations_a_day() {
        let mut t = crate::testing::app();
        t.app.settings.invitations_per_org_day = 2;
        let tenant = crate::executor::tests::org(&t, crate::usage::Plan::Free).await;
        for i in 0..2 {
            invite(&t.app, &tenant, "Acme", format!("p{i}@example.com"), Role::Member, None)
                .await
                .unwrap();
        }
        let third = invite(&t.app, &tenant, "Acme", "p2@example.com".into(), Role::Member, None).await;
        assert!(
            matches!(third, Err(AppError::RateLimited { retry_after, .. }) if retry_after > 0),
            "{third:?}"
        );
        t.clock.advance(chrono::Duration::days(1));
        invite(&t.app, &tenant, "Acme", "p2@example.com".into(), Role::Member, None)
            .await
            .unwrap();
    }
}
