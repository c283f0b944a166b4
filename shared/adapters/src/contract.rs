//! The port contracts. The Table cases run against SQLite in a temp folder, DynamoDB through
//! moto (`scripts/test` starts it and sets `AWS_ENDPOINT_URL`; the table is created from
//! `template.yaml`'s table resource) and the domain's in-memory table its unit tests use; the
//! JobQueue cases against SQLite, SQS on moto and the in-memory queue.

use crate::dynamo_table::DynamoTable;
use crate::sqlite_table::SqliteTable;
use crate::test_support::create_table_from_template;
use chief::clock::{Clock, ManualClock};
use chief::ports::table::*;
use chrono::TimeZone;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Fixture {
    pub table: Arc<dyn Table>,
    pub clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()))
}

pub fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let table = SqliteTable::open(&dir.path().join("chief.db"), clock.clone()).unwrap();
    Fixture {
        table: Arc::new(table),
        clock,
        _dir: Some(dir),
    }
}

pub fn memory() -> Fixture {
    let clock = clock();
    Fixture {
        table: Arc::new(chief::testing::MemoryTable::new(clock.clone())),
        clock,
        _dir: None,
    }
}

pub async fn aws_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL must point at moto: run scripts/test"
    );
    crate::aws::load().await
}

pub async fn dynamo() -> Fixture {
    let aws = aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let name = format!("chief-contract-{}", ulid::Ulid::new().to_string().to_lowercase());
    create_table_from_template(&client, &name, include_str!("../../../template.yaml"))
        .await
        .expect("create the table from template.yaml");
    let clock = clock();
    Fixture {
        table: Arc::new(DynamoTable::new(crate::aws::AwsConfig::ready(aws), name, clock.clone())),
        clock,
        _dir: None,
    }
}

fn item(pk: &str, sk: &str, extra: Value) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), pk.into());
    item.insert(SK.into(), sk.into());
    if let Value::Object(extra) = extra {
        item.extend(extra);
    }
    item
}

fn sks(page: &Page) -> Vec<&str> {
    page.items.iter().map(|i| i[SK].as_str().unwrap()).collect()
}

pub mod cases {
    use super::*;

    pub async fn put_get_delete_round_trip(f: Fixture) {
        let t = &f.table;
        let key = Key::new("ORG#1", "LEAD#a");
        assert!(t.get(&key).await.unwrap().is_none());
        let stored = item(
            "ORG#1",
            "LEAD#a",
            json!({"name": "Ada", "value": 12.5, "count": 3, "tags": ["x", "y"], "nested": {"ok": true}, "none": null}),
        );
        t.put(stored.clone(), None).await.unwrap();
        assert_eq!(t.get(&key).await.unwrap().unwrap(), stored);
        t.delete(&key, None).await.unwrap();
        assert!(t.get(&key).await.unwrap().is_none());
    }

    pub async fn conditions_guard_writes(f: Fixture) {
        let t = &f.table;
        let key = Key::new("ORG#1", "X");
        t.put(item("ORG#1", "X", json!({"version": 1})), Some(Condition::NotExists))
            .await
            .unwrap();
        let again = t.put(item("ORG#1", "X", json!({"version": 9})), Some(Condition::NotExists)).await;
        assert!(matches!(again, Err(TableError::ConditionFailed { .. })));
        let stale = t
            .put(item("ORG#1", "X", json!({"version": 2})), Some(Condition::VersionEquals(7)))
            .await;
        assert!(matches!(stale, Err(TableError::ConditionFailed { .. })));
        t.put(item("ORG#1", "X", json!({"version": 2})), Some(Condition::VersionEquals(1)))
            .await
            .unwrap();
        assert_eq!(item_version(&t.get(&key).await.unwrap().unwrap()), 2);
        let missing = t.delete(&Key::new("ORG#1", "nope"), Some(Condition::Exists)).await;
        assert!(matches!(missing, Err(TableError::ConditionFailed { .. })));
        t.delete(&key, Some(Condition::VersionEquals(2))).await.unwrap();
        assert!(t.get(&key).await.unwrap().is_none());
    }

