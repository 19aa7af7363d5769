//! Three mains on one PostgreSQL, two real agents and a live claude session: the active main is killed
//! mid-turn, then the next one is paused past its lease, then PostgreSQL restarts. Each time a standby takes
//! over, the nodes come back, the session's events stay contiguous with nothing lost or doubled, and a
//! browser's WebSocket resumes from its last seq.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vibebridge_tests::browser_fx::{Browser, Transport};
use vibebridge_tests::fault_fx::MainProcess;
use vibebridge_tests::mock::{CLI_WAIT, CliEnv, MockAnthropic};
use vibebridge_tests::pg::PgCluster;
use vibebridge_tests::proxy::Proxy;
use vibebridge_tests::session_fx::{AgentProcess, assert_contiguous, session_history, with_clis};
use vibebridge_tests::{Api, TempDir, fast_tunnel};
use vibebridge_tunnel::config::Secret;

const MAIN: &str = env!("CARGO_BIN_EXE_test-main");
const AGENT: &str = env!("CARGO_BIN_EXE_test-agent");
/// How long a standby may take to serve after the active main is gone (the bound).
const TAKEOVER: Duration = Duration::from_secs(10);

/// A main's config on the shared database: its own state directory, the shared secrets key, a short lease.
fn main_config(dir: &TempDir, name: &str, url: &str) -> vibebridge_main::MainConfig {
    let mut c = vibebridge_main::MainConfig::default();
    c.database.path = dir.path().join(name);
    c.database.url = Some(Secret::new(url));
    c.database.lease = Duration::from_secs(3);
    c.secrets.key_file = Some(dir.path().join("shared-secrets.key"));
    c.tunnel = fast_tunnel();
    c
}

