//! File content through main, streamed both ways without holding a file in memory:
//! `GET …/fs/read` and `…/fs/download` (HTTP `Range` supported) and `PUT …/fs/write` and `…/fs/upload`
//! (the request body goes to the node as it arrives; the node replaces the file in one rename).

use std::net::SocketAddr;
use vibebridge_tunnel::reply::ErrorCode;

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vibebridge_tunnel::fs::{FsAnswer, FsRequest, WriteMode};
use vibebridge_tunnel::mux::TunnelStream;

use super::{PathQuery, check_path, entry, next_answer, open, unexpected};
use crate::api::ApiError;
use crate::api::{Path, Query};
use crate::auth::Approved;
use crate::ops::Actor;
use crate::ops::relay;
use crate::quota::SharePermit;
use crate::state::AppState;
use crate::store::AuditAction;

/// Bytes per body chunk of a download.
const CHUNK: usize = 64 * 1024;

/// `PUT …/fs/upload?path=&overwrite=`.
#[derive(Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "FsUploadQuery")]
pub struct UploadQuery {
    path: String,
    #[serde(default)]
    overwrite: bool,
}

/// `GET …/fs/read?path=`: the file's bytes (`Range: bytes=A-B` for part of it), with its `ETag`.
pub async fn read(
    state: State<AppState>,
    who: Approved,
    id: Path<String>,
    q: Query<PathQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    content(state, who, id, q, headers, false).await
}

/// `GET …/fs/download?path=`: like `read`, as an attachment named after the file.
pub async fn download(
    state: State<AppState>,
    who: Approved,
    id: Path<String>,
    q: Query<PathQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    content(state, who, id, q, headers, true).await
}

async fn content(
    State(state): State<AppState>,
    Approved(who): Approved,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
    headers: HeaderMap,
    attachment: bool,
) -> Result<Response, ApiError> {
    check_path(&q.path)?;
    let range = match headers.get(header::RANGE) {
        Some(v) => Some(parse_range(v)?),
        None => None,
    };
    let (offset, length) = range.unwrap_or((0, None));
    let req = FsRequest::Read {
        path: q.path,
        offset,
        length,
    };
    let (answer, stream, permit) = open(&state, &who, &id, req).await?;
    let FsAnswer::Reading {
        entry,
        offset,
        length,
    } = answer
    else {
        return Err(unexpected(&answer));
    };
    let last = served_range(range, offset, length, entry.size)?;
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        // Files are data, never pages of this origin, whatever they contain.
        .header(header::CONTENT_SECURITY_POLICY, "sandbox")
        .header(header::CACHE_CONTROL, "no-store");
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", entry.etag)) {
        response = response.header(header::ETAG, v);
    }
    if let Some(last) = last {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {offset}-{last}/{}", entry.size),
        );
    }
    if attachment {
        response = response.header(header::CONTENT_DISPOSITION, disposition(&entry.name));
    }
    response
        .body(HttpBody::from_stream(exact(stream, length, permit)))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Exactly `length` bytes of the stream; ending early is an error, so a cut download is never
/// mistaken for a complete one.
fn exact(
    stream: TunnelStream,
    length: u64,
    permit: SharePermit,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    // The permit lives as long as the body: the stream counts against its user until it ends.
    futures::stream::unfold(
        (stream, length, permit),
        |(mut stream, left, permit)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; usize::try_from(left).unwrap_or(CHUNK).min(CHUNK)];
            match stream.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the node ended the file early",
                    )),
                    (stream, 0, permit),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (stream, left - n as u64, permit)))
                }
                Err(e) => Some((Err(e), (stream, 0, permit))),
            }
        },
    )
}

