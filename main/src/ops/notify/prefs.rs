//! A person's notification preferences: which kinds, which workspaces, quiet hours.

use jiff::tz::TimeZone;

use crate::auth::AuthUser;
use crate::notify::Notice;
use crate::ops::OpError;
use crate::state::AppState;
use crate::store::{NotifyPrefs, QuietHours};

/// The caller's preferences.
pub fn get(state: &AppState, who: &AuthUser) -> Result<NotifyPrefs, OpError> {
    Ok(state.store.notify_prefs(who.user.id)?)
}

/// Sets the caller's preferences after checking them.
pub fn set(
    state: &AppState,
    who: &AuthUser,
    mut prefs: NotifyPrefs,
) -> Result<NotifyPrefs, OpError> {
    prefs.events.sort_by_key(|k| k.name());
    prefs.events.dedup();
    if let Some(ws) = &mut prefs.workspaces {
        ws.dedup();
        if ws.len() > 500 {
            return Err(OpError::BadRequest("name at most 500 workspaces".into()));
        }
        for id in ws.iter() {
            let visible = state
                .store
                .workspace(*id)?
                .is_some_and(|w| crate::ops::workspaces::role_of(&who.user, &w).is_some());
            if !visible {
                return Err(OpError::BadRequest(format!(
                    "no workspace {id} of yours; pick workspaces you are a member of"
                )));
            }
        }
    }
    if let Some(q) = &prefs.quiet_hours {
        check_quiet(q)?;
    }
    state.store.put_notify_prefs(who.user.id, &prefs)?;
    Ok(prefs)
}

/// Minutes after midnight of `HH:MM`.
fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

fn check_quiet(q: &QuietHours) -> Result<(), OpError> {
    for (what, v) in [("start", &q.start), ("end", &q.end)] {
        if minutes(v).is_none() {
            return Err(OpError::BadRequest(format!(
                "quiet_hours.{what} {v:?} is not a time; write HH:MM, e.g. \"22:00\""
            )));
        }
    }
    if q.start == q.end {
        return Err(OpError::BadRequest(
            "quiet_hours start and end are the same; turn quiet hours off instead".into(),
        ));
    }
    TimeZone::get(&q.time_zone).map_err(|_| {
        OpError::BadRequest(format!(
            "quiet_hours.time_zone {:?} is not a known time zone; use an IANA name such as \"Europe/Berlin\"",
            q.time_zone
        ))
    })?;
    Ok(())
}

/// Whether `at` (ms) falls in quiet hours `q` (which may wrap past midnight).
pub fn is_quiet(q: &QuietHours, at: u64) -> bool {
    let (Some(start), Some(end)) = (minutes(&q.start), minutes(&q.end)) else {
        return false;
    };
    let Ok(tz) = TimeZone::get(&q.time_zone) else {
        return false;
    };
    let Ok(ts) = jiff::Timestamp::from_millisecond(i64::try_from(at).unwrap_or(i64::MAX)) else {
        return false;
    };
    let local = ts.to_zoned(tz).time();
    let now =
        u16::try_from(local.hour()).unwrap_or(0) * 60 + u16::try_from(local.minute()).unwrap_or(0);
    if start < end {
        (start..end).contains(&now)
    } else {
        now >= start || now < end
    }
}

/// Whether `prefs` let `notice` be pushed at `at` (ms).
pub fn wants(prefs: &NotifyPrefs, notice: &Notice, at: u64) -> bool {
    if !prefs.events.contains(&notice.kind) {
        return false;
    }
    if let Some(only) = &prefs.workspaces
        && !notice.workspaces.is_empty()
        && !notice.workspaces.iter().any(|w| only.contains(w))
    {
        return false;
    }
    !prefs.quiet_hours.as_ref().is_some_and(|q| is_quiet(q, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(start: &str, end: &str, tz: &str) -> QuietHours {
        QuietHours {
            start: start.into(),
            end: end.into(),
            time_zone: tz.into(),
        }
    }

    /// Proves the kinds and workspaces chosen filter notices, and events outside workspaces always pass.
    #[test]
    fn preferences_filter_by_kind_and_workspace() {
        use crate::store::{NoticeKind, WorkspaceId};
        let (mine, other) = (WorkspaceId::new(), WorkspaceId::new());
        let notice = |kind, workspaces: Vec<WorkspaceId>| Notice {
            key: "k".into(),
            kind,
            workspaces,
            recipients: vec![],
            title: String::new(),
            body: String::new(),
            url: "/".into(),
            tag: "t".into(),
            session_id: None,
            task: None,
            restricted: false,
            approval: None,
            data: serde_json::Value::Null,
            at: 0,
        };
        let prefs = NotifyPrefs {
            events: vec![NoticeKind::Approval, NoticeKind::NodeOffline],
            workspaces: Some(vec![mine]),
            quiet_hours: None,
        };
        assert!(wants(&prefs, &notice(NoticeKind::Approval, vec![mine]), 0));
        assert!(!wants(
            &prefs,
            &notice(NoticeKind::Approval, vec![other]),
            0
        ));
        assert!(!wants(&prefs, &notice(NoticeKind::Mention, vec![mine]), 0));
        assert!(wants(&prefs, &notice(NoticeKind::NodeOffline, vec![]), 0));
    }

    /// Proves quiet hours follow the person's time zone, wrap past midnight, and bad times are refused.
    #[test]
    fn quiet_hours_follow_the_time_zone_and_wrap() {
        // 2026-12-05 23:30 UTC is 00:30 in Berlin (CET) and 08:30 in Tokyo.
        let at = 1_796_513_400_000;
        assert!(is_quiet(&q("22:00", "07:00", "Europe/Berlin"), at));
        assert!(!is_quiet(&q("22:00", "07:00", "Asia/Tokyo"), at));
        assert!(is_quiet(&q("08:00", "09:00", "Asia/Tokyo"), at));
        assert!(!is_quiet(&q("09:00", "17:00", "Europe/Berlin"), at));
        assert!(check_quiet(&q("25:00", "07:00", "UTC")).is_err());
        assert!(check_quiet(&q("22:00", "07:00", "Mars/Olympus")).is_err());
        assert!(check_quiet(&q("22:00", "07:00", "UTC")).is_ok());
    }
}
