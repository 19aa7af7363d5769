//! What each browser tab shows right now, as the tab says on its WebSocket (`presence` frames): which push
//! device it is and which session it shows while visible. A device that shows a session is not pushed that
//! session's notices.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::PushSubId;

/// A tab that has not said what it shows for this long is taken to show nothing: a socket that died without
/// a word must not silence a device's pushes (tabs showing a session say so again every minute).
const TTL: Duration = Duration::from_secs(150);

/// One connection's view.
#[derive(Debug, Clone, Copy)]
struct Showing {
    device: PushSubId,
    session: Uuid,
    said: Instant,
}

/// Every connection's view, by connection id.
#[derive(Default)]
pub struct Presence {
    conns: Mutex<HashMap<u64, Showing>>,
}

impl Presence {
    /// Connection `conn` of device `device` shows `session` (visible), or nothing (`None`).
    pub fn set(&self, conn: u64, device: Option<PushSubId>, session: Option<Uuid>) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        match device.zip(session) {
            Some((device, session)) => {
                conns.insert(
                    conn,
                    Showing {
                        device,
                        session,
                        said: Instant::now(),
                    },
                );
            }
            None => {
                conns.remove(&conn);
            }
        }
    }

    /// Connection `conn` closed.
    pub fn gone(&self, conn: u64) {
        self.set(conn, None, None);
    }

    /// Whether a tab of `device` shows `session` now.
    pub fn shows(&self, device: PushSubId, session: Uuid) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .values()
            .any(|s| s.device == device && s.session == session && s.said.elapsed() < TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a device shows a session while one of its tabs does, and stops when that tab leaves or closes.
    #[test]
    fn a_device_shows_a_session_while_a_tab_does() {
        let p = Presence::default();
        let (d, s) = (PushSubId::new(), Uuid::now_v7());
        p.set(1, Some(d), Some(s));
        p.set(2, Some(d), None);
        assert!(p.shows(d, s));
        assert!(!p.shows(PushSubId::new(), s));
        p.set(1, Some(d), None);
        assert!(!p.shows(d, s));
        p.set(3, Some(d), Some(s));
        p.gone(3);
        assert!(!p.shows(d, s));
    }
}