    pub async fn counters_respect_their_bounds(f: Fixture) {
        let t = &f.table;
        let key = Key::new("ORG#1", "USAGE#2026-11");
        assert_eq!(t.add(&key, Counter::new("tasks", 2).at_most(3)).await.unwrap(), 2);
        assert_eq!(t.add(&key, Counter::new("tasks", 1).at_most(3)).await.unwrap(), 3);
        assert!(matches!(
            t.add(&key, Counter::new("tasks", 1).at_most(3)).await,
            Err(TableError::ConditionFailed { .. })
        ));
        assert_eq!(t.add(&key, Counter::new("posts", 5)).await.unwrap(), 5);
        assert_eq!(t.add(&key, Counter::new("tasks", -3).at_least(0)).await.unwrap(), 0);
        assert!(matches!(
            t.add(&key, Counter::new("tasks", -1).at_least(0)).await,
            Err(TableError::ConditionFailed { .. })
        ));
        // A first change that already breaks the bound creates nothing.
        let fresh = Key::new("ORG#1", "OWNERS");
        assert!(matches!(
            t.add(&fresh, Counter::new("count", -1).at_least(1)).await,
            Err(TableError::ConditionFailed { .. })
        ));
        assert!(t.get(&fresh).await.unwrap().is_none());
        let stored = t.get(&key).await.unwrap().unwrap();
        assert_eq!((stored["tasks"].as_i64(), stored["posts"].as_i64()), (Some(0), Some(5)));
    }

