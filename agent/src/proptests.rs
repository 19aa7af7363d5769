//! Property tests of what the agent reads from outside: CLI output lines, record parsers of both
//! providers, its config file, and paths checked by the roots and the file guard against generated trees
//! with symlinks, `..`, NUL bytes and long names. No input may panic, and no path may resolve outside
//! the roots or inside a state directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::Value;

use crate::config::FilesystemConfig;
use crate::fs::guard::Guard;
use crate::sessions::lines::{Line, LineReader};

/// Runs `fut` to completion on a fresh current-thread runtime.
pub(crate) fn block<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

/// JSON shaped like the providers' records: objects with the keys their parsers look for.
pub(crate) fn record(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(keys).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(keys), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// One step of building a tree under the root: a directory, a file, or a symlink to somewhere.
#[derive(Debug, Clone)]
enum Node {
    Dir(String),
    File(String),
    Link(String, String),
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,3}",
        Just(".state".to_string()),
        Just(".hidden".to_string()),
    ]
}

fn rel() -> impl Strategy<Value = String> {
    prop::collection::vec(name(), 1..4).prop_map(|v| v.join("/"))
}

fn tree() -> impl Strategy<Value = Vec<Node>> {
    let target = prop_oneof![
        rel(),
        Just("../outside".to_string()),
        Just("/etc".to_string()),
        Just(".state/key".to_string()),
        Just("..".to_string()),
    ];
    prop::collection::vec(
        prop_oneof![
            rel().prop_map(Node::Dir),
            rel().prop_map(Node::File),
            (rel(), target).prop_map(|(a, b)| Node::Link(a, b)),
        ],
        0..12,
    )
}

fn asked() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        name(),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        Just("a\0b".to_string()),
        Just("x".repeat(300)),
    ];
    prop::collection::vec(part, 0..6).prop_map(|v| v.join("/"))
}

/// Builds the generated tree in a fresh directory; returns (base, canonical root, canonical state dir).
fn build(nodes: &[Node]) -> (PathBuf, PathBuf, PathBuf) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "vb-prop-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join(".state")).unwrap();
    std::fs::create_dir_all(base.join("outside")).unwrap();
    std::fs::write(root.join(".state/key"), "SECRET").unwrap();
    std::fs::write(base.join("outside/secret"), "SECRET").unwrap();
    for n in nodes {
        let _ = match n {
            Node::Dir(p) => std::fs::create_dir_all(root.join(p)),
            Node::File(p) => std::fs::create_dir_all(root.join(p).parent().unwrap())
                .and_then(|()| std::fs::write(root.join(p), "x")),
            Node::Link(p, t) => std::fs::create_dir_all(root.join(p).parent().unwrap())
                .and_then(|()| std::os::unix::fs::symlink(t, root.join(p))),
        };
    }
    let root = std::fs::canonicalize(&root).unwrap();
    let state = root.join(".state");
    (base, root, state)
}

fn allowed(real: &Path, root: &Path, state: &Path) -> bool {
    real.starts_with(root) && !real.starts_with(state)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Proves any CLI output, split at any cap, gives exactly the lines a plain model of the rules gives.
    #[test]
    fn cli_output_lines(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r')], 0..2048),
        max in 1usize..64,
    ) {
        let lines = block(async {
            let mut r = LineReader::new(&bytes[..], max, None);
            let mut out = Vec::new();
            while let Some(line) = r.next().await.unwrap() {
                out.push(line);
            }
            out
        });
        let mut segments: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        if bytes.is_empty() || bytes.ends_with(b"\n") {
            segments.pop();
        }
        let model: Vec<Line> = segments
            .into_iter()
            .map(|s| {
                if s.len() > max {
                    return Line::TooLong { len: s.len() };
                }
                let t = s.strip_suffix(b"\r").unwrap_or(s);
                Line::Text {
                    text: String::from_utf8_lossy(t).into_owned(),
                    lossy: std::str::from_utf8(t).is_err(),
                }
            })
            .collect();
        prop_assert_eq!(lines, model);
    }

    /// Proves any text given as the node's config is accepted or refused with a message, never a panic.
    #[test]
    fn node_config_text(text in prop_oneof![
        ".{0,200}",
        "\\[(filesystem|terminal|execution|node|tunnel)\\]\n[a-z_]{1,16} = (\"[a-z0-9/. ]{0,12}\"|[0-9]{1,22}|true|\\[\\])\n",
    ]) {
        if let Ok(cfg) = vibebridge_tunnel::config::parse_toml::<crate::config::NodeConfig>(&text, "node.toml") {
            let _ = cfg.validate();
        }
    }

    /// Proves no path, however built, resolves through the roots or the file guard to outside the root or inside its state directory.
    #[test]
    fn paths_stay_inside_the_roots(nodes in tree(), asks in prop::collection::vec(asked(), 1..8)) {
        let (base, root, state) = build(&nodes);
        let cfg = FilesystemConfig {
            roots: vec![root.clone()],
            protected: vec![state.clone()],
            ..FilesystemConfig::default()
        };
        let guard = Guard::new(&cfg);
        for rel in &asks {
            for path in [format!("{}/{rel}", root.display()), rel.clone()] {
                if let Ok(real) = crate::roots::resolve_dir(&cfg.roots, &cfg.protected, &path) {
                    prop_assert!(allowed(&real, &root, &state), "{path:?} resolved to {real:?}");
                }
                if let Ok(real) = guard.existing(&path) {
                    prop_assert!(allowed(&real, &root, &state), "{path:?} resolved to {real:?}");
                }
                if let Ok((parent, full)) = guard.entry(&path) {
                    prop_assert!(allowed(&parent, &root, &state) && !full.starts_with(&state), "{path:?} → {full:?}");
                }
            }
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
