//! `test-agent CONFIG.toml`: the agent library in a process of its own, for tests that `kill -9` a node
//! mid-session (an in-process agent cannot die without running its destructors). Ends on SIGTERM or SIGINT.

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use vibebridge_agent::NodeConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vibebridge_tests::init_test_logging();
    let path = std::env::args()
        .nth(1)
        .context("usage: test-agent CONFIG.toml")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let config: NodeConfig = vibebridge_tunnel::config::parse_toml(&text, &path)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(vibebridge_tunnel::runtime::shutdown_on_signal(
        shutdown.clone(),
    ));
    vibebridge_agent::run(config, shutdown).await
}
