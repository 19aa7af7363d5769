//! `vibebridge`: the main binary. Parses the CLI, loads config, sets up logging, binds listeners, turns
//! signals into a shutdown token, then calls into `vibebridge_main` (and, for `up`, `vibebridge_agent`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use vibebridge_main::{Listeners, Main, MainConfig};
use vibebridge_tunnel::config::Secret;

#[derive(Parser)]
#[command(
    name = "vibebridge",
    version,
    about = "VibeBridge main: the control plane for AI coding agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run main from a config file (production).
    Serve {
        /// Config file (see `print-config`).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run main and a local node in one process, with state under --data (zero set-up).
    Up {
        /// State directory.
        #[arg(long, default_value = ".vibebridge")]
        data: PathBuf,
        /// Directory the local node may work in; repeatable. Default: the current directory.
        #[arg(long = "root")]
        roots: Vec<PathBuf>,
        /// HTTP listen address.
        #[arg(long, default_value = "127.0.0.1:4457")]
        http: SocketAddr,
        /// SSH listen address for nodes.
        #[arg(long, default_value = "0.0.0.0:2222")]
        ssh: SocketAddr,
        /// A main config file for everything else (`[github]`, `[runs]`…); its listen addresses and
        /// database path are replaced by the flags above.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a documented example config.
    PrintConfig,
    /// Seal a secret for the config (`github.client_secret`, `github.webhook_secret`): reads it on
    /// standard input, prints the value to paste. Uses the secrets key of the config's main.
    SealSecret {
        /// The config key the value is for.
        key: String,
        /// Config file (for the database path and secrets key); default: built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// What a running main is doing: active or standby, its database and how recently it answered.
    Status {
        /// Main's HTTP address.
        #[arg(long, default_value = "http://127.0.0.1:4457")]
        url: String,
    },
    /// Database tools.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Put a new secrets key first and re-seal every stored GitHub token with it (main must be stopped).
    RotateSecrets {
        /// Config file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy a sled database (main stopped) into an empty PostgreSQL database, verified by counts and
    /// checksums.
    Copy {
        /// `sled:PATH`: main's database.path (or its `db` directory).
        #[arg(long)]
        from: String,
        /// `postgres://user:password@host:5432/dbname`; default: $VIBEBRIDGE_DATABASE_URL (keeps the password
        /// off the command line).
        #[arg(long)]
        to: Option<String>,
        /// PostgreSQL TLS: disable, require or verify-full.
        #[arg(long, default_value = "disable")]
        tls: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::PrintConfig => {
            print!("{}", vibebridge_main::config::EXAMPLE);
            Ok(())
        }
        Command::SealSecret { key, config } => {
            let config = match config {
                Some(path) => MainConfig::load(&path)?,
                None => MainConfig::default(),
            };
            let mut plain = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut plain)
                .context("reading the secret from standard input")?;
            let sealed = vibebridge_main::rotate::seal_config_value(&config, &key, &plain)?;
            println!("{key} = \"{sealed}\"");
            Ok(())
        }
        Command::RotateSecrets { config } => {
            let config = MainConfig::load(&config)?;
            let r = vibebridge_main::rotate::rotate_secrets(&config)?;
            println!(
                "New secrets key {} is first in {}; {} stored tokens re-sealed with it.",
                r.key_id,
                config.secrets_key_path().display(),
                r.resealed
            );
            if !r.config.is_empty() {
                println!(
                    "Older keys stay in the file so the config's sealed values still open; these are them re-sealed:"
                );
                for (k, v) in &r.config {
                    println!("  {k} = \"{v}\"");
                }
            }
            Ok(())
        }
        Command::Status { url } => status(&url).await,
        Command::Store {
            command: StoreCommand::Copy { from, to, tls },
        } => {
            let to = match to.or_else(|| std::env::var("VIBEBRIDGE_DATABASE_URL").ok()) {
                Some(url) => url,
                None => anyhow::bail!("give --to postgres://… or set VIBEBRIDGE_DATABASE_URL"),
            };
            let report = vibebridge_main::store::copy::run(&from, &to, &tls)?;
            print!("{report}");
            Ok(())
        }
        Command::Serve { config } => {
            vibebridge_tunnel::runtime::init_tracing();
            let config = MainConfig::load(&config)?;
            let listeners = Listeners::bind(&config).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(vibebridge_tunnel::runtime::shutdown_on_signal(
                shutdown.clone(),
            ));
            vibebridge_main::serve(config, listeners, shutdown).await
        }
        Command::Up {
            data,
            roots,
            http,
            ssh,
            config,
        } => {
            vibebridge_tunnel::runtime::init_tracing();
            let config = match config {
                Some(path) => MainConfig::load(&path)?,
                None => MainConfig::default(),
            };
            up(data, roots, http, ssh, config).await
        }
    }
}

/// `vibebridge status`: a main's `/health`, for people.
async fn status(url: &str) -> anyhow::Result<()> {
    let url = format!("{}/health", url.trim_end_matches('/'));
    let health: serde_json::Value = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| {
            format!("asking {url} (is main running there? give its address with --url)")
        })?
        .error_for_status()?
        .json()
        .await
        .with_context(|| format!("{url} did not answer with main's health"))?;
    let field = |k: &str| {
        health[k]
            .as_str()
            .map_or_else(|| health[k].to_string(), str::to_string)
    };
    println!("main      {}", field("main"));
    println!("role      {}", field("role"));
    println!(
        "database  {} (answered {} ms ago)",
        field("database"),
        field("lag_ms")
    );
    println!("version   {}", field("version"));
    println!("nodes     {} online", field("nodes_online"));
    Ok(())
}

/// `vibebridge up`: main plus a local node that dials main's SSH port over loopback like any other node.
async fn up(
    data: PathBuf,
    roots: Vec<PathBuf>,
    http: SocketAddr,
    ssh: SocketAddr,
    mut config: MainConfig,
) -> anyhow::Result<()> {
    let data = std::path::absolute(&data).context("resolving --data")?;
    config.server.host = http.ip().to_string();
    config.server.port = http.port();
    config.ssh.listen = ssh.to_string();
    config.database.path = data.join("main");
    let listeners = Listeners::bind(&config).await?;
    let ssh_addr = listeners.ssh.local_addr()?;
    let http_addr = listeners.http.local_addr()?;
    let main = Main::open(config)?;
    let public_host = if ssh_addr.ip().is_unspecified() {
        vibebridge_tunnel::runtime::hostname()
    } else {
        ssh_addr.ip().to_string()
    };
    main.set_ssh_public_addr(format!("{public_host}:{}", ssh_addr.port()));

    let mut node = vibebridge_agent::NodeConfig::default();
    let node_id = vibebridge_agent::identity::default_node_id();
    node.node.id = Some(node_id.clone());
    node.node.main_addr = format!("127.0.0.1:{}", ssh_addr.port());
    node.node.main_host_key = Some(main.host_key_fingerprint().to_string());
    node.database.path = data.join("node");
    // Main's state (JWT secret, host key) sits beside the node's, often inside the root: the local
    // node never serves, lists or stages it.
    node.filesystem.protected.push(data.clone());
    // Run worktrees go beside the data directory: inside it they would be protected state too.
    let mut worktrees = data.as_os_str().to_os_string();
    worktrees.push("-worktrees");
    node.worktrees.root = Some(PathBuf::from(worktrees));
    node.server.port = 0;
    node.filesystem.roots = if roots.is_empty() {
        vec![std::env::current_dir().context("reading the current directory")?]
    } else {
        roots
            .into_iter()
            .map(|r| std::path::absolute(&r).unwrap_or(r))
            .collect()
    };
    if main.state().store.node(&node_id)?.is_none() {
        node.node.register_token = Some(Secret::new(
            main.create_node_token(Duration::from_secs(600))?,
        ));
    }
    let join_token = main.create_node_token(Duration::from_secs(3600))?;

    println!();
    println!("  VibeBridge is up.");
    println!("  Open the UI:        http://{http_addr}");
    println!(
        "  Local node:         {node_id} (roots: {})",
        node.filesystem
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  Main host key:      {}", main.host_key_fingerprint());
    println!("  Add another machine (token valid 1 h, single use):");
    println!("    {}", main.state().join_command(&join_token));
    println!();

    let shutdown = CancellationToken::new();
    tokio::spawn(vibebridge_tunnel::runtime::shutdown_on_signal(
        shutdown.clone(),
    ));
    let agent = vibebridge_agent::Agent::start(node, None, shutdown.clone())?;
    let served = main.serve(listeners, shutdown.clone()).await;
    shutdown.cancel();
    agent.join().await;
    served
}
