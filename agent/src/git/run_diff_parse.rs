//! Reading `git diff` output into [`FileDiff`]s line by line, so a diff of any size is read in one pass
//! with only the patches that fit [`MAX_DIFF_BYTES`](vibebridge_tunnel::git::MAX_DIFF_BYTES) kept: each
//! file's header (`diff --git`, modes, renames, `Binary files`) becomes its path and state, its hunks from
//! the first `@@` its patch, and every `+`/`-` line is counted whether the patch is kept or not.

use vibebridge_tunnel::git::{FileDiff, FileState};

/// Turns `git diff --src-prefix=a/ --dst-prefix=b/` output into files, within a byte budget for patches.
pub(crate) struct Parser<'a> {
    files: Vec<FileDiff>,
    cur: Option<Current>,
    budget: usize,
    truncated: bool,
    /// Files this node never shows (hidden dot-files, state directories).
    hides: &'a dyn Fn(&str) -> bool,
}

/// The file being read.
struct Current {
    file: FileDiff,
    /// Past the header, in the hunks.
    in_hunks: bool,
    /// Its patch is left out (over the budget, or hidden).
    dropping: bool,
    patch: Vec<u8>,
}

impl<'a> Parser<'a> {
    /// A parser keeping at most `budget` bytes of patches; files `hides` names are left out.
    pub(crate) fn new(budget: usize, hides: &'a dyn Fn(&str) -> bool) -> Parser<'a> {
        Parser {
            files: Vec::new(),
            cur: None,
            budget,
            truncated: false,
            hides,
        }
    }

    /// Takes one line of output, its `\n` included.
    pub(crate) fn line(&mut self, line: &[u8]) {
        if let Some(rest) = line.strip_prefix(b"diff --git ") {
            self.finish_file();
            let rest = String::from_utf8_lossy(rest);
            let path = header_path(rest.trim_end_matches('\n')).unwrap_or_default();
            self.cur = Some(Current {
                file: FileDiff {
                    path,
                    orig_path: None,
                    state: FileState::Modified,
                    binary: false,
                    additions: 0,
                    deletions: 0,
                    patch: String::new(),
                },
                in_hunks: false,
                dropping: self.truncated,
                patch: Vec::new(),
            });
            return;
        }
        let Some(cur) = self.cur.as_mut() else {
            return;
        };
        if !cur.in_hunks {
            if line.starts_with(b"@@") {
                cur.in_hunks = true;
                cur.dropping |= (self.hides)(&cur.file.path)
                    || cur.file.orig_path.as_deref().is_some_and(self.hides);
            } else {
                header_line(&mut cur.file, line);
                return;
            }
        }
        match line.first() {
            Some(b'+') => cur.file.additions += 1,
            Some(b'-') => cur.file.deletions += 1,
            _ => {}
        }
        if cur.dropping {
            return;
        }
        if cur.patch.len() + line.len() > self.budget {
            cur.dropping = true;
            cur.patch = Vec::new();
            self.truncated = true;
            return;
        }
        cur.patch.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            cur.patch.push(b'\n');
        }
    }

    fn finish_file(&mut self) {
        let Some(mut cur) = self.cur.take() else {
            return;
        };
        if (self.hides)(&cur.file.path) || cur.file.orig_path.as_deref().is_some_and(self.hides) {
            return;
        }
        if !cur.dropping {
            self.budget = self.budget.saturating_sub(cur.patch.len());
            cur.file.patch = String::from_utf8_lossy(&cur.patch).into_owned();
        }
        if cur.file.binary {
            cur.file.patch.clear();
        }
        // A file that became a symlink (or the reverse) comes as a deletion and an addition of one path.
        if let Some(prev) = self.files.last_mut()
            && prev.path == cur.file.path
            && prev.state == FileState::Deleted
            && cur.file.state == FileState::Added
        {
            prev.state = FileState::TypeChanged;
            prev.binary |= cur.file.binary;
            prev.additions += cur.file.additions;
            prev.deletions += cur.file.deletions;
            if cur.dropping {
                // Half a patch would mislead: both halves go.
                prev.patch.clear();
            } else {
                prev.patch.push_str(&cur.file.patch);
            }
            return;
        }
        self.files.push(cur.file);
    }

    /// The files read, and whether patches were left out for the budget.
    pub(crate) fn finish(mut self) -> (Vec<FileDiff>, bool, usize) {
        self.finish_file();
        (self.files, self.truncated, self.budget)
    }
}

/// What a header line says of the file.
fn header_line(file: &mut FileDiff, line: &[u8]) {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches('\n');
    if line.starts_with("new file mode ") {
        file.state = FileState::Added;
    } else if line.starts_with("deleted file mode ") {
        file.state = FileState::Deleted;
    } else if let Some(from) = line.strip_prefix("rename from ") {
        file.orig_path = Some(unquote(from));
        file.state = FileState::Renamed;
    } else if let Some(to) = line.strip_prefix("rename to ") {
        file.path = unquote(to);
        file.state = FileState::Renamed;
    } else if let Some(from) = line.strip_prefix("copy from ") {
        // A copy (should git report one) is a new file whose source is named.
        file.orig_path = Some(unquote(from));
        file.state = FileState::Added;
    } else if let Some(to) = line.strip_prefix("copy to ") {
        file.path = unquote(to);
        file.state = FileState::Added;
    } else if line.starts_with("Binary files ") {
        file.binary = true;
    }
}

