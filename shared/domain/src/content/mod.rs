//! Growth: the business profile, the versioned AI strategy, posts written per platform under
//! each platform's rules, their approval and calendar, the social accounts, and the one
//! publishing pipeline (executor → `job-publish` → Social port, with its ledger).

pub mod accounts;
pub mod analytics;
pub mod credentials;
pub mod http;
pub mod items;
pub mod posts;
pub mod publish;
pub mod sandbox;
pub mod strategy;
pub mod writer;

#[cfg(test)]
mod tests;
