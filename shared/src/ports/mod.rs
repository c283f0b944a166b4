//! The ports: what the domain needs of the world, as traits. The table, the secrets and the
//! clock are in every function; the rest ([`Port`]) only where a route group or job uses them.

pub mod ai;
pub mod cursor;
pub mod events;
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
    Queue,
    Ai,
    Social,
}

impl Port {
    pub fn as_str(self) -> &'static str {
        match self {
            Port::Mailer => "mailer",
            Port::Payments => "payments",
            Port::Events => "events",
            Port::Queue => "queue",
            Port::Ai => "ai",
            Port::Social => "social",
        }
    }
}
