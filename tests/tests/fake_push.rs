//! The fake Web Push service itself, with no VibeBridge in between: proves it accepts a push that Python's
//! http_ece encrypted and `cryptography` signed (RFC 8291/8292), and refuses the mistakes a real push service or
//! browser would: a token not signed by `k`, a wrong audience, a too-distant expiry, a payload for another
//! subscription.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use vibebridge_tests::mock::push::{
    Answer, FakePushService, PushSubscription, p256_key_pair, webpush_py,
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `plaintext` encrypted for `sub` by webpush.py (a fresh sender key each time).
async fn encrypt(sub: &PushSubscription, plaintext: &[u8]) -> Vec<u8> {
    let out = webpush_py(
        "encrypt",
        &json!({"plaintext_b64": STANDARD.encode(plaintext), "p256dh": sub.p256dh, "auth_b64": sub.auth}),
    )
    .await
    .unwrap();
    STANDARD.decode(out["body_b64"].as_str().unwrap()).unwrap()
}

/// `vapid t=…, k=…` signed by webpush.py with the raw private key `key`.
async fn sign(key: &str, aud: &str, exp: u64) -> String {
    let out = webpush_py(
        "sign-vapid",
        &json!({"private_key_b64": key, "aud": aud, "exp": exp, "sub": "mailto:ops@example.invalid"}),
    )
    .await
    .unwrap();
    out["authorization"].as_str().unwrap().to_string()
}

async fn post(sub: &PushSubscription, authorization: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(&sub.endpoint)
        .header("authorization", authorization)
        .header("content-encoding", "aes128gcm")
        .header("content-type", "application/octet-stream")
        .header("ttl", "60")
        .header("urgency", "high")
        .header("topic", "run-42")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A push with a valid token and payload, and what the fake recorded about it.
async fn good_push(
    fake: &FakePushService,
    sub: &PushSubscription,
    plaintext: &[u8],
) -> reqwest::Response {
    let (vapid, _) = p256_key_pair();
    let auth = sign(&vapid, &fake.origin(), now() + 3600).await;
    post(sub, &auth, encrypt(sub, plaintext).await).await
}

/// The error the fake recorded for its only request.
async fn only_error(fake: &FakePushService) -> String {
    let got = fake.wait_for(|r| r.len() == 1, "one push").await;
    got[0].error.clone().expect("the push was refused")
}

/// A push encrypted with http_ece and signed with `cryptography` is accepted (201 + Location) and decrypted
/// to the same JSON; the RFC 8030 headers, claims and `k` are recorded.
#[tokio::test]
async fn accepts_and_decrypts_a_valid_push() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let (vapid, vapid_public) = p256_key_pair();
    let exp = now() + 12 * 3600;
    let auth = sign(&vapid, &fake.origin(), exp).await;
    let payload = json!({"title": "Run finished", "body": "héllo ✓", "url": "/runs/7"});
    let resp = post(
        &sub,
        &auth,
        encrypt(&sub, payload.to_string().as_bytes()).await,
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", fake.received());
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&format!("{}/message/", fake.origin())));

    let got = fake.wait_for(|r| r.len() == 1, "the push").await;
    let r = &got[0];
    assert_eq!(r.endpoint, sub.endpoint);
    assert_eq!(r.status, 201);
    assert_eq!(r.error, None);
    assert_eq!(r.payload.as_ref(), Some(&payload));
    assert_eq!(r.ttl, Some(60));
    assert_eq!(r.urgency.as_deref(), Some("high"));
    assert_eq!(r.topic.as_deref(), Some("run-42"));
    assert_eq!(r.k.as_deref(), Some(vapid_public.as_str()));
    let claims = r.claims.as_ref().unwrap();
    assert_eq!(claims["aud"], Value::String(fake.origin()));
    assert_eq!(claims["exp"], json!(exp));
    assert_eq!(claims["sub"], "mailto:ops@example.invalid");

    // Not JSON: kept as text.
    let resp = good_push(&fake, &sub, b"plain words").await;
    assert_eq!(resp.status(), 201);
    let got = fake.wait_for(|r| r.len() == 2, "the second push").await;
    assert_eq!(got[1].payload, Some(json!("plain words")));
}

