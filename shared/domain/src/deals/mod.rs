//! Creator ops: sponsors, and deals with them run as a sales pipeline
//! (`inquiry → negotiating → contracted → in_progress → delivered → invoiced → paid`, or `lost`
//! with a reason), each change a deal activity and an event; deliverables that a published
//! post delivers ([`deliverables`]); exclusivity windows that scheduling respects
//! ([`exclusivity`]); and follow-ups that fall due through the minute executor
//! ([`followups`]).
//!
//! A deal with a `nextFollowUpAt` carries a due-index entry for it, as a task does, so the
//! executor finds it without a scan.

pub mod deliverables;
pub mod exclusivity;
pub mod followups;
pub mod http;
pub mod pipeline;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::ids::{DealId, SponsorId, UserId};
use crate::keys;
use crate::model::{self, from_item, to_item};
use crate::ports::events::DomainEvent;
use crate::ports::table::{Condition, Item, Query, TableError, TxOp, delete_all, item_key, query_all};
use crate::tasks::due;
use crate::tenancy::{Role, TenantCtx};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const MAX_CONTACTS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sponsor {
    pub id: SponsorId,
    pub name: String,
    pub website: Option<String>,
    /// What the sponsor sells ("energy drinks"): exclusivity is per category.
    pub category: String,
    pub contacts: Vec<Contact>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Sponsor {
    /// The contact a follow-up goes to: the first with an address.
    pub fn first_contact(&self) -> Option<(&Contact, &str)> {
        self.contacts.iter().find_map(|c| c.email.as_deref().map(|e| (c, e)))
    }
}

/// A sponsor's fields; every one optional in a patch, where `null` clears it.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SponsorFields {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub website: Option<Option<String>>,
    pub category: Option<String>,
    pub contacts: Option<Vec<Contact>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub notes: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    /// Required on update (optimistic concurrency), refused on create.
    pub version: Option<u64>,
}

/// A category as compared: trimmed, lower case.
pub fn category_key(category: &str) -> String {
    category.trim().to_lowercase()
}

impl SponsorFields {
    fn apply(self, sponsor: &mut Sponsor) -> AppResult<()> {
        if let Some(name) = self.name {
            sponsor.name = model::text("name", &name, 200)?;
        }
        if let Some(website) = self.website {
            sponsor.website = match website.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(w)
                    if w.len() <= 500 && (w.starts_with("https://") || w.starts_with("http://")) && !w.contains(char::is_whitespace) =>
                {
                    Some(w.to_string())
                }
                Some(_) => return Err(AppError::validation("website must be an http(s) URL of at most 500 characters")),
            };
        }
        if let Some(category) = self.category {
            sponsor.category = model::text("category", &category, 100)?;
        }
        if let Some(contacts) = self.contacts {
            if contacts.len() > MAX_CONTACTS {
                return Err(AppError::validation(format!("a sponsor has at most {MAX_CONTACTS} contacts")));
            }
            sponsor.contacts = contacts
                .into_iter()
                .map(|c| {
                    Ok(Contact {
                        name: model::text("contacts.name", &c.name, 200)?,
                        email: match c.email.as_deref().map(str::trim) {
                            None | Some("") => None,
                            Some(e) => Some(model::email("contacts.email", e)?),
                        },
                        role: model::optional_text("contacts.role", c.role.as_deref(), 100)?,
                    })
                })
                .collect::<AppResult<_>>()?;
        }
        if let Some(notes) = self.notes {
            sponsor.notes = model::optional_text("notes", notes.as_deref(), 5_000)?;
        }
        if let Some(tags) = self.tags {
            sponsor.tags = model::tags("sponsor", tags)?;
        }
        Ok(())
    }
}

pub fn sponsor_from(item: Option<Item>) -> AppResult<Sponsor> {
    from_item(item.ok_or(AppError::NotFound("sponsor"))?)
}

