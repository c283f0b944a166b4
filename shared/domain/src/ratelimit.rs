//! Fixed-window rate limits: a counter item per (kind, subject, window) that expires after
//! its window. Taking from a window is one conditional counter write, so concurrent requests
//! never pass the limit together; past it the answer is 429 `RATE_LIMITED` with the seconds
//! to the window's end as `Retry-After`.

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::keys;
use crate::ports::table::{Counter, Key, TableError};

/// One window of one limit, fixed when made (so a reservation is given back to the window
/// it was taken from).
#[derive(Debug, Clone)]
pub struct Window {
    key: Key,
    limit: Option<i64>,
    expires: i64,
    retry_after: u64,
}

impl Window {
    /// `limit` uses of (`kind`, `subject`) in each `seconds`-long window; `None` counts
    /// without a bound.
    pub fn new(app: &App, kind: &str, subject: &str, limit: Option<i64>, seconds: i64) -> Window {
        let now = app.clock.now().timestamp();
        let window = now / seconds;
        let ends = (window + 1) * seconds;
        Window {
            key: Key::new(keys::throttle_pk(kind, subject), keys::window_sk(window)),
            limit,
            expires: ends + 60,
            retry_after: (ends - now).max(1) as u64,
        }
    }

    /// Takes one use, answering how many this window has had with it; past the limit, 429
    /// with `message` and nothing taken.
    pub async fn take(&self, app: &App, message: &str) -> AppResult<i64> {
        let mut counter = Counter::new(COUNT, 1).expiring(self.expires);
        if let Some(limit) = self.limit {
            counter = counter.at_most(limit);
        }
        match app.table.add(&self.key, counter).await {
            Ok(n) => Ok(n),
            Err(TableError::ConditionFailed { .. }) => Err(AppError::rate_limited(message, self.retry_after)),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives one use back (a reserved attempt that turned out fine). Best effort: a window
    /// that is gone has nothing to give back.
    pub async fn give_back(&self, app: &App) {
        if let Err(e) = app.table.add(&self.key, Counter::new(COUNT, -1).at_least(0)).await {
            tracing::debug!(error = %e, "rate-limit use not given back");
        }
    }
}

const COUNT: &str = "count";

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
