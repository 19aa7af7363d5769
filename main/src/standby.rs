//! A standby main's face: until it holds the lead (see [`crate::leader`]), a main sharing PostgreSQL answers
//! `/health` with `"role": "standby"` (a load balancer sends browsers to the active main by it) and `503
//! standby` to everything else, and closes SSH connections at once, so a node dialling it moves on to the next
//! main without waiting for a timeout.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::bodies::Health;
use crate::config::ServerConfig;
use crate::http;
use crate::leader::Standing;

/// Runs `work` (winning the lead, opening main's state again) with the standby face up on main's HTTP and SSH
/// listeners, and takes the face down when it is done.
pub async fn while_standing_by<T>(
    (http, ssh): (&TcpListener, &TcpListener),
    standing: Arc<Standing>,
    cfg: &ServerConfig,
    work: impl Future<Output = T>,
) -> T {
    let stop = CancellationToken::new();
    let face = serve(http, ssh, standing, cfg, stop.clone());
    let work = async {
        let done = work.await;
        stop.cancel();
        done
    };
    tokio::join!(face, work).1
}

/// Serves the standby face on main's HTTP and SSH listeners until `stop`.
async fn serve(
    http: &TcpListener,
    ssh: &TcpListener,
    standing: Arc<Standing>,
    cfg: &ServerConfig,
    stop: CancellationToken,
) {
    let app = Router::new()
        .route("/health", get(health))
        .fallback(not_here)
        .with_state(standing);
    let refuse_ssh = async {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                accepted = ssh.accept() => {
                    // Dropped at once: the node's next attempt goes to the next main.
                    drop(accepted);
                }
            }
        }
    };
    tokio::join!(http::serve(http, app, cfg, stop.clone()), refuse_ssh);
}

async fn health(State(standing): State<Arc<Standing>>) -> axum::Json<Health> {
    axum::Json(Health::of(&standing, 0))
}

async fn not_here(State(standing): State<Arc<Standing>>) -> Response {
    let body = serde_json::json!({
        "code": "standby",
        "error": format!(
            "main {} is a standby: it serves once the active main is gone; use the address that reaches the \
             active main (its /health says \"role\": \"active\")",
            standing.main_id
        ),
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}