pub async fn create_sponsor(app: &App, tenant: &TenantCtx, fields: SponsorFields) -> AppResult<Sponsor> {
    model::creating(
        fields.version,
        &[("name", fields.name.is_some()), ("category", fields.category.is_some())],
    )?;
    let now = app.clock.now();
    let mut sponsor = Sponsor {
        id: SponsorId::generate(),
        name: String::new(),
        website: None,
        category: String::new(),
        contacts: Vec::new(),
        notes: None,
        tags: Vec::new(),
        created_by: tenant.user_id().to_string(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    fields.apply(&mut sponsor)?;
    let item = to_item(&tenant.pk(), &keys::sponsor_sk(&sponsor.id), &sponsor)?;
    app.table.put(item, Some(Condition::NotExists)).await?;
    Ok(sponsor)
}

pub async fn update_sponsor(app: &App, tenant: &TenantCtx, mut sponsor: Sponsor, fields: SponsorFields) -> AppResult<Sponsor> {
    let read = model::updating(fields.version, "sponsor", sponsor.version)?;
    fields.apply(&mut sponsor)?;
    sponsor.version += 1;
    sponsor.updated_at = app.clock.now();
    model::put_versioned(&*app.table, &tenant.pk(), &keys::sponsor_sk(&sponsor.id), &sponsor, read, "sponsor").await?;
    Ok(sponsor)
}

/// A sponsor with deals is kept: its deals name it (409 `CONFLICT`; delete or move them first).
pub async fn delete_sponsor(app: &App, tenant: &TenantCtx, sponsor: Sponsor) -> AppResult<()> {
    if all_deals(app, tenant).await?.iter().any(|d| d.sponsor_id == sponsor.id) {
        return Err(AppError::conflict("CONFLICT", "the sponsor has deals: delete them first"));
    }
    let delete = TxOp::Delete {
        key: tenant.key(keys::sponsor_sk(&sponsor.id)),
        condition: Some(Condition::VersionEquals(sponsor.version)),
    };
    let details = serde_json::json!({"name": sponsor.name});
    let record = crate::audit::entry(
        tenant,
        app.clock.now(),
        "sponsor.deleted",
        format!("sponsor:{}", sponsor.id),
        details,
    )?;
    app.table.transact(vec![delete, record]).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => model::stale_version("sponsor", sponsor.version),
        other => other.into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Inquiry,
    Negotiating,
    Contracted,
    InProgress,
    Delivered,
    Invoiced,
    Paid,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Inquiry,
        Stage::Negotiating,
        Stage::Contracted,
        Stage::InProgress,
        Stage::Delivered,
        Stage::Invoiced,
        Stage::Paid,
        Stage::Lost,
    ];
    pub const NAMES: &'static str = "inquiry, negotiating, contracted, in_progress, delivered, invoiced, paid, lost";

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Inquiry => "inquiry",
            Stage::Negotiating => "negotiating",
            Stage::Contracted => "contracted",
            Stage::InProgress => "in_progress",
            Stage::Delivered => "delivered",
            Stage::Invoiced => "invoiced",
            Stage::Paid => "paid",
            Stage::Lost => "lost",
        }
    }

    /// Its place in the order; `lost` has none.
    fn rank(self) -> Option<u8> {
        Stage::ALL[..7].iter().position(|s| *s == self).map(|p| p as u8)
    }

    /// Neither paid nor lost: still being worked.
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Paid | Stage::Lost)
    }

    /// Contracted or later: the sponsor said yes.
    pub fn is_won(self) -> bool {
        self.rank().is_some_and(|r| r >= 2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealType {
    SponsoredPost,
    Integration,
    Affiliate,
    Ambassador,
    Gifted,
}

/// A window in which the creator promises a sponsor not to promote its category's rivals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Exclusivity {
    pub category: String,
    /// First day, inclusive (`YYYY-MM-DD`, UTC).
    #[schemars(with = "crate::clock::Date")]
    pub from: NaiveDate,
    /// Last day, inclusive.
    #[schemars(with = "crate::clock::Date")]
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deal {
    pub id: DealId,
    pub sponsor_id: SponsorId,
    pub title: String,
    /// In the currency's minor units (cents).
    pub value: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    #[serde(rename = "type")]
    pub kind: DealType,
    pub stage: Stage,
    /// Why it was lost, while it is.
    pub lost_reason: Option<String>,
    #[schemars(with = "Option<crate::clock::Date>")]
    pub expected_close_date: Option<NaiveDate>,
    pub exclusivity: Option<Exclusivity>,
    #[schemars(with = "Option<String>")]
    pub owner_id: Option<UserId>,
    /// When the owner is reminded (and, under the policy for emails, a follow-up to the
    /// sponsor is drafted); cleared when it fires.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// The latest activity's time (its creation at first).
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub last_activity_at: DateTime<Utc>,
    /// When it first reached `contracted` (or a later stage): the win rate's period.
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub won_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::clock::rfc3339::option")]
    #[schemars(with = "Option<crate::clock::Timestamp>")]
    pub lost_at: Option<DateTime<Utc>>,
    pub created_by: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Deal {
    pub fn to_item(&self, tenant: &TenantCtx) -> AppResult<Item> {
        let mut item = to_item(&tenant.pk(), &keys::deal_sk(&self.id), self)?;
        if let Some(at) = self.next_follow_up_at {
            let (pk, sk) = due::entry(tenant.org_id(), &self.id, at);
            item.insert("duePK".into(), pk.into());
            item.insert("dueSK".into(), sk.into());
        }
        Ok(item)
    }

    /// The step that writes it over the version read (0: a new deal).
    pub fn write(&self, tenant: &TenantCtx, read: u64) -> AppResult<TxOp> {
        Ok(TxOp::Put {
            item: self.to_item(tenant)?,
            condition: Some(if read == 0 {
                Condition::NotExists
            } else {
                Condition::VersionEquals(read)
            }),
        })
    }
}

/// A deal's fields. `stage` is set on create only; later it moves by `POST …/stage`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DealFields {
    pub sponsor_id: Option<String>,
    pub title: Option<String>,
    pub value: Option<i64>,
    pub currency: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<DealType>,
    pub stage: Option<Stage>,
    /// Why it was lost, when it is created `lost`.
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "model::nullable")]
    #[schemars(with = "Option<Option<crate::clock::Date>>")]
    pub expected_close_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub exclusivity: Option<Option<Exclusivity>>,
    #[serde(default, deserialize_with = "model::nullable")]
    pub owner_id: Option<Option<String>>,
    /// RFC 3339; a past time means the next minute.
    #[serde(default, deserialize_with = "model::nullable")]
    pub next_follow_up_at: Option<Option<String>>,
    /// Required on update (optimistic concurrency), refused on create.
    pub version: Option<u64>,
}

