//! Browsing a node's directories: the wire types of the `fs_list` stream kind.
//!
//! Main opens [`Open::FsList`](crate::protocol::Open::FsList) with a path (or none, for the node's roots);
//! the node answers one [`FsListReply`] and closes the stream. Only directories inside the node's
//! `filesystem.roots` are listed, symlinks resolved, so the listing can never show or reach anything else.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Most entries one listing returns; the rest are left out and `truncated` is set.
pub const MAX_ENTRIES: usize = 2000;

/// One sub-directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DirEntry {
    /// Its name.
    pub name: String,
    /// Its absolute, resolved path (use it for the next listing or a session's `path`).
    pub path: String,
}

/// The sub-directories of one directory, or the roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DirListing {
    /// The directory listed (resolved); `None` when the listing is the node's roots.
    pub path: Option<String>,
    /// The directory above, when it is still inside a root; `None` at a root (go back to the roots).
    pub parent: Option<String>,
    /// Sub-directories (or roots), sorted by name.
    pub entries: Vec<DirEntry>,
    /// More than [`MAX_ENTRIES`] existed; the rest were left out.
    pub truncated: bool,
}

/// Node → main: the answer on an `fs_list` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum FsListReply {
    /// The listing.
    Ok(DirListing),
    /// Refused: `path_outside_roots`, `path_not_found`, `bad_request` or `internal` (the session codes).
    Err {
        /// Stable machine-readable reason.
        code: String,
        /// What is wrong and what to do.
        message: String,
    },
}
