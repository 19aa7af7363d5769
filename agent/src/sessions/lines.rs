//! A CLI's stdout split into bounded lines as bytes, so that no content — invalid UTF-8, a line over the
//! cap — can end the stream: only EOF or a real I/O error does. Every byte read is also copied verbatim to
//! the raw log, including lines that are skipped.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// One line of output.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line without its line ending. `lossy`: it was not valid UTF-8, and the invalid bytes were replaced
    /// with U+FFFD.
    Text {
        /// The decoded line.
        text: String,
        /// Whether bytes were replaced.
        lossy: bool,
    },
    /// A line longer than the cap; its `len` bytes were dropped (the raw log keeps them).
    TooLong {
        /// Length of the dropped line, without its newline.
        len: usize,
    },
}

/// Reads [`Line`]s from `R`, holding at most `max` bytes of one line in memory.
///
/// Cancel-safe: a partly read line is kept in the reader, so dropping a pending [`LineReader::next`] (as a
/// `select!` does) loses nothing.
pub struct LineReader<R> {
    inner: BufReader<R>,
    max: usize,
    /// The line read so far (while it is within the cap).
    buf: Vec<u8>,
    /// Bytes of the current line seen after it went over the cap.
    dropped: Option<usize>,
    raw: Option<Box<dyn Write + Send>>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of lines up to `max` bytes that copies everything it reads to `raw`.
    pub fn new(inner: R, max: usize, raw: Option<Box<dyn Write + Send>>) -> LineReader<R> {
        LineReader {
            inner: BufReader::new(inner),
            max,
            buf: Vec::new(),
            dropped: None,
            raw,
        }
    }

    /// The next line; `Ok(None)` at end of output. A last line without a newline is still a line.
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                if self.buf.is_empty() && self.dropped.is_none() {
                    return Ok(None);
                }
                return Ok(Some(self.finish()));
            }
            let (take, ends) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let part = &chunk[..take];
            if let Some(raw) = &mut self.raw
                && let Err(e) = raw.write_all(part)
            {
                tracing::warn!("writing the raw CLI log failed, no longer keeping it: {e}");
                self.raw = None;
            }
            let content = part.strip_suffix(b"\n").unwrap_or(part);
            match &mut self.dropped {
                Some(n) => *n += content.len(),
                None if self.buf.len() + content.len() > self.max => {
                    self.dropped = Some(self.buf.len() + content.len());
                    self.buf = Vec::new();
                }
                None => self.buf.extend_from_slice(content),
            }
            self.inner.consume(take);
            if ends {
                return Ok(Some(self.finish()));
            }
        }
    }

    /// Turns the collected line into a [`Line`] and starts the next one.
    fn finish(&mut self) -> Line {
        if let Some(len) = self.dropped.take() {
            return Line::TooLong { len };
        }
        let mut bytes = std::mem::take(&mut self.buf);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        match String::from_utf8(bytes) {
            Ok(text) => Line::Text { text, lossy: false },
            Err(e) => Line::Text {
                text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                lossy: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A raw log the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Feeds `input` through a small pipe (so lines arrive in pieces) and reads every line with cap `max`.
    async fn read_all(input: &[u8], max: usize) -> (Vec<Line>, Vec<u8>) {
        let (mut tx, rx) = tokio::io::duplex(7);
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            tx.write_all(&input).await.unwrap();
        });
        let raw = Shared::default();
        let mut reader = LineReader::new(rx, max, Some(Box::new(raw.clone())));
        let mut lines = Vec::new();
        while let Some(line) = reader.next().await.unwrap() {
            lines.push(line);
        }
        writer.await.unwrap();
        let raw = raw.0.lock().unwrap().clone();
        (lines, raw)
    }

    fn text(s: &str) -> Line {
        Line::Text {
            text: s.into(),
            lossy: false,
        }
    }

    /// Proves an invalid UTF-8 line is decoded lossily and flagged, and the lines around it are read.
    #[tokio::test]
    async fn invalid_utf8_is_lossy_and_reading_goes_on() {
        let input = b"{\"a\":1}\n\xff\xfe\n{\"b\":2}\n";
        let (lines, raw) = read_all(input, 1024).await;
        assert_eq!(
            lines,
            [
                text(r#"{"a":1}"#),
                Line::Text {
                    text: "\u{fffd}\u{fffd}".into(),
                    lossy: true
                },
                text(r#"{"b":2}"#),
            ]
        );
        assert_eq!(raw, input);
    }

    /// Proves a line over the cap is dropped with its length, the lines after it are read, and the raw copy
    /// keeps it whole.
    #[tokio::test]
    async fn over_long_line_is_skipped_and_reading_goes_on() {
        let long = "x".repeat(100);
        let input = format!("first\n{long}\nsecond\r\n{}\nlast", "y".repeat(16));
        let (lines, raw) = read_all(input.as_bytes(), 16).await;
        assert_eq!(
            lines,
            [
                text("first"),
                Line::TooLong { len: 100 },
                text("second"),
                text(&"y".repeat(16)),
                text("last"),
            ]
        );
        assert_eq!(raw, input.as_bytes());
    }

    /// Proves an over-long line cut off by end of output is still reported, then output ends.
    #[tokio::test]
    async fn over_long_line_at_eof() {
        let (lines, _) = read_all(&[b'z'; 40], 16).await;
        assert_eq!(lines, [Line::TooLong { len: 40 }]);
    }
}
