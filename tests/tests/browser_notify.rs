//! Notifications end to end in a real browser: headless Chromium (`web/e2e/notify.mjs`) against the real
//! `vibebridge up` with the real `claude` CLI, and a local push service here that verifies each push's VAPID
//! token and decrypts it independently (Python's `http_ece`). Screenshots land in `target/e2e-notify/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use vibebridge_tests::TempDir;
use vibebridge_tests::e2e::{
    Groups, chromium, stop_up, target_dir, ui_script, up_with, vibebridge_bin, workspace,
};
use vibebridge_tests::hooks_fx::signature;
use vibebridge_tests::mock::hooks::FakeReceiver;
use vibebridge_tests::mock::push::FakePushService;
use vibebridge_tests::mock::{CliEnv, MockAnthropic, claude_bin};

/// The whole run may take this long (two cores shared with other builds).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Proves the installable app's service worker shows main's real push for a real claude approval with Allow
/// and Deny, that Allow from the notification answers the approval with the browser's login (audited as from
/// the device) so the agent goes on, that main's follow-up push replaces that notification in place, that
/// quiet hours and a webhook are set up from the pages (its secret shown once and its signed test delivered),
/// and that the app still opens, saying it is offline, once main is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_answered_from_a_notification() {
    chromium();
    let script = workspace().join("web/e2e/notify.mjs");
    let bin = vibebridge_bin();
    let push = FakePushService::start().await.unwrap();
    let device = push.subscribe();
    let receiver = FakeReceiver::start().await;
    let hook_url = receiver.url("/hook");
    let claude = MockAnthropic::start().await;
    let env = CliEnv::new("notify").with_anthropic(&claude);
    let repo = env.git_repo("app");
    let data = TempDir::new("notify-data");
    let config = data.path().join("main.toml");
    std::fs::write(
        &config,
        "[notifications]\nallow_insecure_push = true\npush_services = [\"127.0.0.1\"]\n\
         allow_local_webhooks = true\n",
    )
    .unwrap();
    let shots = target_dir().join("e2e-notify");
    let _ = std::fs::remove_dir_all(&shots);
    let path = format!(
        "{}:{}",
        claude_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut up, url) = up_with(
        &bin,
        &env,
        &data.path().join("state"),
        OsStr::new(&path),
        &[OsStr::new("--config"), config.as_os_str()],
    )
    .await;
    let mut groups = Groups(Vec::new());
    groups.add(&up);
    let repo_dir = std::fs::canonicalize(&repo).unwrap();
    let mut ui = ui_script(
        &script,
        &[
            ("VB_URL", OsStr::new(&url)),
            ("VB_REPO", repo_dir.as_os_str()),
            ("VB_SHOTS", shots.as_os_str()),
            ("VB_PUSH_ENDPOINT", OsStr::new(&device.endpoint)),
            ("VB_PUSH_P256DH", OsStr::new(&device.p256dh)),
            ("VB_PUSH_AUTH", OsStr::new(&device.auth)),
            ("VB_HOOK_URL", OsStr::new(&hook_url)),
        ],
        std::process::Stdio::piped(),
    );
    groups.add(&ui);
    let _groups = groups;
    let mut stdin = Some(ui.stdin.take().unwrap());
    let mut out = BufReader::new(ui.stdout.take().unwrap()).lines();
    let kind_of = |r: &vibebridge_tests::mock::push::Received, k: &str| {
        r.payload.as_ref().is_some_and(|p| p["kind"] == k)
    };
    let mut secret = None;
    let run = async {
        let mut done = false;
        while let Some(line) = out.next_line().await.unwrap() {
            eprintln!("ui: {line}");
            if let Some(s) = line.strip_prefix("SECRET ") {
                secret = Some(s.to_string());
            } else if line.starts_with("SESSION ") {
                let got = push
                    .wait_for(
                        |r| r.iter().any(|x| kind_of(x, "approval")),
                        "the approval's push",
                    )
                    .await;
                let ask = got.iter().find(|x| kind_of(x, "approval")).unwrap();
                assert_eq!(ask.status, 201, "{ask:?}");
                let line = format!("PUSH {}\n", ask.payload.as_ref().unwrap());
                let to = stdin.as_mut().unwrap();
                to.write_all(line.as_bytes()).await.unwrap();
            } else if line == "ANSWERED" {
                let got = push
                    .wait_for(
                        |r| r.iter().any(|x| kind_of(x, "resolved")),
                        "the answered push",
                    )
                    .await;
                let resolved = got.iter().find(|x| kind_of(x, "resolved")).unwrap();
                let line = format!("PUSH {}\n", resolved.payload.as_ref().unwrap());
                let to = stdin.as_mut().unwrap();
                to.write_all(line.as_bytes()).await.unwrap();
            } else if line == "STOP_MAIN" {
                // The agent's command ran: the approval answered from the notification was real.
                assert_eq!(
                    std::fs::read_to_string(repo.join("pushed.txt")).unwrap(),
                    "pushed\n"
                );
                stop_up(&mut up).await;
                // The last line the script reads: closing its stdin lets it end.
                let mut to = stdin.take().unwrap();
                to.write_all(b"STOPPED\n").await.unwrap();
                drop(to);
            }
            done |= line == "DONE";
        }
        (ui.wait().await.unwrap(), done)
    };
    let (status, done) = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("the notifications run did not finish in time");
    assert!(
        status.success() && done,
        "the notifications run failed (screenshots in {})",
        shots.display()
    );
    let approvals = push
        .received()
        .iter()
        .filter(|r| kind_of(r, "approval"))
        .count();
    assert_eq!(approvals, 1, "one push for the one approval");
    // The webhook's test, signed with the secret the page showed once.
    let secret = secret.expect("the page showed the webhook's secret");
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one test delivery");
    let (ts, sig) = (
        got[0].header("x-vibebridge-timestamp").unwrap(),
        got[0].header("x-vibebridge-signature-256").unwrap(),
    );
    assert_eq!(sig, signature(&secret, ts, &got[0].body));
    assert_eq!(got[0].json()["event"], "test");
}