    pub async fn parallel_writers_never_pass_a_counter_bound(f: Fixture) {
        let key = Key::new("ORG#1", "USAGE#2026-11");
        let writers = (0..40).map(|_| {
            let (t, key) = (f.table.clone(), key.clone());
            tokio::spawn(async move { t.add(&key, Counter::new("posts", 1).at_most(15)).await })
        });
        let mut granted = 0;
        for writer in writers {
            match writer.await.unwrap() {
                Ok(_) => granted += 1,
                Err(TableError::ConditionFailed { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(granted, 15);
        assert_eq!(f.table.get(&key).await.unwrap().unwrap()["posts"].as_i64(), Some(15));
    }

    pub async fn queries_select_order_and_page(f: Fixture) {
        let t = &f.table;
        for i in 0..7 {
            t.put(item("ORG#1", &format!("LEAD#{i:02}"), json!({})), None).await.unwrap();
        }
        t.put(item("ORG#1", "LEADACT#00#x", json!({})), None).await.unwrap();
        t.put(item("ORG#1", "MEMBER#u", json!({})), None).await.unwrap();
        t.put(item("ORG#2", "LEAD#99", json!({})), None).await.unwrap();

        let all = t.query(Query::partition("ORG#1").prefix("LEAD#")).await.unwrap();
        assert_eq!(
            sks(&all),
            ["LEAD#00", "LEAD#01", "LEAD#02", "LEAD#03", "LEAD#04", "LEAD#05", "LEAD#06"]
        );
        assert!(all.cursor.is_none());
        let range = t.query(Query::partition("ORG#1").between("LEAD#02", "LEAD#04")).await.unwrap();
        assert_eq!(sks(&range), ["LEAD#02", "LEAD#03", "LEAD#04"]);
        let whole = t.query(Query::partition("ORG#1")).await.unwrap();
        assert_eq!(whole.items.len(), 9);

        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = t
                .query(Query::partition("ORG#1").prefix("LEAD#").descending().limit(3).after(cursor))
                .await
                .unwrap();
            pages += 1;
            seen.extend(sks(&page).into_iter().map(str::to_string));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["LEAD#06", "LEAD#05", "LEAD#04", "LEAD#03", "LEAD#02", "LEAD#01", "LEAD#00"]);
        // A page that ends exactly at the last item carries no cursor.
        let exact = t.query(Query::partition("ORG#1").prefix("LEAD#").limit(7)).await.unwrap();
        assert!(exact.cursor.is_none());
        let bad = t.query(Query::partition("ORG#1").after(Some("not-a-cursor".into()))).await;
        assert!(matches!(bad, Err(TableError::BadCursor)));
    }

    pub async fn indexes_are_sparse_and_page(f: Fixture) {
        let t = &f.table;
        for org in ["A", "B", "C", "D", "E"] {
            t.put(
                item(
                    &format!("ORG#{org}"),
                    "ORG",
                    json!({"planPK": "PLAN#pro", "planSK": format!("ORG#{org}")}),
                ),
                None,
            )
            .await
            .unwrap();
        }
        t.put(item("ORG#F", "ORG", json!({"planPK": "PLAN#free", "planSK": "ORG#F"})), None)
            .await
            .unwrap();
        t.put(item("ORG#G", "ORG", json!({})), None).await.unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = t
                .query(Query::partition("PLAN#pro").on(Index::Plan).limit(2).after(cursor))
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|i| i[PK].as_str().unwrap().to_string()));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["ORG#A", "ORG#B", "ORG#C", "ORG#D", "ORG#E"]);
        let free = t.query(Query::partition("PLAN#free").on(Index::Plan)).await.unwrap();
        assert_eq!(free.items.len(), 1);
        // Moving an item out of the index (removing its attributes) removes it from queries.
        t.put(item("ORG#F", "ORG", json!({})), None).await.unwrap();
        assert!(
            t.query(Query::partition("PLAN#free").on(Index::Plan))
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }

    pub async fn transactions_are_all_or_nothing(f: Fixture) {
        let t = &f.table;
        t.put(item("USER#1", "PROFILE", json!({"version": 1})), None).await.unwrap();
        let failing = vec![
            TxOp::Put {
                item: item("EMAIL#a", "CLAIM", json!({})),
                condition: Some(Condition::NotExists),
            },
            TxOp::Add {
                key: Key::new("ORG#1", "USAGE"),
                counter: Counter::new("tasks", 1).at_most(5),
            },
            TxOp::Put {
                item: item("USER#1", "PROFILE", json!({"version": 2})),
                condition: Some(Condition::NotExists),
            },
        ];
        assert!(matches!(
            t.transact(failing).await,
            Err(TableError::ConditionFailed { op: Some(2) })
        ));
        assert!(t.get(&Key::new("EMAIL#a", "CLAIM")).await.unwrap().is_none());
        assert!(t.get(&Key::new("ORG#1", "USAGE")).await.unwrap().is_none());

        let passing = vec![
            TxOp::Put {
                item: item("EMAIL#a", "CLAIM", json!({})),
                condition: Some(Condition::NotExists),
            },
            TxOp::Add {
                key: Key::new("ORG#1", "USAGE"),
                counter: Counter::new("tasks", 1).at_most(5),
            },
            TxOp::Check {
                key: Key::new("USER#1", "PROFILE"),
                condition: Condition::VersionEquals(1),
            },
            TxOp::Delete {
                key: Key::new("ORG#1", "gone"),
                condition: None,
            },
        ];
        t.transact(passing).await.unwrap();
        assert!(t.get(&Key::new("EMAIL#a", "CLAIM")).await.unwrap().is_some());
        assert_eq!(
            t.get(&Key::new("ORG#1", "USAGE")).await.unwrap().unwrap()["tasks"].as_i64(),
            Some(1)
        );

        let twice = vec![
            TxOp::Check {
                key: Key::new("USER#1", "PROFILE"),
                condition: Condition::Exists,
            },
            TxOp::Delete {
                key: Key::new("USER#1", "PROFILE"),
                condition: None,
            },
        ];
        assert!(matches!(t.transact(twice).await, Err(TableError::Invalid(_))));
        let over_quota = vec![TxOp::Add {
            key: Key::new("ORG#1", "USAGE"),
            counter: Counter::new("tasks", 5).at_most(5),
        }];
        assert!(matches!(
            t.transact(over_quota).await,
            Err(TableError::ConditionFailed { op: Some(0) })
        ));
    }

    pub async fn expired_items_read_as_absent(f: Fixture) {
        let t = &f.table;
        let now = f.clock.now().timestamp();
        t.put(item("THROTTLE#x", "WINDOW#1", json!({"ttl": now + 60, "failures": 1})), None)
            .await
            .unwrap();
        t.put(item("THROTTLE#x", "WINDOW#0", json!({"ttl": now - 1})), None).await.unwrap();
        assert!(t.get(&Key::new("THROTTLE#x", "WINDOW#0")).await.unwrap().is_none());
        assert_eq!(t.query(Query::partition("THROTTLE#x")).await.unwrap().items.len(), 1);
        f.clock.advance(chrono::Duration::seconds(61));
        assert!(t.get(&Key::new("THROTTLE#x", "WINDOW#1")).await.unwrap().is_none());
        assert!(t.get_many(&[Key::new("THROTTLE#x", "WINDOW#1")]).await.unwrap()[0].is_none());
        assert!(t.query(Query::partition("THROTTLE#x")).await.unwrap().items.is_empty());
        // An expired item does not block a conditional create, and cannot be updated by version.
        t.put(item("THROTTLE#x", "WINDOW#1", json!({"version": 1})), Some(Condition::NotExists))
            .await
            .unwrap();
        let expiring = Counter::new("failures", 1).expiring(f.clock.now().timestamp() + 5);
        t.add(&Key::new("THROTTLE#y", "W"), expiring.clone()).await.unwrap();
        t.add(&Key::new("THROTTLE#y", "W"), expiring.expiring(f.clock.now().timestamp() + 500))
            .await
            .unwrap();
        f.clock.advance(chrono::Duration::seconds(6));
        assert!(
            t.get(&Key::new("THROTTLE#y", "W")).await.unwrap().is_none(),
            "the first expiry stands"
        );
    }

    pub async fn counters_of_one_item_change_together_or_not_at_all(f: Fixture) {
        let t = &f.table;
        let key = Key::new("ORG#1", "USAGE#2026-11");
        let both = |tasks: i64, posts: i64| TxOp::AddAll {
            key: key.clone(),
            counters: vec![Counter::new("tasks", tasks).at_most(3), Counter::new("posts", posts).at_most(2)],
        };
        t.transact(vec![both(1, 2)]).await.unwrap();
        assert!(matches!(
            t.transact(vec![both(1, 1)]).await,
            Err(TableError::ConditionFailed { op: Some(0) })
        ));
        let stored = t.get(&key).await.unwrap().unwrap();
        assert_eq!(
            (stored["tasks"].as_i64(), stored["posts"].as_i64()),
            (Some(1), Some(2)),
            "the failed step changed nothing"
        );
        t.transact(vec![both(2, -2)]).await.unwrap();
        let stored = t.get(&key).await.unwrap().unwrap();
        assert_eq!((stored["tasks"].as_i64(), stored["posts"].as_i64()), (Some(3), Some(0)));
    }

    pub async fn concurrent_transactions_on_one_item_all_land(f: Fixture) {
        let usage = Key::new("ORG#1", "USAGE#2026-11");
        let writers = (0..20).map(|i| {
            let (t, usage) = (f.table.clone(), usage.clone());
            tokio::spawn(async move {
                t.transact(vec![
                    TxOp::Put {
                        item: item("ORG#1", &format!("TASK#{i:02}"), json!({"version": 1})),
                        condition: Some(Condition::NotExists),
                    },
                    TxOp::Add {
                        key: usage,
                        counter: Counter::new("tasks", 1).at_most(100),
                    },
                ])
                .await
            })
        });
        for writer in writers {
            writer.await.unwrap().expect("a transaction that conflicted is tried again");
        }
        assert_eq!(f.table.get(&usage).await.unwrap().unwrap()["tasks"].as_i64(), Some(20));
        let tasks = f.table.query(Query::partition("ORG#1").prefix("TASK#")).await.unwrap();
        assert_eq!(tasks.items.len(), 20);
    }

    pub async fn cursors_not_given_for_the_query_are_refused(f: Fixture) {
        let t = &f.table;
        for i in 0..3 {
            t.put(item("ORG#1", &format!("LEAD#{i}"), json!({})), None).await.unwrap();
        }
        let page = t.query(Query::partition("ORG#1").prefix("LEAD#").limit(1)).await.unwrap();
        let good = page.cursor.expect("more pages");
        let encode = |v: Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
        let tampered = [
            "not base64!".to_string(),
            encode(json!("a string")),
            encode(json!({"PK": "ORG#2", "SK": "LEAD#0"})),
            encode(json!({"PK": "ORG#1", "SK": "USAGE#2026-11"})),
            encode(json!({"PK": "ORG#1"})),
            encode(json!({"PK": "ORG#1", "SK": "LEAD#0", "extra": "x"})),
            encode(json!({"PK": "ORG#1", "SK": 5})),
        ];
        for cursor in tampered {
            let asked = Query::partition("ORG#1").prefix("LEAD#").limit(1).after(Some(cursor.clone()));
            assert!(matches!(t.query(asked).await, Err(TableError::BadCursor)), "{cursor}");
        }
        let on_index = Query::partition("DUE#x").on(Index::Due).after(Some(good.clone()));
        assert!(matches!(t.query(on_index).await, Err(TableError::BadCursor)));
        let next = t
            .query(Query::partition("ORG#1").prefix("LEAD#").limit(1).after(Some(good)))
            .await
            .unwrap();
        assert_eq!(next.items.len(), 1);
    }

    pub async fn batch_reads_keep_the_order_asked(f: Fixture) {
        let t = &f.table;
        t.put(item("ORG#1", "B", json!({"n": 2})), None).await.unwrap();
        t.put(item("ORG#1", "A", json!({"n": 1})), None).await.unwrap();
        let keys = [
            Key::new("ORG#1", "B"),
            Key::new("ORG#1", "missing"),
            Key::new("ORG#1", "A"),
            Key::new("ORG#1", "B"),
        ];
        let got = t.get_many(&keys).await.unwrap();
        let ns: Vec<Option<i64>> = got.iter().map(|i| i.as_ref().and_then(|i| i["n"].as_i64())).collect();
        assert_eq!(ns, [Some(2), None, Some(1), Some(2)]);
    }
}

/// One test per case and adapter; `$attr` marks every case of an adapter (e.g. `ignore`).
macro_rules! contract_suite {
    ($adapter:ident, $fixture:expr, $attr:tt) => {
        mod $adapter {
            use super::*;
            contract_suite!(@cases $fixture, $attr,
                put_get_delete_round_trip, conditions_guard_writes, counters_respect_their_bounds,
                parallel_writers_never_pass_a_counter_bound, queries_select_order_and_page,
                indexes_are_sparse_and_page, transactions_are_all_or_nothing, expired_items_read_as_absent,
                batch_reads_keep_the_order_asked, counters_of_one_item_change_together_or_not_at_all,
                concurrent_transactions_on_one_item_all_land, cursors_not_given_for_the_query_are_refused);
        }
    };
    (@cases $fixture:expr, $attr:tt, $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #$attr
            async fn $case() {
                cases::$case($fixture).await
            }
        )*
    };
}

