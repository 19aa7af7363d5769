//! Web terminals: the wire types of the `terminal` stream kind.
//!
//! Main opens [`Open::Terminal`](crate::protocol::Open::Terminal) with an [`OpenTerminal`]: the node
//! attaches to the terminal of that id (starting a shell on a new PTY when there is none), answers one JSON
//! [`TerminalReply`] frame, and from then on both sides exchange binary [`TermFrame`]s: one type byte, a
//! 4-byte big-endian length, the payload. Binary, because terminal traffic is raw bytes and keystroke latency
//! matters.
//!
//! - main → node: [`TermFrame::Data`] (keystrokes), [`TermFrame::Resize`], [`TermFrame::Close`] (end the
//!   shell now);
//! - node → main: first the terminal's recent output (its bounded scrollback) as `Data`, then live output,
//!   and [`TermFrame::Exit`] when the shell ended.
//!
//! A terminal outlives its stream: when the stream ends without `Close` (a browser reload, a tunnel cut) the
//! node keeps the shell for a grace period and a new stream with the same id reattaches. Only the user who
//! started a terminal (`owner`) may reattach to it; a second attach takes the terminal over from the first.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ts_rs::TS;

use crate::reply::Reply;

/// Main → node, in the `Open` header: which terminal, for whom, at what size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTerminal {
    /// Chosen by the browser (a UUID); the same id reattaches.
    pub terminal_id: String,
    /// Main's id of the user; a terminal can only be reattached by the user who started it.
    pub owner: String,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// Node → main, the first frame on a terminal stream (length-delimited JSON, as in [`crate::frame`]):
/// attached, or refused with `forbidden` (another user's terminal), `bad_request`, `internal` (the shell did
/// not start), `read_only` or `capability_disabled` (the node's policy).
pub type TerminalReply = Reply<TerminalAttached>;

/// A terminal stream that attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TerminalAttached {
    /// A new shell was started (false: an existing one was reattached).
    pub created: bool,
    /// The shell running in it.
    pub shell: String,
}

/// Largest payload of one terminal frame.
pub const MAX_TERM_FRAME: usize = 1024 * 1024;

/// One binary frame after the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermFrame {
    /// Bytes to the PTY (main → node) or from it (node → main).
    Data(Vec<u8>),
    /// The browser's terminal changed size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// End the shell now (the user closed the tab).
    Close,
    /// The shell ended with this code (128 + signal number when killed by a signal).
    Exit(i32),
}

const T_DATA: u8 = 1;
const T_RESIZE: u8 = 2;
const T_CLOSE: u8 = 3;
const T_EXIT: u8 = 4;

/// Why a terminal frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TermFrameError {
    /// The stream failed.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
    /// Unknown type byte, wrong payload size for the type, or a payload over [`MAX_TERM_FRAME`].
    #[error("malformed terminal frame: {0}")]
    Malformed(String),
}

impl TermFrame {
    /// The frame as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, std::borrow::Cow<'_, [u8]>) = match self {
            TermFrame::Data(d) => (T_DATA, d.as_slice().into()),
            TermFrame::Resize { cols, rows } => {
                let mut p = cols.to_be_bytes().to_vec();
                p.extend_from_slice(&rows.to_be_bytes());
                (T_RESIZE, p.into())
            }
            TermFrame::Close => (T_CLOSE, Vec::new().into()),
            TermFrame::Exit(code) => (T_EXIT, code.to_be_bytes().to_vec().into()),
        };
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(5 + payload.len());
        out.push(kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Reads one frame; `Ok(None)` when the stream ended cleanly between frames.
    pub async fn read<R: AsyncRead + Unpin>(
        r: &mut R,
    ) -> Result<Option<TermFrame>, TermFrameError> {
        let mut head = [0u8; 5];
        let mut got = 0;
        while got < head.len() {
            let n = r.read(&mut head[got..]).await?;
            if n == 0 {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(TermFrameError::Malformed(
                        "stream ended inside a frame".into(),
                    ))
                };
            }
            got += n;
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_TERM_FRAME {
            return Err(TermFrameError::Malformed(format!(
                "payload of {len} bytes exceeds {MAX_TERM_FRAME}"
            )));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).await?;
        let bad =
            |what: &str| TermFrameError::Malformed(format!("{what} with a {len}-byte payload"));
        Ok(Some(match head[0] {
            T_DATA => TermFrame::Data(payload),
            T_RESIZE if len == 4 => TermFrame::Resize {
                cols: u16::from_be_bytes([payload[0], payload[1]]),
                rows: u16::from_be_bytes([payload[2], payload[3]]),
            },
            T_RESIZE => return Err(bad("resize")),
            T_CLOSE if len == 0 => TermFrame::Close,
            T_CLOSE => return Err(bad("close")),
            T_EXIT if len == 4 => TermFrame::Exit(i32::from_be_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ])),
            T_EXIT => return Err(bad("exit")),
            other => {
                return Err(TermFrameError::Malformed(format!(
                    "unknown frame type {other}"
                )));
            }
        }))
    }

    /// Writes one frame and flushes it (keystrokes must not wait in a buffer).
    pub async fn write<W: AsyncWrite + Unpin>(&self, w: &mut W) -> std::io::Result<()> {
        w.write_all(&self.encode()).await?;
        w.flush().await
    }
}

/// Browser → main, the text frames of the terminal WebSocket (keystrokes travel as binary frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TerminalClientFrame {
    /// The terminal's size changed.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// End the shell now.
    Close,
}

/// Main → browser, the text frames of the terminal WebSocket (output travels as binary frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalServerFrame {
    /// Attached; recent output follows, then live output.
    Attached {
        /// A new shell was started (false: reattached to a running one).
        created: bool,
        /// The shell.
        shell: String,
    },
    /// The shell ended; the socket closes.
    Exit {
        /// Its exit code (128 + signal when killed).
        code: i32,
    },
    /// Something went wrong (refused, node offline, bad frame); fatal ones close the socket.
    Error {
        /// What happened and what to do.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves every frame kind survives encode → read unchanged, and malformed frames are refused, not guessed.
    #[tokio::test]
    async fn frames_round_trip_and_bad_ones_are_refused() {
        let frames = [
            TermFrame::Data(b"echo hi\r".to_vec()),
            TermFrame::Data(Vec::new()),
            TermFrame::Resize {
                cols: 132,
                rows: 43,
            },
            TermFrame::Close,
            TermFrame::Exit(-1),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(TermFrame::encode).collect();
        let mut r = wire.as_slice();
        for f in &frames {
            assert_eq!(&TermFrame::read(&mut r).await.unwrap().unwrap(), f);
        }
        assert!(TermFrame::read(&mut r).await.unwrap().is_none());
        for bad in [
            &[9u8, 0, 0, 0, 0][..],
            &[2, 0, 0, 0, 1, 7],
            &[1, 0xff, 0xff, 0xff, 0xff],
            &[1, 0],
        ] {
            let mut r = bad;
            assert!(TermFrame::read(&mut r).await.is_err(), "{bad:?}");
        }
    }
}
