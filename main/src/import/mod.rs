//! Bringing work in from other tools. Readers turn a tool's export into typed records (or an error naming
//! the file, line and column); the workspace importer maps them onto workspaces, projects and tasks.

pub mod vibe_kanban;
pub mod vibe_kanban_local;
