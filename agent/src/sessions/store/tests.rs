//! Tests of the node's session store: reopening, torn and damaged logs, a disk that refuses writes, and
//! migrating a sled store.

use vibebridge_tunnel::session::EventBody;

use std::fs::File;

use super::log_file::HEADER;
use super::*;

fn meta(id: Uuid) -> SessionMeta {
    SessionMeta::new_claude(id)
}

fn event(seq: u64, text: &str) -> SessionEvent {
    SessionEvent {
        seq,
        at_ms: seq,
        body: EventBody::AssistantMessage {
            message_id: "m".into(),
            text: text.into(),
        },
    }
}

/// A state directory removed at the end of the test.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("vb-store-test-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn log(&self, id: &Uuid) -> PathBuf {
        self.0.join(STORE_DIR).join(format!("{id}.log"))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn texts(store: &AgentStore, id: &Uuid) -> Vec<String> {
    store
        .events_after(id, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| match e.body {
            EventBody::AssistantMessage { text, .. } => format!("{}:{text}", e.seq),
            other => format!("{}:{other:?}", e.seq),
        })
        .collect()
}

/// A session with `n` events, synced, in a store at `dir`.
async fn session(dir: &Dir, n: u64) -> (AgentStore, Uuid) {
    let store = AgentStore::open(&dir.0).unwrap();
    let id = Uuid::now_v7();
    store.put_meta(&meta(id)).unwrap();
    for seq in 1..=n {
        store
            .put_event(&id, &event(seq, &format!("e{seq}")))
            .unwrap();
    }
    store.sync(store.last_ticket()).await.unwrap();
    (store, id)
}

/// Proves a reopened store has every record, event and removal in order, and derives the record from the events.
#[tokio::test]
async fn reopened_store_has_what_was_written() {
    let dir = Dir::new();
    let (store, id) = session(&dir, 4).await;
    store
        .put_event(
            &id,
            &SessionEvent {
                seq: 5,
                at_ms: 5,
                body: EventBody::Status {
                    status: SessionStatus::Idle,
                    message: None,
                },
            },
        )
        .unwrap();
    store.remove_events(&id, 2..=3).unwrap();
    store.sync(store.last_ticket()).await.unwrap();
    drop(store);
    let store = AgentStore::open(&dir.0).unwrap();
    let m = store.meta(&id).unwrap().unwrap();
    assert_eq!((m.status, m.last_seq), (SessionStatus::Idle, 5));
    assert_eq!(texts(&store, &id)[..2], ["1:e1", "4:e4"]);
    assert_eq!(store.last_event_seq(&id).unwrap(), 5);
    assert_eq!(store.events_after(&id, 1, 1).unwrap()[0].seq, 4);
    assert_eq!(store.all_meta().unwrap(), vec![m]);
}

/// Proves a record torn by a crash mid-write is cut on open, and a write after it lands where it belongs.
#[tokio::test]
async fn torn_tail_is_cut_on_open() {
    let dir = Dir::new();
    let (store, id) = session(&dir, 3).await;
    drop(store);
    let path = dir.log(&id);
    let whole = std::fs::read(&path).unwrap();
    let torn = frame(&Record::Event(event(4, "torn"))).unwrap();
    let mut bytes = whole.clone();
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&path, &bytes).unwrap();
    let store = AgentStore::open(&dir.0).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    store.put_event(&id, &event(4, "again")).unwrap();
    store.sync(store.last_ticket()).await.unwrap();
    drop(store);
    let store = AgentStore::open(&dir.0).unwrap();
    assert_eq!(texts(&store, &id), ["1:e1", "2:e2", "3:e3", "4:again"]);
    let aside = std::fs::read_dir(dir.0.join(STORE_DIR)).unwrap().count();
    assert_eq!(aside, 1, "a torn record is not saved aside");
}

