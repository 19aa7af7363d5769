//! A small line editor for the interactive console: decodes terminal input (UTF-8, arrow-key escape
//! sequences), edits one line with a cursor, keeps a history, and redraws the line in place.

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

/// Turns input bytes into keys, keeping incomplete sequences for the next chunk.
#[derive(Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// Decodes a chunk of input.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        self.pending.extend_from_slice(bytes);
        let mut keys = Vec::new();
        let mut i = 0;
        let buf = std::mem::take(&mut self.pending);
        while i < buf.len() {
            let b = buf[i];
            let (key, used) = match b {
                0x1b => match escape(&buf[i..]) {
                    Some(r) => r,
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

    /// Replaces the partial word before the cursor with `with`.
    pub fn replace_partial(&mut self, partial_len: usize, with: &str) {
        let start = self.cursor - partial_len.min(self.cursor);
        self.line.drain(start..self.cursor);
        let new: Vec<char> = with.chars().collect();
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
