//! Length-delimited JSON frames: a 4-byte big-endian length, then that many bytes of JSON.
//!
//! Reads enforce a maximum frame size before allocating, so a peer cannot make us buffer more than that.
//!
//! An *answer* (a git status, a diff, a directory listing) may be larger than one frame: [`write_answer`]
//! sends it as several chunks, each a frame whose length has the top bit ([`MORE`]) set while more
//! chunks follow; the last chunk is an ordinary frame. An answer that fits one frame is therefore
//! byte-for-byte an ordinary frame. [`read_answer`] joins the chunks up to a total bound.

use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Default upper bound on one frame, in bytes.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The underlying stream failed.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer announced a frame bigger than we accept.
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// Our limit.
        max: usize,
    },
    /// The frame was not the JSON we expected.
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame")]
    Truncated,
}

/// Set in a chunk's length prefix when more chunks of the same answer follow.
pub const MORE: u32 = 1 << 31;

/// Upper bound on one answer joined from chunks, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Writes `value` as one answer, in chunks of at most `max` bytes, and flushes it.
pub async fn write_answer<T, W>(writer: &mut W, value: &T, max: usize) -> Result<(), FrameError>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let body = serde_json::to_vec(value)?;
    if body.len() > MAX_ANSWER_BYTES {
        return Err(FrameError::TooLarge {
            size: body.len(),
            max: MAX_ANSWER_BYTES,
        });
    }
    let chunk = max.clamp(1, (MORE - 1) as usize);
    let mut parts = body.chunks(chunk).peekable();
    if parts.peek().is_none() {
        writer.write_all(&0u32.to_be_bytes()).await?;
    }
    while let Some(part) = parts.next() {
        let mut len = u32::try_from(part.len()).map_err(|_| FrameError::TooLarge {
            size: part.len(),
            max,
        })?;
        if parts.peek().is_some() {
            len |= MORE;
        }
        writer.write_all(&len.to_be_bytes()).await?;
        writer.write_all(part).await?;
    }
    writer.flush().await?;
    Ok(())
}

/// Reads one answer written by [`write_answer`] (or one ordinary frame): chunks of at most `max`
/// bytes, at most `total` bytes in all. `Ok(None)` means the stream ended cleanly before it.
pub async fn read_answer<T, R>(
    reader: &mut R,
    max: usize,
    total: usize,
) -> Result<Option<T>, FrameError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut body = Vec::new();
    loop {
        let Some(len) = read_len(reader, body.is_empty()).await? else {
            return Ok(None);
        };
        let size = (len & !MORE) as usize;
        if size > max {
            return Err(FrameError::TooLarge { size, max });
        }
        if body.len() + size > total {
            return Err(FrameError::TooLarge {
                size: body.len() + size,
                max: total,
            });
        }
        let start = body.len();
        body.resize(start + size, 0);
        read_body(reader, &mut body[start..]).await?;
        if len & MORE == 0 {
            return Ok(Some(serde_json::from_slice(&body)?));
        }
    }
}

/// Fills `body` from the stream; an end before it is full is [`FrameError::Truncated`].
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    body: &mut [u8],
) -> Result<(), FrameError> {
    reader
        .read_exact(body)
        .await
        .map(drop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })
}

/// Reads a 4-byte length prefix; `Ok(None)` on a clean end of stream when `eof_ok`.
async fn read_len<R: AsyncRead + Unpin>(
    reader: &mut R,
    eof_ok: bool,
) -> Result<Option<u32>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        let n = reader.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 && eof_ok {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    Ok(Some(u32::from_be_bytes(len)))
}

/// Reads one frame. `Ok(None)` means the stream ended cleanly at a frame boundary.
pub async fn read_frame<T, R>(reader: &mut R, max: usize) -> Result<Option<T>, FrameError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    Ok(read_sized_frame(reader, max).await?.map(|(frame, _)| frame))
}

