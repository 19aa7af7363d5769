//! Directory listings for main's directory picker (`fs_list` streams): only directories inside
//! `filesystem.roots`, symlinks resolved, dot-directories only when `filesystem.show_hidden` is set.

use std::path::{Path, PathBuf};

use vibebridge_tunnel::fs::{DirEntry, DirListing, FsListReply, MAX_ENTRIES};
use vibebridge_tunnel::session::{ERR_INTERNAL, ERR_PATH_NOT_FOUND, ERR_PATH_OUTSIDE_ROOTS};

use crate::config::FilesystemConfig;
use crate::roots::{PathError, resolve_dir};

/// Lists `path` (or the roots when `None`). Blocking: call it from `spawn_blocking`.
pub fn list(cfg: &FilesystemConfig, path: Option<&str>) -> FsListReply {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return FsListReply::Ok(list_roots(&cfg.roots));
    };
    let dir = match resolve_dir(&cfg.roots, path) {
        Ok(d) => d,
        Err(e) => {
            let code = match e {
                PathError::Invalid(_) => "bad_request",
                PathError::NotFound(_) => ERR_PATH_NOT_FOUND,
                PathError::OutsideRoots(_) => ERR_PATH_OUTSIDE_ROOTS,
            };
            return FsListReply::Err {
                code: code.into(),
                message: e.to_string(),
            };
        }
    };
    let read = match std::fs::read_dir(&dir) {
        Ok(r) => r,
        Err(e) => {
            return FsListReply::Err {
                code: ERR_INTERNAL.into(),
                message: format!("cannot read {}: {e}", dir.display()),
            };
        }
    };
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && !cfg.show_hidden {
            continue;
        }
        // A symlink is listed only when it resolves to a directory that is still inside a root.
        let Ok(resolved) = resolve_dir(&cfg.roots, &entry.path().to_string_lossy()) else {
            continue;
        };
        if entries.len() == MAX_ENTRIES {
            truncated = true;
            break;
        }
        entries.push(DirEntry {
            name,
            path: resolved.display().to_string(),
        });
    }
    entries.sort_by_key(|a| a.name.to_lowercase());
    let parent = dir
        .parent()
        .filter(|p| inside_roots(&cfg.roots, p))
        .map(|p| p.display().to_string());
    FsListReply::Ok(DirListing {
        path: Some(dir.display().to_string()),
        parent,
        entries,
        truncated,
    })
}

fn inside_roots(roots: &[PathBuf], p: &Path) -> bool {
    roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|r| p.starts_with(r))
}

fn list_roots(roots: &[PathBuf]) -> DirListing {
    let entries = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .filter(|r| r.is_dir())
        .map(|r| DirEntry {
            name: r.display().to_string(),
            path: r.display().to_string(),
        })
        .collect();
    DirListing {
        path: None,
        parent: None,
        entries,
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok(r: FsListReply) -> DirListing {
        match r {
            FsListReply::Ok(l) => l,
            FsListReply::Err { code, message } => panic!("{code}: {message}"),
        }
    }

    // Proves listings show only sub-directories inside the roots: files, dot-dirs and symlinks out are left out,
    // the parent stops at the root, and paths outside are refused with their code.
    #[test]
    fn lists_only_directories_inside_roots() {
        let base = std::env::temp_dir().join(format!("vb-fs-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("b/deep")).unwrap();
        std::fs::create_dir_all(root.join("A")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(root.join("file.txt"), "x").unwrap();
        let _ = std::fs::remove_file(root.join("out"));
        std::os::unix::fs::symlink(base.join("outside"), root.join("out")).unwrap();
        let cfg = FilesystemConfig {
            roots: vec![root.clone()],
            ..FilesystemConfig::default()
        };
        let real_root = std::fs::canonicalize(&root).unwrap();

        let roots = ok(list(&cfg, None));
        assert_eq!(roots.path, None);
        assert_eq!(roots.entries[0].path, real_root.display().to_string());

        let top = ok(list(&cfg, Some(&root.display().to_string())));
        let names: Vec<&str> = top.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["A", "b"]);
        assert_eq!(top.parent, None, "the root has no parent to go to");

        let b = ok(list(&cfg, Some(&top.entries[1].path)));
        assert_eq!(b.parent.as_deref(), Some(real_root.to_str().unwrap()));
        assert_eq!(b.entries.len(), 1);

        let hidden = ok(list(
            &FilesystemConfig {
                show_hidden: true,
                ..cfg.clone()
            },
            Some(&root.display().to_string()),
        ));
        assert!(hidden.entries.iter().any(|e| e.name == ".hidden"));

        for (path, code) in [
            (
                base.join("outside").display().to_string(),
                ERR_PATH_OUTSIDE_ROOTS,
            ),
            (
                root.join("missing").display().to_string(),
                ERR_PATH_NOT_FOUND,
            ),
            ("relative".to_string(), "bad_request"),
        ] {
            match list(&cfg, Some(&path)) {
                FsListReply::Err { code: got, .. } => assert_eq!(got, code, "{path}"),
                FsListReply::Ok(l) => panic!("{path} listed: {l:?}"),
            }
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
