//! Reading a Vibe Kanban cloud export (the ZIP its export page gave its users when the service shut down):
//! `issues.csv`, `projects.csv`, `users.csv` and, when attachments were exported, `attachments.csv` with
//! the files under `attachments/<Issue ID>/`. The formats are recorded, with their sources, in
//! `docs/vibe-kanban-formats.md`.
//!
//! This module only reads: it turns the archive into typed records, or a [`ImportError`] naming the file,
//! the line and the column of the first thing wrong, and says what to do. Mapping the records onto
//! workspaces, projects and tasks is the importer's job. Reading is bounded (entry count, each entry's
//! size, the total), whatever sizes the archive claims, so a ZIP bomb is refused, not unpacked.

use std::collections::HashMap;
use std::io::Read;

/// Bounds on what one archive may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries in the archive.
    pub max_entries: usize,
    /// Bytes of one entry, unpacked.
    pub max_entry_bytes: u64,
    /// Bytes of all entries, unpacked.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_entry_bytes: 100 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// What is wrong with an export, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {message}", .line.map(|l| format!(" line {l}")).unwrap_or_default(), .column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
pub struct ImportError {
    /// The file in the archive (or the archive itself).
    pub file: String,
    /// 1-based line of the record, when the error is in one.
    pub line: Option<u64>,
    /// The column, when the error is in one field.
    pub column: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl ImportError {
    fn file(file: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            file: file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

/// An issue's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// `Urgent`.
    Urgent,
    /// `High`.
    High,
    /// `Medium`.
    Medium,
    /// `Low`.
    Low,
}

/// One row of `issues.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `Issue ID`, e.g. `ISS-12`.
    pub id: String,
    /// `Title`.
    pub title: String,
    /// `Description` (Markdown; empty for none).
    pub description: String,
    /// `Status`: the project's status name (`To do`, `In progress`… or a custom one; empty when unknown).
    pub status: String,
    /// `Priority`.
    pub priority: Option<Priority>,
    /// `Project`: the project's name.
    pub project: String,
    /// `Assignee(s)`: display names.
    pub assignees: Vec<String>,
    /// `Creator`: a display name (empty when unknown).
    pub creator: String,
    /// `Created`, RFC 3339.
    pub created: Option<String>,
    /// `Updated`, RFC 3339.
    pub updated: Option<String>,
    /// `Start Date`, RFC 3339.
    pub start: Option<String>,
    /// `Due Date`, RFC 3339.
    pub due: Option<String>,
    /// `Completed`, RFC 3339.
    pub completed: Option<String>,
    /// `Parent Issue`: the parent's `Issue ID`, when the parent was exported too.
    pub parent: Option<String>,
}

/// One row of `projects.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `Name`.
    pub name: String,
    /// `Created`, RFC 3339.
    pub created: Option<String>,
    /// `Updated`, RFC 3339.
    pub updated: Option<String>,
}

/// One row of `users.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `Email`.
    pub email: String,
    /// `Name`: the display name issues use.
    pub name: String,
}

/// One row of `attachments.csv`, with the file when the archive has it (a file the export failed to fetch
/// is listed but missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `Issue ID`.
    pub issue: String,
    /// `Filename`.
    pub filename: String,
    /// `Content Type` (empty when unknown).
    pub content_type: String,
    /// `Size (bytes)`.
    pub size: u64,
    /// The file's bytes, if the archive holds them.
    pub bytes: Option<Vec<u8>>,
}

/// A whole cloud export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudExport {
    /// `projects.csv`.
    pub projects: Vec<Project>,
    /// `users.csv`.
    pub users: Vec<User>,
    /// `issues.csv`.
    pub issues: Vec<Issue>,
    /// `attachments.csv`, when present.
    pub attachments: Vec<Attachment>,
}

const ISSUES: &str = "issues.csv";
const PROJECTS: &str = "projects.csv";
const USERS: &str = "users.csv";
const ATTACHMENTS: &str = "attachments.csv";