/// Active ISO 4217 codes.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

pub fn currency(value: &str) -> AppResult<String> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 3 && CURRENCIES.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err(AppError::validation(format!(
            "currency: {value:?} is not an ISO 4217 code (like EUR or USD)"
        )))
    }
}

/// The most a deal may be worth, in minor units (a hundred billion in major units).
const MAX_VALUE: i64 = 10_000_000_000_000;

/// What the fields need read beside the deal: the sponsor they name, the owner's membership.
pub struct Named {
    pub sponsor: Option<Item>,
    pub owner: Option<Item>,
}

impl DealFields {
    /// The sponsor's and owner's keys to read with the membership.
    pub fn to_read(&self) -> AppResult<Vec<String>> {
        let mut keys = Vec::new();
        if let Some(sponsor) = &self.sponsor_id {
            keys.push(keys::sponsor_sk(&SponsorId::parse(sponsor, "sponsorId")?));
        }
        if let Some(Some(owner)) = &self.owner_id {
            keys.push(keys::member_sk(&UserId::parse(owner, "ownerId")?));
        }
        Ok(keys)
    }

    /// Splits what `to_read` asked for.
    pub fn named(&self, mut read: Vec<Option<Item>>) -> Named {
        let owner = match &self.owner_id {
            Some(Some(_)) => read.pop().flatten(),
            _ => None,
        };
        let sponsor = if self.sponsor_id.is_some() { read.pop().flatten() } else { None };
        Named { sponsor, owner }
    }

