//! Files on a node: the wire types of `fs` streams.
//!
//! Main opens [`Open::Fs`](crate::protocol::Open::Fs) with one [`FsRequest`]; the node answers one
//! [`FsReply`] frame. Two operations carry raw bytes after that frame:
//! - `read`: the reply is [`FsAnswer::Reading`] and exactly `length` bytes follow, then the node closes.
//! - `write`: the node first answers [`FsAnswer::Ready`] (every rule already checked, so a refused upload
//!   is never sent), main then sends exactly `size` bytes, and the node answers a second frame, the
//!   written [`Entry`], once the new content has replaced the old in one rename.
//!
//! Every path is absolute on the node and must resolve, symlinks included, inside `filesystem.roots`.

use serde::{Deserialize, Serialize};

use crate::reply::Reply;
use ts_rs::TS;

/// Most entries one listing returns; the rest are left out and `truncated` is set.
pub const MAX_ENTRIES: usize = 5000;

/// Longest path accepted anywhere in a request, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symlink that is not followed: dangling, or pointing outside the roots.
    Symlink,
    /// Anything else (socket, fifo, device).
    Other,
}

/// One file or directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its absolute path, as listed (a symlink keeps its own path).
    pub path: String,
    /// What it is; a symlink to something inside the roots shows as what it points to.
    pub kind: EntryKind,
    /// Whether the entry itself is a symlink.
    pub link: bool,
    /// Size in bytes (of the target, for a followed symlink).
    #[ts(type = "number")]
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    #[ts(type = "number | null")]
    pub modified_ms: Option<i64>,
    /// Unix permission bits, e.g. `0o644`.
    pub mode: u32,
    /// Changes whenever the content may have: pass it back as `if_match` to write only over what was read.
    pub etag: String,
}

/// The entries of one directory, or the roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DirListing {
    /// The directory listed (resolved); `None` when the listing is the node's roots.
    pub path: Option<String>,
    /// The directory above, when it is still inside a root; `None` at a root (go back to the roots).
    pub parent: Option<String>,
    /// Directories first, then files, each sorted by name.
    pub entries: Vec<Entry>,
    /// More than [`MAX_ENTRIES`] existed; the rest were left out.
    pub truncated: bool,
}

/// What to do when a write's target exists, or does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Create it or replace it.
    #[default]
    Replace,
    /// Only create: refuse with [`ErrorCode::AlreadyExists`](crate::reply::ErrorCode::AlreadyExists) when it exists (uploads without `overwrite`).
    CreateNew,
}

/// Main → node, in the `Open` header of an `fs` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FsRequest {
    /// List a directory (or the roots, when `path` is `None`).
    List {
        /// Absolute directory.
        path: Option<String>,
        /// Only sub-directories (the directory picker).
        #[serde(default)]
        dirs_only: bool,
    },
    /// One entry's metadata.
    Stat {
        /// Absolute path.
        path: String,
    },
    /// A file's bytes from `offset`, `length` of them (to the end when `None`).
    Read {
        /// Absolute path of a file.
        path: String,
        /// First byte.
        offset: u64,
        /// How many bytes at most.
        length: Option<u64>,
    },
    /// Replace or create a file with exactly `size` bytes, atomically (temporary file, then rename).
    Write {
        /// Absolute path of the file.
        path: String,
        /// Bytes main sends after [`FsAnswer::Ready`].
        size: u64,
        /// Write only if the file's current `etag` is this one.
        if_match: Option<String>,
        /// Whether an existing file may be replaced.
        #[serde(default)]
        mode: WriteMode,
    },
    /// Create an empty file or a directory.
    Create {
        /// Absolute path of the new entry; its parent must exist.
        path: String,
        /// A directory instead of a file.
        dir: bool,
    },
    /// Move or rename an entry (inside the roots).
    Rename {
        /// What to move.
        from: String,
        /// Where to (the full new path).
        to: String,
        /// Replace an existing `to`.
        overwrite: bool,
    },
    /// Remove an entry; a non-empty directory only with `recursive`.
    Delete {
        /// Absolute path.
        path: String,
        /// Remove a directory with everything in it.
        recursive: bool,
    },
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum FsAnswer {
    /// For `list`.
    Listing(DirListing),
    /// For `stat`, `create`, `rename` (the new entry) and the final frame of `write`.
    Entry(Entry),
    /// For `read`: `length` raw bytes follow.
    Reading {
        /// The file.
        entry: Entry,
        /// First byte sent.
        offset: u64,
        /// Bytes that follow.
        length: u64,
    },
    /// For `write`: send the bytes now.
    Ready,
    /// For `delete`.
    Done,
}

/// Node → main: the answer frame on an `fs` stream.
pub type FsReply = Reply<FsAnswer>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves every answer survives the wire: the tag must not clash with a field of what it carries.
    #[test]
    fn answers_round_trip() {
        let entry = Entry {
            name: "a".into(),
            path: "/r/a".into(),
            kind: EntryKind::File,
            link: false,
            size: 1,
            modified_ms: Some(2),
            mode: 0o644,
            etag: "e".into(),
        };
        let listing = DirListing {
            path: None,
            parent: None,
            entries: vec![entry.clone()],
            truncated: false,
        };
        for answer in [
            FsAnswer::Listing(listing),
            FsAnswer::Entry(entry.clone()),
            FsAnswer::Reading {
                entry,
                offset: 0,
                length: 1,
            },
            FsAnswer::Ready,
            FsAnswer::Done,
        ] {
            let reply = FsReply::Ok(answer);
            let back: FsReply =
                serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
            assert_eq!(back, reply);
        }
    }
}