/// Checks the node's answer to a read of `asked` (a `Range`, or the whole file) against what was asked
/// and the file's size, in checked arithmetic: the last byte for `Content-Range` when a range was asked.
/// A range starting at or past the end is 416; an answer that cannot be right is the node's fault.
fn served_range(
    asked: Option<(u64, Option<u64>)>,
    offset: u64,
    length: u64,
    size: u64,
) -> Result<Option<u64>, ApiError> {
    let (want_offset, want_length) = asked.unwrap_or((0, None));
    let end = offset.checked_add(length);
    if offset != want_offset
        || want_length.is_some_and(|w| length > w)
        || end.is_none_or(|end| end > size)
    {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the node answered bytes {offset}+{length} of a {size}-byte file to a read of \
             {want_offset}+{want_length:?}"
        )));
    }
    if asked.is_none() {
        return Ok(None);
    }
    match end.and_then(|end| end.checked_sub(1)) {
        Some(last) if offset < size && length > 0 => Ok(Some(last)),
        _ => Err(ApiError::NodeRefused {
            code: ErrorCode::RangeNotSatisfiable,
            message: format!(
                "the range starts at byte {offset}, at or past the end of the {size}-byte file"
            ),
        }),
    }
}

/// `bytes=A-B` or `bytes=A-` → (offset, length).
fn parse_range(v: &HeaderValue) -> Result<(u64, Option<u64>), ApiError> {
    let bad = || {
        ApiError::BadRequest(
            "unsupported Range header: send one range as `bytes=START-END` or `bytes=START-`"
                .into(),
        )
    };
    let spec = v.to_str().map_err(|_| bad())?.trim();
    let (start, end) = spec
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end = end.trim();
    if end.is_empty() {
        return Ok((start, None));
    }
    let end: u64 = end.parse().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    // An end past any file means "to the end" (RFC 9110 clamps it); `u64::MAX - 0 + 1` must not overflow.
    Ok((start, (end - start).checked_add(1)))
}

/// `attachment; filename*=UTF-8''…`, percent-encoded so any name is safe in a header.
fn disposition(name: &str) -> String {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename*=UTF-8''{encoded}")
}

/// `PUT …/fs/write?path=`: replaces (or creates) the file with the body, atomically. With
/// `If-Match: "<etag>"` only if the file is still the version that was read.
pub async fn write(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let if_match = request
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        });
    let written = put(
        &state,
        &who,
        &id,
        q.path.clone(),
        if_match,
        WriteMode::Replace,
        request,
    )
    .await?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::FsWritten,
        &id,
        q.path,
    );
    Ok(written.into_response())
}

/// `PUT …/fs/upload?path=&overwrite=`: a new file from the body; an existing one only with `overwrite`.
pub async fn upload(
    State(state): State<AppState>,
    Approved(who): Approved,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let mode = if q.overwrite {
        WriteMode::Replace
    } else {
        WriteMode::CreateNew
    };
    let written = put(&state, &who, &id, q.path.clone(), None, mode, request).await?;
    relay::audit(
        &state,
        &Actor::of(&who, Some(peer)),
        AuditAction::FsUploaded,
        &id,
        q.path,
    );
    Ok((StatusCode::CREATED, written).into_response())
}

