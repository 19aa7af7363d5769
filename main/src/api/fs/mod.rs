//! `/api/v1/nodes/:id/fs/…`: files on a node. Each request is relayed over one `fs` tunnel stream; the
//! node applies its `filesystem.*` guardrails and answers. Listings and metadata are JSON; content is
//! streamed both ways (see [`transfer`]).

pub(crate) mod transfer;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;
use vibebridge_tunnel::fs::{DirListing, Entry, FsAnswer, FsReply, FsRequest, MAX_PATH_BYTES};
use vibebridge_tunnel::mux::TunnelStream;
use vibebridge_tunnel::protocol::Open;

pub use transfer::{download, read, upload, write};

use super::bodies::Deleted;
use super::{ApiError, Body};
use crate::api::{Path, Query};
use crate::auth::{Approved, AuthUser};
use crate::ops::relay;
use crate::ops::{Actor, nodes};
use crate::quota::SharePermit;
use crate::state::AppState;
use crate::store::AuditAction;

/// How long main waits for a node's answer frame (content then streams without a deadline).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// `?path=&dirs_only=` of a listing.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "FsListQuery")]
pub struct ListQuery {
    #[serde(default)]
    #[ts(optional)]
    path: Option<String>,
    #[serde(default)]
    dirs_only: bool,
}

/// `?path=` of a single entry.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "FsPathQuery")]
pub struct PathQuery {
    path: String,
}

/// `POST …/fs/create`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "FsCreate")]
pub struct CreateBody {
    path: String,
    #[serde(default)]
    dir: bool,
}

/// `POST …/fs/rename`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "FsRename")]
pub struct RenameBody {
    from: String,
    to: String,
    #[serde(default)]
    overwrite: bool,
}

/// `POST …/fs/delete`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "FsDelete")]
pub struct DeleteBody {
    path: String,
    #[serde(default)]
    recursive: bool,
}

/// `GET …/fs/list?path=&dirs_only=`: a directory's entries, or the node's roots without `path`.
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<DirListing>, ApiError> {
    let path = q.path.filter(|p| !p.is_empty());
    if let Some(p) = &path {
        check_path(p)?;
    }
    let req = FsRequest::List {
        path,
        dirs_only: q.dirs_only,
    };
    match one_frame(&state, &who, &id, req).await? {
        FsAnswer::Listing(l) => Ok(Json(l)),
        other => Err(unexpected(&other)),
    }
}

/// `GET …/fs/stat?path=`.
pub async fn stat(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
) -> Result<Json<Entry>, ApiError> {
    check_path(&q.path)?;
    entry(one_frame(&state, &who, &id, FsRequest::Stat { path: q.path }).await?)
}

/// `POST …/fs/create` `{path, dir}`: an empty file or a directory.
pub async fn create(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<CreateBody>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    check_path(&b.path)?;
    let req = FsRequest::Create {
        path: b.path.clone(),
        dir: b.dir,
    };
    let made = entry(one_frame(&state, &who, &id, req).await?)?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::FsCreated,
        &id,
        b.path.clone(),
    );
    Ok((StatusCode::CREATED, made))
}

/// `POST …/fs/rename` `{from, to, overwrite}`.
pub async fn rename(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<RenameBody>,
) -> Result<Json<Entry>, ApiError> {
    check_path(&b.from)?;
    check_path(&b.to)?;
    let what = format!("{} -> {}", b.from, b.to);
    let req = FsRequest::Rename {
        from: b.from,
        to: b.to,
        overwrite: b.overwrite,
    };
    let moved = entry(one_frame(&state, &who, &id, req).await?)?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::FsRenamed,
        &id,
        what,
    );
    Ok(moved)
}

/// `POST …/fs/delete` `{path, recursive}`.
pub async fn delete(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Body(b): Body<DeleteBody>,
) -> Result<Json<Deleted>, ApiError> {
    check_path(&b.path)?;
    let req = FsRequest::Delete {
        path: b.path.clone(),
        recursive: b.recursive,
    };
    match one_frame(&state, &who, &id, req).await? {
        FsAnswer::Done => {
            relay::audit(
                &state,
                &Actor::of(&who, Some(peer)),
                AuditAction::FsDeleted,
                &id,
                b.path.clone(),
            );
            Ok(Json(Deleted { deleted: b.path }))
        }
        other => Err(unexpected(&other)),
    }
}

/// Refuses paths no node would accept, before opening a stream.
fn check_path(path: &str) -> Result<(), ApiError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(ApiError::BadRequest(format!(
            "the path is {} bytes long; the limit is {MAX_PATH_BYTES}",
            path.len()
        )));
    }
    Ok(())
}

/// Sends a request whose whole answer is one frame.
async fn one_frame(
    state: &AppState,
    who: &AuthUser,
    id: &str,
    req: FsRequest,
) -> Result<FsAnswer, ApiError> {
    let (answer, _stream, _permit) = open(state, who, id, req).await?;
    Ok(answer)
}

/// Opens an `fs` stream to a node the caller may use and reads the node's first answer.
async fn open(
    state: &AppState,
    who: &AuthUser,
    id: &str,
    req: FsRequest,
) -> Result<(FsAnswer, TunnelStream, SharePermit), ApiError> {
    let node = nodes::visible(state, who, id)?;
    let permit = state
        .stream_shares
        .take(&node.id, who.user.id, state.config.tunnel.max_streams)
        .map_err(ApiError::Busy)?;
    let what = "its files can be reached once its agent reconnects";
    let mut stream = relay::open(state, &node.id, &Open::Fs(req), what).await?;
    let answer = next_answer(state, &node.id, &mut stream).await?;
    Ok((answer, stream, permit))
}

/// Reads the next answer frame of an `fs` stream.
async fn next_answer(
    state: &AppState,
    node: &str,
    stream: &mut TunnelStream,
) -> Result<FsAnswer, ApiError> {
    match relay::answer(state, node, stream, ANSWER_TIMEOUT).await? {
        FsReply::Ok(answer) => Ok(answer),
        FsReply::Err { code, message } => Err(ApiError::NodeRefused { code, message }),
    }
}

fn entry(answer: FsAnswer) -> Result<Json<Entry>, ApiError> {
    match answer {
        FsAnswer::Entry(e) => Ok(Json(e)),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(answer: &FsAnswer) -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "the node answered out of protocol: {answer:?}"
    ))
}
