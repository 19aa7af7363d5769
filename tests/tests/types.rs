//! The UI's TypeScript types are generated from the Rust definitions and must be current.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use vibebridge_main::api::types::{TS_PATH, typescript};

/// Proves `web/src/api/types.gen.ts` is exactly what the Rust types generate (VB_UPDATE_TYPES=1 rewrites it).
#[test]
fn typescript_types_are_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(TS_PATH);
    let want = typescript();
    if std::env::var_os("VB_UPDATE_TYPES").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{TS_PATH} is stale: the Rust API types changed. Regenerate it with \
         `VB_UPDATE_TYPES=1 cargo test -p vibebridge-tests --test types`, then rebuild the UI (npm run build --prefix web)"
    );
}
