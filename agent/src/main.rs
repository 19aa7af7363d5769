//! `vibebridge-agent`: the node binary. Parses the CLI, loads config, sets up logging, turns signals into a
//! shutdown token, then calls [`vibebridge_agent::run`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use vibebridge_agent::NodeConfig;
use vibebridge_tunnel::config::Secret;

#[derive(Parser)]
#[command(
    name = "vibebridge-agent",
    version,
    about = "VibeBridge node agent: links this machine to main"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent (flags override the config file; without a file they are the whole config).
    Run {
        /// Config file (see `print-config`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Main's SSH address, host:port (node.main_addr); repeat it for the standby mains sharing its
        /// database (node.main_addrs).
        #[arg(long = "main")]
        main_addr: Vec<String>,
        /// Main's host key fingerprint, SHA256:… (node.main_host_key).
        #[arg(long)]
        main_host_key: Option<String>,
        /// One-time register token for the first connection (node.register_token).
        #[arg(long, env = "VIBEBRIDGE_REGISTER_TOKEN")]
        register_token: Option<String>,
        /// Node id (node.id).
        #[arg(long)]
        id: Option<String>,
        /// Allowed root directory; repeatable (filesystem.roots).
        #[arg(long = "root")]
        roots: Vec<PathBuf>,
        /// State directory (database.path).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Print a documented example config.
    PrintConfig,
    /// Print this node's public key and fingerprint (creating the key on first use).
    Id {
        /// Config file, for its database.path.
        #[arg(long)]
        config: Option<PathBuf>,
        /// State directory (database.path).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn load(config: Option<&PathBuf>) -> anyhow::Result<NodeConfig> {
    match config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config {}", p.display()))?;
            vibebridge_tunnel::config::parse_toml(&text, &p.display().to_string())
        }
        None => Ok(NodeConfig::default()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::PrintConfig => {
            print!("{}", vibebridge_agent::config::EXAMPLE);
            Ok(())
        }
        Command::Id { config, data } => {
            let mut cfg = load(config.as_ref())?;
            if let Some(d) = data {
                cfg.database.path = d;
            }
            std::fs::create_dir_all(&cfg.database.path)?;
            let key = vibebridge_tunnel::keys::load_or_generate(
                &vibebridge_agent::identity::key_path(&cfg.database.path),
            )?;
            println!(
                "{}",
                vibebridge_tunnel::keys::public_openssh(key.public_key())
            );
            println!("{}", vibebridge_tunnel::keys::fingerprint(key.public_key()));
            Ok(())
        }
        Command::Run {
            config,
            main_addr,
            main_host_key,
            register_token,
            id,
            roots,
            data,
        } => {
            vibebridge_tunnel::runtime::init_tracing();
            let mut cfg = load(config.as_ref())?;
            let mut given = main_addr.into_iter();
            if let Some(a) = given.next() {
                cfg.node.main_addr = a;
                cfg.node.main_addrs = given.collect();
            }
            if main_host_key.is_some() {
                cfg.node.main_host_key = main_host_key;
            }
            if let Some(t) = register_token {
                cfg.node.register_token = Some(Secret::new(t));
            }
            if id.is_some() {
                cfg.node.id = id;
            }
            if !roots.is_empty() {
                cfg.filesystem.roots = roots
                    .into_iter()
                    .map(|r| std::path::absolute(&r).unwrap_or(r))
                    .collect();
            }
            if let Some(d) = data {
                cfg.database.path = d;
            }
            cfg.validate().context("invalid configuration")?;
            let shutdown = CancellationToken::new();
            tokio::spawn(vibebridge_tunnel::runtime::shutdown_on_signal(
                shutdown.clone(),
            ));
            vibebridge_agent::run(cfg, shutdown).await
        }
    }
}
