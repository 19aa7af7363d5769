//! Main's domain layer: the operations the HTTP API and the admin console share, written once. Front ends
//! parse their input, call an operation with the [`Actor`] who asked, and render its result or its
//! [`OpError`]. Operations check visibility and permissions, change the store, relay to nodes and audit.
//!
//! One noun per file: [`users`], [`nodes`], [`sessions`], [`approvals`], and [`relay`] (one request to a
//! node over its own tunnel stream).

mod actor;
pub mod approvals;
mod error;
pub mod nodes;
pub mod rank;
pub mod relay;
pub mod sessions;
pub mod users;

pub use actor::{Actor, Principal};
pub use error::OpError;