/// `/health` of the main at `http`, if it answers.
async fn health(http: SocketAddr) -> Option<Value> {
    let api = Api::at(&format!("http://{http}"));
    match api.try_call(reqwest::Method::GET, "/health", None).await {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

/// Waits until one of `mains` says it is active (within `limit`) in a lead taken after epoch `after`; its
/// index and how long it took.
async fn until_active(
    mains: &[(usize, SocketAddr)],
    after: u64,
    limit: Duration,
) -> (usize, Duration) {
    let start = Instant::now();
    loop {
        for &(i, http) in mains {
            if health(http)
                .await
                .is_some_and(|h| h["role"] == "active" && h["epoch"].as_u64().unwrap_or(0) > after)
            {
                return (i, start.elapsed());
            }
        }
        assert!(
            start.elapsed() < limit,
            "no standby took over within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until both nodes are online on the main behind `api`.
async fn nodes_back(api: &Api) {
    let deadline = Instant::now() + CLI_WAIT;
    loop {
        // The link through the load balancer may be cut while it moves to the new main.
        let (status, nodes) = api
            .try_call(reqwest::Method::GET, "/api/v1/nodes", None)
            .await
            .unwrap_or((0, Value::Null));
        let online = |id: &str| {
            nodes
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["id"] == id && n["online"] == true))
        };
        if status == 200 && online("n1") && online("n2") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nodes not back: {status} {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(main: &MainProcess, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(main.pid() as i32);
    nix::sys::signal::kill(pid, sig).unwrap();
}

/// Proves a standby main takes over within 10 s when the active one is killed mid-turn and when it is paused
/// past its lease (the paused one stops serving once resumed), and that the mains come back by themselves
/// after PostgreSQL restarts: each time both real agents return, the live claude session's events stay
/// contiguous (nothing lost or doubled) and a browser's WebSocket resumes from its last seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_and_nothing_is_lost() {
    let dir = TempDir::new("failover");
    let pg = PgCluster::start().unwrap();
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("failover").with_anthropic(&claude);
    let repo = env.git_repo("ws");

    // The first main creates the shared secrets key and the schema, then the standbys join.
    let m1 = MainProcess::start(MAIN, &main_config(&dir, "m1", &pg.url()), 2).await;
    let (first, _) = until_active(&[(0, m1.http)], 0, TAKEOVER).await;
    assert_eq!(first, 0);
    let m2 = MainProcess::start(MAIN, &main_config(&dir, "m2", &pg.url()), 0).await;
    let m3 = MainProcess::start(MAIN, &main_config(&dir, "m3", &pg.url()), 0).await;
    for m in [&m2, &m3] {
        let h = health(m.http).await.unwrap();
        assert_eq!(
            (h["role"].as_str(), h["database"].as_str()),
            (Some("standby"), Some("postgres")),
            "{h}"
        );
        assert_eq!(
            m.fingerprint, m1.fingerprint,
            "every main presents the shared host key"
        );
        // A standby serves nothing but its health.
        let (status, body) = Api::at(&format!("http://{}", m.http))
            .get("/api/v1/auth/status")
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("standby")),
            "{body}"
        );
    }

    // Browsers reach whichever main is active through one address (a load balancer, here a proxy).
    let front = Proxy::start(m1.http).await;
    let base = format!("http://{}", front.addr);
    let mut api = Api::at(&base);
    assert_eq!(
        api.auth(true, "alice", "correct horse battery").await.0,
        200
    );
    let mut agents = Vec::new();
    for (i, token) in m1.tokens.iter().enumerate() {
        let id = format!("n{}", i + 1);
        let mut cfg = m1.node_config(dir.path(), &id, m1.ssh, token);
        cfg.node.main_addrs = vec![m2.ssh.to_string(), m3.ssh.to_string()];
        with_clis(&mut cfg, &env);
        agents.push(AgentProcess::start(AGENT, cfg));
    }
    nodes_back(&api).await;

    // A live claude turn, held mid-way at the model.
    let (status, body) = api
        .post(
            "/api/v1/sessions",
            json!({"node_id": "n1", "path": repo.display().to_string(), "provider": "claude",
                   "permission_mode": "bypassPermissions",
                   "prompt": "Fail over [[shell:echo before]] [[gate:mid]] [[text:after the takeover]]"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let browser = Browser::start(
        "ws",
        Transport::Ws,
        &base,
        api.token.as_deref().unwrap(),
        std::slice::from_ref(&id),
    );
    claude.wait_held("mid").await;
    let before = browser.last(&id);
    assert!(
        before >= 2,
        "the browser saw the turn start ({before} events)"
    );

    // 1. kill -9 the active main mid-turn.
    let epoch = health(m1.http).await.unwrap()["epoch"].as_u64().unwrap();
    m1.kill9().await;
    let (won, took) = until_active(&[(2, m2.http), (3, m3.http)], epoch, TAKEOVER).await;
    eprintln!("failover: main {won} serving {took:?} after kill -9");
    let active = if won == 2 { &m2 } else { &m3 };
    front.retarget(active.http);
    // A load balancer closes what it had open to a main it marked down.
    front.cut_existing();
    nodes_back(&api).await;
    claude.release("mid");
    let history = until_turn_done(&api, &id).await;
    assert!(history.iter().any(|e| {
        e["type"] == "assistant_message"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("after the takeover"))
    }));
    browser_caught_up(&browser, &id, &history).await;

    // 2. Pause the active main past its lease: the last standby takes over; the paused one, resumed,
    //    stands by instead of serving.
    let (paused, standby) = if won == 2 { (m2, m3) } else { (m3, m2) };
    let epoch = health(paused.http).await.unwrap()["epoch"]
        .as_u64()
        .unwrap();
    signal(&paused, nix::sys::signal::Signal::SIGSTOP);
    let (_, took) = until_active(&[(0, standby.http)], epoch, TAKEOVER).await;
    eprintln!("failover: standby serving {took:?} after SIGSTOP");
    front.retarget(standby.http);
    // A load balancer closes what it had open to a main it marked down.
    front.cut_existing();
    nodes_back(&api).await;
    signal(&paused, nix::sys::signal::Signal::SIGCONT);
    until_role(paused.http, "standby").await;
    assert_eq!(
        health(standby.http).await.unwrap()["role"],
        "active",
        "still one active main"
    );
    let more = send_and_wait(&api, &id, "Again [[text:second turn]]").await;
    browser_caught_up(&browser, &id, &more).await;

    // 3. Restart PostgreSQL: the mains recover by themselves, one of them serves again.
    let epoch = health(standby.http).await.unwrap()["epoch"]
        .as_u64()
        .unwrap();
    pg.restart().unwrap();
    let (won, took) = until_active(&[(0, standby.http), (1, paused.http)], epoch, CLI_WAIT).await;
    eprintln!("failover: main serving {took:?} after PostgreSQL restarted");
    front.retarget(if won == 0 { standby.http } else { paused.http });
    // A load balancer closes what it had open to a main it marked down.
    front.cut_existing();
    nodes_back(&api).await;
    let last = send_and_wait(&api, &id, "Once more [[text:third turn]]").await;
    browser_caught_up(&browser, &id, &last).await;
    assert!(
        browser.seen.lock().unwrap().anomalies.is_empty(),
        "{:?}",
        browser.seen.lock().unwrap().anomalies
    );
    drop(browser);
    for a in agents {
        a.stop().await;
    }
    standby.stop().await;
    paused.stop().await;
}

/// Waits until `http` says `role` (a resumed main notices its lease ran out).
async fn until_role(http: SocketAddr, role: &str) {
    let deadline = Instant::now() + CLI_WAIT;
    loop {
        if health(http).await.is_some_and(|h| h["role"] == role) {
            return;
        }
        assert!(Instant::now() < deadline, "{http} never said {role}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the session's turn is over (status `idle`) and returns its whole history, checked contiguous.
async fn until_turn_done(api: &Api, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + CLI_WAIT;
    loop {
        let history = session_history(api, id, 1000).await;
        let idle = history
            .iter()
            .rev()
            .find(|e| e["type"] == "status")
            .is_some_and(|e| e["status"] == "idle");
        if idle {
            assert_contiguous(&history);
            return history;
        }
        assert!(
            Instant::now() < deadline,
            "turn did not end: {:?}",
            history.last()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `text` to the session and waits for its turn to end; the whole history.
async fn send_and_wait(api: &Api, id: &str, text: &str) -> Vec<Value> {
    let before = session_history(api, id, 1000).await.len();
    let (status, body) = api
        .post(
            &format!("/api/v1/sessions/{id}/messages"),
            json!({ "text": text }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + CLI_WAIT;
    loop {
        let history = until_turn_done(api, id).await;
        if history.len() > before
            && history[before..]
                .iter()
                .any(|e| e["type"] == "status" && e["status"] == "idle")
        {
            return history;
        }
        assert!(Instant::now() < deadline, "the message got no answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the browser has every event of `history`, and checks it has exactly those.
async fn browser_caught_up(browser: &Browser, id: &str, history: &[Value]) {
    let last = history.last().unwrap()["seq"].as_u64().unwrap();
    let deadline = Instant::now() + CLI_WAIT;
    while browser.last(id) < last {
        assert!(
            Instant::now() < deadline,
            "the browser is stuck at {} of {last}",
            browser.last(id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = browser.seen.lock().unwrap();
    let seqs: Vec<u64> = seen.events[id]
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "the browser's events are contiguous"
    );
    assert!(seen.anomalies.is_empty(), "{:?}", seen.anomalies);
}
