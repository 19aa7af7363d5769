//! Secrets at rest: values main must keep but never show (GitHub tokens, client secrets) are sealed with
//! AES-256-GCM (aws-lc-rs) before they reach the store. The key is never in the database: it comes from
//! `VIBEBRIDGE_SECRETS_KEY` (base64 of 32 bytes) or from its own file, created 0600 on first use. (Where that
//! file lives by default, and the `rotate-secrets` command that re-seals stored values, come with the GitHub
//! connections that are the first values sealed.)
//!
//! A sealed value is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: a fresh random 96-bit nonce per value,
//! the key's id (the first 8 bytes of its SHA-256, hex) to find the key after a rotation, and a context
//! (what the value is and whose) bound in as associated data, so a sealed value moved to another record does
//! not open there. The key file may list older keys after the current one: they open values, only the first
//! seals, and rotation puts a new key first.

use std::path::Path;

use anyhow::{Context, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The environment variable that holds the key instead of a file.
pub const KEY_ENV: &str = "VIBEBRIDGE_SECRETS_KEY";

const KEY_LEN: usize = 32;

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not a sealed value of this format.
    #[error("not a sealed value (expected v1.<key id>.<data>)")]
    Malformed,
    /// Sealed with a key this main does not have.
    #[error(
        "sealed with key {0}, which this main does not have; restore the key file it was sealed with"
    )]
    UnknownKey(String),
    /// The key is right but the value was changed, or belongs to another record.
    #[error("the sealed value was changed or belongs to another record")]
    Tampered,
}

/// One AES-256-GCM key and its id.
struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8]) -> anyhow::Result<Key> {
        if bytes.len() != KEY_LEN {
            bail!("a secrets key is {KEY_LEN} bytes, not {}", bytes.len());
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        let id = hex::encode(&digest.as_ref()[..8]);
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| anyhow::anyhow!("bad AES key"))?,
        );
        Ok(Key { id, key })
    }
}

/// The keys that seal and open secrets. Cheap to share behind an `Arc`.
pub struct Sealer {
    /// The current key first, then older ones that still open values.
    keys: Vec<Key>,
}

impl Sealer {
    /// The keys from `VIBEBRIDGE_SECRETS_KEY` when set, else from `file`, which is created (0600, one fresh key)
    /// when it does not exist.
    pub fn load(file: &Path) -> anyhow::Result<Sealer> {
        match std::env::var(KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Sealer::parse(&text)
                .with_context(|| format!("reading the secrets key from ${KEY_ENV}")),
            _ => Sealer::from_file(file),
        }
    }

    fn from_file(file: &Path) -> anyhow::Result<Sealer> {
        if !file.exists() {
            write_keys(file, &[fresh_key()?])?;
        }
        check_private(file)?;
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the secrets key file {}", file.display()))?;
        Sealer::parse(&text).with_context(|| {
            format!(
                "the secrets key file {} is not one base64 key of 32 bytes per line; restore it from a backup \
                 (values sealed with a lost key cannot be opened)",
                file.display()
            )
        })
    }