    fn apply(self, deal: &mut Deal, named: &Named, now: DateTime<Utc>) -> AppResult<()> {
        if let Some(sponsor) = &self.sponsor_id {
            if named.sponsor.is_none() {
                return Err(AppError::validation("sponsorId: no such sponsor in this organisation"));
            }
            deal.sponsor_id = SponsorId::parse(sponsor, "sponsorId")?;
        }
        if let Some(title) = self.title {
            deal.title = model::text("title", &title, 200)?;
        }
        if let Some(value) = self.value {
            if !(0..=MAX_VALUE).contains(&value) {
                return Err(AppError::validation(format!(
                    "value is in minor units (cents), from 0 to {MAX_VALUE}"
                )));
            }
            deal.value = value;
        }
        if let Some(code) = self.currency {
            deal.currency = currency(&code)?;
        }
        if let Some(kind) = self.kind {
            deal.kind = kind;
        }
        if let Some(date) = self.expected_close_date {
            deal.expected_close_date = date;
        }
        if let Some(exclusivity) = self.exclusivity {
            deal.exclusivity = exclusivity
                .map(|e| {
                    if e.to < e.from {
                        return Err(AppError::validation("exclusivity.to must be on or after exclusivity.from"));
                    }
                    if (e.to - e.from).num_days() > 3 * 366 {
                        return Err(AppError::validation("an exclusivity window is at most three years"));
                    }
                    Ok(Exclusivity {
                        category: model::text("exclusivity.category", &e.category, 100)?,
                        ..e
                    })
                })
                .transpose()?;
        }
        if let Some(owner) = self.owner_id {
            if owner.is_some() && named.owner.is_none() {
                return Err(AppError::validation("ownerId must be a member of the organisation"));
            }
            deal.owner_id = owner.map(|id| UserId::parse(&id, "ownerId")).transpose()?;
        }
        if let Some(at) = self.next_follow_up_at {
            deal.next_follow_up_at = at.map(|at| follow_up_time(&at, now)).transpose()?;
        }
        Ok(())
    }
}

/// A follow-up time: RFC 3339, at most a year ahead; a past time means now (the next tick).
pub fn follow_up_time(value: &str, now: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
    let at = model::timestamp_param("nextFollowUpAt", value)?;
    if at > now + chrono::Duration::days(crate::tasks::MAX_SCHEDULE_DAYS) {
        return Err(AppError::validation("nextFollowUpAt is more than a year ahead"));
    }
    Ok(at.max(now))
}

pub fn deal_from(item: Option<Item>) -> AppResult<Deal> {
    from_item(item.ok_or(AppError::NotFound("deal"))?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Created,
    StageChanged,
    FollowUpDue,
    FollowUpSent,
    DeliverableDelivered,
}

/// Something that happened to a deal, kept in order under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DealActivity {
    pub id: String,
    pub deal_id: DealId,
    #[serde(rename = "type")]
    pub kind: ActivityKind,
    pub from_stage: Option<Stage>,
    pub to_stage: Option<Stage>,
    pub reason: Option<String>,
    pub summary: String,
    /// A member's id, or `agent` for what Chief did by itself.
    pub actor: String,
    #[serde(with = "crate::clock::rfc3339")]
    #[schemars(with = "crate::clock::Timestamp")]
    pub at: DateTime<Utc>,
}