const ISSUE_COLUMNS: [&str; 14] = [
    "Issue ID",
    "Title",
    "Description",
    "Status",
    "Priority",
    "Project",
    "Assignee(s)",
    "Creator",
    "Created",
    "Updated",
    "Start Date",
    "Due Date",
    "Completed",
    "Parent Issue",
];
const PROJECT_COLUMNS: [&str; 3] = ["Name", "Created", "Updated"];
const USER_COLUMNS: [&str; 2] = ["Email", "Name"];
const ATTACHMENT_COLUMNS: [&str; 5] = [
    "Issue ID",
    "Filename",
    "Content Type",
    "Size (bytes)",
    "File Path in ZIP",
];

/// Reads a cloud export ZIP within `limits`.
pub fn read_cloud_export(zip: &[u8], limits: Limits) -> Result<CloudExport, ImportError> {
    let files = unzip(zip, limits)?;
    let get = |name: &str| {
        files.get(name).ok_or_else(|| {
            ImportError::file(
                name,
                "missing from the archive; is this the ZIP Vibe Kanban's export gave you?",
            )
        })
    };
    let mut out = CloudExport {
        projects: rows(PROJECTS, get(PROJECTS)?, &PROJECT_COLUMNS)?
            .into_iter()
            .map(|r| {
                Ok(Project {
                    name: r.text("Name")?,
                    created: r.date("Created")?,
                    updated: r.date("Updated")?,
                })
            })
            .collect::<Result<_, ImportError>>()?,
        users: rows(USERS, get(USERS)?, &USER_COLUMNS)?
            .into_iter()
            .map(|r| {
                Ok(User {
                    email: r.text("Email")?,
                    name: r.text("Name")?,
                })
            })
            .collect::<Result<_, ImportError>>()?,
        issues: rows(ISSUES, get(ISSUES)?, &ISSUE_COLUMNS)?
            .into_iter()
            .map(|r| r.issue())
            .collect::<Result<_, ImportError>>()?,
        attachments: Vec::new(),
    };
    if let Some(bytes) = files.get(ATTACHMENTS) {
        for r in rows(ATTACHMENTS, bytes, &ATTACHMENT_COLUMNS)? {
            let path = r.text("File Path in ZIP")?;
            let size = r.text("Size (bytes)")?;
            out.attachments.push(Attachment {
                issue: r.text("Issue ID")?,
                filename: r.text("Filename")?,
                content_type: r.text("Content Type")?,
                size: size.parse().map_err(|_| {
                    r.error("Size (bytes)", format!("{size:?} is not a byte count"))
                })?,
                bytes: files.get(&path).cloned(),
            });
        }
    }
    Ok(out)
}

/// The archive's files, unpacked within `limits`.
fn unzip(zip: &[u8], limits: Limits) -> Result<HashMap<String, Vec<u8>>, ImportError> {
    const ARCHIVE: &str = "the export";
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| {
        ImportError::file(
            ARCHIVE,
            format!("not a readable ZIP archive ({e}); upload the .zip file as exported"),
        )
    })?;
    if archive.len() > limits.max_entries {
        return Err(ImportError::file(
            ARCHIVE,
            format!(
                "holds {} entries, more than the {} an import takes",
                archive.len(),
                limits.max_entries
            ),
        ));
    }
    let mut files = HashMap::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| ImportError::file(ARCHIVE, format!("entry {i} cannot be read: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        // Whatever the entry claims, read at most one byte past the limit to know it is over.
        let mut bytes = Vec::new();
        entry
            .take(limits.max_entry_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ImportError::file(&name, format!("cannot be unpacked: {e}")))?;
        if bytes.len() as u64 > limits.max_entry_bytes {
            return Err(ImportError::file(
                &name,
                format!(
                    "unpacks to more than {} MiB, the most one file of an import may be",
                    limits.max_entry_bytes >> 20
                ),
            ));
        }
        total += bytes.len() as u64;
        if total > limits.max_total_bytes {
            return Err(ImportError::file(
                ARCHIVE,
                format!(
                    "unpacks to more than {} MiB, the most an import may be",
                    limits.max_total_bytes >> 20
                ),
            ));
        }
        files.insert(name, bytes);
    }
    Ok(files)
}

