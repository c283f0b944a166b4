//! An App on the embedded adapters with a settable clock, for unit tests of the domain.

use crate::adapters::local_secrets::LocalSecrets;
use crate::adapters::offline_ai::OfflineAi;
use crate::adapters::outbox_mailer::OutboxMailer;
use crate::adapters::sandbox_social::SandboxSocial;
use crate::adapters::sqlite_queue::SqliteQueue;
use crate::adapters::sqlite_table::SqliteTable;
use crate::adapters::store_events::StoreEventBus;
use crate::adapters::stripe_payments::StripePayments;
use crate::app::{App, Settings};
use crate::clock::ManualClock;
use crate::ports::table::Table;
use chrono::TimeZone;
use std::sync::Arc;

pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

pub fn app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 30).unwrap()));
    let db = dir.path().join("chief.db");
    let table: Arc<dyn Table> = Arc::new(SqliteTable::open(&db, clock.clone()).unwrap());
    let secrets = Arc::new(LocalSecrets::new(Some(dir.path().to_path_buf())));
    let app = App {
        events: Arc::new(StoreEventBus::new(table.clone())),
        social: Arc::new(SandboxSocial::new(table.clone(), clock.clone())),
        queue: Arc::new(SqliteQueue::open(&db, clock.clone(), std::time::Duration::from_secs(300), 5).unwrap()),
        ai: Arc::new(OfflineAi),
        payments: Arc::new(StripePayments::new(secrets.clone(), None)),
        mailer: Arc::new(OutboxMailer::new("Chief <t@chief.local>", dir.path().join("outbox")).unwrap()),
        table,
        secrets,
        clock: clock.clone(),
        settings: Settings::default(),
    };
    TestApp { app, clock, _dir: dir }
}
