//! The file operations that carry content: ranged reads streamed to main, and atomic writes (a
//! temporary file beside the target, flushed to disk, then renamed over it).

use std::ffi::{OsStr, OsString};
use std::io::SeekFrom;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use vibebridge_tunnel::reply::ErrorCode;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use vibebridge_tunnel::fs::{Entry, EntryKind, WriteMode};

use super::guard::{Guard, Refusal};
use super::{beneath, ops};

/// Copy buffer for content, both ways.
const CHUNK: usize = 256 * 1024;

/// A checked read: the open file, the entry to answer with, and the range.
pub struct ReadPlan {
    /// The resolved file.
    pub file: PathBuf,
    /// The file, opened beneath its root: the bytes sent are this handle's, whatever the path names later.
    pub handle: std::fs::File,
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
    let not_a_file = || {
        Refusal::new(
            ErrorCode::WrongKind,
            format!("{path:?} is not a regular file; list a directory instead of reading it"),
        )
    };
    // Checked before opening too: opening a FIFO or a device can block or have effects.
    if ops::entry(guard, &file)?.kind != EntryKind::File {
        return Err(not_a_file());
    }
    let handle =
        std::fs::File::from(guard.open(&file, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?);
    let meta = handle
        .metadata()
        .map_err(|e| Refusal::io("inspect", &file, &e))?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.nlink() > 1 {
        return Err(Refusal::new(
            ErrorCode::HardLinked,
            format!(
                "{path:?} has {} hard links, and another name for it may lie outside the node's roots \
                 (filesystem.roots), so its content is not served; read it through a copy",
                meta.nlink()
            ),
        ));
    }
    let entry = ops::describe(&file, &meta, EntryKind::File, false);
    if offset > entry.size {
        return Err(Refusal::new(
            ErrorCode::RangeNotSatisfiable,
            format!(
                "the range starts at byte {offset}, past the end of the {}-byte file",
                entry.size
            ),
        ));
    }
    let length = length.unwrap_or(u64::MAX).min(entry.size - offset);
    if length > guard.max_bytes() {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!(
                "{length} bytes is more than the node's limit of {} (filesystem.max_file_bytes); read it in ranges",
                guard.max_bytes()
            ),
        ));
    }
    Ok(ReadPlan {
        file,
        handle,
        entry,
        offset,
        length,
    })
}

/// Streams the planned bytes to `out` without holding more than one chunk in memory.
pub async fn send(plan: &ReadPlan, out: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<u64> {
    let mut file = tokio::fs::File::from_std(plan.handle.try_clone()?);
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
    /// The target's directory, opened beneath its root: the content lands there whatever its path
    /// names by the time it arrives.
    dir: OwnedFd,
    /// The target's name in `dir`.
    name: OsString,
    /// Bytes to receive.
    pub size: u64,
    /// The `etag` the file must still have at the moment of the rename.
    pub if_match: Option<String>,
    /// Permission bits of the new file: the old file's, or 0644.
    pub mode: u32,
    /// An existing file is never replaced (an upload without overwrite); the rename itself checks it.
    pub create_new: bool,
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
            ErrorCode::TooLarge,
            format!(
                "{size} bytes is more than the node's limit of {} bytes (filesystem.max_file_bytes)",
                guard.max_bytes()
            ),
        ));
    }
    let (_, full) = guard.entry(path)?;
    let exists = std::fs::symlink_metadata(&full).is_ok();
    let target = if exists { guard.existing(path)? } else { full };
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(Refusal::new(
            ErrorCode::WrongKind,
            format!("{path:?} is a root directory; only files can be written"),
        ));
    };
    let dir = guard.open_dir(parent)?;
    let name = name.to_os_string();
    let current = beneath::meta_at(&dir, &name).map_err(|e| Refusal::io("inspect", &target, &e))?;
    if let Some(meta) = &current {
        if mode == WriteMode::CreateNew {
            return Err(exists_refusal(&target));
        }
        if !meta.is_file() {
            return Err(Refusal::new(
                ErrorCode::WrongKind,
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
        dir,
        name,
        size,
        if_match,
        create_new: mode == WriteMode::CreateNew,
    })
}

fn exists_refusal(target: &Path) -> Refusal {
    Refusal::new(
        ErrorCode::AlreadyExists,
        format!(
            "{} already exists; upload with overwrite to replace it",
            target.display()
        ),
    )
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
            ErrorCode::ChangedOnNode,
            format!(
                "{} changed on the node since it was read; reload it (or save without if_match to overwrite)",
                target.display()
            ),
        )),
        None => Err(Refusal::new(
            ErrorCode::ChangedOnNode,
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
pub struct Staged {
    path: PathBuf,
    name: OsString,
}

impl Staged {
    /// The temporary file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The first half of [`receive`]: the content, complete and flushed, in a temporary file.
pub async fn stage(
    plan: &WritePlan,
    input: &mut (impl AsyncRead + Unpin),
) -> Result<Staged, Refusal> {
    let name = temp_name(&plan.name);
    let staged = Staged {
        path: plan.target.with_file_name(&name),
        name,
    };
    match stage_into(plan, &staged, input).await {
        Ok(()) => Ok(staged),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&plan.dir, &staged.name, AtFlags::empty());
            Err(e)
        }
    }
}

async fn stage_into(
    plan: &WritePlan,
    staged: &Staged,
    input: &mut (impl AsyncRead + Unpin),
) -> Result<(), Refusal> {
    let tmp = staged.path();
    let io = |what: &'static str| move |e: std::io::Error| Refusal::io(what, tmp, &e);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(
        &plan.dir,
        &staged.name,
        flags,
        Mode::from_bits_truncate(plan.mode),
    )
    .map_err(|e| io("create")(e.into()))?;
    let mut file = tokio::fs::File::from_std(std::fs::File::from(fd));
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
            ErrorCode::BadRequest,
            format!(
                "the upload ended after {got} of {} bytes; nothing was changed",
                plan.size
            ),
        ));
    }
    file.sync_all().await.map_err(io("flush"))?;
    // The mode may have been narrowed by the umask; the new file keeps the old one's.
    file.set_permissions(std::fs::Permissions::from_mode(plan.mode))
        .await
        .map_err(io("set permissions on"))
}

