//! Config files: every example in `configs/` parses and validates; bad configs name the offending key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vibebridge_agent::NodeConfig;
use vibebridge_main::MainConfig;

fn configs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

/// Proves every file in configs/ parses with deny_unknown_fields and passes validation.
#[test]
fn every_example_parses_and_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("main.") {
            MainConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        } else if name.starts_with("node.") {
            NodeConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        } else {
            panic!("unexpected file in configs/: {name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 2);
    assert_eq!(
        vibebridge_main::config::EXAMPLE,
        std::fs::read_to_string(configs_dir().join("main.example.toml")).unwrap()
    );
}

/// Writes `toml` to a temporary `file` and returns the error `load` gives for it.
fn load_err<T: std::fmt::Debug>(
    file: &str,
    toml: &str,
    load: fn(&std::path::Path) -> anyhow::Result<T>,
) -> String {
    let dir =
        std::env::temp_dir().join(format!("vb-cfg-{}", vibebridge_tunnel::keys::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, toml).unwrap();
    let err = format!("{:#}", load(&path).unwrap_err());
    std::fs::remove_dir_all(dir).unwrap();
    err
}

/// Proves unknown keys, wrong types and bad values are errors that name the key.
#[test]
fn bad_configs_name_the_key() {
    let cases_main = [
        ("[server]\nprot = 1\n", "prot"),
        ("[server]\nport = \"high\"\n", "port"),
        ("[ssh]\nlisten = \"nowhere\"\n", "ssh.listen"),
        ("[auth]\njwt_secret = \"short\"\n", "auth.jwt_secret"),
        (
            "[main]\nnode_register_tokens = [\"tiny\"]\n",
            "main.node_register_tokens[0]",
        ),
        (
            "[tunnel]\nheartbeat_interval = \"10s\"\ndead_after = \"5s\"\n",
            "tunnel.dead_after",
        ),
        (
            "[tunnel]\nheartbeat_interval = \"soon\"\n",
            "heartbeat_interval",
        ),
        ("[bogus]\n", "bogus"),
        (
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.lan\"]\n",
            "server.trusted_proxies[1]",
        ),
        (
            "[auth]\nmax_concurrent_password_hashes = 0\n",
            "auth.max_concurrent_password_hashes",
        ),
    ];
    for (toml, key) in cases_main {
        let err = load_err("main.toml", toml, MainConfig::load);
        assert!(
            err.contains(key),
            "main config {toml:?}: error {err:?} does not name {key}"
        );
    }
    let cases_node = [
        ("[node]\nmain_adr = \"x:1\"\n", "main_adr"),
        ("[node]\n", "node.main_addr"),
        ("[node]\nmain_addr = \"main\"\n", "node.main_addr"),
        (
            "[node]\nmain_addr = \"m:1\"\nmain_host_key = \"MD5:aa\"\n",
            "node.main_host_key",
        ),
        ("[node]\nmain_addr = \"m:1\"\nid = \"bad id!\"\n", "node.id"),
        (
            "[node]\nmain_addr = \"m:1\"\n[filesystem]\nroots = [\"relative\"]\n",
            "filesystem.roots[0]",
        ),
        (
            "[node]\nmain_addr = \"m:1\"\n[providers.claude]\nmax_concurrent = 0\n",
            "providers.claude.max_concurrent",
        ),
        (
            "[node]\nmain_addr = \"m:1\"\n[providers.gemini]\n",
            "gemini",
        ),
    ];
    for (toml, key) in cases_node {
        let err = load_err("node.toml", toml, NodeConfig::load);
        assert!(
            err.contains(key),
            "node config {toml:?}: error {err:?} does not name {key}"
        );
    }
}
