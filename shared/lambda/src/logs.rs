//! Log lines as Lambda's advanced logging controls ask for them: JSON when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON`, at the level of `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`
//! when that is not set), INFO by default. As `lambda_runtime`'s default subscriber does, but
//! filtered by tracing-subscriber's `Targets` (`info`, `chief=debug,warn`, …) rather than its
//! `EnvFilter`, whose span and field matching brings a regex engine into every function
//! (0.3 MiB of each) and is not used here.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// The filter for a level setting. Lambda's `FATAL` is tracing's ERROR; what the setting
/// leaves without a level (all of it, when it does not parse or is not set) is at INFO, so a
/// typo cannot silence a function.
pub fn filter(setting: Option<&str>) -> Targets {
    let parsed = match setting.map(str::trim).filter(|s| !s.is_empty()) {
        Some(level) if level.eq_ignore_ascii_case("fatal") => Targets::new().with_default(LevelFilter::ERROR),
        Some(directives) => directives.parse().unwrap_or_default(),
        None => Targets::new(),
    };
    match parsed.default_level() {
        Some(_) => parsed,
        None => parsed.with_default(LevelFilter::INFO),
    }
}

/// Installs the process's subscriber, writing to stdout (Lambda's log stream).
pub fn init() {
    let setting = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
    let filter = filter(setting.as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // CloudWatch shows colour codes as text.
    let lines = fmt::layer().with_target(false).without_time().with_ansi(false);
    let layer = if json { lines.json().boxed() } else { lines.boxed() };
    // A second call (tests) finds a subscriber installed and leaves it.
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init();
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    fn allows(setting: Option<&str>, target: &str, level: Level) -> bool {
        filter(setting).would_enable(target, &level)
    }

    #[test]
    fn a_level_a_directive_list_fatal_and_nonsense_each_filter_as_lambda_users_expect() {
        assert!(allows(None, "chief", Level::INFO) && !allows(None, "chief", Level::DEBUG));
        assert!(allows(Some("DEBUG"), "aws_smithy_runtime", Level::DEBUG));
        assert!(!allows(Some("WARN"), "chief", Level::INFO) && allows(Some("WARN"), "chief", Level::WARN));
        assert!(!allows(Some("FATAL"), "chief", Level::WARN) && allows(Some("FATAL"), "chief", Level::ERROR));
        let directives = Some("chief=debug,warn");
        assert!(allows(directives, "chief::api", Level::DEBUG));
        assert!(!allows(directives, "hyper", Level::INFO) && allows(directives, "hyper", Level::WARN));
        assert!(allows(Some("loud please"), "chief", Level::INFO) && !allows(Some("loud please"), "chief", Level::DEBUG));
        assert!(allows(Some("chief=debug"), "chief", Level::DEBUG) && allows(Some("chief=debug"), "hyper", Level::INFO));
        assert!(allows(Some(""), "chief", Level::INFO));
    }
}
