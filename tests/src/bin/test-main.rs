//! `test-main CONFIG.toml [TOKENS]`: main in a process of its own on fresh loopback ports, for tests that
//! `kill -9` it. Prints one line, `ready HTTP_ADDR SSH_ADDR HOST_KEY_FINGERPRINT [TOKEN…]` (TOKENS one-time
//! node register tokens, for a first start), then serves until SIGTERM or SIGINT.

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use vibebridge_main::{Listeners, Main, MainConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vibebridge_tests::init_test_logging();
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: test-main CONFIG.toml [TOKENS]")?;
    let tokens: usize = match args.next() {
        Some(n) => n.parse().context("TOKENS must be a count")?,
        None => 0,
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let config: MainConfig = vibebridge_tunnel::config::parse_toml(&text, &path)?;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ssh = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let main = Main::open(config)?;
    let mut line = format!(
        "ready {} {} {}",
        http.local_addr()?,
        ssh.local_addr()?,
        main.host_key_fingerprint()
    );
    for _ in 0..tokens {
        line.push(' ');
        line.push_str(&main.create_node_token(std::time::Duration::from_secs(3600))?);
    }
    println!("{line}");
    let shutdown = CancellationToken::new();
    tokio::spawn(vibebridge_tunnel::runtime::shutdown_on_signal(
        shutdown.clone(),
    ));
    main.serve(Listeners { http, ssh }, shutdown).await
}
