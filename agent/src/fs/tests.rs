//! Tests of the file guardrails and operations against a real directory tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use vibebridge_tunnel::reply::ErrorCode;

use vibebridge_tunnel::fs::{EntryKind, WriteMode};

mod race;

use super::guard::{Guard, Refusal};
use super::{ops, transfer};
use crate::config::{FilesystemConfig, HiddenPolicy};

/// `<tmp>/root` (the only root, with `src/main.rs`, `.env`, and `out` → `<tmp>/outside`) and `<tmp>/outside`.
struct Tree {
    base: PathBuf,
    root: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let base = std::env::temp_dir().join(format!("vb-agent-fs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/secret.txt"), "secret").unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(root.join(".env"), "TOKEN=1").unwrap();
        std::os::unix::fs::symlink(base.join("outside"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(base.join("outside/secret.txt"), root.join("secret")).unwrap();
        std::os::unix::fs::symlink(root.join("src"), root.join("src-link")).unwrap();
        Tree {
            root: std::fs::canonicalize(&root).unwrap(),
            base,
        }
    }

    fn cfg(&self) -> FilesystemConfig {
        FilesystemConfig {
            roots: vec![self.root.clone()],
            ..FilesystemConfig::default()
        }
    }

    fn p(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root.display())
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, Refusal>) -> ErrorCode {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.code,
    }
}

/// Proves every way out of the roots is refused by rule: `..`, symlinks out (read, list, write through them),
/// absolute paths elsewhere, relative paths, NUL bytes, over-long names and paths, and no roots at all.
#[test]
fn escapes_are_refused() {
    let t = Tree::new("escape");
    let cfg = t.cfg();
    let g = Guard::new(&cfg);
    let outside = format!("{}/outside/secret.txt", t.base.display());
    let cases: Vec<(String, ErrorCode)> = vec![
        (
            t.p("src/../../outside/secret.txt"),
            ErrorCode::PathOutsideRoots,
        ),
        (t.p("secret"), ErrorCode::PathOutsideRoots),
        (t.p("out/secret.txt"), ErrorCode::PathOutsideRoots),
        (outside.clone(), ErrorCode::PathOutsideRoots),
        ("/etc/passwd".into(), ErrorCode::PathOutsideRoots),
        ("src/main.rs".into(), ErrorCode::BadRequest),
        (t.p("src/ma\0in.rs"), ErrorCode::BadRequest),
        (t.p(&"n".repeat(300)), ErrorCode::BadRequest),
        (
            format!("{}/{}", t.root.display(), "d/".repeat(2100)),
            ErrorCode::BadRequest,
        ),
        (t.p("missing.txt"), ErrorCode::PathNotFound),
    ];
    for (path, want) in &cases {
        assert_eq!(
            code(transfer::plan_read(&g, path, 0, None).map(|p| p.entry)),
            *want,
            "read {path:?}"
        );
    }
    assert_eq!(
        code(ops::list(&g, Some(&t.p("out")), false)),
        ErrorCode::PathOutsideRoots
    );
    assert_eq!(
        code(ops::list(&g, Some(&t.p("..")), false)),
        ErrorCode::PathOutsideRoots
    );
    for (path, want) in [
        (t.p("secret"), ErrorCode::PathOutsideRoots),
        (t.p("out/new.txt"), ErrorCode::PathOutsideRoots),
        (
            t.p("src/../../outside/new.txt"),
            ErrorCode::PathOutsideRoots,
        ),
        (t.p(&"n".repeat(256)), ErrorCode::BadRequest),
    ] {
        let plan = transfer::plan_write(&g, &path, 1, None, WriteMode::Replace).map(|p| p.target);
        assert_eq!(code(plan), want, "write {path:?}");
    }
    assert_eq!(
        code(ops::create(&g, &t.p("out/x"), false)),
        ErrorCode::PathOutsideRoots
    );
    assert_eq!(
        code(ops::rename(&g, &t.p("src/main.rs"), &outside, true)),
        ErrorCode::PathOutsideRoots
    );
    // A root itself cannot be deleted or moved: its parent is outside every root.
    assert_eq!(
        code(ops::delete(&g, &t.root.display().to_string(), true)),
        ErrorCode::PathOutsideRoots
    );
    // Deleting a link out of the roots removes the link, never what it points at.
    ops::delete(&g, &t.p("out"), true).unwrap();
    assert!(t.base.join("outside/secret.txt").exists());
    // The message names the rule.
    let refusal = transfer::plan_read(&g, &outside, 0, None)
        .map(|p| p.entry)
        .unwrap_err();
    assert!(
        refusal.message.contains("filesystem.roots"),
        "{}",
        refusal.message
    );

    let none = FilesystemConfig::default();
    let refusal = ops::stat(&Guard::new(&none), &t.p("src")).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::PathOutsideRoots);
    assert!(refusal.message.contains("filesystem.roots"));
}

