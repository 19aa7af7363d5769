//! Files on this node for main's file API (`fs` streams): listings, metadata, ranged reads, atomic
//! writes, create, rename and delete, all behind the `filesystem.*` guardrails of [`guard`].

pub mod beneath;
pub mod guard;
pub mod ops;
pub mod transfer;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use vibebridge_tunnel::reply::ErrorCode;

use tokio::io::AsyncWriteExt;
use vibebridge_tunnel::frame::{write_answer, write_frame};
use vibebridge_tunnel::fs::{FsAnswer, FsReply, FsRequest};
use vibebridge_tunnel::mux::TunnelStream;

use crate::config::FilesystemConfig;
use guard::{Guard, Refusal};

/// Serves one `fs` stream: answers the request, streaming content where it has any, and closes.
pub async fn serve(
    mut stream: TunnelStream,
    cfg: Arc<FilesystemConfig>,
    req: FsRequest,
    max_frame: usize,
) {
    let reply = match req {
        FsRequest::Read {
            path,
            offset,
            length,
        } => return read(stream, cfg, path, offset, length, max_frame).await,
        FsRequest::Write {
            path,
            size,
            if_match,
            mode,
        } => {
            let plan = blocking(cfg.clone(), move |g| {
                transfer::plan_write(g, &path, size, if_match, mode)
            })
            .await;
            match plan {
                Ok(plan) => write(&mut stream, plan, cfg, max_frame).await,
                Err(refusal) => Err(refusal),
            }
        }
        other => blocking(cfg, move |g| answer(g, other)).await,
    };
    let frame = match reply {
        Ok(answer) => FsReply::Ok(answer),
        Err(Refusal { code, message }) => FsReply::Err { code, message },
    };
    if let Err(e) = write_answer(&mut stream, &frame, max_frame).await {
        tracing::debug!("could not deliver a file answer: {e}");
    }
    let _ = stream.shutdown().await;
}

/// The one-frame operations.
fn answer(guard: &Guard<'_>, req: FsRequest) -> Result<FsAnswer, Refusal> {
    match req {
        FsRequest::List { path, dirs_only } => {
            ops::list(guard, path.as_deref(), dirs_only).map(FsAnswer::Listing)
        }
        FsRequest::Stat { path } => ops::stat(guard, &path).map(FsAnswer::Entry),
        FsRequest::Create { path, dir } => ops::create(guard, &path, dir).map(FsAnswer::Entry),
        FsRequest::Rename {
            from,
            to,
            overwrite,
        } => ops::rename(guard, &from, &to, overwrite).map(FsAnswer::Entry),
        FsRequest::Delete { path, recursive } => {
            ops::delete(guard, &path, recursive).map(|()| FsAnswer::Done)
        }
        FsRequest::Read { .. } | FsRequest::Write { .. } => Err(Refusal::new(
            ErrorCode::Internal,
            "content operations are not one-frame operations",
        )),
    }
}

/// Runs `op` with a fresh guard on the blocking pool (path resolution and metadata are syscalls).
async fn blocking<T: Send + 'static>(
    cfg: Arc<FilesystemConfig>,
    op: impl FnOnce(&Guard<'_>) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(move || op(&Guard::new(&cfg)))
        .await
        .unwrap_or_else(|e| Err(transfer::task_failed(e)))
}

/// `read`: the answer frame, then exactly `length` bytes, then the end of the stream.
async fn read(
    mut stream: TunnelStream,
    cfg: Arc<FilesystemConfig>,
    path: String,
    offset: u64,
    length: Option<u64>,
    max_frame: usize,
) {
    let plan = blocking(cfg, move |g| transfer::plan_read(g, &path, offset, length)).await;
    let frame = match &plan {
        Ok(p) => FsReply::Ok(FsAnswer::Reading {
            entry: p.entry.clone(),
            offset: p.offset,
            length: p.length,
        }),
        Err(Refusal { code, message }) => FsReply::Err {
            code: *code,
            message: message.clone(),
        },
    };
    if write_frame(&mut stream, &frame, max_frame).await.is_ok()
        && let Ok(plan) = plan
        && let Err(e) = transfer::send(&plan, &mut stream).await
    {
        // Main sees the stream end short of `length` and fails the download rather than truncating it.
        tracing::debug!("read of {} ended early: {e}", plan.file.display());
    }
    let _ = stream.shutdown().await;
}

/// `write`: `Ready`, then the content, then (by the caller) the new entry or the refusal.
async fn write(
    stream: &mut TunnelStream,
    plan: transfer::WritePlan,
    cfg: Arc<FilesystemConfig>,
    max_frame: usize,
) -> Result<FsAnswer, Refusal> {
    if let Err(e) = write_frame(stream, &FsReply::Ok(FsAnswer::Ready), max_frame).await {
        return Err(Refusal::new(
            ErrorCode::Internal,
            format!("main went away: {e}"),
        ));
    }
    transfer::receive(&plan, stream).await?;
    let target = plan.target;
    blocking(cfg, move |g| ops::entry(g, &target))
        .await
        .map(FsAnswer::Entry)
}
