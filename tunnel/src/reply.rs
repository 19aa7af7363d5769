//! One error vocabulary and one reply envelope for every request a node answers and every error main gives
//! a client: [`ErrorCode`] (snake_case on the wire, exported to TypeScript) and [`Reply`].
//!
//! A request stream (`session_start`, `session_command`, `fs`, `git`, `terminal`) is answered with one
//! `Reply<T>`: `{"result":"ok", …T's fields}` or `{"result":"err","code","message"}`. Main passes a node's
//! code through to the HTTP client unchanged, and uses the same enum for its own codes, so a browser, a
//! script and the console all branch on one list.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Declares [`ErrorCode`] once: each variant with the code it is spelled as and what it means.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal,)*) => {
        /// Every stable, machine-readable reason a node or main gives for refusing or failing a request.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[serde(rename = $code)] $variant,)*
            /// A code this build does not know (sent by a newer peer); its message still says what to do.
            #[serde(other, rename = "unknown")]
            Unknown,
        }

        impl ErrorCode {
            /// The code as it is spelled on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    // Nodes: any request.
    /// The request is malformed or not possible in the current state.
    BadRequest => "bad_request",
    /// Something failed that should not have (disk, process spawn…); the message says what.
    Internal => "internal",
    /// No such thing (session, approval, terminal…).
    NotFound => "not_found",
    /// The node does not offer this surface: its `node.capabilities` leave it out.
    CapabilityDisabled => "capability_disabled",
    /// The node's policy makes this path or surface read-only.
    ReadOnly => "read_only",
    /// The answer or the request is larger than a limit allows.
    TooLarge => "too_large",
    // Nodes: paths.
    /// The path does not exist (or is not the kind asked for).
    PathNotFound => "path_not_found",
    /// The path lies outside the node's `filesystem.roots`.
    PathOutsideRoots => "path_outside_roots",
    /// A hidden path, and the node's policy hides them.
    HiddenDenied => "hidden_denied",
    /// The node's or main's own state directory, never served.
    ProtectedState => "protected_state",
    /// The agent's OS user may not do this.
    PermissionDenied => "permission_denied",
    /// A file with more than one hard link, refused so a write cannot reach outside the roots.
    HardLinked => "hard_linked",
    // Nodes: files.
    /// Something already exists at the destination.
    AlreadyExists => "already_exists",
    /// The file changed on the node since it was read (a save would overwrite it).
    ChangedOnNode => "changed_on_node",
    /// A file where a directory was expected, or the other way round.
    WrongKind => "wrong_kind",
    /// The directory is not empty.
    NotEmpty => "not_empty",
    /// The byte range lies outside the file.
    RangeNotSatisfiable => "range_not_satisfiable",
    // Nodes: git.
    /// Not inside a git work tree.
    NotARepository => "not_a_repository",
    /// No such branch, tag or commit.
    UnknownRef => "unknown_ref",
    /// Conflicting changes (checkout over local edits, a conflicted index).
    GitConflict => "git_conflict",
    /// Nothing is staged.
    NothingToCommit => "nothing_to_commit",
    // Nodes: sessions and terminals.
    /// The provider CLI is not installed (or disabled) on the node.
    ProviderUnavailable => "provider_unavailable",
    /// The node runs its configured maximum of sessions for this provider.
    TooManySessions => "too_many_sessions",
    /// The session already holds its limit of follow-ups queued behind the running turn.
    QueueFull => "queue_full",
    /// The node runs its configured maximum of terminals.
    TooManyTerminals => "too_many_terminals",
    /// Not yours (another user's terminal), or main's refusal of an authenticated caller.
    Forbidden => "forbidden",
    // Main.
    /// Not logged in, or the token is invalid or expired.
    Unauthorized => "unauthorized",
    /// Conflicts with existing state (a name taken, already approved…).
    Conflict => "conflict",
    /// An edit named a version that is no longer current; the error carries the current record.
    Stale => "stale",
    /// The action needs the user's name and email (a commit's author).
    ProfileRequired => "profile_required",
    /// The path exists, the method does not.
    MethodNotAllowed => "method_not_allowed",
    /// A streamed upload without `Content-Length`.
    LengthRequired => "length_required",
    /// The node is not connected, or did not answer in time.
    NodeOffline => "node_offline",
    /// The client stopped sending.
    RequestTimeout => "request_timeout",
    /// Too many attempts; `Retry-After` says when to try again.
    TooManyRequests => "too_many_requests",
    /// Main is at a global bound (concurrent password hashes); retry in a second.
    ServerBusy => "server_busy",
    /// The user holds as many live connections (WebSocket, event streams) as allowed.
    TooManyConnections => "too_many_connections",
    // Main: node links.
    /// The node's and main's protocol versions differ; the message says which side to upgrade.
    VersionMismatch => "version_mismatch",
    /// The hello names another node than the key belongs to.
    IdentityMismatch => "identity_mismatch",
    /// A second live link with a node's key while its first still answers: the key was copied.
    DuplicateLink => "duplicate_link",
    // Main: live connections.
    /// A WebSocket frame main does not understand.
    BadFrame => "bad_frame",
    /// The connection already follows as many sessions as one may.
    TooManySubscriptions => "too_many_subscriptions",
    /// The login of the connection ended.
    LoggedOut => "logged_out",
    /// The user lost access to what the connection followed.
    AccessLost => "access_lost",
    /// The reader took nothing for `server.slow_consumer_timeout`.
    SlowConsumer => "slow_consumer",
    // Main: GitHub.
    /// The person has no GitHub connection; connect in Settings → GitHub.
    GithubNotConnected => "github_not_connected",
    /// GitHub no longer takes the person's token (revoked or expired): reconnect in Settings → GitHub.
    GithubReconnect => "github_reconnect",
    /// GitHub's rate limit for the person's token is spent; the message says until when.
    GithubRateLimited => "github_rate_limited",
    /// GitHub refused the request (validation, permission) or could not be reached; its words follow.
    GithubFailed => "github_failed",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one answer frame of a request stream: `T` (its fields beside `"result":"ok"`), or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply<T> {
    /// It worked.
    Ok(T),
    /// Refused or failed; nothing changed unless the message says otherwise.
    Err {
        /// Stable machine-readable reason.
        code: ErrorCode,
        /// What is wrong, naming the rule, and what to do.
        message: String,
    },
}

impl<T> Reply<T> {
    /// A refusal.
    pub fn err(code: ErrorCode, message: impl Into<String>) -> Reply<T> {
        Reply::Err {
            code,
            message: message.into(),
        }
    }

    /// The answer as a `Result`.
    pub fn into_result(self) -> Result<T, (ErrorCode, String)> {
        match self {
            Reply::Ok(t) => Ok(t),
            Reply::Err { code, message } => Err((code, message)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves codes are spelled as before on the wire, both ways, and an unknown one still parses.
    #[test]
    fn codes_round_trip_and_unknown_ones_parse() {
        for (code, s) in [
            (ErrorCode::NotARepository, "not_a_repository"),
            (ErrorCode::PathOutsideRoots, "path_outside_roots"),
            (ErrorCode::TooManyConnections, "too_many_connections"),
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), s);
            assert_eq!(code.as_str(), s);
            assert_eq!(serde_json::from_value::<ErrorCode>(s.into()).unwrap(), code);
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"from_the_future\"").unwrap(),
            ErrorCode::Unknown
        );
    }

    /// Proves a reply carries its payload's fields beside the tag, as the hand-written envelopes did.
    #[test]
    fn reply_is_the_old_envelope_on_the_wire() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Queued {
            queued: bool,
        }
        let ok: Reply<Queued> = Reply::Ok(Queued { queued: true });
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"result":"ok","queued":true}"#
        );
        let err: Reply<Queued> = Reply::err(ErrorCode::QueueFull, "wait");
        let json = r#"{"result":"err","code":"queue_full","message":"wait"}"#;
        assert_eq!(serde_json::to_string(&err).unwrap(), json);
        assert_eq!(serde_json::from_str::<Reply<Queued>>(json).unwrap(), err);
    }
}