/// The shared write path: the node checks every rule first, then the body streams to it.
async fn put(
    state: &AppState,
    who: &crate::auth::AuthUser,
    id: &str,
    path: String,
    if_match: Option<String>,
    mode: WriteMode,
    request: Request,
) -> Result<axum::Json<vibebridge_tunnel::fs::Entry>, ApiError> {
    check_path(&path)?;
    let size = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::LengthRequired(
                "send the file with a Content-Length header (chunked uploads are not accepted)"
                    .into(),
            )
        })?;
    let req = FsRequest::Write {
        path,
        size,
        if_match,
        mode,
    };
    let (answer, mut stream, _permit) = open(state, who, id, req).await?;
    if answer != FsAnswer::Ready {
        return Err(unexpected(&answer));
    }
    let mut body = request.into_body().into_data_stream();
    let mut sent = 0u64;
    let idle = state.config.server.upload_idle_timeout;
    // A stalled upload would hold the node's stream (and its half-written temporary file) for ever.
    while let Some(chunk) = tokio::time::timeout(idle, body.next()).await.map_err(|_| {
        ApiError::RequestTimeout(format!(
            "the upload sent nothing for {} s after {sent} bytes (server.upload_idle_timeout); nothing was changed",
            idle.as_secs()
        ))
    })? {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!(
                "the upload failed after {sent} bytes: {e}; nothing was changed"
            ))
        })?;
        sent += chunk.len() as u64;
        if sent > size {
            return Err(ApiError::BadRequest(
                "the body is longer than its Content-Length; nothing was changed".into(),
            ));
        }
        stream.write_all(&chunk).await.map_err(|e| {
            ApiError::NodeOffline(format!("node {id} went away during the upload: {e}"))
        })?;
    }
    stream.flush().await.map_err(|e| {
        ApiError::NodeOffline(format!("node {id} went away during the upload: {e}"))
    })?;
    entry(next_answer(state, id, &mut stream).await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves the Range forms we serve parse, and the others are refused with the accepted forms named.
    #[test]
    fn ranges() {
        let r = |s: &str| parse_range(&HeaderValue::from_str(s).unwrap());
        assert_eq!(r("bytes=0-9").unwrap(), (0, Some(10)));
        assert_eq!(r("bytes=100-").unwrap(), (100, None));
        assert_eq!(r("bytes=0-18446744073709551615").unwrap(), (0, None));
        assert_eq!(
            r("bytes=1-18446744073709551615").unwrap(),
            (1, Some(u64::MAX))
        );
        assert!(r("bytes=0-18446744073709551616").is_err());
        for bad in [
            "bytes=-5",
            "bytes=9-3",
            "items=0-1",
            "bytes=a-b",
            "bytes=0-1,4-5",
        ] {
            assert!(r(bad).is_err(), "{bad}");
        }
        assert_eq!(
            disposition("a b/ü.txt"),
            "attachment; filename*=UTF-8''a%20b%2F%C3%BC.txt"
        );
    }

    /// Proves node-supplied offsets and lengths are checked without overflow: a range past the end is
    /// 416, an answer that does not fit the file or the request is refused, and none of it panics.
    #[test]
    fn served_ranges_use_checked_arithmetic() {
        let code = |e: ApiError| e.into_response().status().as_u16();
        assert_eq!(served_range(None, 0, 13, 13).unwrap(), None);
        assert_eq!(served_range(Some((2, Some(5))), 2, 5, 13).unwrap(), Some(6));
        assert_eq!(
            served_range(Some((0, None)), 0, 0, 0).map_err(code),
            Err(416)
        );
        assert_eq!(
            served_range(Some((13, None)), 13, 0, 13).map_err(code),
            Err(416)
        );
        assert_eq!(
            served_range(Some((u64::MAX, None)), u64::MAX, 0, 0).map_err(code),
            Err(500)
        );
        for (offset, length) in [(u64::MAX, 2), (1, u64::MAX), (2, 6), (3, 5)] {
            let answer = served_range(Some((2, Some(5))), offset, length, u64::MAX);
            assert_eq!(answer.map_err(code), Err(500), "{offset}+{length}");
        }
        assert_eq!(served_range(None, 0, 14, 13).map_err(code), Err(500));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, failure_persistence: None, ..Default::default() })]

        /// Proves any Range header parses to a range that covers exactly what it names, or is refused, never a panic.
        #[test]
        fn any_range_header(
            text in "(bytes=)?[ 0-9]{0,22}-?[ 0-9]{0,22}(,[0-9-]{0,5})?",
            start in proptest::prelude::any::<u64>(),
            end in proptest::prelude::any::<u64>(),
        ) {
            if let Ok(v) = HeaderValue::from_str(&text) {
                let _ = parse_range(&v);
            }
            let v = HeaderValue::from_str(&format!("bytes={start}-{end}")).unwrap();
            match parse_range(&v) {
                Ok((s, len)) => {
                    proptest::prop_assert!(end >= start && s == start);
                    match len {
                        Some(len) => proptest::prop_assert_eq!(u128::from(len), u128::from(end) - u128::from(start) + 1),
                        None => proptest::prop_assert!(start == 0 && end == u64::MAX),
                    }
                }
                Err(_) => proptest::prop_assert!(end < start),
            }
        }

        /// Proves any answer a node gives to any range is accepted only when it fits the request and the file.
        #[test]
        fn any_node_answer_to_a_range(
            asked in proptest::option::of((proptest::prelude::any::<u64>(), proptest::option::of(proptest::prelude::any::<u64>()))),
            offset in proptest::prelude::any::<u64>(),
            length in proptest::prelude::any::<u64>(),
            size in proptest::prelude::any::<u64>(),
        ) {
            if let Ok(Some(last)) = served_range(asked, offset, length, size) {
                proptest::prop_assert!(last < size && last >= offset);
            }
        }
    }
}