contract_suite!(sqlite_table, sqlite(), [cfg(all())]);
contract_suite!(memory_table, memory(), [cfg(all())]);
contract_suite!(
    dynamo_table,
    dynamo().await,
    [ignore = "needs moto on AWS_ENDPOINT_URL: scripts/test runs it"]
);

/// The EventBus contract: what is published arrives whole, however many at once. The
/// EventBridge adapter is read back through a rule on its bus that targets an SQS queue.
pub mod event_bus {
    use crate::eventbridge_bus::EventBridgeBus;
    use crate::store_events::{StoreEventBus, recorded};
    use chief::ports::events::{DomainEvent, EventBus};
    use chief::ports::table::Table;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::time::Duration;

    pub enum Reader {
        Store(Arc<dyn Table>),
        Queue(aws_sdk_sqs::Client, String),
    }

    pub struct Fixture {
        pub bus: Arc<dyn EventBus>,
        reader: Reader,
        _table: Option<super::Fixture>,
    }

    impl Fixture {
        /// What arrived for `org_id`, as (id, source, detail type, detail), sorted by id.
        pub async fn arrived(&self, org_id: &str, expected: usize) -> Vec<(String, String, String, Value)> {
            let mut seen = Vec::new();
            match &self.reader {
                Reader::Store(table) => {
                    for e in recorded(&**table, &org_id.into()).await.unwrap() {
                        seen.push((e.id, e.source, e.detail_type, e.detail));
                    }
                }
                Reader::Queue(sqs, url) => {
                    for _ in 0..50 {
                        let out = sqs
                            .receive_message()
                            .queue_url(url)
                            .max_number_of_messages(10)
                            .wait_time_seconds(1)
                            .send()
                            .await
                            .unwrap();
                        for m in out.messages() {
                            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                            let envelope = &body["detail"];
                            if envelope["orgId"] == org_id {
                                seen.push((
                                    envelope["id"].as_str().unwrap().to_string(),
                                    body["source"].as_str().unwrap().to_string(),
                                    body["detail-type"].as_str().unwrap().to_string(),
                                    envelope["detail"].clone(),
                                ));
                            }
                            sqs.delete_message()
                                .queue_url(url)
                                .receipt_handle(m.receipt_handle().unwrap())
                                .send()
                                .await
                                .unwrap();
                        }
                        if seen.len() >= expected {
                            break;
                        }
                    }
                    // Anything more would be a duplicate: give it a moment to show.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            seen
        }
    }

    pub fn store() -> Fixture {
        let table = super::sqlite();
        Fixture {
            bus: Arc::new(StoreEventBus::new(table.table.clone())),
            reader: Reader::Store(table.table.clone()),
            _table: Some(table),
        }
    }

    pub async fn eventbridge() -> Fixture {
        let aws = super::aws_config().await;
        let events = aws_sdk_eventbridge::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let name = format!("chief-contract-{}", ulid::Ulid::new().to_string().to_lowercase());
        events.create_event_bus().name(&name).send().await.unwrap();
        let url = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url.unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&name)
            .event_pattern(json!({"source": [{"prefix": "chief."}]}).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(&name)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap())
            .send()
            .await
            .unwrap();
        Fixture {
            bus: Arc::new(EventBridgeBus::new(crate::aws::AwsConfig::ready(aws), name)),
            reader: Reader::Queue(sqs, url),
            _table: None,
        }
    }

