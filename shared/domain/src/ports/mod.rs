//! The ports: what the domain needs of the world, as traits. The table, the secrets and the
//! clock are in every function; the rest ([`Port`]) only where a route group or job uses them.

pub mod ai;
pub mod ai_pricing;
pub mod cursor;
pub mod events;
pub mod keys;
pub mod mailer;
pub mod payments;
pub mod queue;
pub mod secrets;
pub mod social;
pub mod table;

/// The ports a function wires only when its routes or jobs use them; a function that needs
/// one its `main.rs` did not wire refuses to start, naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Mailer,
    Payments,
    Events,
    /// One job queue, to send to or consume.
    Queue(queue::QueueName),
    Ai,
    Social,
    /// Google's published keys, for sign-in with Google.
    GoogleKeys,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Port::Mailer => f.write_str("mailer"),
            Port::Payments => f.write_str("payments"),
            Port::Events => f.write_str("events"),
            Port::Queue(queue) => write!(f, "{} queue", queue.as_str()),
            Port::Ai => f.write_str("ai"),
            Port::Social => f.write_str("social"),
            Port::GoogleKeys => f.write_str("google keys"),
        }
    }
}