    /// Keys written one base64 line each, current first.
    fn parse(text: &str) -> anyhow::Result<Sealer> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let bytes = STANDARD.decode(l).context("a key line is not base64")?;
                Key::new(&bytes)
            })
            .collect::<anyhow::Result<Vec<Key>>>()?;
        if keys.is_empty() {
            bail!("no key in it");
        }
        Ok(Sealer { keys })
    }

    /// The current key's id.
    pub fn key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plain` for `context` (what it is and whose, e.g. `github_token:<user id>`).
    pub fn seal(&self, context: &str, plain: &str) -> anyhow::Result<String> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| anyhow::anyhow!("no randomness for a nonce: {e}"))?;
        let mut data = plain.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("v1.{}.{}", key.id, URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OpenError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_string()))?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Malformed);
        }
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = bytes.try_into().map_err(|_| OpenError::Malformed)?;
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| OpenError::Tampered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| OpenError::Tampered)
    }

    /// Whether `sealed` was sealed with an older key (a rotation re-seals it).
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed
            .split('.')
            .nth(1)
            .is_some_and(|id| id != self.keys[0].id)
    }
}

/// Puts a new key first in `file`, keeping the older ones so stored values still open until they are
/// re-sealed; returns the new key's id.
pub fn rotate_key_file(file: &Path) -> anyhow::Result<String> {
    let old = if file.exists() {
        check_private(file)?;
        std::fs::read_to_string(file)
            .with_context(|| format!("reading the secrets key file {}", file.display()))?
    } else {
        String::new()
    };
    let new = fresh_key()?;
    let mut lines = vec![new.clone()];
    lines.extend(
        old.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    );
    write_keys(file, &lines)?;
    let bytes = STANDARD.decode(&new)?;
    Ok(Key::new(&bytes)?.id)
}

fn fresh_key() -> anyhow::Result<String> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    Ok(STANDARD.encode(key))
}

/// Writes the key lines to `file` (0600, replaced atomically).
fn write_keys(file: &Path, lines: &[String]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = file.with_extension("key.new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(
        "# VibeBridge secrets keys: the first seals, all open. Keep a backup; never share it.\n"
            .as_bytes(),
    )?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, file).with_context(|| format!("replacing {}", file.display()))?;
    Ok(())
}

/// Refuses a key file others may read.
fn check_private(file: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "the secrets key file {} is readable by others (mode {:o}); run `chmod 600 {}`",
            file.display(),
            mode & 0o777,
            file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "vb-secrets-{}",
            vibebridge_tunnel::keys::random_hex(8)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Proves a sealed value opens only for its own context, with a fresh nonce each time, and hides the plain text.
    #[test]
    fn seals_and_opens_for_its_context_only() {
        let d = dir();
        let s = Sealer::from_file(&d.join("secrets.key")).unwrap();
        let a = s.seal("github_token:u1", "ghp_secret").unwrap();
        let b = s.seal("github_token:u1", "ghp_secret").unwrap();
        assert_ne!(a, b, "two seals of one value share a nonce");
        assert!(!a.contains("ghp_secret"));
        assert_eq!(s.open("github_token:u1", &a).unwrap(), "ghp_secret");
        assert_eq!(s.open("github_token:u2", &a), Err(OpenError::Tampered));
        let mut bad = a.clone().into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            s.open("github_token:u1", &String::from_utf8(bad).unwrap()),
            Err(OpenError::Tampered)
        );
        assert_eq!(s.open("x", "plain text"), Err(OpenError::Malformed));
        std::fs::remove_dir_all(d).unwrap();
    }

    /// Proves the key file is made 0600, a readable one is refused with the fix, and a broken one says what to do.
    #[test]
    fn key_file_is_private_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let file = d.join("secrets.key");
        Sealer::from_file(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", Sealer::from_file(&file).err().unwrap());
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::write(&file, "not a key\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = format!("{:#}", Sealer::from_file(&file).err().unwrap());
        assert!(e.contains("restore it from a backup"), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }

    /// Proves rotation puts a new key first: old values still open, new ones use the new key, and a value
    /// sealed with a key that is gone says which key it needs.
    #[test]
    fn rotation_keeps_old_values_open() {
        let d = dir();
        let file = d.join("secrets.key");
        let before = Sealer::from_file(&file).unwrap();
        let old = before.seal("c", "v").unwrap();
        let id = rotate_key_file(&file).unwrap();
        let after = Sealer::from_file(&file).unwrap();
        assert_eq!(after.key_id(), id);
        assert_ne!(id, before.key_id());
        assert!(after.is_stale(&old));
        assert_eq!(after.open("c", &old).unwrap(), "v");
        let new = after.seal("c", "v").unwrap();
        assert!(!after.is_stale(&new));
        let other = Sealer::from_file(&d.join("other.key")).unwrap();
        assert!(matches!(other.open("c", &new), Err(OpenError::UnknownKey(k)) if k == id));
        std::fs::remove_dir_all(d).unwrap();
    }
}
