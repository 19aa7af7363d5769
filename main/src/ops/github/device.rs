//! The OAuth device flow, for a main GitHub cannot call back: GitHub gives a code to type on its site, and a
//! task polls GitHub at the interval it asks for until the code is entered, declined or expired, pushing each
//! step on the person's `github` topic; once entered, the connection is stored as any other.

use std::time::Duration;

use super::super::{Actor, OpError};
use super::connect::{oauth, save};
use crate::github::DeviceFlow;
use crate::github::oauth::DevicePoll;
use crate::state::AppState;
use crate::store::{ConnectionKind, User, now_ms};

/// Starts the device flow; a task polls GitHub at the interval it asks for until the code is entered,
/// declined or expired, and pushes each step on the `github` topic.
pub async fn start_device(
    state: &AppState,
    actor: &Actor,
    who: &User,
) -> Result<DeviceFlow, OpError> {
    let oauth = oauth(state)?.clone();
    let code = oauth
        .device_start(&state.github.config.scopes)
        .await
        .map_err(|e| super::error(vibebridge_tunnel::reply::ErrorCode::GithubFailed, e.message))?;
    let now = now_ms();
    let expires_at = now + code.expires_in.saturating_mul(1000);
    let flow = DeviceFlow::Waiting {
        user_code: code.user_code.clone(),
        verification_uri: code.verification_uri.clone(),
        expires_at,
    };
    state.github.set_device(who.id, Some(flow.clone()));
    state.store.notify_github(who.id);
    let (state, actor, user) = (state.clone(), actor.clone(), who.id);
    tokio::spawn(async move {
        let mut interval = code.interval.max(1);
        let outcome = loop {
            tokio::select! {
                () = state.hub.stopped() => return,
                () = tokio::time::sleep(Duration::from_secs(interval)) => {}
            }
            if !matches!(state.github.device(user), Some(DeviceFlow::Waiting { ref user_code, .. }) if *user_code == code.user_code)
            {
                return; // cancelled, or replaced by a newer flow
            }
            if now_ms() > expires_at {
                break Err("the code expired before it was entered; start again".to_string());
            }
            match oauth.device_poll(&code.device_code).await {
                Ok(DevicePoll::Pending) => {}
                Ok(DevicePoll::SlowDown(secs)) => interval = secs.max(interval + 1),
                Ok(DevicePoll::Done(tokens)) => break Ok(tokens),
                Ok(DevicePoll::Over(reason)) => break Err(reason),
                Err(e) if e.code == "unreachable" => {}
                Err(e) => break Err(e.message),
            }
        };
        let failed = match outcome {
            Ok(tokens) => match save(&state, &actor, user, ConnectionKind::Device, tokens).await {
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            },
            Err(reason) => Some(reason),
        };
        state
            .github
            .set_device(user, failed.map(|reason| DeviceFlow::Failed { reason }));
        state.store.notify_github(user);
    });
    Ok(flow)
}

/// Cancels a device flow in progress.
pub fn cancel_device(state: &AppState, who: &User) {
    state.github.set_device(who.id, None);
    state.store.notify_github(who.id);
}
