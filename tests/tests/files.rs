//! The file API end to end: HTTP on main → `fs` tunnel stream → the node's guardrails and disk, with a real
//! main and node in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vibebridge_tests::{Api, TempDir, TestMain, TestNode, WAIT};

struct Fx {
    dir: TempDir,
    /// The node's only root, canonical.
    root: PathBuf,
    main: TestMain,
    node: Option<TestNode>,
    alice: Api,
}

async fn fixture(tag: &str, max_file_bytes: u64) -> Fx {
    let dir = TempDir::new(tag);
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("proj/src")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(dir.path().join("outside/secret.txt"), "secret").unwrap();
    let root = std::fs::canonicalize(&root).unwrap();
    let main = TestMain::start(dir.path()).await;
    let mut alice = Api::new(&main);
    alice.auth(true, "alice", "correct horse battery").await;
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    cfg.filesystem.roots = vec![root.clone()];
    cfg.filesystem.max_file_bytes = max_file_bytes;
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    Fx {
        dir,
        root,
        main,
        node: Some(node),
        alice,
    }
}

impl Fx {
    fn p(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root.display())
    }

    fn q(&self, rel: &str) -> String {
        encode(&self.p(rel))
    }

    async fn put(
        &self,
        endpoint: &str,
        rel: &str,
        body: &'static str,
        etag: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .alice
            .request(
                Method::PUT,
                &format!("/api/v1/nodes/n1/fs/{endpoint}?path={}", self.q(rel)),
            )
            .body(body);
        if let Some(e) = etag {
            req = req.header("If-Match", format!("\"{e}\""));
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn stop(mut self) {
        self.node.take().unwrap().stop().await;
        self.main.stop().await;
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Proves the whole file lifecycle through main and the tunnel: create, write with an etag, a stale write
/// refused with 412, full and ranged reads, download, listing metadata, rename, delete rules, upload, audit.
#[tokio::test]
async fn file_lifecycle_over_the_tunnel() {
    let fx = fixture("files-life", 50 * 1024 * 1024).await;
    let api = &fx.alice;
    let (status, made) = api
        .post(
            "/api/v1/nodes/n1/fs/create",
            json!({"path": fx.p("proj/docs"), "dir": true}),
        )
        .await;
    assert_eq!(
        (status, made["kind"].as_str()),
        (201, Some("dir")),
        "{made}"
    );
    let (status, e) = fx.put("write", "proj/docs/a.md", "# Title\n", None).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["size"], 8);
    let etag = e["etag"].as_str().unwrap().to_string();

    let (status, e2) = fx
        .put("write", "proj/docs/a.md", "# Title\nmore\n", Some(&etag))
        .await;
    assert_eq!(status, 200, "{e2}");
    let (status, stale) = fx
        .put("write", "proj/docs/a.md", "lost\n", Some(&etag))
        .await;
    assert_eq!((status, code(&stale)), (412, "changed_on_node"), "{stale}");
    assert_eq!(
        std::fs::read_to_string(fx.root.join("proj/docs/a.md")).unwrap(),
        "# Title\nmore\n"
    );

    let read = api
        .request(
            Method::GET,
            &format!("/api/v1/nodes/n1/fs/read?path={}", fx.q("proj/docs/a.md")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(
        read.headers()["etag"],
        format!("\"{}\"", e2["etag"].as_str().unwrap()).as_str()
    );
    assert_eq!(read.headers()["x-content-type-options"], "nosniff");
    assert_eq!(read.text().await.unwrap(), "# Title\nmore\n");
    let part = api
        .request(
            Method::GET,
            &format!("/api/v1/nodes/n1/fs/read?path={}", fx.q("proj/docs/a.md")),
        )
        .header("Range", "bytes=2-6")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 2-6/13");
    assert_eq!(part.text().await.unwrap(), "Title");
    // Past the end is 416; an end past any file is clamped (and overflows nothing).
    for (range, want) in [
        ("bytes=13-", 416),
        ("bytes=100-200", 416),
        ("bytes=0-18446744073709551615", 206),
    ] {
        let past = api
            .request(
                Method::GET,
                &format!("/api/v1/nodes/n1/fs/read?path={}", fx.q("proj/docs/a.md")),
            )
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(past.status().as_u16(), want, "{range}");
    }
    let down = api
        .request(
            Method::GET,
            &format!(
                "/api/v1/nodes/n1/fs/download?path={}",
                fx.q("proj/docs/a.md")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        down.headers()["content-disposition"],
        "attachment; filename*=UTF-8''a.md"
    );

    let (status, listing) = api
        .get(&format!("/api/v1/nodes/n1/fs/list?path={}", fx.q("proj")))
        .await;
    assert_eq!(status, 200, "{listing}");
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["docs", "src"]);
    let (_, stat) = api
        .get(&format!(
            "/api/v1/nodes/n1/fs/stat?path={}",
            fx.q("proj/docs/a.md")
        ))
        .await;
    assert_eq!(
        (stat["kind"].as_str(), stat["size"].as_u64()),
        (Some("file"), Some(13))
    );

    let (status, moved) = api
        .post(
            "/api/v1/nodes/n1/fs/rename",
            json!({"from": fx.p("proj/docs/a.md"), "to": fx.p("proj/README.md")}),
        )
        .await;
    assert_eq!(
        (status, moved["name"].as_str()),
        (200, Some("README.md")),
        "{moved}"
    );
    let (status, upload) = fx.put("upload", "proj/README.md", "clobber", None).await;
    assert_eq!((status, code(&upload)), (409, "already_exists"), "{upload}");
    let (status, _) = fx
        .put("upload", "proj/docs/new.bin", "\u{1}\u{2}", None)
        .await;
    assert_eq!(status, 201);
    let (status, err) = api
        .post(
            "/api/v1/nodes/n1/fs/delete",
            json!({"path": fx.p("proj/docs")}),
        )
        .await;
    assert_eq!((status, code(&err)), (409, "not_empty"), "{err}");
    let (status, _) = api
        .post(
            "/api/v1/nodes/n1/fs/delete",
            json!({"path": fx.p("proj/docs"), "recursive": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!fx.root.join("proj/docs").exists());

    let (_, audit) = api.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "fs.created",
        "fs.written",
        "fs.renamed",
        "fs.uploaded",
        "fs.deleted",
    ] {
        assert!(actions.contains(&want), "{want} not audited: {actions:?}");
    }
    fx.stop().await;
}

/// Proves the guardrails hold through the API with clear codes and statuses: `..`, symlinks out, absolute paths
/// elsewhere, NUL bytes, very long names and paths, the size limit, other users' nodes, and an offline node.
#[tokio::test]
async fn refusals_through_the_api() {
    let mut fx = fixture("files-refuse", 1024).await;
    std::os::unix::fs::symlink(fx.dir.path().join("outside"), fx.root.join("out")).unwrap();
    let outside = fx
        .dir
        .path()
        .join("outside/secret.txt")
        .display()
        .to_string();
    let cases = [
        (
            fx.p("proj/../../outside/secret.txt"),
            403,
            "path_outside_roots",
        ),
        (fx.p("out/secret.txt"), 403, "path_outside_roots"),
        (outside.clone(), 403, "path_outside_roots"),
        ("/etc/passwd".to_string(), 403, "path_outside_roots"),
        ("relative.txt".to_string(), 400, "bad_request"),
        (fx.p("proj/a\0b"), 400, "bad_request"),
        (fx.p(&"x".repeat(300)), 400, "bad_request"),
        (fx.p(&"d/".repeat(2100)), 400, "bad_request"),
        (fx.p("proj/missing"), 404, "path_not_found"),
    ];
    for (path, status, want) in &cases {
        let (got, err) = fx
            .alice
            .get(&format!("/api/v1/nodes/n1/fs/read?path={}", encode(path)))
            .await;
        assert_eq!((got, code(&err)), (*status, *want), "{path:.80}: {err}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    std::fs::write(fx.root.join("big.bin"), vec![7u8; 2048]).unwrap();
    let (got, err) = fx
        .alice
        .get(&format!(
            "/api/v1/nodes/n1/fs/read?path={}",
            fx.q("big.bin")
        ))
        .await;
    assert_eq!((got, code(&err)), (413, "too_large"), "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("filesystem.max_file_bytes")
    );
    let ranged = fx
        .alice
        .request(
            Method::GET,
            &format!("/api/v1/nodes/n1/fs/read?path={}", fx.q("big.bin")),
        )
        .header("Range", "bytes=1024-")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ranged.status(),
        206,
        "a big file is still readable in ranges"
    );
    let (got, err) = fx.put("write", "out/evil.txt", "x", None).await;
    assert_eq!((got, code(&err)), (403, "path_outside_roots"), "{err}");
    assert!(!fx.dir.path().join("outside/evil.txt").exists());
    let (got, err) = fx
        .alice
        .post(
            "/api/v1/nodes/n1/fs/delete",
            json!({"path": fx.root.display().to_string(), "recursive": true}),
        )
        .await;
    assert_eq!(
        (got, code(&err)),
        (403, "path_outside_roots"),
        "a root itself cannot be deleted: {err}"
    );

    let mut bob = Api::new(&fx.main);
    bob.auth(true, "bob", "password456").await;
    fx.alice.post("/api/v1/users/bob/approve", json!({})).await;
    let (got, _) = bob
        .get(&format!(
            "/api/v1/nodes/n1/fs/read?path={}",
            fx.q("big.bin")
        ))
        .await;
    assert_eq!(got, 404, "bob is not a member of n1");
    let (got, _) = Api::new(&fx.main).get("/api/v1/nodes/n1/fs/list").await;
    assert_eq!(got, 401);

    fx.node.take().unwrap().stop().await;
    fx.main.wait_offline("n1").await;
    let (got, err) = fx.alice.get("/api/v1/nodes/n1/fs/list").await;
    assert_eq!((got, code(&err)), (503, "node_offline"), "{err}");
    fx.main.stop().await;
}

/// Byte `i` of the large test file: a pattern that catches reordered, lost or repeated chunks.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

/// Peak resident memory of this process since it started or since [`reset_peak_rss`], in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Resets this process's peak resident memory (VmHWM) to its current size, so [`peak_rss`] measures only
/// what follows even if other tests ran in this process first (`cargo test` runs them as threads).
fn reset_peak_rss() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// Proves a 256 MiB file streams up and down intact while main, node and client hold little of it in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_both_ways() {
    const SIZE: u64 = 256 * 1024 * 1024;
    const CHUNK: u64 = 1024 * 1024;
    let fx = fixture("files-large", SIZE).await;
    let before = match reset_peak_rss() {
        Ok(()) => Some(peak_rss()),
        Err(e) => {
            eprintln!(
                "skipping the peak-memory check: cannot reset VmHWM via /proc/self/clear_refs: {e}"
            );
            None
        }
    };
    let chunks = futures::stream::iter(0..SIZE / CHUNK).map(|c| {
        let bytes: Vec<u8> = (c * CHUNK..(c + 1) * CHUNK).map(pattern).collect();
        Ok::<_, std::io::Error>(bytes)
    });
    let up = fx
        .alice
        .request(
            Method::PUT,
            &format!("/api/v1/nodes/n1/fs/upload?path={}", fx.q("big.bin")),
        )
        .header("Content-Length", SIZE)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201, "{}", up.text().await.unwrap());
    assert_eq!(
        std::fs::metadata(fx.root.join("big.bin")).unwrap().len(),
        SIZE
    );

    let down = fx
        .alice
        .request(
            Method::GET,
            &format!("/api/v1/nodes/n1/fs/download?path={}", fx.q("big.bin")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 200);
    let mut body = down.bytes_stream();
    let mut at = 0u64;
    while let Some(chunk) = body.next().await {
        for b in chunk.unwrap() {
            assert_eq!(b, pattern(at), "byte {at} differs");
            at += 1;
        }
    }
    assert_eq!(at, SIZE);
    if let Some(before) = before {
        let grew = peak_rss().saturating_sub(before);
        assert!(
            grew < 64 * 1024 * 1024,
            "peak memory grew by {} MiB moving a 256 MiB file",
            grew >> 20
        );
    }
    fx.stop().await;
}

/// Proves an upload cut off mid-body changes nothing: the old content stays and no temporary file is left.
#[tokio::test]
async fn interrupted_upload_changes_nothing() {
    let fx = fixture("files-cut", 50 * 1024 * 1024).await;
    std::fs::write(fx.root.join("proj/keep.txt"), "original\n").unwrap();
    let mut tcp = tokio::net::TcpStream::connect(fx.main.http).await.unwrap();
    let head = format!(
        "PUT /api/v1/nodes/n1/fs/write?path={} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\n",
        fx.q("proj/keep.txt"),
        fx.main.http,
        fx.alice.token.as_ref().unwrap()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[b'x'; 4096]).await.unwrap();
    // Wait until the node has staged a temporary file, so the cut really lands mid-write.
    let dir = fx.root.join("proj");
    let temps = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".vb-tmp-"))
            .count()
    };
    wait_until(|| temps() == 1).await;
    drop(tcp);
    wait_until(|| temps() == 0).await;
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "original\n"
    );
    // Without a Content-Length the upload is refused up front.
    let mut tcp = tokio::net::TcpStream::connect(fx.main.http).await.unwrap();
    let head = format!(
        "PUT /api/v1/nodes/n1/fs/write?path={} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        fx.q("proj/keep.txt"),
        fx.main.http,
        fx.alice.token.as_ref().unwrap()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "original\n"
    );
    fx.stop().await;
}

/// Polls a condition the test cannot be notified of (a file appearing on disk), for at most [`WAIT`].
/// Proves answers larger than one tunnel frame arrive whole: a 2 MiB git diff and a 5,000-entry listing.
#[tokio::test]
async fn answers_larger_than_a_frame_arrive_whole() {
    let fx = fixture("bigans", 50 * 1024 * 1024).await;
    let repo = fx.root.join("big");
    // Set up off the runtime: main and the node share this test's thread, and must keep heartbeating.
    let dir = repo.clone();
    tokio::task::spawn_blocking(move || {
        let repo = dir;
        std::fs::create_dir_all(repo.join("many")).unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@e",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .current_dir(&repo)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README"), "big answers\n").unwrap();
        git(&["add", "README"]);
        git(&["commit", "-q", "-m", "initial"]);
        // A new, staged 2.5 MiB file: a diff far over one frame that is cheap to compute.
        let new: String = (0..40_000)
            .map(|i| format!("new line {i:07} {}\n", "x".repeat(50)))
            .collect();
        std::fs::write(repo.join("data.txt"), &new).unwrap();
        git(&["add", "data.txt"]);
        for i in 0..5000 {
            std::fs::write(
                repo.join(format!(
                    "many/file-with-a-rather-long-name-to-fill-the-frame-{i:05}.txt"
                )),
                "x",
            )
            .unwrap();
        }
    })
    .await
    .unwrap();

    let resp = fx
        .alice
        .request(
            Method::GET,
            &format!(
                "/api/v1/nodes/n1/git/diff?staged=true&repo={}",
                encode(&repo.display().to_string())
            ),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(body.len() > 2 * 1024 * 1024, "{} bytes", body.len());
    let diff: Value = serde_json::from_slice(&body).unwrap();
    let text = diff.to_string();
    assert!(text.contains("new line 0000000") && text.contains("new line 0039999"));

    let (status, listing) = fx
        .alice
        .get(&format!(
            "/api/v1/nodes/n1/fs/list?path={}",
            fx.q("big/many")
        ))
        .await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(listing["entries"].as_array().unwrap().len(), 5000);
    assert!(listing.to_string().len() > 1024 * 1024);
    fx.node.unwrap().stop().await;
    fx.main.stop().await;
}

async fn wait_until(cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
