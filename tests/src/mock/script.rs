//! The script language of the mocks: directives in the prompt (see the table in the parent module) and the
//! reply they choose for a request, given how far the conversation has got. Provider-neutral; `anthropic` and
//! `openai` read the [`Turn`] from their own request shapes and write the [`Reply`] in their own wire format.

use std::time::Duration;

use serde_json::Value;

/// One parsed directive.
#[derive(Debug, Clone, PartialEq)]
enum Directive {
    Tool(String, Value),
    Shell(String),
    Patch(String),
    Thinking(String),
    Text(String),
    HttpError(u16),
    Gate(String),
    Slow(u64),
}

/// The directives in `prompt`, in order; unknown or malformed ones are ignored.
fn directives(prompt: &str) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut rest = prompt;
    while let Some(start) = rest.find("[[") {
        rest = &rest[start + 2..];
        let Some((kind, after)) = rest.split_once(':') else {
            break;
        };
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        if kind == "tool" {
            if let Some((d, tail)) = tool_directive(after) {
                out.push(d);
                rest = tail;
            }
            continue;
        }
        let Some(end) = after.find("]]") else {
            break;
        };
        let arg = &after[..end];
        rest = &after[end + 2..];
        let d = match kind {
            "shell" => Directive::Shell(arg.to_string()),
            "patch" => Directive::Patch(arg.to_string()),
            "thinking" => Directive::Thinking(arg.to_string()),
            "text" => Directive::Text(arg.to_string()),
            "gate" => Directive::Gate(arg.trim().to_string()),
            "http_error" => match arg.trim().parse() {
                Ok(n) => Directive::HttpError(n),
                Err(_) => continue,
            },
            "slow" => match arg.trim().parse() {
                Ok(n) => Directive::Slow(n),
                Err(_) => continue,
            },
            _ => continue,
        };
        out.push(d);
    }
    out
}

/// `NAME {json}]]` (the JSON may itself contain `]]`); no JSON means `{}`.
fn tool_directive(after: &str) -> Option<(Directive, &str)> {
    let name_end = after.find(|c: char| c.is_whitespace() || c == ']')?;
    let name = after[..name_end].to_string();
    let body = after[name_end..].trim_start();
    if let Some(tail) = body.strip_prefix("]]") {
        return Some((
            Directive::Tool(name, Value::Object(Default::default())),
            tail,
        ));
    }
    let mut values = serde_json::Deserializer::from_str(body).into_iter::<Value>();
    let input = values.next()?.ok()?;
    let tail = body[values.byte_offset()..]
        .trim_start()
        .strip_prefix("]]")?;
    Some((Directive::Tool(name, input), tail))
}

/// What the conversation looks like to the mock: the prompt, how many calls the model already made for it, and
/// the tool output the CLI is returning now (if the last thing sent is a tool result).
#[derive(Debug, Default)]
pub(crate) struct Turn {
    pub prompt: String,
    pub rounds: usize,
    pub tool_output: Option<String>,
}

/// A tool call the reply makes.
#[derive(Debug, Clone)]
pub(crate) enum Call {
    Tool(String, Value),
    Shell(String),
    Patch(String),
}

/// The scripted reply to one model request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub http_error: Option<u16>,
    pub gates: Vec<String>,
    pub thinking: Vec<String>,
    /// The call to make; when `None`, the reply is `text`.
    pub call: Option<Call>,
    pub text: String,
    pub slow: Option<Duration>,
}

