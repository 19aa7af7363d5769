//! The file operations that carry content: ranged reads streamed to main, and atomic writes (a
//! temporary file beside the target, flushed to disk, then renamed over it).

use std::io::SeekFrom;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use vibebridge_tunnel::fs::{
    ERR_CHANGED, ERR_EXISTS, ERR_TOO_LARGE, ERR_WRONG_KIND, Entry, EntryKind, WriteMode,
};
use vibebridge_tunnel::session::{ERR_BAD_REQUEST, ERR_INTERNAL};

use super::guard::{Guard, Refusal};
use super::ops;

/// Copy buffer for content, both ways.
const CHUNK: usize = 256 * 1024;

/// A checked read: the file, the entry to answer with, and the range.
pub struct ReadPlan {
    /// The resolved file.
    pub file: PathBuf,
    /// What to answer before the bytes.
    pub entry: Entry,
    /// First byte.
    pub offset: u64,
    /// Bytes to send.
    pub length: u64,
}

/// Checks a read of `length` bytes (to the end when `None`) from `offset`.
pub fn plan_read(
    guard: &Guard<'_>,
    path: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<ReadPlan, Refusal> {
    let file = guard.existing(path)?;
    let entry = ops::entry(guard, &file)?;
    if entry.kind != EntryKind::File {
        return Err(Refusal::new(
            ERR_WRONG_KIND,
            format!("{path:?} is not a regular file; list a directory instead of reading it"),
        ));
    }
    if offset > entry.size {
        return Err(Refusal::new(
            ERR_BAD_REQUEST,
            format!(
                "the range starts at byte {offset}, past the end of the {}-byte file",
                entry.size
            ),
        ));
    }
    let length = length.unwrap_or(u64::MAX).min(entry.size - offset);
    if length > guard.max_bytes() {
        return Err(Refusal::new(
            ERR_TOO_LARGE,
            format!(
                "{length} bytes is more than the node's limit of {} (filesystem.max_file_bytes); read it in ranges",
                guard.max_bytes()
            ),
        ));
    }
    Ok(ReadPlan {
        file,
        entry,
        offset,
        length,
    })
}

/// Streams the planned bytes to `out` without holding more than one chunk in memory.
pub async fn send(plan: &ReadPlan, out: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<u64> {
    let mut file = tokio::fs::File::open(&plan.file).await?;
    file.seek(SeekFrom::Start(plan.offset)).await?;
    let mut limited = file.take(plan.length);
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0;
    loop {
        let n = limited.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).await?;
        sent += n as u64;
    }
    out.flush().await?;
    Ok(sent)
}

/// A checked write: where the content goes and what it replaces.
pub struct WritePlan {
    /// The file that will be replaced or created (a symlink inside the roots is followed).
    pub target: PathBuf,
    /// Bytes to receive.
    pub size: u64,
    /// The `etag` the file must still have at the moment of the rename.
    pub if_match: Option<String>,
    /// Permission bits of the new file: the old file's, or 0644.
    pub mode: u32,
}

/// Checks a write before any content is sent.
pub fn plan_write(
    guard: &Guard<'_>,
    path: &str,
    size: u64,
    if_match: Option<String>,
    mode: WriteMode,
) -> Result<WritePlan, Refusal> {
    guard.writable()?;
    if size > guard.max_bytes() {
        return Err(Refusal::new(
            ERR_TOO_LARGE,
            format!(
                "{size} bytes is more than the node's limit of {} bytes (filesystem.max_file_bytes)",
                guard.max_bytes()
            ),
        ));
    }
    let (_, full) = guard.entry(path)?;
    let exists = std::fs::symlink_metadata(&full).is_ok();
    let target = if exists { guard.existing(path)? } else { full };
    let current = std::fs::metadata(&target).ok();
    if let Some(meta) = &current {
        if mode == WriteMode::CreateNew {
            return Err(Refusal::new(
                ERR_EXISTS,
                format!(
                    "{} already exists; upload with overwrite to replace it",
                    target.display()
                ),
            ));
        }
        if !meta.is_file() {
            return Err(Refusal::new(
                ERR_WRONG_KIND,
                format!(
                    "{} is not a regular file; only files can be written",
                    target.display()
                ),
            ));
        }
    }
    check_etag(&target, current.as_ref(), if_match.as_deref())?;
    Ok(WritePlan {
        mode: current.map_or(0o644, |m| m.permissions().mode() & 0o7777),
        target,
        size,
        if_match,
    })
}

fn check_etag(
    target: &Path,
    current: Option<&std::fs::Metadata>,
    want: Option<&str>,
) -> Result<(), Refusal> {
    let Some(want) = want else { return Ok(()) };
    match current {
        Some(meta) if ops::etag(meta) == want => Ok(()),
        Some(_) => Err(Refusal::new(
            ERR_CHANGED,
            format!(
                "{} changed on the node since it was read; reload it (or save without if_match to overwrite)",
                target.display()
            ),
        )),
        None => Err(Refusal::new(
            ERR_CHANGED,
            format!(
                "{} was deleted on the node since it was read",
                target.display()
            ),
        )),
    }
}

/// Receives exactly `plan.size` bytes from `input` into a temporary file beside the target, flushes
/// it, and renames it over the target. On any failure (short input, disk full) the temporary file is
/// removed and the target is untouched; a crash leaves at most a `.name.vb-tmp-…` file behind, which the
/// next successful write of the same file removes once it is [`STALE_TEMP`] old.
pub async fn receive(
    plan: &WritePlan,
    input: &mut (impl AsyncRead + Unpin),
) -> Result<(), Refusal> {
    let staged = stage(plan, input).await?;
    replace(plan, staged).await
}

/// New content on disk beside its target, not yet in its place.
#[derive(Debug)]
pub struct Staged(PathBuf);

impl Staged {
    /// The temporary file.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The first half of [`receive`]: the content, complete and flushed, in a temporary file.
pub async fn stage(
    plan: &WritePlan,
    input: &mut (impl AsyncRead + Unpin),
) -> Result<Staged, Refusal> {
    let tmp = temp_path(&plan.target);
    match stage_into(plan, &tmp, input).await {
        Ok(()) => Ok(Staged(tmp)),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

async fn stage_into(
    plan: &WritePlan,
    tmp: &Path,
    input: &mut (impl AsyncRead + Unpin),
) -> Result<(), Refusal> {
    let io = |what: &'static str| move |e: std::io::Error| Refusal::io(what, tmp, &e);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(plan.mode)
        .open(tmp)
        .await
        .map_err(io("create"))?;
    let mut limited = input.take(plan.size);
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        let n = limited.read(&mut buf).await.map_err(io("receive into"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).await.map_err(io("write"))?;
        got += n as u64;
    }
    if got != plan.size {
        return Err(Refusal::new(
            ERR_BAD_REQUEST,
            format!(
                "the upload ended after {got} of {} bytes; nothing was changed",
                plan.size
            ),
        ));
    }
    file.sync_all().await.map_err(io("flush"))?;
    // The mode may have been narrowed by the umask; the new file keeps the old one's.
    tokio::fs::set_permissions(tmp, std::fs::Permissions::from_mode(plan.mode))
        .await
        .map_err(io("set permissions on"))
}

/// The second half of [`receive`]: one rename puts the staged content in place, unless the file
/// changed meanwhile (then the staged file is removed and the target left as it is).
pub async fn replace(plan: &WritePlan, staged: Staged) -> Result<(), Refusal> {
    // Last look before replacing: someone may have saved the file while this upload was arriving.
    let current = std::fs::metadata(&plan.target).ok();
    let renamed = match check_etag(&plan.target, current.as_ref(), plan.if_match.as_deref()) {
        Ok(()) => tokio::fs::rename(&staged.0, &plan.target)
            .await
            .map_err(|e| Refusal::io("replace", &plan.target, &e)),
        Err(e) => Err(e),
    };
    if let Err(e) = renamed {
        let _ = tokio::fs::remove_file(&staged.0).await;
        return Err(e);
    }
    if let Some(dir) = plan.target.parent() {
        // The rename is durable once the directory is; failing to flush it is not worth failing the write.
        if let Ok(d) = tokio::fs::File::open(dir).await {
            let _ = d.sync_all().await;
        }
    }
    let target = plan.target.clone();
    let _ = tokio::task::spawn_blocking(move || sweep_stale_temps(&target)).await;
    Ok(())
}

/// How long a temporary file must have gone unwritten before a later write of the same file removes it
/// as left over from a crash. A live upload writes to its temporary file continuously.
pub const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes `target`'s temporary files that nobody has written for [`STALE_TEMP`]: what a crash between
/// staging and renaming leaves behind. Best effort.
fn sweep_stale_temps(target: &Path) {
    let (Some(dir), Some(prefix)) = (target.parent(), temp_prefix(target)) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMP);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(path = %entry.path().display(), "removed a temporary file left by an interrupted write");
        }
    }
}

/// `.<name>.vb-tmp-`: what every temporary file of `target` starts with.
fn temp_prefix(target: &Path) -> Option<String> {
    let mut name = target.file_name()?.to_string_lossy().into_owned();
    // Stay under the 255-byte name limit however long the target's name is.
    while name.len() > 200 {
        name.pop();
    }
    Some(format!(".{name}.vb-tmp-"))
}

/// `.<name>.vb-tmp-<random>` beside `target`: same file system, so the rename is atomic.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut rand = [0u8; 6];
    let suffix = match getrandom::fill(&mut rand) {
        Ok(()) => rand.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(_) => format!("{}", std::process::id()),
    };
    let prefix = temp_prefix(target).unwrap_or_else(|| ".vb-tmp-".into());
    target.with_file_name(format!("{prefix}{suffix}"))
}

/// An internal failure of a blocking task.
pub fn task_failed(e: tokio::task::JoinError) -> Refusal {
    Refusal::new(ERR_INTERNAL, format!("the file operation failed: {e}"))
}
