//! The HTTP API: routes, the JSON error shape and the health endpoint.

pub(crate) mod approvals;
mod audit;
mod auth;
mod body;
mod error;
mod fs;
mod git;
pub(crate) mod guard;
mod keys;
pub mod live;
pub(crate) mod nodes;
mod relay;
pub(crate) mod sessions;
mod terminal;
pub mod types;
pub(crate) mod users;
mod ws;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post, put};

pub use body::{Body, OptionalBody, Path, Query};
pub use error::ApiError;

use crate::AppState;

/// Every route main serves over HTTP.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/status", get(auth::status))
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/me", get(auth::me))
        .route("/auth/me/profile", put(auth::set_profile))
        .route("/auth/me/keys", get(keys::list).post(keys::add))
        .route("/auth/me/keys/{id}", delete(keys::remove))
        .route("/users", get(users::list))
        .route("/users/{user}/approve", post(users::approve))
        .route("/users/{user}/role", post(users::set_role))
        .route("/nodes", get(nodes::list))
        .route("/nodes/tokens", post(nodes::create_token))
        .route("/nodes/{id}", get(nodes::get).delete(nodes::revoke))
        .route("/nodes/{id}/members", post(nodes::add_member))
        .route("/nodes/{id}/fs/list", get(fs::list))
        .route("/nodes/{id}/fs/stat", get(fs::stat))
        .route("/nodes/{id}/fs/read", get(fs::read))
        .route("/nodes/{id}/fs/download", get(fs::download))
        .route("/nodes/{id}/fs/write", put(fs::write))
        .route("/nodes/{id}/fs/upload", put(fs::upload))
        .route("/nodes/{id}/fs/create", post(fs::create))
        .route("/nodes/{id}/fs/rename", post(fs::rename))
        .route("/nodes/{id}/fs/delete", post(fs::delete))
        .route("/nodes/{id}/git/status", get(git::status))
        .route("/nodes/{id}/git/diff", get(git::diff))
        .route("/nodes/{id}/git/log", get(git::log))
        .route(
            "/nodes/{id}/git/branches",
            get(git::branches).post(git::create_branch),
        )
        .route("/nodes/{id}/git/checkout", post(git::checkout))
        .route("/nodes/{id}/git/stage", post(git::stage))
        .route("/nodes/{id}/git/unstage", post(git::unstage))
        .route("/nodes/{id}/git/discard", post(git::discard))
        .route("/nodes/{id}/git/commit", post(git::commit))
        .route("/nodes/{id}/terminal", get(terminal::upgrade))
        .route(
            "/nodes/{id}/members/{username}",
            delete(nodes::remove_member),
        )
        .route("/sessions", get(sessions::list).post(sessions::create))
        .route("/sessions/{id}", get(sessions::get))
        .route("/sessions/{id}/events", get(sessions::events))
        .route("/sessions/{id}/stream", get(sessions::stream))
        .route("/sessions/{id}/messages", post(sessions::message))
        .route("/sessions/{id}/stop", post(sessions::stop))
        .route(
            "/sessions/{id}/approvals/{approval_id}",
            post(approvals::decide),
        )
        .route("/approvals", get(approvals::approvals))
        .route("/ws", get(ws::upgrade))
        .route("/audit", get(audit::list))
        .fallback(|| async { ApiError::NotFound("no such API endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed(
                "this endpoint does not take that method; see the API reference".into(),
            )
        });
    Router::new()
        .route("/health", get(health))
        .nest("/api/v1", api)
        .fallback(crate::web::serve)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// `GET /health`: liveness for load balancers and `curl`; no authentication, no secrets.
async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "nodes_online": state.registry.online(),
    }))
}