    fn event(org: &str, n: usize) -> DomainEvent {
        DomainEvent {
            id: format!("{org}-{n:03}"),
            source: "chief.billing".into(),
            detail_type: "billing.plan_changed".into(),
            org_id: org.into(),
            at: chief::clock::parse(&format!("2026-11-22T12:00:{:02}.000Z", n % 60)).unwrap(),
            detail: json!({"n": n, "to": "pro", "nested": {"ok": true}}),
        }
    }

    pub mod cases {
        use super::*;

        pub async fn published_events_arrive_whole_past_the_batch_size(f: Fixture) {
            let org = format!("ORG{}", ulid::Ulid::new());
            let sent: Vec<DomainEvent> = (0..23).map(|n| event(&org, n)).collect();
            f.bus.publish(&sent).await.unwrap();
            let arrived = f.arrived(&org, sent.len()).await;
            assert_eq!(arrived.len(), sent.len(), "{arrived:?}");
            for (e, (id, source, detail_type, detail)) in sent.iter().zip(&arrived) {
                assert_eq!((id, source, detail_type, detail), (&e.id, &e.source, &e.detail_type, &e.detail));
            }
        }

        pub async fn publishing_nothing_sends_nothing(f: Fixture) {
            let org = format!("ORG{}", ulid::Ulid::new());
            f.bus.publish(&[]).await.unwrap();
            assert!(f.arrived(&org, 0).await.is_empty());
        }
    }