impl DealActivity {
    pub fn new(deal: &Deal, kind: ActivityKind, summary: String, actor: &str, at: DateTime<Utc>) -> DealActivity {
        DealActivity {
            id: model::new_id(),
            deal_id: deal.id.clone(),
            kind,
            from_stage: None,
            to_stage: None,
            reason: None,
            summary,
            actor: actor.to_string(),
            at,
        }
    }

    /// The step that stores it once (its id is in its key: the same activity written twice
    /// is refused, which makes a retried step harmless).
    pub fn write(&self, tenant: &TenantCtx) -> AppResult<TxOp> {
        Ok(TxOp::Put {
            item: to_item(&tenant.pk(), &keys::deal_activity_sk(&self.deal_id, &self.at, &self.id), self)?,
            condition: Some(Condition::NotExists),
        })
    }
}

pub fn changed_meanwhile() -> AppError {
    AppError::conflict("VERSION_CONFLICT", "the deal changed meanwhile: read it again")
}

pub async fn create_deal(app: &App, tenant: &TenantCtx, fields: DealFields, named: Named) -> AppResult<Deal> {
    model::creating(
        fields.version,
        &[
            ("sponsorId", fields.sponsor_id.is_some()),
            ("title", fields.title.is_some()),
            ("value", fields.value.is_some()),
            ("currency", fields.currency.is_some()),
            ("type", fields.kind.is_some()),
        ],
    )?;
    let now = app.clock.now();
    let stage = fields.stage.unwrap_or(Stage::Inquiry);
    let reason = model::optional_text("reason", fields.reason.as_deref(), 1_000)?;
    if stage == Stage::Lost && reason.is_none() {
        return Err(AppError::validation("reason is required for a lost deal"));
    }
    let mut deal = Deal {
        id: DealId::generate(),
        sponsor_id: SponsorId::generate(),
        title: String::new(),
        value: 0,
        currency: String::new(),
        kind: DealType::SponsoredPost,
        stage,
        lost_reason: reason.filter(|_| stage == Stage::Lost),
        expected_close_date: None,
        exclusivity: None,
        owner_id: None,
        next_follow_up_at: None,
        last_activity_at: now,
        won_at: stage.is_won().then_some(now),
        lost_at: (stage == Stage::Lost).then_some(now),
        created_by: tenant.user_id().to_string(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    fields.apply(&mut deal, &named, now)?;
    let mut activity = DealActivity::new(
        &deal,
        ActivityKind::Created,
        format!("Deal created at {}", stage.as_str()),
        tenant.user_id(),
        now,
    );
    activity.to_stage = Some(stage);
    app.table.transact(vec![deal.write(tenant, 0)?, activity.write(tenant)?]).await?;
    if stage != Stage::Inquiry {
        emit(app, stage_events(tenant, &deal, None, &activity)).await;
    }
    Ok(deal)
}

pub async fn update_deal(app: &App, tenant: &TenantCtx, mut deal: Deal, fields: DealFields, named: Named) -> AppResult<Deal> {
    let read = model::updating(fields.version, "deal", deal.version)?;
    if fields.stage.is_some() || fields.reason.is_some() {
        return Err(AppError::validation(
            "stage: move a deal with POST …/deals/{dealId}/stage, which records the change",
        ));
    }
    let now = app.clock.now();
    fields.apply(&mut deal, &named, now)?;
    deal.version += 1;
    deal.updated_at = now;
    app.table
        .put(deal.to_item(tenant)?, Some(Condition::VersionEquals(read)))
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => changed_meanwhile(),
            other => other.into(),
        })?;
    Ok(deal)
}

