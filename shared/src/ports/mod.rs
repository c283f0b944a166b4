pub mod cursor;
pub mod mailer;
pub mod secrets;
pub mod table;