    macro_rules! event_bus_suite {
        ($adapter:ident, $fixture:expr, $attr:tt) => {
            mod $adapter {
                use super::*;
                #[tokio::test]
                #$attr
                async fn published_events_arrive_whole_past_the_batch_size() {
                    cases::published_events_arrive_whole_past_the_batch_size($fixture).await
                }
                #[tokio::test]
                #$attr
                async fn publishing_nothing_sends_nothing() {
                    cases::publishing_nothing_sends_nothing($fixture).await
                }
            }
        };
    }

    event_bus_suite!(store_bus, store(), [cfg(all())]);
    event_bus_suite!(
        eventbridge_bus,
        eventbridge().await,
        [ignore = "needs moto on AWS_ENDPOINT_URL: scripts/test runs it"]
    );
}

/// The JobQueue contract: every message sent arrives, an acknowledged one is gone, a released
/// one comes back, and one received the maximum number of times without success becomes a
/// dead letter. SQS runs on moto with the redrive policy of `template.yaml`.
pub mod job_queue {
    use crate::sqlite_queue::SqliteQueue;
    use crate::sqs_queue::SqsQueue;
    use chief::ports::queue::{JobQueue, Message, QueueName};
    use std::collections::HashMap;
    use std::sync::Arc;

    pub struct Fixture {
        pub queue: Arc<dyn JobQueue>,
        pub max_receives: u32,
        _dir: Option<tempfile::TempDir>,
    }

