//! The VibeBridge tunnel: how a node and main talk, shared by both ends.
//!
//! This crate doc is the protocol specification.
//!
//! # Transport
//!
//! A node dials **out** to main's SSH port (default `:2222`) and authenticates with its own ed25519 key
//! ([`keys`]). A node main does not know yet proves it may enrol with a register token: main answers the
//! verified public key with *partial success* and the node follows with `password` auth carrying the token
//! (the SSH username is always the node id). From then on the key alone is accepted. The node pins main's
//! host key ([`client::HostKeyPolicy`]).
//!
//! After authentication the node opens one `session` channel and requests the subsystem [`SUBSYSTEM`].
//! The channel becomes a byte stream ([`ssh::channel_io`]) that carries one yamux connection
//! ([`mux`]); one task owns and continuously drives it.
//!
//! # Streams
//!
//! Every yamux stream starts with one frame holding an [`protocol::Open`] header that says what the stream
//! is for; typed frames (or raw bytes, for byte-oriented kinds) follow. A frame is a 4-byte big-endian length
//! followed by that many bytes of JSON ([`frame`]); frames larger than the configured maximum are refused.
//!
//! * The node opens the first stream, `Open::Control`, and sends [`protocol::ControlFrame::Hello`]. Main
//!   answers `Welcome` or `Refused` (for example a [`PROTOCOL_VERSION`] mismatch, naming both versions).
//!   The node then sends `Heartbeat` every `heartbeat_interval` (main's, from the `Welcome`, when main
//!   asks for a shorter one); main answers `HeartbeatAck`. Either side declares the link dead when nothing
//!   arrives for `dead_after`.
//! * Main opens every other stream (one per agent session, shell, file or git operation).
//! * Agent sessions use four kinds, described in [`session`]: `session_start` and `session_command`
//!   (one request, one [`session::SessionReply`]), `session_attach` (the session's events from a
//!   sequence number on, then live, as [`session::AttachFrame`]s) and `sessions_live` (which sessions run
//!   a CLI, and every session's last stored seq, so main stops strays and fetches what it lost).
//! * `fs` is one file operation inside the node's roots: list, stat, read (ranges), write (with an
//!   etag precondition), upload, create, rename, delete ([`fs`]); reads and writes stream their bytes after
//!   the answer frame.
//! * `git` is one git operation on a work tree inside the roots: status, diff, log, branches, create a
//!   branch, checkout, stage, unstage, discard, commit ([`git`]).
//! * `terminal` attaches to a web terminal's PTY and then carries binary frames ([`terminal`]).
//! * `echo` sends back what it receives (link diagnostics and benchmarks).
//!
//! Every request kind is answered with one [`reply::Reply`]: its answer, or a refusal with an
//! [`reply::ErrorCode`] and a message that says what to do. The node's policy (`node.capabilities`,
//! `filesystem.read_only`) refuses whole kinds before they run, with the same frame.
//!
//! # Liveness
//!
//! TCP_NODELAY and TCP_USER_TIMEOUT on the socket ([`ssh::tune_socket`]), SSH keepalives, and the
//! application heartbeat above. When a link dies every stream on it fails with `ConnectionAborted`
//! ("tunnel link lost"), so no reader or writer waits forever; a clean end-of-stream only ever means the peer
//! closed that stream. Link owners still watch [`mux::MuxHandle::closed`] and the SSH session to notice a dead link without a stream.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod client;
pub mod config;
pub mod frame;
pub mod fs;
pub mod git;
pub mod ids;
pub mod keys;
pub mod mux;
pub mod protocol;
pub mod reply;
pub mod run;
pub mod runtime;
pub mod session;
pub mod ssh;
pub mod terminal;

pub use config::TunnelConfig;
pub use protocol::{PROTOCOL_VERSION, SUBSYSTEM};

#[cfg(test)]
mod proptests;