/// Proves the hidden-files policy (hide: unlisted but reachable; show: listed; deny: refused anywhere) and
/// read-only mode, each refusal naming its setting.
#[test]
fn hidden_policy_and_read_only() {
    let t = Tree::new("policy");
    let names = |cfg: &FilesystemConfig| -> Vec<String> {
        let l = ops::list(&Guard::new(cfg), Some(&t.root.display().to_string()), false).unwrap();
        l.entries.into_iter().map(|e| e.name).collect()
    };
    let hide = t.cfg();
    assert!(!names(&hide).contains(&".env".to_string()));
    assert_eq!(ops::stat(&Guard::new(&hide), &t.p(".env")).unwrap().size, 7);
    let show = FilesystemConfig {
        hidden: HiddenPolicy::Show,
        ..t.cfg()
    };
    assert!(names(&show).contains(&".env".to_string()));
    let deny = FilesystemConfig {
        hidden: HiddenPolicy::Deny,
        ..t.cfg()
    };
    let g = Guard::new(&deny);
    assert!(!names(&deny).contains(&".env".to_string()));
    let refusal = ops::stat(&g, &t.p(".env")).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::HiddenDenied);
    assert!(refusal.message.contains("filesystem.hidden"));
    assert_eq!(
        code(ops::create(&g, &t.p(".git"), true)),
        ErrorCode::HiddenDenied
    );
    assert_eq!(
        code(ops::stat(&g, &t.p("src/../.env"))),
        ErrorCode::HiddenDenied
    );

    let ro = FilesystemConfig {
        read_only: true,
        ..t.cfg()
    };
    let g = Guard::new(&ro);
    let refusal = ops::create(&g, &t.p("new.txt"), false).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::ReadOnly);
    assert!(refusal.message.contains("filesystem.read_only"));
    assert_eq!(
        code(ops::delete(&g, &t.p("src/main.rs"), false)),
        ErrorCode::ReadOnly
    );
    assert_eq!(
        code(ops::rename(&g, &t.p("src"), &t.p("src2"), false)),
        ErrorCode::ReadOnly
    );
    let plan =
        transfer::plan_write(&g, &t.p("src/main.rs"), 1, None, WriteMode::Replace).map(|p| p.size);
    assert_eq!(code(plan), ErrorCode::ReadOnly);
    assert!(
        ops::stat(&g, &t.p("src/main.rs")).is_ok(),
        "reads still work"
    );
}

/// Proves listings put directories first, follow links that stay inside the roots, show links out as
/// unfollowed symlinks, and that create, rename and delete keep to their rules.
#[test]
fn list_create_rename_delete() {
    let t = Tree::new("ops");
    let cfg = t.cfg();
    let g = Guard::new(&cfg);
    std::fs::write(t.root.join("B.txt"), "bb").unwrap();
    let l = ops::list(&g, Some(&t.root.display().to_string()), false).unwrap();
    let shown: Vec<(&str, EntryKind, bool)> = l
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.link))
        .collect();
    assert_eq!(
        shown,
        [
            ("src", EntryKind::Dir, false),
            ("src-link", EntryKind::Dir, true),
            ("B.txt", EntryKind::File, false),
            ("out", EntryKind::Symlink, true),
            ("secret", EntryKind::Symlink, true),
        ]
    );
    let dirs = ops::list(&g, Some(&t.root.display().to_string()), true).unwrap();
    assert_eq!(dirs.entries.len(), 2, "{dirs:?}");

    ops::create(&g, &t.p("docs"), true).unwrap();
    let made = ops::create(&g, &t.p("docs/a.md"), false).unwrap();
    assert_eq!((made.kind, made.size), (EntryKind::File, 0));
    assert_eq!(
        code(ops::create(&g, &t.p("docs/a.md"), false)),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        code(ops::create(&g, &t.p("nope/a.md"), false)),
        ErrorCode::PathNotFound
    );
    assert_eq!(
        code(ops::rename(&g, &t.p("B.txt"), &t.p("docs/a.md"), false)),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        code(ops::rename(&g, &t.p("docs"), &t.p("docs/inner"), false)),
        ErrorCode::BadRequest
    );
    let moved = ops::rename(&g, &t.p("B.txt"), &t.p("docs/a.md"), true).unwrap();
    assert_eq!(moved.size, 2);
    assert_eq!(
        code(ops::delete(&g, &t.p("docs"), false)),
        ErrorCode::NotEmpty
    );
    ops::delete(&g, &t.p("docs"), true).unwrap();
    assert!(!t.root.join("docs").exists());
}