/// Deletes a deal (admin, its owner or its creator), then its activities, deliverables and
/// their links. Asked again after a failure, the clean-up finishes what is left.
pub async fn delete_deal(app: &App, tenant: &TenantCtx, deal: Deal) -> AppResult<()> {
    let own = deal
        .owner_id
        .as_ref()
        .map_or(deal.created_by == tenant.user_id(), |o| o == tenant.user_id());
    if !own {
        tenant
            .require(Role::Admin)
            .map_err(|_| AppError::Forbidden("only an admin, the deal's owner or its creator can delete a deal".into()))?;
    }
    let delete = TxOp::Delete {
        key: tenant.key(keys::deal_sk(&deal.id)),
        condition: Some(Condition::VersionEquals(deal.version)),
    };
    let details = serde_json::json!({"title": deal.title, "stage": deal.stage});
    let record = crate::audit::entry(tenant, app.clock.now(), "deal.deleted", format!("deal:{}", deal.id), details)?;
    app.table.transact(vec![delete, record]).await.map_err(|e| match e {
        TableError::ConditionFailed { .. } => changed_meanwhile(),
        other => other.into(),
    })?;
    let mut children = Vec::new();
    for item in query_all(
        &*app.table,
        Query::partition(tenant.pk()).prefix(keys::deal_activity_prefix(&deal.id)),
    )
    .await?
    {
        children.push(item_key(&item)?);
    }
    for deliverable in deliverables::of_deal(app, tenant, &deal.id).await? {
        children.push(tenant.key(keys::deliverable_sk(&deal.id, &deliverable.id)));
        children.extend(deliverable.link_keys(tenant));
    }
    delete_all(&*app.table, children).await?;
    Ok(())
}

/// Deals one page reads: a deal is under a kilobyte, so a page stays within DynamoDB's 1 MB.
pub const DEALS_PER_PAGE: usize = 1_000;

