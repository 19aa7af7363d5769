//! Ed25519 identities: generated on first start, stored 0600, loaded afterwards; fingerprints.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PublicKey};

/// The `SHA256:…` fingerprint OpenSSH prints for a key.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The key in OpenSSH one-line form (`ssh-ed25519 AAAA…`), without a comment.
pub fn public_openssh(key: &PublicKey) -> String {
    // Encoding a public key we hold in memory only fails on allocation; fall back to the fingerprint.
    key.to_openssh().unwrap_or_else(|_| fingerprint(key))
}

/// Parses an OpenSSH one-line public key.
pub fn parse_public(line: &str) -> anyhow::Result<PublicKey> {
    PublicKey::from_openssh(line.trim())
        .context("not an OpenSSH public key line (`ssh-ed25519 AAAA…`)")
}

/// Loads the private key at `path`, or generates an ed25519 key there (mode 0600) when the file is absent.
/// A key file readable by others is refused, as OpenSSH does.
pub fn load_or_generate(path: &Path) -> anyhow::Result<PrivateKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private_mode(path)?;
            PrivateKey::from_openssh(text.as_bytes()).with_context(|| {
                format!(
                    "{} is not an OpenSSH private key; move it away to have a new key generated",
                    path.display()
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKey::random(&mut rng(), Algorithm::Ed25519)
                .context("generating an ed25519 key")?;
            let text = key
                .to_openssh(LineEnding::LF)
                .context("encoding the new key")?;
            write_private(path, text.as_bytes())?;
            tracing::info!(path = %path.display(), fingerprint = %fingerprint(key.public_key()), "generated a new ed25519 key");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
    }
}

/// Writes `bytes` to `path` atomically with mode 0600, creating the parent directory (0700).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Makes `dir` a private state directory whatever the umask: created if absent, the directory and
/// every directory below it 0700, every file 0600. Symlinks are left alone (never followed). Run it
/// after opening the databases inside, so the files they created are covered too.
pub fn secure_state_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating state directory {}", dir.display()))?;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (chmod 700)", dir.display()))?;
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let path = entry.path();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private (chmod 600)", path.display()))?;
            }
        }
    }
    Ok(())
}

fn check_private_mode(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "key file {} has mode {:o}, readable by others; run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

/// A cryptographic RNG for key generation and tokens, seeded from the OS.
pub fn rng() -> impl russh::keys::ssh_key::rand_core::CryptoRng {
    OsRng
}

/// The operating system's random number generator, through `getrandom`.
struct OsRng;

impl russh::keys::ssh_key::rand_core::TryRng for OsRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        fill_random(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        fill_random(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        fill_random(dest);
        Ok(())
    }
}

impl russh::keys::ssh_key::rand_core::TryCryptoRng for OsRng {}

/// Fills `buf` from the OS RNG. The OS RNG failing leaves nothing safe to do, so it aborts the process.
pub fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        // Documented invariant: without OS randomness no key or token may be produced.
        panic!("the operating system's random number generator failed: {e}");
    }
}

/// `n` random bytes, hex-encoded: tokens, secrets and ids that must not be guessable.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a key is generated 0600 on first use, then the same key is loaded again.
    #[test]
    fn generate_then_reload() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vb-keys-{}", random_hex(6)));
        let path = dir.join("node_ed25519");
        let a = load_or_generate(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_generate(&path).unwrap();
        assert_eq!(fingerprint(a.public_key()), fingerprint(b.public_key()));
        assert!(fingerprint(a.public_key()).starts_with("SHA256:"));
        let line = public_openssh(a.public_key());
        assert_eq!(parse_public(&line).unwrap(), *a.public_key());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Proves a world-readable key and a corrupt key are refused with what to do.
    #[test]
    fn loose_or_corrupt_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vb-keys-{}", random_hex(6)));
        let path = dir.join("k");
        load_or_generate(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_generate(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        write_private(&path, b"garbage").unwrap();
        let err = format!("{:#}", load_or_generate(&path).unwrap_err());
        assert!(err.contains("not an OpenSSH private key"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Proves a state directory made under a loose umask (0755 dirs, 0644 files) ends 0700/0600 throughout.
    #[test]
    fn state_dir_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vb-state-{}", random_hex(6)));
        std::fs::create_dir_all(dir.join("db/blobs")).unwrap();
        for d in [&dir, &dir.join("db"), &dir.join("db/blobs")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("db/conf"), b"x").unwrap();
        std::fs::write(dir.join("db/blobs/1"), b"x").unwrap();
        std::fs::set_permissions(dir.join("db/conf"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        secure_state_dir(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("db")), 0o700);
        assert_eq!(mode(&dir.join("db/blobs")), 0o700);
        assert_eq!(mode(&dir.join("db/conf")), 0o600);
        assert_eq!(mode(&dir.join("db/blobs/1")), 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