/// Proves a write replaces content in one step, keeps the old file's mode, writes through a link inside the
/// roots, and refuses when the file changed since it was read (etag) or when an upload must not overwrite.
#[tokio::test]
async fn atomic_write_with_etag() {
    let t = Tree::new("write");
    let cfg = t.cfg();
    let file = t.p("src/main.rs");
    std::fs::set_permissions(
        t.root.join("src/main.rs"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    let before = ops::stat(&Guard::new(&cfg), &file).unwrap();
    let write = |path: String, body: &'static [u8], etag: Option<String>, mode| {
        let cfg = cfg.clone();
        async move {
            let plan =
                transfer::plan_write(&Guard::new(&cfg), &path, body.len() as u64, etag, mode)?;
            transfer::receive(&plan, &mut &body[..]).await
        }
    };
    write(
        file.clone(),
        b"fn main() { ok() }\n",
        Some(before.etag.clone()),
        WriteMode::Replace,
    )
    .await
    .unwrap();
    let after = ops::stat(&Guard::new(&cfg), &file).unwrap();
    assert_ne!(after.etag, before.etag);
    assert_eq!(after.mode, 0o750);
    let stale = write(
        file.clone(),
        b"lost",
        Some(before.etag.clone()),
        WriteMode::Replace,
    )
    .await;
    assert_eq!(code(stale), ErrorCode::ChangedOnNode);
    assert_eq!(
        std::fs::read_to_string(t.root.join("src/main.rs")).unwrap(),
        "fn main() { ok() }\n"
    );
    assert_eq!(
        code(write(file.clone(), b"x", None, WriteMode::CreateNew).await),
        ErrorCode::AlreadyExists
    );
    write(
        t.p("src-link/lib.rs"),
        b"pub fn x() {}\n",
        None,
        WriteMode::CreateNew,
    )
    .await
    .unwrap();
    assert!(t.root.join("src/lib.rs").is_file());
    // An upload cut short leaves the file as it was and no temporary file behind.
    let plan =
        transfer::plan_write(&Guard::new(&cfg), &file, 100, None, WriteMode::Replace).unwrap();
    assert_eq!(
        code(transfer::receive(&plan, &mut &b"short"[..]).await),
        ErrorCode::BadRequest
    );
    assert_eq!(
        std::fs::read_to_string(t.root.join("src/main.rs")).unwrap(),
        "fn main() { ok() }\n"
    );
    assert_eq!(temp_files(&t.root.join("src")), Vec::<String>::new());
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".vb-tmp-"))
        .collect()
}

/// The plan for replacing `target`'s content with `len` bytes.
fn replace_plan(cfg: &FilesystemConfig, target: &Path, len: usize) -> transfer::WritePlan {
    transfer::plan_write(
        &Guard::new(cfg),
        &target.display().to_string(),
        len as u64,
        None,
        WriteMode::Replace,
    )
    .unwrap()
}

/// Env var telling [`crash_between_write_and_rename`] (run as a child process) which file to write.
const CRASH_TARGET: &str = "VB_FS_CRASH_TARGET";