/// Proves a record damaged before the end keeps what precedes it and saves the rest beside the log.
#[tokio::test]
async fn damaged_log_saves_the_cut_bytes() {
    let dir = Dir::new();
    let (store, id) = session(&dir, 3).await;
    drop(store);
    let path = dir.log(&id);
    let mut bytes = std::fs::read(&path).unwrap();
    let first = frame(&Record::Meta(meta(id))).unwrap().len()
        + frame(&Record::Event(event(1, "e1"))).unwrap().len();
    bytes[first + HEADER + 3] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let store = AgentStore::open(&dir.0).unwrap();
    assert_eq!(texts(&store, &id), ["1:e1"]);
    let aside = path.with_extension(format!("log.cut-{first}"));
    assert_eq!(std::fs::read(aside).unwrap(), bytes[first..]);
}

/// Proves writes the disk refuses wait in memory, are not reported durable, and land in order once it accepts.
#[tokio::test]
async fn refused_writes_wait_in_memory_until_the_disk_takes_them() {
    let dir = Dir::new();
    let (store, id) = session(&dir, 2).await;
    let path = dir.log(&id);
    let writable = {
        let mut logs = lock(&store.inner.logs);
        let log = logs.by_id.get_mut(&id).unwrap();
        // A handle that refuses every write and every cut, as a full disk does.
        std::mem::replace(&mut log.file, Arc::new(File::open(&path).unwrap()))
    };
    let durable = *store.commit_durable();
    let ticket = store.put_event(&id, &event(3, "e3")).unwrap();
    store.put_event(&id, &event(4, "e4")).unwrap();
    assert!(store.sync(ticket).await.is_err());
    assert_eq!(
        *store.commit_durable(),
        durable,
        "nothing refused is durable"
    );
    assert_eq!(texts(&store, &id), ["1:e1", "2:e2", "3:e3", "4:e4"]);
    lock(&store.inner.logs).by_id.get_mut(&id).unwrap().file = writable;
    store.put_event(&id, &event(5, "e5")).unwrap();
    store.sync(store.last_ticket()).await.unwrap();
    assert_eq!(lock(&store.inner.logs).unsynced, 0);
    assert!(lock(&store.inner.logs).pending.is_empty());
    drop(store);
    let store = AgentStore::open(&dir.0).unwrap();
    assert_eq!(texts(&store, &id), ["1:e1", "2:e2", "3:e3", "4:e4", "5:e5"]);
}

/// Proves a sled store of an earlier agent is copied in whole (records exactly as they were) and renamed.
#[tokio::test]
async fn sled_store_is_migrated() {
    let dir = Dir::new();
    let id = Uuid::now_v7();
    let mut old = meta(id);
    // A record that does not follow from its events (as a crash between writes left them) stays as it was.
    old.last_seq = 7;
    old.executions = 2;
    {
        let db = sled::Config::new()
            .path(dir.0.join(LEGACY_SLED))
            .open()
            .unwrap();
        let sessions = db.open_tree("sessions").unwrap();
        let events = db.open_tree("events").unwrap();
        sessions
            .insert(id.as_bytes(), serde_json::to_vec(&old).unwrap())
            .unwrap();
        for seq in 1..=3 {
            let key = vibebridge_tunnel::session::event_key(id.as_bytes(), seq);
            events
                .insert(key, serde_json::to_vec(&event(seq, "old")).unwrap())
                .unwrap();
        }
        db.flush().unwrap();
    }
    let store = AgentStore::open(&dir.0).unwrap();
    assert_eq!(store.meta(&id).unwrap(), Some(old.clone()));
    assert_eq!(texts(&store, &id), ["1:old", "2:old", "3:old"]);
    assert!(!dir.0.join(LEGACY_SLED).exists());
    assert!(dir.0.join("sessions.db.migrated").exists());
    drop(store);
    let store = AgentStore::open(&dir.0).unwrap();
    assert_eq!(store.meta(&id).unwrap(), Some(old));
}
