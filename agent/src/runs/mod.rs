//! Task runs on a node: preparing a run's work tree ([`prepare`]: a new worktree on its own branch, the
//! project's working copy, or an adopted branch or worktree), copying the project's `copy_files` in
//! ([`copy`]), and running its setup and cleanup scripts ([`script`]). The session driver strings them
//! together around the agent's turns.

pub mod copy;
pub mod prepare;
mod refs;
pub mod script;
#[cfg(test)]
pub(crate) mod tests;

pub use copy::copy_files;
pub use prepare::prepare;
pub use script::{Script, ScriptEnd, run_script};
