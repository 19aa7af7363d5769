//! The SQLite side of reading a Vibe Kanban local database: the private temporary copy, a read-only hardened
//! connection, schema look-ups, bounded row iteration, and typed field reads whose errors name
//! `table.column` and the row's id.

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use super::super::vibe_kanban::ImportError;

/// The name errors give the database, whichever generation's file name it was uploaded under.
const FILE: &str = "db.sqlite";
/// What an upload that is not a SQLite database is told.
pub(super) const NOT_SQLITE: &str = "this is not a SQLite database; upload Vibe Kanban's db.v2.sqlite \
     (or db.sqlite) from ~/.local/share/vibe-kanban";
/// The first 16 bytes of every SQLite 3 database file.
pub(super) const MAGIC: &[u8] = b"SQLite format 3\0";

/// A private temporary file, removed on drop.
pub(super) struct TempCopy {
    pub(super) path: PathBuf,
}

impl TempCopy {
    /// Writes `bytes` to a new file in `dir` that only this user may read (0600).
    pub(super) fn write(dir: &Path, bytes: &[u8]) -> Result<TempCopy, ImportError> {
        let name = format!(
            "vibebridge-vk-import-{}-{}.sqlite",
            std::process::id(),
            Uuid::now_v7().simple()
        );
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let stored = |e: std::io::Error| {
            whole(format!(
                "cannot be stored for reading in {} ({e}); the server's temporary directory must be writable",
                dir.display()
            ))
        };
        let mut file = options.open(&path).map_err(stored)?;
        // From here on the guard removes the file, also when writing fails.
        let copy = TempCopy { path };
        file.write_all(bytes).map_err(stored)?;
        Ok(copy)
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), "cannot remove an import's temporary copy: {e}");
        }
    }
}

/// Opens `path` read-only and immutable (no locks; no journal, -wal or -shm files are read or made), hardened
/// for an untrusted file: defensive mode, an untrusted schema, cell size checks, query-only.
pub(super) fn open(path: &Path) -> Result<Connection, ImportError> {
    let path = path.to_str().ok_or_else(|| {
        whole("cannot be read: the server's temporary directory is not a UTF-8 path")
    })?;
    // A URI path escapes the characters that would end it or start an escape.
    let mut uri = String::from("file:");
    for c in path.chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&uri, flags).map_err(sql)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(sql)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
    )
    .map_err(sql)?;
    conn.execute_batch("PRAGMA cell_size_check = ON; PRAGMA query_only = ON;")
        .map_err(sql)?;
    Ok(conn)
}

/// An error about the whole file.
pub(super) fn whole(message: impl Into<String>) -> ImportError {
    ImportError {
        file: FILE.to_string(),
        line: None,
        column: None,
        message: message.into(),
    }
}

/// An error SQLite gave while reading.
fn sql(e: rusqlite::Error) -> ImportError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(NotADatabase) => whole(NOT_SQLITE),
        Some(DatabaseCorrupt) => whole(format!(
            "is damaged ({e}); upload a copy taken while Vibe Kanban was not running"
        )),
        _ => whole(format!(
            "cannot be read ({e}); upload Vibe Kanban's database file as it is"
        )),
    }
}

/// The columns of `table`, or `None` if it is not a table (a view of that name is not one).
pub(super) fn columns(conn: &Connection, table: &str) -> Result<Option<Vec<String>>, ImportError> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )
        .map_err(sql)?;
    if !exists {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(sql)?;
    let names = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    Ok(Some(names))
}

/// The columns of `table`, which must exist and have each of `needed`.
pub(super) fn require(
    conn: &Connection,
    table: &str,
    needed: &[&str],
) -> Result<Vec<String>, ImportError> {
    let have = columns(conn, table)?.ok_or_else(|| {
        whole(format!(
            "missing table {table}: is this a Vibe Kanban database?"
        ))
    })?;
    if let Some(missing) = needed.iter().find(|n| !have.iter().any(|h| h == *n)) {
        return Err(ImportError {
            column: Some(format!("{table}.{missing}")),
            ..whole(format!(
                "missing column {table}.{missing}: is this a Vibe Kanban database?"
            ))
        });
    }
    Ok(have)
}

/// One row being read: named fields, errors naming `table.field` and the row's id.
pub(super) struct Row<'a, 's> {
    table: &'static str,
    names: &'a [&'a str],
    row: &'a rusqlite::Row<'s>,
    /// The row's id, as errors print it.
    label: String,
}

