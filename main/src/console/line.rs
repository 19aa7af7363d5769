//! A small line editor for the interactive console: decodes terminal input (UTF-8, arrow-key escape
//! sequences), edits one line with a cursor, keeps a history, and redraws the line in place. Every buffer is
//! bounded: a line holds at most [`MAX_LINE`] characters, an unfinished escape sequence at most
//! [`MAX_ESCAPE`] bytes, so no input, however long or malformed, grows the console's memory.

/// Longest line the editor holds, in characters; keys beyond it are dropped (the terminal rings).
pub const MAX_LINE: usize = 4096;

/// Longest escape sequence waited for; a longer one is garbage and dropped whole.
pub const MAX_ESCAPE: usize = 32;

/// One key press, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Return.
    Enter,
    /// Delete left of the cursor.
    Backspace,
    /// Delete under the cursor.
    Delete,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Previous history entry.
    Up,
    /// Next history entry.
    Down,
    /// Start of line (Home, Ctrl-A).
    Home,
    /// End of line (End, Ctrl-E).
    End,
    /// Complete the word.
    Tab,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    Eof,
    /// Ctrl-U: clear the line.
    ClearLine,
    /// Ctrl-W: delete the word before the cursor.
    DeleteWord,
    /// Ctrl-L: clear the screen.
    ClearScreen,
}

/// Turns input bytes into keys, keeping incomplete sequences (at most [`MAX_ESCAPE`] bytes) for the next
/// chunk.
#[derive(Default)]
pub struct Decoder {
    pending: Vec<u8>,
    /// Inside an over-long escape sequence: bytes are dropped up to its final byte.
    skipping: bool,
}

impl Decoder {
    /// Decodes a chunk of input.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Key> {
        if self.skipping {
            match bytes.iter().position(|c| (0x40..=0x7e).contains(c)) {
                Some(at) => {
                    self.skipping = false;
                    bytes = &bytes[at + 1..];
                }
                None => return Vec::new(),
            }
        }
        self.pending.extend_from_slice(bytes);
        let mut keys = Vec::new();
        let mut i = 0;
        let buf = std::mem::take(&mut self.pending);
        while i < buf.len() {
            let b = buf[i];
            let (key, used) = match b {
                0x1b => match escape(&buf[i..]) {
                    Some(r) => r,
                    None if buf.len() - i > MAX_ESCAPE => {
                        // No terminal sends a sequence this long: skip to its end, or past all of it.
                        let end = buf[i + 2..]
                            .iter()
                            .position(|c| (0x40..=0x7e).contains(c))
                            .map_or(buf.len() - i, |at| at + 3);
                        self.skipping = end == buf.len() - i;
                        (None, end)
                    }
                    None => {
                        // Incomplete: wait for the rest.
                        self.pending = buf[i..].to_vec();
                        return keys;
                    }
                },
                b'\r' | b'\n' => (Some(Key::Enter), 1),
                0x7f | 0x08 => (Some(Key::Backspace), 1),
                b'\t' => (Some(Key::Tab), 1),
                0x01 => (Some(Key::Home), 1),
                0x03 => (Some(Key::Interrupt), 1),
                0x04 => (Some(Key::Eof), 1),
                0x05 => (Some(Key::End), 1),
                0x0c => (Some(Key::ClearScreen), 1),
                0x15 => (Some(Key::ClearLine), 1),
                0x17 => (Some(Key::DeleteWord), 1),
                b if b < 0x20 => (None, 1),
                _ => {
                    let len = utf8_len(b);
                    if i + len > buf.len() {
                        self.pending = buf[i..].to_vec();
                        return keys;
                    }
                    match std::str::from_utf8(&buf[i..i + len]) {
                        // C1 controls are dropped like C0: the line is echoed to the terminal.
                        Ok(s) => (
                            s.chars().next().filter(|c| !c.is_control()).map(Key::Char),
                            len,
                        ),
                        Err(_) => (None, 1),
                    }
                }
            };
            // "\r\n" from some terminals is one Enter.
            if key == Some(Key::Enter) && b == b'\r' && buf.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            keys.extend(key);
            i += used;
        }
        keys
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Decodes an escape sequence at the start of `b`; `None` if it is incomplete.
fn escape(b: &[u8]) -> Option<(Option<Key>, usize)> {
    match b.get(1) {
        None => None,
        Some(b'[') | Some(b'O') => {
            // CSI / SS3: parameters then a final byte in 0x40..=0x7e.
            let end = b[2..].iter().position(|c| (0x40..=0x7e).contains(c))?;
            let params = &b[2..2 + end];
            let key = match (b[2 + end], params) {
                (b'A', _) => Some(Key::Up),
                (b'B', _) => Some(Key::Down),
                (b'C', _) => Some(Key::Right),
                (b'D', _) => Some(Key::Left),
                (b'H', _) => Some(Key::Home),
                (b'F', _) => Some(Key::End),
                (b'~', b"1" | b"7") => Some(Key::Home),
                (b'~', b"4" | b"8") => Some(Key::End),
                (b'~', b"3") => Some(Key::Delete),
                _ => None,
            };
            Some((key, 3 + end))
        }
        // Alt-something or a lone ESC followed by a key: drop the ESC.
        Some(_) => Some((None, 1)),
    }
}

/// What the caller must do after a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Redraw the line.
    Redraw,
    /// The line was entered.
    Submit(String),
    /// Ctrl-C on the line: abandon it.
    Interrupt,
    /// Ctrl-D on an empty line: leave.
    Eof,
    /// Tab: complete the word before the cursor.
    Complete,
    /// Ctrl-L.
    ClearScreen,
    /// The line is at [`MAX_LINE`]; the key was dropped.
    Full,
}

