//! Tests that what the guard checked is what gets used: symlinks swapped in after the check, hard links
//! out of the roots, and names taken between a check and a rename.

use std::path::Path;
use vibebridge_tunnel::reply::ErrorCode;

use rustix::fs::{Mode, OFlags};
use vibebridge_tunnel::fs::WriteMode;

use super::super::beneath;
use super::super::guard::Guard;
use super::super::{ops, transfer};
use super::{Tree, code};

fn root_fd(root: &Path) -> std::os::fd::OwnedFd {
    rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
}

/// Proves a path the guard resolved cannot be opened once a component of it is a symlink out of the root
/// (the race, made deterministic: `out` is such a link), with `openat2` and with the fallback walk alike.
#[test]
fn a_symlink_swapped_in_after_the_check_is_not_followed() {
    let t = Tree::new("race-open");
    let dir = root_fd(&t.root);
    for rel in ["out/secret.txt", "secret"] {
        let rel = Path::new(rel);
        let e = beneath::open(&dir, rel, OFlags::RDONLY, Mode::empty()).unwrap_err();
        assert!(beneath::swapped(&e), "openat2 {rel:?}: {e}");
        let e = beneath::walk(&dir, rel, OFlags::RDONLY, Mode::empty()).unwrap_err();
        assert!(beneath::swapped(&e), "walk {rel:?}: {e}");
        let e = beneath::walk(&dir, rel, OFlags::WRONLY | OFlags::CREATE, Mode::empty());
        assert!(e.is_err(), "walk may not create through {rel:?}");
    }
    for rel in ["src/main.rs", "./src/main.rs"] {
        beneath::open(&dir, Path::new(rel), OFlags::RDONLY, Mode::empty()).unwrap();
        beneath::walk(&dir, Path::new(rel), OFlags::RDONLY, Mode::empty()).unwrap();
    }
    assert!(
        beneath::walk(
            &dir,
            Path::new("src/../src/main.rs"),
            OFlags::RDONLY,
            Mode::empty()
        )
        .is_err()
    );
    let cfg = t.cfg();
    let g = Guard::new(&cfg);
    let refusal = g
        .open(
            &t.root.join("out/secret.txt"),
            OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap_err();
    assert_eq!(
        refusal.code,
        ErrorCode::PathOutsideRoots,
        "{}",
        refusal.message
    );
    assert!(
        refusal.message.contains("filesystem.roots"),
        "{}",
        refusal.message
    );
}

/// Proves a write whose directory is swapped for a symlink out of the root after the check lands in the
/// directory that was checked, never outside the roots.
#[tokio::test]
async fn a_write_lands_in_the_checked_directory() {
    let t = Tree::new("race-write");
    let cfg = t.cfg();
    let body = b"pwned";
    let plan = transfer::plan_write(
        &Guard::new(&cfg),
        &t.p("src/new.txt"),
        body.len() as u64,
        None,
        WriteMode::Replace,
    )
    .unwrap();
    std::fs::rename(t.root.join("src"), t.root.join("src-old")).unwrap();
    std::os::unix::fs::symlink(t.base.join("outside"), t.root.join("src")).unwrap();
    transfer::receive(&plan, &mut &body[..]).await.unwrap();
    assert!(
        !t.base.join("outside/new.txt").exists(),
        "written outside the roots"
    );
    assert_eq!(std::fs::read(t.root.join("src-old/new.txt")).unwrap(), body);
}

/// Proves a hard link inside the root to a file outside it is not read through (nor one inside: the
/// node cannot tell where a file's other names are).
#[test]
fn hard_links_are_not_read_through() {
    let t = Tree::new("race-hardlink");
    let cfg = t.cfg();
    let g = Guard::new(&cfg);
    std::fs::hard_link(t.base.join("outside/secret.txt"), t.root.join("copy.txt")).unwrap();
    let refusal = transfer::plan_read(&g, &t.p("copy.txt"), 0, None)
        .map(|p| p.entry)
        .unwrap_err();
    assert_eq!(refusal.code, ErrorCode::HardLinked, "{}", refusal.message);
    assert!(
        refusal.message.contains("hard links"),
        "{}",
        refusal.message
    );
    assert!(transfer::plan_read(&g, &t.p("src/main.rs"), 0, None).is_ok());
}

/// Proves an upload without overwrite never replaces a file that appeared after its check, and a rename
/// without overwrite never replaces an existing name: both refused with `already_exists`, content kept.
#[tokio::test]
async fn names_taken_meanwhile_are_never_replaced() {
    let t = Tree::new("race-noreplace");
    let cfg = t.cfg();
    let body = b"upload";
    let plan = transfer::plan_write(
        &Guard::new(&cfg),
        &t.p("src/new.txt"),
        body.len() as u64,
        None,
        WriteMode::CreateNew,
    )
    .unwrap();
    std::fs::write(t.root.join("src/new.txt"), "theirs").unwrap();
    assert_eq!(
        code(transfer::receive(&plan, &mut &body[..]).await),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        std::fs::read_to_string(t.root.join("src/new.txt")).unwrap(),
        "theirs"
    );
    assert_eq!(super::temp_files(&t.root.join("src")), Vec::<String>::new());

    let g = Guard::new(&cfg);
    assert_eq!(
        code(ops::rename(
            &g,
            &t.p("src/main.rs"),
            &t.p("src/new.txt"),
            false
        )),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        std::fs::read_to_string(t.root.join("src/new.txt")).unwrap(),
        "theirs"
    );
    assert!(t.root.join("src/main.rs").exists());
}
