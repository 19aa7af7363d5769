//! Length-delimited JSON frames: a 4-byte big-endian length, then that many bytes of JSON.
//!
//! Reads enforce a maximum frame size before allocating, so a peer cannot make us buffer more than that.

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

/// Reads one frame. `Ok(None)` means the stream ended cleanly at a frame boundary.
pub async fn read_frame<T, R>(reader: &mut R, max: usize) -> Result<Option<T>, FrameError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        let n = reader.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let size = u32::from_be_bytes(len) as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    let mut body = vec![0u8; size];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    Ok(Some(serde_json::from_slice(&body)?))
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
}