/// A token signed by another key than the `k` sent with it is refused 403.
#[tokio::test]
async fn refuses_a_token_not_signed_by_k() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let (signer, _) = p256_key_pair();
    let (other, _) = p256_key_pair();
    let exp = now() + 3600;
    let forged = sign(&signer, &fake.origin(), exp).await;
    let honest = sign(&other, &fake.origin(), exp).await;
    let t = forged.split(", k=").next().unwrap();
    let k = honest.split(", k=").nth(1).unwrap();
    let resp = post(&sub, &format!("{t}, k={k}"), encrypt(&sub, b"{}").await).await;
    assert_eq!(resp.status(), 403);
    let error = only_error(&fake).await;
    assert!(error.contains("signature does not verify"), "{error}");
    assert_eq!(fake.received()[0].payload, None);
}

/// A token whose `aud` is not the push resource's origin is refused 403.
#[tokio::test]
async fn refuses_a_wrong_audience() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let (vapid, _) = p256_key_pair();
    let wrong = format!("{}/", fake.origin());
    let auth = sign(&vapid, &wrong, now() + 3600).await;
    let resp = post(&sub, &auth, encrypt(&sub, b"{}").await).await;
    assert_eq!(resp.status(), 403);
    let error = only_error(&fake).await;
    assert!(error.contains("aud"), "{error}");
}

/// A token expiring more than 24 h ahead is refused 403 (RFC 8292 §2).
#[tokio::test]
async fn refuses_an_expiry_over_24_hours_ahead() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let (vapid, _) = p256_key_pair();
    let auth = sign(&vapid, &fake.origin(), now() + 24 * 3600 + 120).await;
    let resp = post(&sub, &auth, encrypt(&sub, b"{}").await).await;
    assert_eq!(resp.status(), 403);
    let error = only_error(&fake).await;
    assert!(error.contains("more than 24 h"), "{error}");
}

/// A payload encrypted for another subscription fails decryption: 400, with the (valid) claims recorded.
#[tokio::test]
async fn refuses_a_payload_for_another_subscription() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let other = fake.subscribe();
    let (vapid, _) = p256_key_pair();
    let auth = sign(&vapid, &fake.origin(), now() + 3600).await;
    let resp = post(&sub, &auth, encrypt(&other, b"{\"x\":1}").await).await;
    assert_eq!(resp.status(), 400);
    let error = only_error(&fake).await;
    assert!(error.contains("decryption failed"), "{error}");
    let r = &fake.received()[0];
    assert!(r.claims.is_some() && r.payload.is_none(), "{r:?}");
}

/// A push without `TTL` is refused 400 (RFC 8030 §5.2), and an unknown endpoint is 404.
#[tokio::test]
async fn refuses_a_missing_ttl_and_unknown_endpoints() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let resp = reqwest::Client::new()
        .post(&sub.endpoint)
        .header("content-encoding", "aes128gcm")
        .body(encrypt(&sub, b"{}").await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(only_error(&fake).await.contains("TTL"));

    let resp = reqwest::Client::new()
        .post(format!("{}/push/nobody", fake.origin()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

/// The scripted answers: Gone gives 410, TooMany 429 with `Retry-After`, and the endpoint's default is 201.
#[tokio::test]
async fn answers_as_scripted() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let other = fake.subscribe();
    fake.set_answer(&sub.endpoint, Answer::Gone);
    assert_eq!(good_push(&fake, &sub, b"{}").await.status(), 410);
    fake.set_answer(
        &sub.endpoint,
        Answer::TooMany {
            retry_after_secs: 7,
        },
    );
    let resp = good_push(&fake, &sub, b"{}").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(good_push(&fake, &other, b"{}").await.status(), 201);

    let got = fake.wait_for(|r| r.len() == 3, "three pushes").await;
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [410, 429, 201]);
    // A scripted failure still checked the push: the payload was decrypted.
    assert_eq!(got[0].payload, Some(json!({})));
}

/// RFC 8291 §4's limit: 3993 bytes of plaintext fill the 4096-byte body a push service must take; one more is 413.
#[tokio::test]
async fn takes_3993_bytes_of_plaintext_and_refuses_more() {
    let fake = FakePushService::start().await.unwrap();
    let sub = fake.subscribe();
    let fits = "a".repeat(3993);
    assert_eq!(good_push(&fake, &sub, fits.as_bytes()).await.status(), 201);
    let over = "a".repeat(3994);
    assert_eq!(good_push(&fake, &sub, over.as_bytes()).await.status(), 413);
    let got = fake.wait_for(|r| r.len() == 2, "two pushes").await;
    assert_eq!(got[0].payload, Some(Value::String(fits)));
    assert!(
        got[1].error.as_ref().unwrap().contains("4097 bytes"),
        "{:?}",
        got[1]
    );
}
