pub mod cursor;
pub mod events;
pub mod mailer;
pub mod payments;
pub mod secrets;
pub mod table;