/// Proves a process killed between writing the new content and renaming it leaves the old file intact
/// (the new content only in a temporary file), by really aborting a child process at that point, and that a
/// later write of the file sweeps that temporary file once it is stale.
#[test]
fn crash_between_write_and_rename_keeps_the_old_file() {
    let t = Tree::new("crash");
    let target = t.root.join("src/main.rs");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "fs::tests::crash_between_write_and_rename",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_TARGET, &target)
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have crashed");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "fn main() {}\n");
    let temps = temp_files(&t.root.join("src"));
    assert_eq!(
        temps.len(),
        1,
        "the staged content is left beside it: {temps:?}"
    );
    let leftover = t.root.join("src").join(&temps[0]);
    let staged = std::fs::read_to_string(&leftover).unwrap();
    assert_eq!(staged, "new content\n");

    // The next write of the same file sweeps the leftover once it is old enough, and only then.
    let cfg = t.cfg();
    let write = |body: &'static [u8]| {
        let plan = replace_plan(&cfg, &target, body.len());
        async move { transfer::receive(&plan, &mut &body[..]).await.unwrap() }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(write(b"second\n"));
    assert!(
        leftover.exists(),
        "a recent temporary file may still be in use"
    );
    let old = std::time::SystemTime::now() - transfer::STALE_TEMP;
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(old)
        .unwrap();
    rt.block_on(write(b"third\n"));
    assert!(!leftover.exists(), "the stale temporary file is swept");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "third\n");
}

/// Not a test: the child process of the crash test. Stages a write, then aborts before the rename.
#[tokio::test]
#[ignore = "run as a child process by crash_between_write_and_rename_keeps_the_old_file"]
async fn crash_between_write_and_rename() {
    let Some(target) = std::env::var_os(CRASH_TARGET) else {
        return;
    };
    let target = PathBuf::from(target);
    let cfg = FilesystemConfig {
        roots: vec![target.parent().unwrap().to_path_buf()],
        ..FilesystemConfig::default()
    };
    let body = b"new content\n";
    let plan = replace_plan(&cfg, &target, body.len());
    let staged = transfer::stage(&plan, &mut &body[..]).await.unwrap();
    assert!(staged.path().exists());
    std::process::abort();
}

/// Proves a state directory inside a root is never listed, read, written, deleted or moved (itself or a parent holding it).
#[test]
fn state_dirs_are_protected() {
    let t = Tree::new("state");
    std::fs::create_dir_all(t.root.join("src/.vibebridge/node")).unwrap();
    std::fs::write(t.root.join("src/.vibebridge/node/key"), "SECRET").unwrap();
    std::os::unix::fs::symlink(t.root.join("src/.vibebridge"), t.root.join("state-link")).unwrap();
    let cfg = FilesystemConfig {
        protected: vec![t.root.join("src/.vibebridge")],
        hidden: HiddenPolicy::Show,
        ..t.cfg()
    };
    let g = Guard::new(&cfg);
    let listing = ops::list(&g, Some(&t.p("src")), false).unwrap();
    let names: Vec<_> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.contains(&"main.rs") && !names.contains(&".vibebridge"),
        "{names:?}"
    );
    let root_listing = ops::list(&g, Some(&t.p("")), false).unwrap();
    assert!(root_listing.entries.iter().all(|e| e.name != "state-link"));

    for path in [
        "src/.vibebridge",
        "src/.vibebridge/node/key",
        "state-link/node/key",
    ] {
        assert_eq!(
            code(ops::stat(&g, &t.p(path))),
            ErrorCode::ProtectedState,
            "{path}"
        );
    }
    assert_eq!(
        code(ops::list(&g, Some(&t.p("state-link")), false)),
        ErrorCode::ProtectedState
    );
    assert_eq!(
        code(ops::create(&g, &t.p("src/.vibebridge/node/new"), false)),
        ErrorCode::ProtectedState
    );
    assert_eq!(
        code(ops::delete(&g, &t.p("src/.vibebridge/node/key"), false)),
        ErrorCode::ProtectedState
    );
    assert_eq!(
        code(ops::delete(&g, &t.p("src"), true)),
        ErrorCode::ProtectedState
    );
    assert_eq!(
        code(ops::rename(&g, &t.p("src"), &t.p("moved"), false)),
        ErrorCode::ProtectedState
    );
    assert_eq!(
        code(ops::rename(
            &g,
            &t.p("src/main.rs"),
            &t.p("src/.vibebridge/x"),
            false
        )),
        ErrorCode::ProtectedState
    );
    let refusal = ops::stat(&g, &t.p("src/.vibebridge/node/key")).unwrap_err();
    assert!(
        refusal.message.contains("database.path"),
        "{}",
        refusal.message
    );
    // Deleting the symlink itself is fine: the state stays.
    ops::delete(&g, &t.p("state-link"), false).unwrap();
    assert_eq!(
        std::fs::read_to_string(t.root.join("src/.vibebridge/node/key")).unwrap(),
        "SECRET"
    );
}
