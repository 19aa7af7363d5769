//! `copy_files` on real directories: ignored files copied by git-style globs, nothing overwritten, no
//! symlink followed, nothing written outside the destination, bounds enforced before anything is copied.

use std::os::unix::fs::symlink;
use std::path::Path;

use vibebridge_tunnel::reply::ErrorCode;

use super::Fixture;
use crate::runs::copy::{CopyLimits, copy_files, copy_within};

fn globs(g: &[&str]) -> Vec<String> {
    g.iter().map(|s| s.to_string()).collect()
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

/// Proves ignored files matching the globs (top-level, one directory down, and at any depth with `**/`) are
/// copied to the same paths, and nothing else (`.git` and nested work trees included) is.
#[test]
fn copies_ignored_files_by_glob() {
    let f = Fixture::new();
    Fixture::write(&f.repo, "app.env", "TOKEN=1\n");
    Fixture::write(&f.repo, "config/db.local.json", "{}\n");
    Fixture::write(&f.repo, "config/deeper/no.local.json", "{}\n");
    Fixture::write(&f.repo, "top.secret", "s0\n");
    Fixture::write(&f.repo, "a/b/c.secret", "s1\n");
    Fixture::write(&f.repo, "nested/.git", "gitdir: elsewhere\n");
    Fixture::write(&f.repo, "nested/n.secret", "s2\n");
    let dest = f.base.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let g = globs(&["*.env", "config/*.local.json", "**/*.secret", "**/HEAD"]);
    let n = copy_files(&f.repo, &dest, &g).unwrap();
    assert_eq!(n, 4);
    assert_eq!(read(&dest, "app.env"), "TOKEN=1\n");
    assert_eq!(read(&dest, "config/db.local.json"), "{}\n");
    assert_eq!(read(&dest, "top.secret"), "s0\n");
    assert_eq!(read(&dest, "a/b/c.secret"), "s1\n");
    assert!(
        !dest.join("config/deeper").exists(),
        "`*` stays in one directory"
    );
    assert!(!dest.join(".git").exists(), ".git is never entered");
    assert!(!dest.join("a.txt").exists());
    assert!(
        !dest.join("nested").exists(),
        "nested work trees are skipped"
    );
}

/// Proves a file already in the destination is kept as it is, and only the missing ones are copied.
#[test]
fn never_overwrites() {
    let f = Fixture::new();
    Fixture::write(&f.repo, "a.env", "theirs\n");
    Fixture::write(&f.repo, "b.env", "new\n");
    let dest = f.base.join("dest");
    Fixture::write(&dest, "a.env", "mine\n");
    let n = copy_files(&f.repo, &dest, &globs(&["*.env"])).unwrap();
    assert_eq!(n, 1);
    assert_eq!(read(&dest, "a.env"), "mine\n");
    assert_eq!(read(&dest, "b.env"), "new\n");
}

/// Proves symlinked files and directories in the working copy are skipped, and a symlinked directory in
/// the destination is never written through.
#[test]
fn symlinks_are_never_followed() {
    let f = Fixture::new();
    let outside = f.base.join("outside");
    Fixture::write(&outside, "leak.env", "OUTSIDE=1\n");
    Fixture::write(&outside, "config/x.local.json", "{}\n");
    symlink(outside.join("leak.env"), f.repo.join("leak.env")).unwrap();
    symlink(&outside, f.repo.join("linked")).unwrap();
    Fixture::write(&f.repo, "config/y.local.json", "{}\n");
    let dest = f.base.join("dest");
    let target = f.base.join("target");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    symlink(&target, dest.join("config")).unwrap();
    let g = globs(&["*.env", "**/*.env", "**/*.local.json"]);
    let n = copy_files(&f.repo, &dest, &g).unwrap();
    assert_eq!(n, 0);
    assert!(!dest.join("leak.env").exists());
    assert!(!dest.join("linked").exists());
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing written through the link"
    );
}

/// Proves globs that could leave the work tree or reach into `.git` are refused.
#[test]
fn escaping_globs_are_refused() {
    let f = Fixture::new();
    let dest = f.base.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    for bad in ["../x", "/etc/passwd", "a/../../x", ".git/config", "./a", ""] {
        let e = copy_files(&f.repo, &dest, &globs(&[bad])).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest, "{bad}: {e}");
    }
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
}

/// Proves matches over the file or byte bound are refused with nothing copied.
#[test]
fn bounds_are_checked_before_copying() {
    let f = Fixture::new();
    for name in ["a.env", "b.env", "c.env"] {
        Fixture::write(&f.repo, name, "0123456789\n");
    }
    let dest = f.base.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let g = globs(&["*.env"]);
    for limits in [
        CopyLimits {
            max_files: 2,
            max_bytes: 1 << 20,
        },
        CopyLimits {
            max_files: 10,
            max_bytes: 25,
        },
    ] {
        let e = copy_within(&f.repo, &dest, &g, limits).unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooLarge, "{e}");
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    }
    let limits = CopyLimits {
        max_files: 3,
        max_bytes: 33,
    };
    assert_eq!(copy_within(&f.repo, &dest, &g, limits).unwrap(), 3);
}
