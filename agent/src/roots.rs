//! The node's allowed roots (`filesystem.roots`): every path a session, terminal or file operation uses
//! must resolve, symlinks included, to somewhere inside one of them.

use std::path::{Path, PathBuf};

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
}

/// Resolves `path` (absolute, on this node) to its canonical form and checks it lies inside a root.
/// Symlinks are resolved first, so a link pointing out of a root is refused.
pub fn resolve_dir(roots: &[PathBuf], path: &str) -> Result<PathBuf, PathError> {
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
    Ok(real)
}

impl PathError {
    /// The stable wire code of this refusal (`bad_request`, `path_not_found`, `path_outside_roots`).
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Invalid(_) => vibebridge_tunnel::session::ERR_BAD_REQUEST,
            PathError::NotFound(_) => vibebridge_tunnel::session::ERR_PATH_NOT_FOUND,
            PathError::OutsideRoots(_) => vibebridge_tunnel::session::ERR_PATH_OUTSIDE_ROOTS,
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

        assert!(resolve_dir(&roots, &s(&root.join("sub"))).is_ok());
        assert!(matches!(
            resolve_dir(&roots, &s(&root.join("sub/../../outside"))),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, &s(&root.join("link"))),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, "relative/dir"),
            Err(PathError::Invalid(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, "/tmp/a\0b"),
            Err(PathError::Invalid(_))
        ));
        assert!(matches!(
            resolve_dir(&roots, &s(&root.join("missing"))),
            Err(PathError::NotFound(_))
        ));
        assert!(matches!(
            resolve_dir(&[], &s(&root)),
            Err(PathError::OutsideRoots(_))
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
