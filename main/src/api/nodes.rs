//! `/api/v1/nodes`: list nodes (stored records merged with live links), register tokens, revoke, members.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use serde::{Deserialize, Serialize};
use vibebridge_tunnel::protocol::ProviderInfo;

use super::bodies::NodeRevoked;
use super::{ApiError, Body, OptionalBody};
use crate::api::Path;
use crate::auth::{Approved, AuthUser};
use crate::ops::{Actor, nodes};
use crate::state::AppState;
use crate::store::{NodeFlagKind, NodeRecord, rfc3339};

/// A node as the API shows it.
#[derive(Serialize, ts_rs::TS)]
pub struct NodeView {
    id: String,
    name: String,
    online: bool,
    connected_at: Option<String>,
    last_heartbeat: Option<String>,
    last_seen: Option<String>,
    address: Option<String>,
    hostname: Option<String>,
    os: Option<String>,
    labels: Vec<String>,
    capabilities: Vec<String>,
    providers: Vec<ProviderInfo>,
    agent_version: Option<String>,
    protocol_version: Option<u32>,
    fingerprint: String,
    owner: Option<String>,
    members: Vec<String>,
    enrolled_at: String,
    /// A problem the node's owner and admins must look at (shown to them only).
    flag: Option<NodeFlagView>,
}

/// A [`NodeFlag`](crate::store::NodeFlag) as the API shows it.
#[derive(Serialize, ts_rs::TS)]
pub struct NodeFlagView {
    kind: NodeFlagKind,
    message: String,
    at: String,
}

fn view(state: &AppState, who: &AuthUser, node: &NodeRecord) -> NodeView {
    let link = state.registry.get(&node.id);
    let hello = link
        .as_ref()
        .map(|l| l.hello.clone())
        .or_else(|| node.last_hello.clone());
    let name_of = |id| {
        state
            .store
            .user(id)
            .ok()
            .flatten()
            .map(|u| u.username)
            .unwrap_or_else(|| id.to_string())
    };
    let owner = match node.owner {
        Some(id) => Some(name_of(id)),
        None => state.store.creator().ok().flatten().map(|u| u.username),
    };
    NodeView {
        id: node.id.clone(),
        name: hello
            .as_ref()
            .map(|h| h.name.clone())
            .unwrap_or_else(|| node.id.clone()),
        online: link.is_some(),
        connected_at: link.as_ref().map(|l| rfc3339(l.connected_at)),
        last_heartbeat: link.as_ref().map(|l| rfc3339(l.last_heartbeat())),
        last_seen: node.last_seen.map(rfc3339),
        address: link.as_ref().and_then(|l| l.remote).map(|a| a.to_string()),
        hostname: hello.as_ref().map(|h| h.hostname.clone()),
        os: hello.as_ref().map(|h| h.os.clone()),
        labels: hello.as_ref().map(|h| h.labels.clone()).unwrap_or_default(),
        capabilities: hello
            .as_ref()
            .map(|h| h.capabilities.clone())
            .unwrap_or_default(),
        providers: hello
            .as_ref()
            .map(|h| h.providers.clone())
            .unwrap_or_default(),
        agent_version: hello.as_ref().map(|h| h.agent_version.clone()),
        protocol_version: hello.as_ref().map(|h| h.protocol_version),
        fingerprint: node.fingerprint.clone(),
        owner,
        members: node.members.iter().map(|m| name_of(*m)).collect(),
        enrolled_at: rfc3339(node.enrolled_at),
        flag: node
            .flag
            .as_ref()
            .filter(|_| nodes::can_manage(who, node))
            .map(|f| NodeFlagView {
                kind: f.kind,
                message: f.message.clone(),
                at: rfc3339(f.at),
            }),
    }
}

/// `GET /api/v1/nodes`: the nodes the caller owns or is a member of (admins: all).
pub async fn list(
    State(state): State<AppState>,
    Approved(who): Approved,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    let nodes = state.store.nodes()?;
    Ok(Json(
        nodes
            .iter()
            .filter(|n| nodes::can_see(&who, n))
            .map(|n| view(&state, &who, n))
            .collect(),
    ))
}

/// `GET /api/v1/nodes/:id`.
pub async fn get(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<NodeView>, ApiError> {
    let node = nodes::visible(&state, &who, &id)?;
    Ok(Json(view(&state, &who, &node)))
}

/// `{"ttl": "1h"}` (optional).
#[derive(Deserialize, Default, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// How long the token is valid, e.g. `"1h"` (default `auth.node_token_ttl`, at most 30 days).
    #[serde(default, with = "humantime_serde")]
    #[ts(type = "string | null", optional)]
    ttl: Option<Duration>,
}

/// A freshly created register token; the only time it is shown.
#[derive(Serialize, ts_rs::TS)]
pub struct TokenView {
    id: String,
    token: String,
    expires_at: String,
    main_host_key: String,
    join_command: String,
}

/// `POST /api/v1/nodes/tokens`: a one-time register token; the node it enrols belongs to the caller.
pub async fn create_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    OptionalBody(req): OptionalBody<TokenRequest>,
) -> Result<Json<TokenView>, ApiError> {
    let (token, record) = nodes::create_token(
        &state,
        &Actor::of(&who, Some(peer)),
        Some(who.user.id),
        req.ttl,
    )?;
    Ok(Json(TokenView {
        id: record.id,
        join_command: state.join_command(&token),
        token,
        expires_at: rfc3339(record.expires_at),
        main_host_key: state.host_key_fingerprint.clone(),
    }))
}

/// `DELETE /api/v1/nodes/:id`: revoke: forget the key and cut the live link now.
pub async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path(id): Path<String>,
) -> Result<Json<NodeRevoked>, ApiError> {
    let node = nodes::managed(&state, &who, &id, "revoke it")?;
    let was_online = nodes::revoke(&state, &Actor::of(&who, Some(peer)), &node)?;
    Ok(Json(NodeRevoked {
        revoked: id,
        was_online,
    }))
}

/// `{"username": "…"}`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "NodeMember")]
pub struct MemberBody {
    username: String,
}

/// `POST /api/v1/nodes/:id/members`.
pub async fn add_member(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Body(body): Body<MemberBody>,
) -> Result<Json<NodeView>, ApiError> {
    let actor = Actor::of(&who, Some(peer));
    let node = nodes::set_member(&state, &actor, &who, &id, &body.username, true)?;
    Ok(Json(view(&state, &who, &node)))
}

/// `DELETE /api/v1/nodes/:id/members/:username`.
pub async fn remove_member(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Approved(who): Approved,
    Path((id, username)): Path<(String, String)>,
) -> Result<Json<NodeView>, ApiError> {
    let actor = Actor::of(&who, Some(peer));
    let node = nodes::set_member(&state, &actor, &who, &id, &username, false)?;
    Ok(Json(view(&state, &who, &node)))
}
