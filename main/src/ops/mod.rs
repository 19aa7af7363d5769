//! Main's domain layer: the operations the HTTP API and the admin console share, written once. Front ends
//! parse their input, call an operation with the [`Actor`] who asked, and render its result or its
//! [`OpError`]. Operations check visibility and permissions, change the store, relay to nodes and audit.
//!
//! One noun per file: [`users`], [`nodes`], [`sessions`], [`approvals`], [`relay`] (one request to a node
//! over its own tunnel stream), and the work model: [`workspaces`], [`templates`], [`projects`], [`tasks`],
//! [`board`], [`comments`], [`transfer`].

mod actor;
pub mod approvals;
pub mod board;
pub mod comments;
mod error;
pub mod github;
pub mod nodes;
pub mod notify;
pub mod projects;
pub mod relay;
pub mod run_access;
pub mod runs;
pub mod sessions;
mod task_fields;
pub mod tasks;
pub mod templates;
pub mod transfer;
pub mod usage;
pub mod users;
pub mod workspaces;

pub use actor::{Actor, Principal};
pub use error::OpError;