/// The second half of [`receive`]: one rename puts the staged content in place, unless the file
/// changed meanwhile (then the staged file is removed and the target left as it is).
pub async fn replace(plan: &WritePlan, staged: Staged) -> Result<(), Refusal> {
    // Last look before replacing: someone may have saved the file while this upload was arriving.
    let current = beneath::meta_at(&plan.dir, &plan.name).ok().flatten();
    let renamed = check_etag(&plan.target, current.as_ref(), plan.if_match.as_deref())
        .and_then(|()| put_in_place(plan, &staged));
    if let Err(e) = renamed {
        let _ = rustix::fs::unlinkat(&plan.dir, &staged.name, AtFlags::empty());
        return Err(e);
    }
    // The rename is durable once the directory is; failing to flush it is not worth failing the write.
    let _ = rustix::fs::fsync(&plan.dir);
    if let Ok(dir) = plan.dir.try_clone() {
        let name = plan.name.clone();
        let _ = tokio::task::spawn_blocking(move || sweep_stale_temps(&dir, &name)).await;
    }
    Ok(())
}

/// Renames the staged file to the target in the directory handle; without overwrite, atomically only
/// if nothing has taken the name meanwhile (`RENAME_NOREPLACE`, or a hard link where the file system
/// lacks it).
fn put_in_place(plan: &WritePlan, staged: &Staged) -> Result<(), Refusal> {
    let (dir, from, to) = (&plan.dir, &staged.name, &plan.name);
    let done = if plan.create_new {
        match rustix::fs::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
            Err(Errno::INVAL) => {
                rustix::fs::linkat(dir, from, dir, to, AtFlags::empty()).map(|()| {
                    let _ = rustix::fs::unlinkat(dir, from, AtFlags::empty());
                })
            }
            other => other,
        }
    } else {
        rustix::fs::renameat(dir, from, dir, to)
    };
    done.map_err(|e| match e {
        Errno::EXIST => exists_refusal(&plan.target),
        e => Refusal::io("replace", &plan.target, &e.into()),
    })
}

/// How long a temporary file must have gone unwritten before a later write of the same file removes it
/// as left over from a crash. A live upload writes to its temporary file continuously.
pub const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files of the file `name` in `dir` that nobody has written for [`STALE_TEMP`]:
/// what a crash between staging and renaming leaves behind. Best effort.
fn sweep_stale_temps(dir: &OwnedFd, name: &OsStr) {
    let prefix = temp_prefix(name);
    let Ok(entries) = beneath::names(dir) else {
        return;
    };
    for (entry, _) in entries {
        if !entry.as_encoded_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        let stale = beneath::meta_at(dir, &entry)
            .ok()
            .flatten()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMP);
        if stale && rustix::fs::unlinkat(dir, &entry, AtFlags::empty()).is_ok() {
            tracing::info!(name = %entry.to_string_lossy(), "removed a temporary file left by an interrupted write");
        }
    }
}

/// `.<name>.vb-tmp-`: what every temporary file of the file `name` starts with.
fn temp_prefix(name: &OsStr) -> String {
    let mut name = name.to_string_lossy().into_owned();
    // Stay under the 255-byte name limit however long the target's name is.
    while name.len() > 200 {
        name.pop();
    }
    format!(".{name}.vb-tmp-")
}

/// `.<name>.vb-tmp-<random>`, to live beside the file `name`: same file system, so the rename is atomic.
fn temp_name(name: &OsStr) -> OsString {
    let mut rand = [0u8; 6];
    let suffix = match getrandom::fill(&mut rand) {
        Ok(()) => rand.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(_) => format!("{}", std::process::id()),
    };
    format!("{}{suffix}", temp_prefix(name)).into()
}

/// An internal failure of a blocking task.
pub fn task_failed(e: tokio::task::JoinError) -> Refusal {
    Refusal::new(
        ErrorCode::Internal,
        format!("the file operation failed: {e}"),
    )
}
