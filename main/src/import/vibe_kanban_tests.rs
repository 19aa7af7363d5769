//! Tests of reading Vibe Kanban's cloud export: a whole export, bad files, ZIP bombs.

#![allow(clippy::unwrap_used)]
use std::io::Write;

use super::*;

/// A ZIP of `files` (name, content); `stored` entries are not compressed.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        out.start_file(*name, opts).unwrap();
        out.write_all(bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

const ISSUES_CSV: &str = "Issue ID,Title,Description,Status,Priority,Project,Assignee(s),Creator,Created,Updated,Start Date,Due Date,Completed,Parent Issue\n\
ISS-1,Ship it,\"Line one\nline \"\"two\"\"\",In progress,High,Web,\"Ada Lovelace, Grace Hopper\",Ada Lovelace,2026-01-15T10:23:45.123456+00:00,2026-01-16T00:00:00+00:00,,2026-02-01T00:00:00+00:00,,\n\
ISS-2,Sub,,To do,,Web,,,2026-01-15T10:23:45+00:00,2026-01-15T10:23:45+00:00,,,,ISS-1\n";
const PROJECTS_CSV: &str =
    "Name,Created,Updated\nWeb,2026-01-01T00:00:00+00:00,2026-01-02T00:00:00+00:00\n";
const USERS_CSV: &str =
    "Email,Name\nada@example.com,Ada Lovelace\ngrace@example.com,Grace Hopper\n";

/// An export whose `issues.csv` is `issues`, with the usual projects and users.
fn with_issues(issues: &str) -> Vec<u8> {
    zip_of(&[
        ("issues.csv", issues.as_bytes()),
        ("projects.csv", PROJECTS_CSV.as_bytes()),
        ("users.csv", USERS_CSV.as_bytes()),
    ])
}

fn export(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut files: Vec<(&str, &[u8])> = vec![
        ("issues.csv", ISSUES_CSV.as_bytes()),
        ("projects.csv", PROJECTS_CSV.as_bytes()),
        ("users.csv", USERS_CSV.as_bytes()),
    ];
    files.extend_from_slice(extra);
    zip_of(&files)
}

/// Proves an export as Vibe Kanban writes it reads whole: quoted multi-line descriptions, several
/// assignees, empty dates and priorities, parents, and attachments (one listed but missing).
#[test]
fn cloud_export_reads_whole() {
    let attachments = "Issue ID,Filename,Content Type,Size (bytes),File Path in ZIP\n\
ISS-1,shot.png,image/png,3,attachments/ISS-1/shot.png\n\
ISS-1,lost.txt,,9,attachments/ISS-1/lost.txt\n";
    let zip = export(&[
        ("attachments.csv", attachments.as_bytes()),
        ("attachments/ISS-1/shot.png", b"PNG"),
    ]);
    let e = read_cloud_export(&zip, Limits::default()).unwrap();
    assert_eq!(e.projects.len(), 1);
    assert_eq!(e.users[1].name, "Grace Hopper");
    let first = &e.issues[0];
    assert_eq!(first.description, "Line one\nline \"two\"");
    assert_eq!(first.assignees, ["Ada Lovelace", "Grace Hopper"]);
    assert_eq!(first.priority, Some(Priority::High));
    assert_eq!(
        (first.start.as_deref(), first.due.as_deref()),
        (None, Some("2026-02-01T00:00:00+00:00"))
    );
    assert_eq!(e.issues[1].parent.as_deref(), Some("ISS-1"));
    assert_eq!(e.issues[1].priority, None);
    assert_eq!(e.attachments[0].bytes.as_deref(), Some(&b"PNG"[..]));
    assert_eq!(e.attachments[1].bytes, None);
}

/// Proves bad files are refused with the file, line and column named and what to do.
#[test]
fn bad_files_name_file_line_and_column() {
    let bad_priority = ISSUES_CSV.replace(",High,", ",Urgentish,");
    let err = read_cloud_export(&with_issues(&bad_priority), Limits::default()).unwrap_err();
    assert_eq!(
        (err.file.as_str(), err.line, err.column.as_deref()),
        ("issues.csv", Some(2), Some("Priority"))
    );
    assert!(
        err.to_string().contains("use Urgent, High, Medium, Low"),
        "{err}"
    );

    let bad_date = ISSUES_CSV.replace("2026-02-01T00:00:00+00:00", "1 Feb 2026");
    let err = read_cloud_export(&with_issues(&bad_date), Limits::default()).unwrap_err();
    assert_eq!(err.column.as_deref(), Some("Due Date"));

    let no_column = "Issue ID,Title\nISS-1,x\n";
    let err = read_cloud_export(&with_issues(no_column), Limits::default()).unwrap_err();
    assert_eq!(
        (err.line, err.column.as_deref()),
        (Some(1), Some("Description"))
    );

    let bad_quoting = "Issue ID,Title\nISS-1,\"open\nISS-2,x,extra\n";
    let err = read_cloud_export(&with_issues(bad_quoting), Limits::default()).unwrap_err();
    assert_eq!(err.file, "issues.csv");

    let err = read_cloud_export(
        &zip_of(&[("issues.csv", ISSUES_CSV.as_bytes())]),
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.file, "projects.csv");
    assert!(err.message.contains("missing"), "{err}");

    let err = read_cloud_export(b"not a zip", Limits::default()).unwrap_err();
    assert!(err.message.contains("not a readable ZIP"), "{err}");
}

/// Proves an entry that unpacks past its bound is refused without being unpacked whole (a ZIP bomb:
/// 64 MiB of zeros compress to a few KiB), as is an archive with too many entries.
#[test]
fn zip_bombs_are_refused() {
    let zeros = vec![0u8; 64 * 1024 * 1024];
    let bomb = export(&[("attachments/ISS-1/zeros.bin", &zeros)]);
    assert!(
        bomb.len() < 1024 * 1024,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let limits = Limits {
        max_entry_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let err = read_cloud_export(&bomb, limits).unwrap_err();
    assert_eq!(err.file, "attachments/ISS-1/zeros.bin");
    let limits = Limits {
        max_total_bytes: 100,
        ..Limits::default()
    };
    assert!(read_cloud_export(&export(&[]), limits).is_err());
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let err = read_cloud_export(&export(&[]), limits).unwrap_err();
    assert!(err.message.contains("3 entries"), "{err}");
}
