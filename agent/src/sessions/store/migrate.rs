//! Moving a node store an earlier agent kept in sled (`<database.path>/sessions.db`) into the log layout,
//! once, on the first start of this version.

use std::path::Path;

use anyhow::Context;
use vibebridge_tunnel::session::SessionEvent;

use super::SessionMeta;
use super::log_file::{Record, create_private_dir, frame, open_log_file, sync_dir};

/// Copies the sled store an earlier agent kept at `legacy` into a log directory at `dir`: each session's
/// events, then its record (so the record is exactly the old one). Written into a sibling directory and
/// renamed into place once every file is on disk, so a crash mid-way leaves the old store as the only one.
pub(super) fn migrate_sled(legacy: &Path, dir: &Path) -> anyhow::Result<()> {
    let staging = dir.with_extension("migrating");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| {
            format!("removing an unfinished migration at {}", staging.display())
        })?;
    }
    create_private_dir(&staging)?;
    let db = sled::Config::new().path(legacy).open().with_context(|| {
        format!(
            "opening the old session store {} to migrate it (is another agent using this database.path?)",
            legacy.display()
        )
    })?;
    let sessions = db.open_tree("sessions")?;
    let events = db.open_tree("events")?;
    let mut migrated = 0usize;
    for item in sessions.iter() {
        let (_, value) = item?;
        let meta: SessionMeta = serde_json::from_slice(&value).with_context(|| {
            format!(
                "a session record in {} does not parse; the old store is left as it is",
                legacy.display()
            )
        })?;
        let path = staging.join(format!("{}.log", meta.id));
        let file = open_log_file(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = std::io::BufWriter::new(&file);
        let id = meta.id.as_bytes();
        let (start, end) = (
            vibebridge_tunnel::session::event_key(id, 0),
            vibebridge_tunnel::session::event_key(id, u64::MAX),
        );
        for item in events.range(start..=end) {
            let (_, value) = item?;
            let event: SessionEvent = serde_json::from_slice(&value)
                .with_context(|| format!("an event of session {} does not parse", meta.id))?;
            std::io::Write::write_all(&mut out, &frame(&Record::Event(event))?)?;
        }
        std::io::Write::write_all(&mut out, &frame(&Record::Meta(meta))?)?;
        std::io::Write::flush(&mut out)?;
        drop(out);
        file.sync_all()?;
        migrated += 1;
    }
    drop((sessions, events, db));
    sync_dir(&staging)?;
    std::fs::rename(&staging, dir)
        .with_context(|| format!("moving the migrated store into {}", dir.display()))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    tracing::info!(
        "migrated {migrated} sessions from {} to {}",
        legacy.display(),
        dir.display()
    );
    Ok(())
}