/// The line being edited and the history.
#[derive(Default)]
pub struct Editor {
    line: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    browsing: Option<usize>,
    draft: String,
}

/// History entries kept.
const HISTORY: usize = 500;

impl Editor {
    /// Applies one key.
    pub fn key(&mut self, key: Key) -> Action {
        match key {
            Key::Char(c) => {
                if self.line.len() >= MAX_LINE {
                    return Action::Full;
                }
                self.line.insert(self.cursor, c);
                self.cursor += 1;
            }
            Key::Enter => {
                let text: String = self.line.iter().collect();
                self.line.clear();
                self.cursor = 0;
                self.browsing = None;
                let trimmed = text.trim();
                if !trimmed.is_empty() && self.history.last().map(String::as_str) != Some(trimmed) {
                    self.history.push(trimmed.to_string());
                    if self.history.len() > HISTORY {
                        self.history.remove(0);
                    }
                }
                return Action::Submit(text);
            }
            Key::Backspace => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    self.line.remove(self.cursor);
                }
            }
            Key::Delete => {
                if self.cursor < self.line.len() {
                    self.line.remove(self.cursor);
                }
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(self.line.len()),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::Up => self.browse(true),
            Key::Down => self.browse(false),
            Key::Tab => return Action::Complete,
            Key::Interrupt => {
                self.line.clear();
                self.cursor = 0;
                self.browsing = None;
                return Action::Interrupt;
            }
            Key::Eof => {
                if self.line.is_empty() {
                    return Action::Eof;
                }
                return self.key(Key::Delete);
            }
            Key::ClearLine => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::DeleteWord => {
                let mut start = self.cursor;
                while start > 0 && self.line[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.line[start - 1] != ' ' {
                    start -= 1;
                }
                self.line.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::ClearScreen => return Action::ClearScreen,
        }
        Action::Redraw
    }

    fn browse(&mut self, back: bool) {
        if self.history.is_empty() {
            return;
        }
        let next = match (self.browsing, back) {
            (None, true) => {
                self.draft = self.line.iter().collect();
                Some(self.history.len() - 1)
            }
            (None, false) => return,
            (Some(0), true) => Some(0),
            (Some(i), true) => Some(i - 1),
            (Some(i), false) if i + 1 < self.history.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        self.browsing = next;
        let text = match next {
            Some(i) => self.history[i].clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.line = text.chars().collect();
        self.cursor = self.line.len();
    }

    /// The text before the cursor (what completion looks at).
    pub fn before_cursor(&self) -> String {
        self.line[..self.cursor].iter().collect()
    }

    /// Replaces the partial word before the cursor with `with` (cut to what fits in [`MAX_LINE`]).
    pub fn replace_partial(&mut self, partial_len: usize, with: &str) {
        let start = self.cursor - partial_len.min(self.cursor);
        self.line.drain(start..self.cursor);
        let room = MAX_LINE.saturating_sub(self.line.len());
        let new: Vec<char> = with.chars().take(room).collect();
        let n = new.len();
        self.line.splice(start..start, new);
        self.cursor = start + n;
    }

    /// Terminal output that redraws the line in place after `prompt`.
    pub fn render(&self, prompt: &str) -> String {
        let text: String = self.line.iter().collect();
        let back = self.line.len() - self.cursor;
        let mut out = format!("\r{prompt}{text}\x1b[K");
        if back > 0 {
            out.push_str(&format!("\x1b[{back}D"));
        }
        out
    }
}

/// The longest prefix all candidates share.
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else {
        return String::new();
    };
    let mut len = first.len();
    for c in &candidates[1..] {
        len = first
            .char_indices()
            .zip(c.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(len);
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves arrow-key escapes, UTF-8 and control keys decode, also when split across chunks.
    #[test]
    fn decodes_keys_across_chunks() {
        let mut d = Decoder::default();
        assert_eq!(d.feed(b"a\x1b["), vec![Key::Char('a')]);
        assert_eq!(d.feed(b"A\x1b[3~\t"), vec![Key::Up, Key::Delete, Key::Tab]);
        assert_eq!(d.feed(&[0xc3]), vec![]);
        assert_eq!(
            d.feed(&[0xa9, 0x03, b'\r', b'\n']),
            vec![Key::Char('é'), Key::Interrupt, Key::Enter]
        );
    }

    /// Proves no input grows the console's buffers: an escape sequence that never ends is dropped (also
    /// across chunks) and keys after it decode, and a line stops at MAX_LINE characters.
    #[test]
    fn buffers_are_bounded() {
        let mut d = Decoder::default();
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 10_000));
        assert_eq!(d.feed(&long), vec![]);
        assert!(d.pending.len() <= MAX_ESCAPE);
        for _ in 0..100 {
            assert_eq!(d.feed(&[b'2'; 10_000]), vec![]);
            assert!(d.pending.len() <= MAX_ESCAPE);
        }
        assert_eq!(d.feed(b"~ok"), vec![Key::Char('o'), Key::Char('k')]);
        assert_eq!(d.feed(b"\x1b[1;5Ax"), vec![Key::Up, Key::Char('x')]);

        let mut e = Editor::default();
        for _ in 0..MAX_LINE {
            assert_eq!(e.key(Key::Char('a')), Action::Redraw);
        }
        assert_eq!(e.key(Key::Char('b')), Action::Full);
        e.replace_partial(0, "more");
        assert_eq!(e.before_cursor().chars().count(), MAX_LINE);
        assert!(matches!(e.key(Key::Enter), Action::Submit(t) if t.len() == MAX_LINE));
    }

    /// Proves editing in the middle of the line, history browsing and Ctrl-W behave like a shell's.
    #[test]
    fn edits_and_history() {
        let mut e = Editor::default();
        for c in "nodes lst".chars() {
            e.key(Key::Char(c));
        }
        e.key(Key::Left);
        e.key(Key::Left);
        e.key(Key::Char('i'));
        assert_eq!(e.key(Key::Enter), Action::Submit("nodes list".into()));
        for c in "status".chars() {
            e.key(Key::Char(c));
        }
        e.key(Key::Enter);
        e.key(Key::Char('x'));
        e.key(Key::Up);
        assert_eq!(e.before_cursor(), "status");
        e.key(Key::Up);
        assert_eq!(e.before_cursor(), "nodes list");
        e.key(Key::Down);
        e.key(Key::Down);
        assert_eq!(e.before_cursor(), "x");
        e.key(Key::DeleteWord);
        assert_eq!(e.before_cursor(), "");
        assert_eq!(e.key(Key::Eof), Action::Eof);
        assert_eq!(common_prefix(&["sessions".into(), "set".into()]), "se");
    }
}