/// One CSV record with its file, line and header.
struct Row {
    file: &'static str,
    line: u64,
    header: std::rc::Rc<[String]>,
    record: csv::StringRecord,
}

/// The records of `bytes`, whose header must hold every column of `columns` (extra columns are ignored).
fn rows(file: &'static str, bytes: &[u8], columns: &[&str]) -> Result<Vec<Row>, ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(file, e))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    for c in columns {
        if !header.iter().any(|h| h == c) {
            return Err(ImportError {
                file: file.to_string(),
                line: Some(1),
                column: Some(c.to_string()),
                message: format!(
                    "the header has no column {c:?}; expected {}",
                    columns.join(",")
                ),
            });
        }
    }
    let header: std::rc::Rc<[String]> = header.into();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(file, e))?;
        let line = record.position().map_or(0, |p| p.line());
        out.push(Row {
            file,
            line,
            header: header.clone(),
            record,
        });
    }
    Ok(out)
}

fn csv_error(file: &str, e: csv::Error) -> ImportError {
    let line = e.position().map(|p| p.line());
    ImportError {
        file: file.to_string(),
        line,
        column: None,
        message: format!("not valid CSV ({e}); export the file again, or fix its quoting"),
    }
}

impl Row {
    fn error(&self, column: &str, message: String) -> ImportError {
        ImportError {
            file: self.file.to_string(),
            line: Some(self.line),
            column: Some(column.to_string()),
            message,
        }
    }

    fn text(&self, column: &str) -> Result<String, ImportError> {
        let i = self
            .header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| self.error(column, "no such column".into()))?;
        Ok(self.record.get(i).unwrap_or_default().to_string())
    }

    fn optional(&self, column: &str) -> Result<Option<String>, ImportError> {
        let v = self.text(column)?;
        Ok((!v.trim().is_empty()).then(|| v.trim().to_string()))
    }

    /// An RFC 3339 date, or `None` when empty.
    fn date(&self, column: &str) -> Result<Option<String>, ImportError> {
        let Some(v) = self.optional(column)? else {
            return Ok(None);
        };
        chrono::DateTime::parse_from_rfc3339(&v).map_err(|e| {
            self.error(
                column,
                format!("{v:?} is not an RFC 3339 date ({e}), e.g. 2026-01-15T10:23:45+00:00"),
            )
        })?;
        Ok(Some(v))
    }

    fn issue(&self) -> Result<Issue, ImportError> {
        let id = self.text("Issue ID")?;
        if id.trim().is_empty() {
            return Err(self.error("Issue ID", "is empty; every issue needs its id".into()));
        }
        let priority = match self.optional("Priority")?.as_deref() {
            None => None,
            Some("Urgent") => Some(Priority::Urgent),
            Some("High") => Some(Priority::High),
            Some("Medium") => Some(Priority::Medium),
            Some("Low") => Some(Priority::Low),
            Some(other) => {
                return Err(self.error(
                    "Priority",
                    format!("unknown priority {other:?}; use Urgent, High, Medium, Low or leave it empty"),
                ));
            }
        };
        Ok(Issue {
            id,
            title: self.text("Title")?,
            description: self.text("Description")?,
            status: self.text("Status")?,
            priority,
            project: self.text("Project")?,
            assignees: self
                .text("Assignee(s)")?
                .split(", ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            creator: self.text("Creator")?,
            created: self.date("Created")?,
            updated: self.date("Updated")?,
            start: self.date("Start Date")?,
            due: self.date("Due Date")?,
            completed: self.date("Completed")?,
            parent: self.optional("Parent Issue")?,
        })
    }
}

#[cfg(test)]
#[path = "vibe_kanban_tests.rs"]
mod tests;
