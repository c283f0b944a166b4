//! Chief's domain crate: every rule, model, port and adapter. Functions only wire.

pub mod adapters;
pub mod agent;
pub mod api;
pub mod app;
pub mod auth;
pub mod billing;
pub mod ceo;
pub mod clock;
pub mod config;
pub mod error;
pub mod health;
pub mod jobs;
pub mod keys;
pub mod leads;
pub mod local;
pub mod model;
pub mod orgs;
pub mod ports;
pub mod ratelimit;
pub mod routes;
pub mod tasks;
pub mod usage;

#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

#[cfg(test)]
mod contract;
#[cfg(test)]
mod testing;