    /// The `maxReceiveCount` of the queues in `template.yaml`.
    pub fn template_max_receives() -> u32 {
        let template = include_str!("../../../template.yaml");
        let counts: Vec<u32> = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("maxReceiveCount:"))
            .map(|n| n.trim().parse().unwrap())
            .collect();
        assert!(!counts.is_empty() && counts.iter().all(|&c| c == counts[0]), "{counts:?}");
        counts[0]
    }

    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(chief::clock::SystemClock);
        let max_receives = template_max_receives();
        let queue = SqliteQueue::open(
            &dir.path().join("chief.db"),
            clock,
            std::time::Duration::from_secs(300),
            max_receives,
        )
        .unwrap();
        Fixture {
            queue: Arc::new(queue),
            max_receives,
            _dir: Some(dir),
        }
    }

    pub fn memory() -> Fixture {
        let max_receives = template_max_receives();
        let queue = chief::testing::MemoryQueue::new(
            Arc::new(chief::clock::SystemClock),
            std::time::Duration::from_secs(300),
            max_receives,
        );
        Fixture {
            queue: Arc::new(queue),
            max_receives,
            _dir: None,
        }
    }

    /// Both queues on moto, each with a DLQ and the template's redrive policy.
    pub async fn sqs_queues() -> SqsQueue {
        let aws = super::aws_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let mut urls = HashMap::new();
        for queue in QueueName::ALL {
            let name = format!("chief-{}-{}", queue.as_str(), ulid::Ulid::new().to_string().to_lowercase());
            let dlq = sqs
                .create_queue()
                .queue_name(format!("{name}-dlq"))
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let arn_attr = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
            let dlq_arn = sqs
                .get_queue_attributes()
                .queue_url(&dlq)
                .attribute_names(arn_attr.clone())
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()[&arn_attr]
                .clone();
            let policy = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": template_max_receives()}).to_string();
            let url = sqs
                .create_queue()
                .queue_name(&name)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, policy)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "300")
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            urls.insert(queue, url);
        }
        SqsQueue::new(crate::aws::AwsConfig::ready(aws), urls)
    }

    pub async fn sqs() -> Fixture {
        Fixture {
            queue: Arc::new(sqs_queues().await),
            max_receives: template_max_receives(),
            _dir: None,
        }
    }

    /// Receives until `n` messages arrived or the queue stays empty.
    async fn receive_all(f: &Fixture, n: usize) -> Vec<Message> {
        let mut got = Vec::new();
        for _ in 0..50 {
            let batch = f.queue.receive(QueueName::Tasks, 10).await.unwrap();
            if batch.is_empty() && got.len() >= n {
                break;
            }
            got.extend(batch);
        }
        got
    }

    pub mod cases {
        use super::*;

        pub async fn sent_messages_arrive_once_each_past_the_batch_size(f: Fixture) {
            let bodies: Vec<String> = (0..23).map(|n| format!("{{\"n\": {n}}}")).collect();
            assert_eq!(f.queue.send(QueueName::Tasks, &bodies).await.unwrap(), 3);
            let got = receive_all(&f, bodies.len()).await;
            let mut seen: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
            seen.sort();
            let mut expected = bodies.clone();
            expected.sort();
            assert_eq!(seen, expected);
            assert!(got.iter().all(|m| m.receive_count == 1));
            for m in &got {
                f.queue.ack(QueueName::Tasks, &m.receipt).await.unwrap();
            }
            assert!(f.queue.receive(QueueName::Tasks, 10).await.unwrap().is_empty());
            assert!(
                f.queue.receive(QueueName::Analysis, 10).await.unwrap().is_empty(),
                "queues are apart"
            );
        }

        pub async fn a_message_never_done_becomes_a_dead_letter_while_its_batch_mates_are_done(f: Fixture) {
            let bodies = ["good 1".to_string(), "poison".to_string(), "good 2".to_string()];
            f.queue.send(QueueName::Tasks, &bodies).await.unwrap();
            let mut done = Vec::new();
            let mut poison_receives = 0;
            for _ in 0..40 {
                let batch = f.queue.receive(QueueName::Tasks, 10).await.unwrap();
                if batch.is_empty() && done.len() == 2 && poison_receives >= f.max_receives {
                    break;
                }
                for m in batch {
                    if m.body == "poison" {
                        poison_receives += 1;
                        assert_eq!(m.receive_count, poison_receives);
                        f.queue.release(QueueName::Tasks, &m.receipt).await.unwrap();
                    } else {
                        done.push(m.body.clone());
                        f.queue.ack(QueueName::Tasks, &m.receipt).await.unwrap();
                    }
                }
            }
            done.sort();
            assert_eq!(done, ["good 1", "good 2"]);
            assert_eq!(poison_receives, f.max_receives);
            let dead = f.queue.dead_letters(QueueName::Tasks, 10).await.unwrap();
            assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["poison"]);
            assert!(f.queue.receive(QueueName::Tasks, 10).await.unwrap().is_empty());
        }
    }

    macro_rules! job_queue_suite {
        ($adapter:ident, $fixture:expr, $attr:tt) => {
            mod $adapter {
                use super::*;
                #[tokio::test]
                #$attr
                async fn sent_messages_arrive_once_each_past_the_batch_size() {
                    cases::sent_messages_arrive_once_each_past_the_batch_size($fixture).await
                }
                #[tokio::test]
                #$attr
                async fn a_message_never_done_becomes_a_dead_letter_while_its_batch_mates_are_done() {
                    cases::a_message_never_done_becomes_a_dead_letter_while_its_batch_mates_are_done($fixture).await
                }
            }
        };
    }

    job_queue_suite!(sqlite_queue, sqlite(), [cfg(all())]);
    job_queue_suite!(memory_queue, memory(), [cfg(all())]);
    job_queue_suite!(
        sqs_queue,
        sqs().await,
        [ignore = "needs moto on AWS_ENDPOINT_URL: scripts/test runs it"]
    );

    /// The same drain `local` runs, on the SQS adapter.
    #[tokio::test]
    #[ignore = "needs moto on AWS_ENDPOINT_URL: scripts/test runs it"]
    async fn a_poison_job_ends_in_the_dlq_while_the_rest_of_its_batch_succeeds() {
        use chief::jobs::drain_once;
        let mut t = chief::testing::app();
        t.app.queue = Arc::new(sqs_queues().await);
        let fine: Vec<String> = (0..4)
            .map(|_| serde_json::json!({"orgId": chief::model::new_id(), "taskId": chief::model::new_id(), "claim": 2}).to_string())
            .collect();
        let mut bodies = fine.clone();
        bodies.insert(2, "{\"poison\": true}".into());
        t.app.queue.send(QueueName::Tasks, &bodies).await.unwrap();
        let (mut done, mut failed) = (0, 0);
        for _ in 0..30 {
            let report = drain_once(&t.app, QueueName::Tasks).await.unwrap();
            done += report.done;
            failed += report.failed;
            if report.received == 0 && done == fine.len() && failed >= 5 {
                break;
            }
        }
        assert_eq!(
            (done, failed),
            (4, 5),
            "each good job done once; the poison tried maxReceiveCount times"
        );
        let dead = t.app.queue.dead_letters(QueueName::Tasks, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "{\"poison\": true}");
    }

    #[test]
    fn local_queues_dead_letter_after_as_many_receives_as_the_cloud_ones() {
        assert_eq!(chief::jobs::MAX_RECEIVES, template_max_receives());
    }
}

