//! The node's allowed roots (`filesystem.roots`): every path a session, terminal or file operation uses
//! must resolve, symlinks included, to somewhere inside one of them.

use std::path::{Path, PathBuf};
use vibebridge_tunnel::reply::ErrorCode;

/// Why a path was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not absolute, contains NUL, or otherwise not a usable path.
    #[error("{0}")]
    Invalid(String),
    /// Does not exist (or is not the kind of thing asked for).
    #[error("{0}")]
    NotFound(String),
    /// Resolves outside every allowed root.
    #[error("{0}")]
    OutsideRoots(String),
    /// Is, or lies inside, a protected state directory.
    #[error("{0}")]
    Protected(String),
}

/// Resolves `path` (absolute, on this node) to its canonical form and checks it lies inside a root and
/// outside every protected state directory. Symlinks are resolved first, so a link pointing out of a
/// root, or into a state directory, is refused.
pub fn resolve_dir(
    roots: &[PathBuf],
    protected: &[PathBuf],
    path: &str,
) -> Result<PathBuf, PathError> {
    if path.contains('\0') {
        return Err(PathError::Invalid("path contains a NUL byte".into()));
    }
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(PathError::Invalid(format!(
            "path {path:?} must be absolute (a directory on the node, e.g. /home/me/project)"
        )));
    }
    if roots.is_empty() {
        return Err(PathError::OutsideRoots(
            "this node allows no directories: set filesystem.roots in its config (or start it with --root DIR)"
                .into(),
        ));
    }
    let real = std::fs::canonicalize(p).map_err(|e| {
        PathError::NotFound(format!("path {path:?} does not exist on the node: {e}"))
    })?;
    if !real.is_dir() {
        return Err(PathError::NotFound(format!(
            "path {path:?} is not a directory"
        )));
    }
    if !contains(&canonical(roots), &real) {
        return Err(outside(path, &real, roots));
    }
    outside_protected(&canonical(protected), path, &real)?;
    Ok(real)
}

/// Refuses `real` (canonical, or an entry under a canonical parent), asked for as `asked`, when it is
/// or lies inside one of the canonical state directories.
pub fn outside_protected(
    canonical_protected: &[PathBuf],
    asked: &str,
    real: &Path,
) -> Result<(), PathError> {
    match canonical_protected.iter().find(|p| real.starts_with(p)) {
        Some(state) => Err(protected_refusal(asked, state)),
        None => Ok(()),
    }
}

/// The refusal for `asked`, which is or lies inside the state directory `state`.
pub fn protected_refusal(asked: &str, state: &Path) -> PathError {
    PathError::Protected(format!(
        "{asked:?} is inside {}, a VibeBridge state directory (node key, databases, session logs); \
         the file, git and session APIs never touch it, whatever filesystem.roots allows. Move the state \
         out of the roots (database.path) if you need the rest of this directory",
        state.display()
    ))
}

/// The first canonical state directory that `real` (canonical) holds: deleting or moving `real`
/// would take that state with it.
pub fn holds_protected<'p>(canonical_protected: &'p [PathBuf], real: &Path) -> Option<&'p PathBuf> {
    canonical_protected.iter().find(|p| p.starts_with(real))
}

impl PathError {
    /// The stable wire code of this refusal (`bad_request`, `path_not_found`, `path_outside_roots`).
    pub fn code(&self) -> ErrorCode {
        match self {
            PathError::Invalid(_) => ErrorCode::BadRequest,
            PathError::NotFound(_) => ErrorCode::PathNotFound,
            PathError::OutsideRoots(_) => ErrorCode::PathOutsideRoots,
            PathError::Protected(_) => ErrorCode::ProtectedState,
        }
    }
}

/// The roots that exist, canonical (symlinks resolved), to compare canonical paths against.
pub fn canonical(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect()
}

/// Whether the canonical path `real` lies inside one of the canonical roots.
pub fn contains(canonical_roots: &[PathBuf], real: &Path) -> bool {
    canonical_roots.iter().any(|r| real.starts_with(r))
}

/// The refusal for `asked`, which resolved to `real`, outside every configured root.
pub fn outside(asked: &str, real: &Path, configured: &[PathBuf]) -> PathError {
    let list: Vec<String> = configured.iter().map(|r| r.display().to_string()).collect();
    PathError::OutsideRoots(format!(
        "path {asked:?} (resolved to {}) is outside the node's allowed roots [{}] (filesystem.roots)",
        real.display(),
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves `..`, symlinks out of a root, relative paths and NUL bytes are all refused by rule.
    #[test]
    fn escapes_are_refused() {
        let base = std::env::temp_dir().join(format!("vb-roots-{}", std::process::id()));
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let _ = std::fs::remove_file(root.join("link"));
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let roots = vec![root.clone()];
        let s = |p: &Path| p.display().to_string();

        assert!(resolve_dir(&roots, &[], &s(&root.join("sub"))).is_ok());
        assert!(matches!(
            resolve_dir(&roots, &[], &s(&root.join("sub/../../outside"))),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, &[], &s(&root.join("link"))),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, &[], "relative/dir"),
            Err(PathError::Invalid(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, &[], "/tmp/a\0b"),
            Err(PathError::Invalid(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, &[], &s(&root.join("missing"))),
            Err(PathError::NotFound(_))
        ));
        assert!(matches!(
            resolve_dir(&[], &[], &s(&root)),
            Err(PathError::OutsideRoots(_))
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Proves a state directory inside a root is refused, by itself, below it and through a symlink, while its parent stays usable.
    #[test]
    fn state_dirs_are_refused_inside_roots() {
        let base = std::env::temp_dir().join(format!("vb-state-{}", std::process::id()));
        let root = base.join("root");
        let state = root.join(".vibebridge");
        std::fs::create_dir_all(state.join("node")).unwrap();
        let _ = std::fs::remove_file(root.join("alias"));
        std::os::unix::fs::symlink(&state, root.join("alias")).unwrap();
        let (roots, protected) = (vec![root.clone()], vec![state.clone()]);
        let s = |p: &Path| p.display().to_string();
        assert!(resolve_dir(&roots, &protected, &s(&root)).is_ok());
        for p in [state.clone(), state.join("node"), root.join("alias/node")] {
            let err = resolve_dir(&roots, &protected, &s(&p)).unwrap_err();
            assert!(matches!(err, PathError::Protected(_)), "{p:?}: {err:?}");
            assert_eq!(err.code(), ErrorCode::ProtectedState);
        }
        let canon = canonical(&protected);
        assert!(holds_protected(&canon, &std::fs::canonicalize(&root).unwrap()).is_some());
        assert!(
            holds_protected(&canon, &std::fs::canonicalize(state.join("node")).unwrap()).is_none()
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
