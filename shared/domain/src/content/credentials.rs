//! A connected account's tokens: sealed at rest with AES-256-GCM (a random 96-bit nonce per
//! value; the org and account ids as associated data, so a sealed value moved to another
//! account does not open), under the key `SecretName::SocialTokenKey`. They live in an item of
//! their own beside the account (`SOCIALTOKENS#<account>`), which no answer ever reads, and
//! are refreshed before the call that needs them, the new ones stored before they are used.

use super::accounts::SocialAccount;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::AccountId;
use crate::keys;
use crate::model::{from_item, to_item};
use crate::ports::secrets::{SecretName, SecretsError};
use crate::ports::social::{Grant, Secret, SocialError};
use crate::ports::table::{Condition, Item, TableError};
use crate::tenancy::TenantCtx;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// A token this close to its end is refreshed before use (X's last two hours).
const REFRESH_MARGIN_SECONDS: i64 = 120;

/// The key that seals tokens.
pub struct Vault {
    cipher: Aes256Gcm,
}

impl Vault {
    pub async fn open(app: &App) -> AppResult<Vault> {
        let key = match app.secrets.get(SecretName::SocialTokenKey).await {
            Ok(key) => key,
            Err(SecretsError::Missing(_)) => {
                return Err(AppError::Disabled {
                    code: "PLATFORM_NOT_CONFIGURED",
                    message: "no key seals social tokens: set CHIEF_TOKEN_KEY_SECRET_ID to a secret of 32 random bytes in base64".into(),
                });
            }
            Err(SecretsError::Unavailable(e)) => return Err(AppError::unavailable("reading the social token key", e)),
        };
        Vault::from_base64(&key)
    }

    /// 32 bytes in base64 (local's generated key), or a random secret of at least 32
    /// characters (Secrets Manager's generated one), hashed to 32 bytes with SHA-256.
    pub fn from_base64(key: &str) -> AppResult<Vault> {
        let key = key.trim();
        let bytes = match STANDARD.decode(key).ok().filter(|b| b.len() == 32) {
            Some(bytes) => bytes,
            None if key.len() >= 32 => <sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()).to_vec(),
            None => {
                return Err(AppError::internal(
                    "the social token key is neither 32 bytes in base64 nor 32 characters long",
                ));
            }
        };
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| AppError::internal("the social token key was refused"))?;
        Ok(Vault { cipher })
    }

    /// `nonce ‖ ciphertext ‖ tag`, base64.
    pub fn seal(&self, context: &str, value: &Secret) -> AppResult<String> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("a token could not be sealed"))?;
        Ok(STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    pub fn unseal(&self, context: &str, sealed: &str) -> AppResult<Secret> {
        let bytes = STANDARD
            .decode(sealed)
            .ok()
            .filter(|b| b.len() > 12)
            .ok_or_else(|| AppError::internal("a sealed token is malformed"))?;
        let (nonce, body) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| AppError::internal("a sealed token is malformed"))?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("a sealed token does not open under this key and account"))?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| AppError::internal("a sealed token is not text"))
    }
}

/// What binds a sealed token to its account.
fn context(tenant: &TenantCtx, account_id: &AccountId) -> String {
    format!("{}#{}", tenant.org_id(), account_id)
}

/// The stored form: every token sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTokens {
    access: String,
    refresh: Option<String>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    refresh_expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    version: u64,
}

/// An account's grant as read, with the version its next write is conditional on.
#[derive(Debug, Clone)]
pub struct Held {
    pub grant: Grant,
    pub version: u64,
}

/// The item that stores `grant` for the account, as version `version`.
pub fn tokens_item(vault: &Vault, tenant: &TenantCtx, account_id: &AccountId, grant: &Grant, version: u64) -> AppResult<Item> {
    let context = context(tenant, account_id);
    let stored = StoredTokens {
        access: vault.seal(&context, &grant.access_token)?,
        refresh: grant.refresh_token.as_ref().map(|r| vault.seal(&context, r)).transpose()?,
        expires_at: grant.expires_at,
        refresh_expires_at: grant.refresh_expires_at,
        scopes: grant.scopes.clone(),
        version,
    };
    to_item(&tenant.pk(), &keys::account_tokens_sk(account_id), &stored)
}

pub fn held_from(vault: &Vault, tenant: &TenantCtx, account_id: &AccountId, item: Item) -> AppResult<Held> {
    let stored: StoredTokens = from_item(item)?;
    let context = context(tenant, account_id);
    Ok(Held {
        grant: Grant {
            access_token: vault.unseal(&context, &stored.access)?,
            refresh_token: stored.refresh.as_deref().map(|r| vault.unseal(&context, r)).transpose()?,
            expires_at: stored.expires_at,
            refresh_expires_at: stored.refresh_expires_at,
            scopes: stored.scopes,
        },
        version: stored.version,
    })
}

/// When an account's tokens end, read without opening them (the refresh job's sweep).
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    pub access: Option<DateTime<Utc>>,
    /// The refresh token's end; for a grant without one, when the authorisation ends.
    pub authorisation: Option<DateTime<Utc>>,
    pub refreshable: bool,
}

