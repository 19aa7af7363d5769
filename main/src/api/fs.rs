//! `GET /api/v1/nodes/:id/fs/list?path=`: the sub-directories of a directory on a node (or its roots), for
//! choosing a session's working directory. Relayed over an `fs_list` tunnel stream; the node only lists
//! directories inside its `filesystem.roots`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use vibebridge_tunnel::frame::read_frame;
use vibebridge_tunnel::fs::{DirListing, FsListReply};
use vibebridge_tunnel::protocol::Open;

use super::ApiError;
use super::nodes::visible_node;
use crate::AppState;
use crate::auth::Approved;
use crate::registry::OpenError;

/// How long main waits for a node's listing.
const LIST_TIMEOUT: Duration = Duration::from_secs(15);

/// `?path=` (absent or empty: the roots).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    path: Option<String>,
}

/// `GET /api/v1/nodes/:id/fs/list`.
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DirListing>, ApiError> {
    let node = visible_node(&state, &who, &id)?;
    if q.path.as_ref().is_some_and(|p| p.len() > 4096) {
        return Err(ApiError::BadRequest(
            "path is longer than 4096 bytes".into(),
        ));
    }
    let open = Open::FsList {
        path: q.path.filter(|p| !p.is_empty()),
    };
    let mut stream = state
        .registry
        .open(&node.id, &open)
        .await
        .map_err(|e| match e {
            OpenError::Offline(_) => ApiError::NodeOffline(format!(
                "node {} is offline; its directories can be browsed once its agent reconnects",
                node.id
            )),
            other => ApiError::NodeOffline(other.to_string()),
        })?;
    let max = state.config.tunnel.max_frame_bytes;
    let reply = tokio::time::timeout(LIST_TIMEOUT, read_frame::<FsListReply, _>(&mut stream, max))
        .await
        .map_err(|_| ApiError::NodeOffline(format!("node {} did not answer within 15 s", node.id)))?
        .map_err(|e| ApiError::NodeOffline(format!("node {}: {e}", node.id)))?;
    match reply {
        Some(FsListReply::Ok(listing)) => Ok(Json(listing)),
        Some(FsListReply::Err { code, message }) => Err(ApiError::NodeRefused { code, message }),
        None => Err(ApiError::NodeOffline(format!(
            "node {} closed the listing without answering (an older agent?)",
            node.id
        ))),
    }
}