impl Reply {
    /// The reply to `turn`, following the directives in its prompt.
    pub(crate) fn plan(turn: &Turn) -> Reply {
        let ds = directives(&turn.prompt);
        let fresh = turn.rounds == 0 && turn.tool_output.is_none();
        let calls: Vec<Call> = ds
            .iter()
            .filter_map(|d| match d {
                Directive::Tool(n, v) => Some(Call::Tool(n.clone(), v.clone())),
                Directive::Shell(c) => Some(Call::Shell(c.clone())),
                Directive::Patch(p) => Some(Call::Patch(p.clone())),
                _ => None,
            })
            .collect();
        let texts: Vec<&str> = ds
            .iter()
            .filter_map(|d| match d {
                Directive::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let text = match (&turn.tool_output, texts.is_empty()) {
            (_, false) => texts.join("\n"),
            (Some(out), true) => format!("MOCK DONE: {out}"),
            (None, true) => format!("MOCK REPLY: {}", turn.prompt),
        };
        Reply {
            http_error: ds.iter().find_map(|d| match d {
                Directive::HttpError(n) if fresh => Some(*n),
                _ => None,
            }),
            gates: ds
                .iter()
                .filter_map(|d| match d {
                    Directive::Gate(g) => Some(g.clone()),
                    _ => None,
                })
                .collect(),
            thinking: ds
                .iter()
                .filter_map(|d| match d {
                    Directive::Thinking(t) if fresh => Some(t.clone()),
                    _ => None,
                })
                .collect(),
            call: calls.get(turn.rounds).cloned(),
            text,
            slow: ds.iter().find_map(|d| match d {
                Directive::Slow(ms) => Some(Duration::from_millis(*ms)),
                _ => None,
            }),
        }
    }

    /// The final text in the pieces it is streamed in: one, or four with `[[slow:MS]]`.
    pub(crate) fn text_chunks(&self) -> Vec<String> {
        if self.slow.is_none() {
            return vec![self.text.clone()];
        }
        let chars: Vec<char> = self.text.chars().collect();
        let size = chars.len().div_ceil(4).max(1);
        chars.chunks(size).map(|c| c.iter().collect()).collect()
    }
}

/// Whether a user text was put there by the CLI rather than typed by the test (see the module docs).
pub(crate) fn injected(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty()
        || t.starts_with('<')
        || t.starts_with("[Request interrupted")
        || t.starts_with("# AGENTS.md instructions")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves directives parse in order, tool JSON may contain `]]`, and junk is skipped.
    #[test]
    fn directives_parse() {
        let p = r#"do [[tool:Write {"file_path":"a]]b","content":"x"}]] then [[shell:echo hi]] [[gate:g1]]
            [[slow:50]] [[http_error:529]] [[nope:x]] [[text:done]] [[thinking:hm]] [[tool:Bare]]"#;
        let ds = directives(p);
        assert_eq!(
            ds,
            vec![
                Directive::Tool(
                    "Write".into(),
                    serde_json::json!({"file_path": "a]]b", "content": "x"})
                ),
                Directive::Shell("echo hi".into()),
                Directive::Gate("g1".into()),
                Directive::Slow(50),
                Directive::HttpError(529),
                Directive::Text("done".into()),
                Directive::Thinking("hm".into()),
                Directive::Tool("Bare".into(), serde_json::json!({})),
            ]
        );
    }

    /// Proves calls come one per reply and the final text echoes the last tool output.
    #[test]
    fn plan_walks_calls_then_text() {
        let prompt = "[[shell:a]] [[shell:b]] [[thinking:t]]".to_string();
        let mut turn = Turn {
            prompt: prompt.clone(),
            ..Turn::default()
        };
        let r = Reply::plan(&turn);
        assert!(matches!(r.call, Some(Call::Shell(ref c)) if c == "a"));
        assert_eq!(r.thinking, vec!["t".to_string()]);
        turn.rounds = 1;
        turn.tool_output = Some("out-a".into());
        let r = Reply::plan(&turn);
        assert!(matches!(r.call, Some(Call::Shell(ref c)) if c == "b"));
        assert!(r.thinking.is_empty());
        turn.rounds = 2;
        turn.tool_output = Some("out-b".into());
        let r = Reply::plan(&turn);
        assert!(r.call.is_none());
        assert_eq!(r.text, "MOCK DONE: out-b");
        let plain = Reply::plan(&Turn {
            prompt: "hello".into(),
            ..Turn::default()
        });
        assert_eq!(plain.text, "MOCK REPLY: hello");
    }
}
