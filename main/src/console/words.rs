//! Console command lines as words and options: shell-like splitting (quotes, backslashes) and the
//! `--flag value` parsing every command shares.

/// Splits a command line into words: whitespace separates, single and double quotes group, backslash
/// escapes the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let (mut words, mut cur, mut in_word) = (Vec::new(), String::new(), false);
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                cur.push(chars.next().ok_or("a trailing backslash escapes nothing")?);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parsed flags and positional words of one command.
pub(super) struct Args {
    pub(super) positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

/// Flags that take a value.
const VALUE_FLAGS: &[&str] = &["--ttl", "--uses", "--node", "--status", "--message", "-n"];

impl Args {
    pub(super) fn parse(words: &[String]) -> Result<Args, String> {
        let (mut positional, mut flags) = (Vec::new(), Vec::new());
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if w.starts_with('-') && w.len() > 1 {
                let (name, inline) = match w.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                let value = if VALUE_FLAGS.contains(&name.as_str()) {
                    match inline {
                        Some(v) => Some(v),
                        None => Some(it.next().cloned().ok_or(format!("{name} needs a value"))?),
                    }
                } else {
                    inline
                };
                flags.push((name, value));
            } else {
                positional.push(w.clone());
            }
        }
        Ok(Args { positional, flags })
    }

    pub(super) fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    pub(super) fn check_flags(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown option {n}")),
            None => Ok(()),
        }
    }

    pub(super) fn id(&self, i: usize, what: &str) -> Result<&str, String> {
        self.positional
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing {what}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves quoting and escaping split the way a shell user expects, and bad quoting is an error.
    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"approvals deny a1 --message "not that file" x\ y 'q "t"'"#).unwrap(),
            [
                "approvals",
                "deny",
                "a1",
                "--message",
                "not that file",
                "x y",
                "q \"t\""
            ]
        );
        assert!(split_words("say \"unterminated").is_err());
        assert!(split_words("").unwrap().is_empty());
    }

    /// Proves value flags take the next word or an inline value and unknown flags are refused.
    #[test]
    fn flags_parse() {
        let words: Vec<String> = ["create", "--ttl", "2h", "--uses=3"]
            .map(String::from)
            .into();
        let a = Args::parse(&words).unwrap();
        assert_eq!((a.flag("--ttl"), a.flag("--uses")), (Some("2h"), Some("3")));
        assert!(a.check_flags(&["--ttl"]).is_err());
        assert!(Args::parse(&["--ttl".to_string()]).is_err());
    }
}
