//! GitHub's OAuth endpoints (on the web site, not the API): the authorisation URL of the web flow with
//! PKCE (S256), the code exchange, refreshing an expiring token, the device flow, and revoking a grant.
//! GitHub answers OAuth errors with 200 and `{"error", "error_description"}`; they come back as
//! [`OAuthError`] with GitHub's description.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use vibebridge_tunnel::config::Secret;

/// A token GitHub issued.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, for expiring tokens.
    pub refresh_token: Option<Secret>,
    /// Seconds the access token lives, for expiring tokens.
    pub expires_in: Option<u64>,
    /// Seconds the refresh token lives.
    pub refresh_token_expires_in: Option<u64>,
    /// Granted scopes, comma-separated.
    pub scope: String,
}

/// An OAuth call GitHub refused, or that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OAuthError {
    /// GitHub's code (`bad_verification_code`, `authorization_pending`…), or `unreachable`.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// The device flow's first answer.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCode {
    /// Polled with; never shown.
    pub device_code: String,
    /// What the person types at `verification_uri`.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds between polls, at least.
    #[serde(default = "five")]
    pub interval: u64,
}

fn five() -> u64 {
    5
}

/// One device-flow poll.
#[derive(Debug)]
pub enum DevicePoll {
    /// Not yet authorised.
    Pending,
    /// Polling too fast: wait this many seconds between polls from now on.
    SlowDown(u64),
    /// Authorised.
    Done(TokenSet),
    /// The codes expired, or the person declined (GitHub's words).
    Over(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token_expires_in: Option<u64>,
    #[serde(default)]
    scope: String,
    error: Option<String>,
    error_description: Option<String>,
    interval: Option<u64>,
}

/// The OAuth app and where GitHub is.
#[derive(Clone)]
pub struct OAuth {
    http: reqwest::Client,
    web_url: String,
    client_id: String,
    client_secret: Option<Secret>,
}

/// A fresh PKCE pair: the verifier (kept by main) and its S256 challenge (sent to GitHub).
pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    // getrandom fails only without an OS entropy source, where nothing here is safe anyway.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no entropy source: {e}"));
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    (verifier.clone(), challenge(&verifier))
}

