//! `vibebridge store copy --from sled:PATH --to postgres://…`: moves an existing install's database into
//! PostgreSQL. Every tree is copied key for key (values as stored: sealed secrets stay sealed, so the mains on
//! PostgreSQL need the same secrets key), the id sequence is moved past every id the source gave, and the copy
//! is verified by each tree's count and SHA-256 over its entries in order on both sides. A target that holds
//! anything is refused: a copy never merges into or overwrites a live database.

use anyhow::{Context, bail};
use aws_lc_rs::digest;

use super::TREES;
use super::kv::{Backend, Batch, Span, Write};

/// Writes per transaction while copying.
const CHUNK: usize = 2_000;

/// One tree's figures on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeCopy {
    /// Tree name.
    pub tree: &'static str,
    /// Entries copied.
    pub entries: u64,
    /// Hex SHA-256 over the tree's entries (length-prefixed key and value, in key order).
    pub checksum: String,
}

/// Opens the source of a copy: `sled:PATH`, PATH being main's `database.path` (holding `db/`) or the sled
/// database directory itself.
pub fn open_source(spec: &str) -> anyhow::Result<Backend> {
    let Some(path) = spec.strip_prefix("sled:") else {
        bail!("--from takes sled:PATH (main's database.path, or its db directory), not {spec:?}");
    };
    let path = std::path::Path::new(path);
    let db = if path.join("db").is_dir() {
        path.join("db")
    } else {
        path.to_path_buf()
    };
    if !db.join("conf").is_file() {
        bail!(
            "{} is not a sled database (no conf file); give main's database.path",
            db.display()
        );
    }
    Backend::sled(&db)
}

/// Copies every tree of `from` into the empty `to` and verifies the copy.
pub fn copy(from: &Backend, to: &Backend) -> anyhow::Result<Vec<TreeCopy>> {
    let Backend::Sled(source) = from else {
        bail!("store copy reads a sled database: --from sled:PATH");
    };
    let Backend::Postgres(target) = to else {
        bail!("store copy writes to PostgreSQL: --to postgres://user:password@host:5432/dbname");
    };
    for name in source.tree_names() {
        if !TREES.contains(&name.as_str()) {
            bail!(
                "{} holds a tree {name:?} this vibebridge does not know; copy it with the version that wrote it",
                from.describe()
            );
        }
    }
    if !target.is_empty()? {
        bail!(
            "{} already holds data; store copy only fills an empty database (create a new one, or drop the \
             `kv` table's rows if this was a failed copy)",
            to.describe()
        );
    }
    let mut report = Vec::new();
    for &tree in TREES {
        copy_tree(from, to, tree).with_context(|| format!("copying tree {tree}"))?;
        let (entries, checksum) = summary(from, tree)?;
        let theirs = summary(to, tree)?;
        if (entries, &checksum) != (theirs.0, &theirs.1) {
            bail!(
                "tree {tree} differs after the copy: {entries} entries (sha256 {checksum}) in {}, {} ({}) in {}",
                from.describe(),
                theirs.0,
                theirs.1,
                to.describe()
            );
        }
        report.push(TreeCopy {
            tree,
            entries,
            checksum,
        });
    }
    // Ids keep growing: audit entries, activity and deliveries are keyed by them.
    target.advance_ids(from.next_id()?.saturating_add(1))?;
    Ok(report)
}

fn copy_tree(from: &Backend, to: &Backend, tree: &'static str) -> anyhow::Result<()> {
    let mut span = Span::all();
    loop {
        let page = from.range(tree, &span, false, CHUNK)?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        span.lo = std::ops::Bound::Excluded(last.clone());
        let full = page.len() == CHUNK;
        let batch = Batch {
            guards: Vec::new(),
            writes: page
                .into_iter()
                .map(|(key, value)| Write {
                    tree,
                    key,
                    value: Some(value),
                })
                .collect(),
        };
        to.commit(&batch)?;
        if !full {
            return Ok(());
        }
    }
}

/// Count and checksum of one tree.
pub fn summary(db: &Backend, tree: &'static str) -> anyhow::Result<(u64, String)> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let (mut entries, mut span) = (0u64, Span::all());
    loop {
        let page = db.range(tree, &span, false, CHUNK)?;
        let full = page.len() == CHUNK;
        for (k, v) in &page {
            for part in [k, v] {
                ctx.update(&(part.len() as u64).to_be_bytes());
                ctx.update(part);
            }
            entries += 1;
        }
        match page.last() {
            Some((last, _)) if full => span.lo = std::ops::Bound::Excluded(last.clone()),
            _ => break,
        }
    }
    Ok((entries, hex::encode(ctx.finish().as_ref())))
}

/// `vibebridge store copy`: opens both sides, copies, and returns the report to print.
pub fn run(from: &str, to: &str, tls: &str) -> anyhow::Result<String> {
    let tls: super::kv::TlsMode = serde_json::from_value(serde_json::Value::String(tls.into()))
        .map_err(|_| anyhow::anyhow!("--tls is disable, require or verify-full, not {tls:?}"))?;
    let source = open_source(from)?;
    let target = Backend::postgres(&super::kv::PgOptions {
        url: to.to_string(),
        pool_size: 4,
        tls,
        ca_file: None,
        connect_timeout: std::time::Duration::from_secs(10),
    })?;
    let trees = copy(&source, &target)?;
    let mut out = format!("{:<20} {:>10}  sha256\n", "tree", "entries");
    for t in trees.iter().filter(|t| t.entries > 0) {
        out.push_str(&format!(
            "{:<20} {:>10}  {}\n",
            t.tree,
            t.entries,
            &t.checksum[..16]
        ));
    }
    let total: u64 = trees.iter().map(|t| t.entries).sum();
    out.push_str(&format!(
        "Copied {total} entries from {} to {}; every tree verified (count and checksum).\n\
         Start the mains with database.url set and the same secrets key ({}).\n",
        source.describe(),
        target.describe(),
        "secrets.key_file or VIBEBRIDGE_SECRETS_KEY"
    ));
    Ok(out)
}