/// Runs `f` on each row of `table`, in insertion order, after checking the row count against `max_rows`.
/// `select` pairs each field's name (used by [`Row`]'s getters and in errors) with its SQL expression over
/// the table aliased `t`; the first field is the row's id.
pub(super) fn for_each_row(
    conn: &Connection,
    table: &'static str,
    select: &[(&str, &str)],
    max_rows: u64,
    mut f: impl FnMut(&Row<'_, '_>, Uuid) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    // `table` and the expressions are this module's constants, never input.
    let count: i64 = conn
        .query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .map_err(sql)?;
    if count.unsigned_abs() > max_rows {
        return Err(whole(format!(
            "table {table} has {count} rows, more than the {max_rows} an import takes"
        )));
    }
    let exprs: Vec<&str> = select.iter().map(|(_, e)| *e).collect();
    let names: Vec<&str> = select.iter().map(|(n, _)| *n).collect();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM \"{table}\" t ORDER BY t.rowid",
            exprs.join(", ")
        ))
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        let mut r = Row {
            table,
            names: &names,
            row,
            label: printed(row.get_ref(0).map_err(sql)?),
        };
        let id = r.required_uuid(names[0])?;
        r.label = id.to_string();
        f(&r, id)?;
    }
    Ok(())
}

/// How a value is named in errors: a 16-byte id as its UUID, other bytes in hex, text quoted.
fn printed(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Blob(b) => {
            Uuid::from_slice(b).map_or_else(|_| format!("x'{}'", hex::encode(b)), |u| u.to_string())
        }
        ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Null => "NULL".to_string(),
    }
}

impl Row<'_, '_> {
    /// An error in the field `name` of this row.
    pub(super) fn error(&self, name: &str, message: impl std::fmt::Display) -> ImportError {
        ImportError {
            column: Some(format!("{}.{name}", self.table)),
            ..whole(format!("row {}: {message}", self.label))
        }
    }

    fn value(&self, name: &str) -> Result<ValueRef<'_>, ImportError> {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| self.error(name, "is not read"))?;
        self.row.get_ref(i).map_err(sql)
    }

    fn present<T>(&self, name: &str, value: Option<T>) -> Result<T, ImportError> {
        value.ok_or_else(|| self.error(name, "is NULL, which Vibe Kanban never stores there"))
    }

    /// An id: 16 bytes (how Vibe Kanban stores them) or a UUID in text; `None` when NULL.
    pub(super) fn uuid(&self, name: &str) -> Result<Option<Uuid>, ImportError> {
        let v = self.value(name)?;
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) => Uuid::from_slice(b).map(Some).map_err(|_| {
                self.error(
                    name,
                    format!(
                        "id {} is {} bytes, not the 16 of a UUID",
                        printed(v),
                        b.len()
                    ),
                )
            }),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| Uuid::try_parse(s.trim()).ok())
                .map(Some)
                .ok_or_else(|| {
                    self.error(
                        name,
                        format!("id {} is neither 16 bytes nor a UUID", printed(v)),
                    )
                }),
            _ => Err(self.error(
                name,
                format!("id {} is neither 16 bytes nor a UUID", printed(v)),
            )),
        }
    }

    /// An id the schema declares NOT NULL.
    pub(super) fn required_uuid(&self, name: &str) -> Result<Uuid, ImportError> {
        let v = self.uuid(name)?;
        self.present(name, v)
    }

    /// Text (a number as SQLite would print it); `None` when NULL.
    pub(super) fn text(&self, name: &str) -> Result<Option<String>, ImportError> {
        match self.value(name)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8(t.to_vec())
                .map(Some)
                .map_err(|_| self.error(name, "is not valid UTF-8 text")),
            ValueRef::Integer(i) => Ok(Some(i.to_string())),
            ValueRef::Real(r) => Ok(Some(r.to_string())),
        }
    }

    /// Text the schema declares NOT NULL.
    pub(super) fn required_text(&self, name: &str) -> Result<String, ImportError> {
        let v = self.text(name)?;
        self.present(name, v)
    }

    /// Text, `None` when NULL or empty (Vibe Kanban's `DEFAULT ''` columns).
    pub(super) fn nonempty_text(&self, name: &str) -> Result<Option<String>, ImportError> {
        Ok(self.text(name)?.filter(|t| !t.is_empty()))
    }

    /// A timestamp, as RFC 3339 in UTC; `None` when NULL.
    pub(super) fn time(&self, name: &str) -> Result<Option<String>, ImportError> {
        let Some(value) = self.text(name)? else {
            return Ok(None);
        };
        let parsed = parse_time(&value).ok_or_else(|| {
            self.error(
                name,
                format!(
                    "{value:?} is not a timestamp (expected e.g. 2026-01-15 10:23:45.123, \
                     as Vibe Kanban writes them)"
                ),
            )
        })?;
        Ok(Some(parsed.to_rfc3339()))
    }
}

/// The three forms Vibe Kanban writes (`datetime('now','subsec')`, `CURRENT_TIMESTAMP`, sqlx's `%F %T%.f`, all
/// UTC without an offset), plus the `T`-separated and offset forms sqlx also reads.
pub(super) fn parse_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = value.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(t.to_utc());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(value, format) {
            return Some(t.to_utc());
        }
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .into_iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(value, format).ok())
        .map(|t| t.and_utc())
}
