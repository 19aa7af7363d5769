//! `GET /api/v1/audit`: the audit log, newest first, for admins.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::api::Query;
use crate::auth::Admin;
use crate::state::AppState;
use crate::store::{AuditEntry, rfc3339};

/// `?before=SEQ&limit=N`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "AuditPage")]
pub struct Page {
    #[ts(optional)]
    before: Option<u64>,
    #[ts(optional)]
    limit: Option<usize>,
}

/// One entry as the API shows it.
#[derive(Serialize, ts_rs::TS)]
#[ts(rename = "AuditEntryView")]
pub struct EntryView {
    seq: u64,
    at: String,
    #[serde(flatten)]
    entry: crate::store::AuditEvent,
}

impl From<AuditEntry> for EntryView {
    fn from(e: AuditEntry) -> Self {
        EntryView {
            seq: e.seq,
            at: rfc3339(e.at),
            entry: e.event,
        }
    }
}

/// `GET /api/v1/audit`.
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(page): Query<Page>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state.store.audit_page(page.before, limit)?;
    Ok(Json(entries.into_iter().map(EntryView::from).collect()))
}
