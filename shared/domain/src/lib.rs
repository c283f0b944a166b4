//! Chief's domain: every model, rule and port, and the handlers of every route and job on
//! plain HTTP types. The adapters (`chief-adapters`), the Lambda glue (`chief-lambda`) and
//! `local` (`chief-local`) sit above it; it knows none of them.

pub mod agent;
pub mod ai_config;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod ceo;
pub mod clients;
pub mod clock;
pub mod config;
pub mod content;
pub mod deals;
pub mod error;
pub mod executor;
pub mod health;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod leads;
pub mod model;
pub mod openapi;
pub mod orgs;
pub mod platforms;
pub mod ports;
pub mod profile;
pub mod ratelimit;
pub mod routes;
pub mod runner;
pub mod social;
pub mod tasks;
pub mod tenancy;
pub mod usage;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;

#[cfg(test)]
mod architecture;
