//! The node's local health endpoint: `GET /health` on 127.0.0.1:4456.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::link::LinkStatus;

#[derive(Clone)]
struct HealthState {
    node_id: String,
    status: watch::Receiver<LinkStatus>,
}

async fn health(State(s): State<HealthState>) -> Json<serde_json::Value> {
    let status = s.status.borrow().clone();
    Json(serde_json::json!({
        "status": "ok",
        "main": status.state,
        "node_id": s.node_id,
        "last_error": status.last_error,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// Serves the health endpoint on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    node_id: String,
    status: watch::Receiver<LinkStatus>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(health))
        .with_state(HealthState { node_id, status });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