/// The Ai contract: an answer has text, says which provider and model wrote it, and counts
/// its tokens, for both purposes. Run on the offline adapter here and on the OpenAI-compatible
/// one against its local stand-in (`adapters::openai_ai::tests`).
pub mod ai {
    use chief::ports::ai::{Ai, AiUse, Prompt};

    pub async fn answers_say_who_wrote_them_and_what_they_cost(ai: &dyn Ai, provider: &str) {
        for purpose in [AiUse::Routine, AiUse::Strategy] {
            let answer = ai.complete(Prompt::new(purpose, "You are Chief.", "Plan my week")).await.unwrap();
            assert!(!answer.text.trim().is_empty());
            assert_eq!(answer.provider, provider);
            assert!(!answer.model.is_empty());
            assert!(answer.prompt_tokens > 0 && answer.completion_tokens > 0, "{answer:?}");
        }
    }

    #[tokio::test]
    async fn offline() {
        let ai = crate::offline_ai::OfflineAi;
        answers_say_who_wrote_them_and_what_they_cost(&ai, "offline").await;
        let prompt = Prompt::new(AiUse::Routine, "You are Chief.", "Write a post about bread");
        let (a, b) = (ai.complete(prompt.clone()).await.unwrap(), ai.complete(prompt).await.unwrap());
        assert_eq!(a, b, "the offline provider is deterministic");
        assert!(a.text.contains("offline AI") && a.text.contains("bread"), "{}", a.text);
    }
}