/// [`read_frame`], with the frame's size in bytes (for a reader that bounds what it holds).
pub async fn read_sized_frame<T, R>(
    reader: &mut R,
    max: usize,
) -> Result<Option<(T, usize)>, FrameError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let Some(len) = read_len(reader, true).await? else {
        return Ok(None);
    };
    let size = len as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    let mut body = vec![0u8; size];
    read_body(reader, &mut body).await?;
    Ok(Some((serde_json::from_slice(&body)?, size)))
}

/// Writes one frame and flushes it (frames are small and latency matters more than batching).
pub async fn write_frame<T, W>(writer: &mut W, value: &T, max: usize) -> Result<(), FrameError>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 4];
    serde_json::to_writer(&mut buf, value)?;
    let size = buf.len() - 4;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    let size = u32::try_from(size).map_err(|_| FrameError::TooLarge { size, max })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    writer.write_all(&buf).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ControlFrame;

    /// Proves a frame round-trips and a clean end of stream reads as `None`.
    #[tokio::test]
    async fn round_trip_and_clean_eof() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(
            &mut a,
            &ControlFrame::Heartbeat { seq: 7 },
            DEFAULT_MAX_FRAME,
        )
        .await
        .unwrap();
        drop(a);
        let got: Option<ControlFrame> = read_frame(&mut b, DEFAULT_MAX_FRAME).await.unwrap();
        assert_eq!(got, Some(ControlFrame::Heartbeat { seq: 7 }));
        let end: Option<ControlFrame> = read_frame(&mut b, DEFAULT_MAX_FRAME).await.unwrap();
        assert_eq!(end, None);
    }

    /// Proves an oversized length prefix is refused before any body is buffered.
    #[tokio::test]
    async fn oversized_frame_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(64u32 * 1024 * 1024).to_be_bytes())
            .await
            .unwrap();
        let err = read_frame::<ControlFrame, _>(&mut b, 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { max: 1024, .. }),
            "{err}"
        );
    }

    /// Proves garbage and truncated frames are errors, not panics.
    #[tokio::test]
    async fn garbage_and_truncation_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{{{").await.unwrap();
        a.write_all(&10u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{}").await.unwrap();
        drop(a);
        let err = read_frame::<ControlFrame, _>(&mut b, 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)), "{err}");
        let err = read_frame::<ControlFrame, _>(&mut b, 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
    }

    /// Proves an answer of many frames' size round-trips in chunks, a small one is an ordinary frame, and the total bound holds.
    #[tokio::test]
    async fn answers_span_frames_within_a_bound() {
        let big: Vec<String> = (0..5000).map(|i| format!("entry number {i}")).collect();
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let writer = tokio::spawn(async move {
            write_answer(&mut a, &big, 1024).await.unwrap();
            write_answer(&mut a, &ControlFrame::Heartbeat { seq: 1 }, 1024)
                .await
                .unwrap();
            big
        });
        let got: Vec<String> = read_answer(&mut b, 1024, MAX_ANSWER_BYTES)
            .await
            .unwrap()
            .unwrap();
        let small: ControlFrame = read_frame(&mut b, 1024).await.unwrap().unwrap();
        assert_eq!(got, writer.await.unwrap());
        assert_eq!(small, ControlFrame::Heartbeat { seq: 1 });

        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let list: Vec<u64> = (0..10_000).collect();
        write_answer(&mut a, &list, 1024).await.unwrap();
        let err = read_answer::<Vec<u64>, _>(&mut b, 1024, 16 * 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { max: 16384, .. }),
            "{err}"
        );
    }

    /// Proves a chunk announcing more than one frame is refused, and an answer cut between chunks is truncated.
    #[tokio::test]
    async fn bad_chunks_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(MORE | 4096).to_be_bytes()).await.unwrap();
        let err = read_answer::<ControlFrame, _>(&mut b, 1024, MAX_ANSWER_BYTES)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { size: 4096, .. }),
            "{err}"
        );
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(MORE | 2).to_be_bytes()).await.unwrap();
        a.write_all(b"[1").await.unwrap();
        drop(a);
        let err = read_answer::<Vec<u8>, _>(&mut b, 1024, MAX_ANSWER_BYTES)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
    }
}