/// `base64url(sha256(verifier))`, RFC 7636 S256.
pub fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl OAuth {
    /// The app `client_id` (with its secret, for the web flow) on GitHub at `web_url`.
    pub fn new(
        http: reqwest::Client,
        web_url: &str,
        client_id: &str,
        client_secret: Option<Secret>,
    ) -> OAuth {
        OAuth {
            http,
            web_url: web_url.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret,
        }
    }

    /// Whether the web flow can be used (it needs the client secret).
    pub fn has_secret(&self) -> bool {
        self.client_secret.is_some()
    }

    /// Where the browser goes to authorise: `state` ties the callback to the person, `challenge` to
    /// main's verifier.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        scopes: &str,
        state: &str,
        challenge: &str,
    ) -> String {
        let base = format!("{}/login/oauth/authorize", self.web_url);
        match reqwest::Url::parse_with_params(
            &base,
            &[
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("scope", scopes),
                ("state", state),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("allow_signup", "false"),
            ],
        ) {
            Ok(url) => url.to_string(),
            Err(_) => base,
        }
    }

    async fn token_call(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, OAuthError> {
        let resp = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, "VibeBridge")
            .form(form)
            .send()
            .await
            .map_err(unreachable_err)?;
        let status = resp.status();
        resp.json::<TokenAnswer>().await.map_err(|_| OAuthError {
            code: "bad_answer".into(),
            message: format!(
                "GitHub's token endpoint answered {status} with something main cannot read; check github.web_url"
            ),
        })
    }

    /// Exchanges the callback's code (web flow) for a token.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, OAuthError> {
        let secret = self.secret()?;
        let answer = self
            .token_call(&[
                ("client_id", &self.client_id),
                ("client_secret", secret.expose()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .await?;
        token_set(answer)
    }

    /// A new token from a refresh token (which GitHub then spends).
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, OAuthError> {
        let secret = self.secret()?;
        let answer = self
            .token_call(&[
                ("client_id", &self.client_id),
                ("client_secret", secret.expose()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ])
            .await?;
        token_set(answer)
    }

    /// Starts the device flow.
    pub async fn device_start(&self, scopes: &str) -> Result<DeviceCode, OAuthError> {
        let resp = self
            .http
            .post(format!("{}/login/device/code", self.web_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, "VibeBridge")
            .form(&[("client_id", self.client_id.as_str()), ("scope", scopes)])
            .send()
            .await
            .map_err(unreachable_err)?;
        let value: serde_json::Value = resp.json().await.map_err(|_| OAuthError {
            code: "bad_answer".into(),
            message: "GitHub's device endpoint answered something main cannot read".into(),
        })?;
        if let Some(code) = value.get("error").and_then(|e| e.as_str()) {
            let why = value
                .get("error_description")
                .and_then(|e| e.as_str())
                .unwrap_or(code);
            return Err(OAuthError {
                code: code.into(),
                message: format!(
                    "GitHub refused the device flow: {why} (enable it in the OAuth app's settings)"
                ),
            });
        }
        serde_json::from_value(value).map_err(|e| OAuthError {
            code: "bad_answer".into(),
            message: format!("GitHub's device answer is missing fields: {e}"),
        })
    }

    /// Polls the device flow once.
    pub async fn device_poll(&self, device_code: &str) -> Result<DevicePoll, OAuthError> {
        let answer = self
            .token_call(&[
                ("client_id", &self.client_id),
                ("device_code", device_code),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ])
            .await?;
        match answer.error.as_deref() {
            Some("authorization_pending") => Ok(DevicePoll::Pending),
            Some("slow_down") => Ok(DevicePoll::SlowDown(answer.interval.unwrap_or(10))),
            Some("expired_token") => Ok(DevicePoll::Over(
                "the code expired before it was entered; start again".into(),
            )),
            Some("access_denied") => Ok(DevicePoll::Over(
                "the request was declined on GitHub".into(),
            )),
            Some(_) => Err(describe(&answer)),
            None => Ok(DevicePoll::Done(token_set(answer)?)),
        }
    }

    /// Revokes `access_token` alone (`DELETE {api}/applications/{client_id}/token`; the whole grant would also
    /// end the person's other sessions with this app, another main's for one). A token already gone (404,
    /// 422) is not an error.
    pub async fn revoke(&self, api_url: &str, access_token: &Secret) -> Result<(), OAuthError> {
        let secret = self.secret()?;
        let resp = self
            .http
            .delete(format!(
                "{}/applications/{}/token",
                api_url.trim_end_matches('/'),
                self.client_id
            ))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header(reqwest::header::USER_AGENT, "VibeBridge")
            .basic_auth(&self.client_id, Some(secret.expose()))
            .json(&serde_json::json!({ "access_token": access_token.expose() }))
            .send()
            .await
            .map_err(unreachable_err)?;
        let status = resp.status();
        if status.is_success() || status.as_u16() == 404 || status.as_u16() == 422 {
            Ok(())
        } else {
            Err(OAuthError {
                code: "revoke_failed".into(),
                message: format!("GitHub did not revoke the token ({status})"),
            })
        }
    }

    fn secret(&self) -> Result<&Secret, OAuthError> {
        self.client_secret.as_ref().ok_or_else(|| OAuthError {
            code: "no_client_secret".into(),
            message: "github.client_secret is not configured; the web flow needs it (use the device flow \
                      or a personal access token instead)"
                .into(),
        })
    }
}

fn unreachable_err(e: reqwest::Error) -> OAuthError {
    OAuthError {
        code: "unreachable".into(),
        message: format!(
            "GitHub could not be reached ({}); check github.web_url and main's network",
            e.without_url()
        ),
    }
}

fn describe(answer: &TokenAnswer) -> OAuthError {
    let code = answer.error.clone().unwrap_or_else(|| "unknown".into());
    let why = answer
        .error_description
        .clone()
        .unwrap_or_else(|| code.clone());
    OAuthError {
        message: format!("GitHub refused: {why}"),
        code,
    }
}

fn token_set(answer: TokenAnswer) -> Result<TokenSet, OAuthError> {
    if answer.error.is_some() {
        return Err(describe(&answer));
    }
    let access_token = answer.access_token.ok_or_else(|| OAuthError {
        code: "bad_answer".into(),
        message: "GitHub's answer has no access token".into(),
    })?;
    Ok(TokenSet {
        access_token: Secret::new(access_token),
        refresh_token: answer.refresh_token.map(Secret::new),
        expires_in: answer.expires_in,
        refresh_token_expires_in: answer.refresh_token_expires_in,
        scope: answer.scope,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves the S256 challenge is RFC 7636's (its appendix B example) and verifiers are 43 url-safe chars.
    #[test]
    fn pkce_matches_rfc() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let (v, c) = pkce();
        assert_eq!(v.len(), 43);
        assert_eq!(challenge(&v), c);
    }
}