pub fn ends_at(item: &Item) -> AppResult<Ends> {
    let stored: StoredTokens = from_item(item.clone())?;
    Ok(Ends {
        access: stored.expires_at,
        authorisation: stored.refresh_expires_at,
        refreshable: stored.refresh.is_some(),
    })
}

pub async fn read(app: &App, tenant: &TenantCtx, account_id: &AccountId) -> AppResult<Option<Item>> {
    Ok(app.table.get(&tenant.key(keys::account_tokens_sk(account_id))).await?)
}

/// Whether a grant should be refreshed before it is used.
pub fn stale(grant: &Grant, now: DateTime<Utc>) -> bool {
    grant
        .expires_at
        .is_some_and(|end| end - Duration::seconds(REFRESH_MARGIN_SECONDS) <= now)
}

/// The token a call through `account` uses, given its tokens item as read: none for the
/// sandbox; refreshed first when it has ended or is about to.
pub async fn access(
    app: &App,
    tenant: &TenantCtx,
    account: &SocialAccount,
    item: Option<Item>,
) -> AppResult<Result<Option<Secret>, SocialError>> {
    if account.is_sandbox() {
        return Ok(Ok(None));
    }
    let Some(item) = item else {
        return Ok(Err(SocialError::AuthRevoked(
            "the account holds no tokens: connect it again".into(),
        )));
    };
    let vault = Vault::open(app).await?;
    let held = held_from(&vault, tenant, &account.id, item)?;
    if !stale(&held.grant, app.clock.now()) {
        return Ok(Ok(Some(held.grant.access_token)));
    }
    Ok(refresh(app, &vault, tenant, account, held).await?.map(|g| Some(g.access_token)))
}

/// [`access`], reading the account's tokens first (none are read for the sandbox).
pub async fn for_account(app: &App, tenant: &TenantCtx, account: &SocialAccount) -> AppResult<Result<Option<Secret>, SocialError>> {
    let item = if account.is_sandbox() {
        None
    } else {
        read(app, tenant, &account.id).await?
    };
    access(app, tenant, account, item).await
}

/// Refreshes the account's grant and stores the new one (X's refresh token changes each time)
/// before anyone uses it. A refresh that lost a race to another run (the write conditional on
/// the version read fails) takes the winner's tokens, since the old refresh token is spent.
pub async fn refresh(
    app: &App,
    vault: &Vault,
    tenant: &TenantCtx,
    account: &SocialAccount,
    held: Held,
) -> AppResult<Result<Grant, SocialError>> {
    if held.grant.refresh_token.is_none() {
        return Ok(Err(SocialError::AuthRevoked(
            "the token ended and the platform gave no refresh token".into(),
        )));
    }
    let fresh = match app.social.refresh(&account.platform, &held.grant).await {
        Ok(mut fresh) => {
            if fresh.refresh_token.is_none() {
                fresh.refresh_token = held.grant.refresh_token.clone();
                fresh.refresh_expires_at = held.grant.refresh_expires_at;
            }
            fresh
        }
        Err(e) => return Ok(Err(e)),
    };
    let item = tokens_item(vault, tenant, &account.id, &fresh, held.version + 1)?;
    match app.table.put(item, Some(Condition::VersionEquals(held.version))).await {
        Ok(()) => Ok(Ok(fresh)),
        Err(TableError::ConditionFailed { .. }) => {
            let item = read(app, tenant, &account.id)
                .await?
                .ok_or_else(|| AppError::conflict("CONFLICT", "the account was removed meanwhile"))?;
            Ok(Ok(held_from(vault, tenant, &account.id, item)?.grant))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;

    fn vault() -> Vault {
        Vault::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_own_account_and_never_shows_in_the_item() {
        let vault = vault();
        let org = OrgId::generate();
        let tenant = TenantCtx::background(&org);
        let (mine, other) = (AccountId::generate(), AccountId::generate());
        let grant = Grant {
            access_token: Secret::new("access-token-plain"),
            refresh_token: Some(Secret::new("refresh-token-plain")),
            expires_at: None,
            refresh_expires_at: None,
            scopes: vec!["tweet.write".into()],
        };
        let item = tokens_item(&vault, &tenant, &mine, &grant, 1).unwrap();
        let text = format!("{item:?}");
        assert!(
            !text.contains("access-token-plain") && !text.contains("refresh-token-plain"),
            "{text}"
        );
        let held = held_from(&vault, &tenant, &mine, item.clone()).unwrap();
        assert_eq!(held.grant.access_token.expose(), "access-token-plain");
        assert_eq!(held.grant.refresh_token.unwrap().expose(), "refresh-token-plain");
        assert!(
            held_from(&vault, &tenant, &other, item).is_err(),
            "another account's context does not open it"
        );
        assert_eq!(format!("{:?}", grant.access_token), "Secret(…)");
    }

    #[test]
    fn two_seals_of_one_token_differ_by_their_nonce() {
        let vault = vault();
        let token = Secret::new("same");
        assert_ne!(vault.seal("a#b", &token).unwrap(), vault.seal("a#b", &token).unwrap());
        assert!(Vault::from_base64("c2hvcnQ=").is_err(), "a short key is refused");
        assert!(Vault::from_base64("a generated secret of sixty-four random characters, say").is_ok());
    }
}