/// The new path of a `diff --git a/OLD b/NEW` line (after `diff --git `). Without a rename both are the
/// same, which settles where the two unquoted names split even when they hold spaces; a rename's names
/// come from its `rename from` / `rename to` lines.
fn header_path(rest: &str) -> Option<String> {
    let second = if rest.starts_with('"') {
        let (_, len) = unquote_token(rest)?;
        rest.get(len..)?.strip_prefix(' ')?.to_string()
    } else if let Some(i) = rest.find(" \"b/") {
        rest.get(i + 1..)?.to_string()
    } else {
        // `a/X b/X`: 2 + X + 3 + X bytes.
        let n = rest.len().checked_sub(5)? / 2;
        let (old, new) = (rest.get(2..2 + n)?, rest.get(5 + n..)?);
        if old == new && rest.get(2 + n..5 + n)? == " b/" {
            return Some(new.to_string());
        }
        return rest
            .rfind(" b/")
            .and_then(|i| rest.get(i + 3..))
            .map(str::to_string);
    };
    let path = if second.starts_with('"') {
        unquote_token(&second)?.0
    } else {
        second
    };
    path.strip_prefix("b/").map(str::to_string)
}

/// A path as git prints it: C-quoted (`"a\tb"`) when it holds special characters, else as is.
pub(crate) fn unquote(s: &str) -> String {
    if s.starts_with('"')
        && let Some((path, _)) = unquote_token(s)
    {
        return path;
    }
    s.to_string()
}

/// The C-quoted string at the start of `s` and how many bytes of `s` it took.
fn unquote_token(s: &str) -> Option<(String, usize)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' => {
                let c = *bytes.get(i + 1)?;
                i += 2;
                out.push(match c {
                    b'a' => 7,
                    b'b' => 8,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'v' => 11,
                    b'f' => 12,
                    b'r' => b'\r',
                    b'0'..=b'3' => {
                        let digits = bytes.get(i..i + 2)?;
                        i += 2;
                        digits.iter().try_fold(c - b'0', |n, d| match d {
                            b'0'..=b'7' => Some(n * 8 + (d - b'0')),
                            _ => None,
                        })?
                    }
                    other => other,
                });
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, budget: usize) -> (Vec<FileDiff>, bool) {
        let hides = |p: &str| p.starts_with('.');
        let mut parser = Parser::new(budget, &hides);
        for line in text.split_inclusive('\n') {
            parser.line(line.as_bytes());
        }
        let (files, truncated, _) = parser.finish();
        (files, truncated)
    }

    /// Proves a file that became a symlink is one type change, hidden files are left out, and patches
    /// past the budget are dropped with their lines still counted.
    #[test]
    fn type_changes_hidden_files_and_the_budget() {
        let out = "diff --git a/.env b/.env\nindex 1..2 100644\n--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-a\n+b\n\
                   diff --git a/l b/l\ndeleted file mode 100644\n--- a/l\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n\
                   diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+t\n\
                   \\ No newline at end of file\n\
                   diff --git a/m b/m\n--- a/m\n+++ b/m\n@@ -1 +1,2 @@\n x\n+y\n";
        let (files, truncated) = parse(out, 1 << 20);
        assert!(!truncated);
        assert_eq!(files.len(), 2);
        assert_eq!(
            (files[0].path.as_str(), files[0].state),
            ("l", FileState::TypeChanged)
        );
        assert_eq!((files[0].additions, files[0].deletions), (1, 1));
        assert_eq!(
            files[0].patch,
            "@@ -1 +0,0 @@\n-x\n@@ -0,0 +1 @@\n+t\n\\ No newline at end of file\n"
        );
        assert_eq!(files[1].patch, "@@ -1 +1,2 @@\n x\n+y\n");
        let (files, truncated) = parse(out, 20);
        assert!(truncated);
        assert!(files.iter().all(|f| f.patch.is_empty()));
        assert_eq!(files[1].additions, 1);
    }

    /// Proves header paths are found with spaces, quotes and renames, and C-quoting is undone.
    #[test]
    fn header_paths_and_quoting() {
        assert_eq!(
            header_path("a/x y.txt b/x y.txt").as_deref(),
            Some("x y.txt")
        );
        assert_eq!(header_path("a/b b/c b/b b/c").as_deref(), Some("b b/c"));
        assert_eq!(
            header_path("\"a/t\\tab\" \"b/t\\tab\"").as_deref(),
            Some("t\tab")
        );
        assert_eq!(header_path("a/old \"b/n\\\"ew\"").as_deref(), Some("n\"ew"));
        assert_eq!(unquote("\"caf\\303\\251\""), "café");
        assert_eq!(unquote("plain name"), "plain name");
    }
}