/// Every deal of the org, read a page at a time.
pub async fn all_deals(app: &App, tenant: &TenantCtx) -> AppResult<Vec<Deal>> {
    query_all(
        &*app.table,
        Query::partition(tenant.pk()).prefix(keys::DEAL_PREFIX).limit(DEALS_PER_PAGE),
    )
    .await?
    .into_iter()
    .map(from_item)
    .collect()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StageChange {
    pub stage: Stage,
    /// Required when the deal is lost.
    pub reason: Option<String>,
}

fn invalid_change(message: String) -> AppError {
    AppError::conflict("INVALID_STAGE_CHANGE", message)
}

/// Whether `from → to` is allowed: forward along the order (skipping is fine), `lost` from any
/// open stage, and out of `lost` only by an admin. Backward is refused.
pub fn check_change(from: Stage, to: Stage, admin: bool) -> AppResult<()> {
    if from == to {
        return Err(invalid_change(format!("the deal is {} already", to.as_str())));
    }
    match (from.rank(), to.rank()) {
        (_, None) if !from.is_open() => Err(invalid_change(format!(
            "a {} deal cannot be lost: only an open deal can",
            from.as_str()
        ))),
        (_, None) => Ok(()),
        (None, Some(_)) if admin => Ok(()),
        (None, Some(_)) => Err(invalid_change("only an admin can bring a deal back from lost".to_string())),
        (Some(a), Some(b)) if b > a => Ok(()),
        (Some(_), Some(_)) => Err(invalid_change(format!(
            "a deal moves forward only: {} comes before {}",
            to.as_str(),
            from.as_str()
        ))),
    }
}

/// Applies a stage move to a deal in hand (no write): answers the activity that records it.
pub fn moved(deal: &mut Deal, to: Stage, reason: Option<String>, actor: &str, now: DateTime<Utc>) -> DealActivity {
    let from = deal.stage;
    deal.stage = to;
    deal.lost_reason = if to == Stage::Lost { reason.clone() } else { None };
    deal.lost_at = if to == Stage::Lost { Some(now) } else { None };
    if to.is_won() && deal.won_at.is_none() {
        deal.won_at = Some(now);
    }
    deal.last_activity_at = now;
    let mut summary = format!("{} → {}", from.as_str(), to.as_str());
    if let Some(reason) = &reason {
        summary.push_str(&format!(": {reason}"));
    }
    let mut activity = DealActivity::new(deal, ActivityKind::StageChanged, summary, actor, now);
    activity.from_stage = Some(from);
    activity.to_stage = Some(to);
    activity.reason = reason;
    activity
}

/// `POST …/stage`: the move, its activity and its events.
pub async fn change_stage(app: &App, tenant: &TenantCtx, mut deal: Deal, change: StageChange) -> AppResult<Deal> {
    let reason = model::optional_text("reason", change.reason.as_deref(), 1_000)?;
    if change.stage == Stage::Lost && reason.is_none() {
        return Err(AppError::validation("reason is required when a deal is lost"));
    }
    check_change(deal.stage, change.stage, tenant.role() >= Role::Admin)?;
    let from = deal.stage;
    let now = app.clock.now();
    let read = deal.version;
    let activity = moved(&mut deal, change.stage, reason, tenant.user_id(), now);
    deal.version += 1;
    deal.updated_at = now;
    app.table
        .transact(vec![deal.write(tenant, read)?, activity.write(tenant)?])
        .await
        .map_err(|e| match e {
            TableError::ConditionFailed { .. } => changed_meanwhile(),
            other => other.into(),
        })?;
    emit(app, stage_events(tenant, &deal, Some(from), &activity)).await;
    Ok(deal)
}

/// `deal.stage_changed`, with `deal.won` on reaching contracted (or later, skipping it) and
/// `deal.lost` on `lost`. Event ids come from the activity, so a retry sends the same ids.
pub fn stage_events(tenant: &TenantCtx, deal: &Deal, from: Option<Stage>, activity: &DealActivity) -> Vec<DomainEvent> {
    let detail = json!({
        "dealId": deal.id, "sponsorId": deal.sponsor_id, "title": deal.title,
        "from": from, "to": deal.stage, "value": deal.value, "currency": deal.currency,
        "reason": deal.lost_reason, "actor": activity.actor,
    });
    let event = |kind: &str| DomainEvent {
        id: format!("{kind}:{}:{}", deal.id, activity.id),
        source: "chief.deals".into(),
        detail_type: kind.into(),
        org_id: tenant.org_id().clone(),
        at: activity.at,
        detail: detail.clone(),
    };
    let mut events = vec![event("deal.stage_changed")];
    let was_won = from.is_some_and(Stage::is_won);
    if deal.stage.is_won() && !was_won {
        events.push(event("deal.won"));
    }
    if deal.stage == Stage::Lost {
        events.push(event("deal.lost"));
    }
    events
}

pub async fn emit(app: &App, events: Vec<DomainEvent>) {
    if let Err(e) = app.events.publish(&events).await {
        tracing::warn!(error = %e, "deal events not published");
    }
}

#[derive(Debug, Default)]
pub struct DealFilter {
    pub stage: Option<Stage>,
    pub sponsor_id: Option<String>,
    pub owner_id: Option<String>,
}

/// Deals, newest first, filtered (see `model::newest_matching`).
pub async fn list_deals(
    app: &App,
    tenant: &TenantCtx,
    filter: &DealFilter,
    limit: usize,
    cursor: Option<String>,
) -> AppResult<(Vec<Deal>, Option<String>)> {
    let filtered = filter.stage.is_some() || filter.sponsor_id.is_some() || filter.owner_id.is_some();
    model::newest_matching(&*app.table, tenant.pk(), keys::DEAL_PREFIX, limit, cursor, filtered, |d: &Deal| {
        filter.stage.is_none_or(|s| s == d.stage)
            && filter.sponsor_id.as_ref().is_none_or(|s| d.sponsor_id == s.as_str())
            && filter
                .owner_id
                .as_ref()
                .is_none_or(|o| d.owner_id.as_ref().is_some_and(|id| id == o.as_str()))
    })
    .await
}

#[cfg(test)]
mod tests;
