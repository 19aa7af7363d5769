//! The store conformance suite (`tests/src/store_suite.rs`) on both backends: embedded sled and PostgreSQL
//! (a throwaway cluster per test, two separately connected handles standing for two mains).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vibebridge_main::store::Store;
use vibebridge_main::store::kv::{Backend, Kv, PgOptions, TlsMode};
use vibebridge_tests::TempDir;
use vibebridge_tests::pg::PgCluster;
use vibebridge_tests::store_suite;

fn pg(cluster: &PgCluster) -> Backend {
    Backend::postgres(&PgOptions {
        url: cluster.url(),
        pool_size: 8,
        tls: TlsMode::Disable,
        ca_file: None,
        connect_timeout: std::time::Duration::from_secs(10),
    })
    .unwrap()
}

/// Proves the key-value layer on sled: order, ranges, units of work, guards against writes outside the
/// unit, no lost increment, growing ids.
#[test]
fn sled_keeps_the_key_value_contract() {
    let dir = TempDir::new("kv-sled");
    let kv = Kv::new(Backend::sled(&dir.0.join("db")).unwrap());
    store_suite::kv_conformance(&kv, &kv);
}

/// Proves the same contract on PostgreSQL, with a second connected handle writing as another main would.
#[test]
fn postgres_keeps_the_key_value_contract() {
    let cluster = PgCluster::start().unwrap();
    let (a, b) = (Kv::new(pg(&cluster)), Kv::new(pg(&cluster)));
    store_suite::kv_conformance(&a, &b);
}

/// Proves the lead's memory on PostgreSQL: reads from memory equal the database's through every kind of
/// write, another process's write is seen once announced, stale memory loses no increment, and a fenced
/// lead reads the database again.
#[test]
fn postgres_lead_memory_stays_true_to_the_database() {
    let cluster = PgCluster::start().unwrap();
    let (lead, other) = (Kv::new(pg(&cluster)), Kv::new(pg(&cluster)));
    store_suite::lead_memory(&lead, &other, 1);
}

/// Proves the store's invariants hold when one of the racing mains leads and reads from memory: its stale
/// reads are caught by the database's guards.
#[test]
fn postgres_store_keeps_its_invariants_with_a_lead_in_memory() {
    let cluster = PgCluster::start().unwrap();
    let a = Store::on(pg(&cluster)).unwrap();
    let b = Store::on(pg(&cluster)).unwrap();
    a.lead(a.bump_leader_epoch().unwrap());
    store_suite::store_races(&b, &a);
}

/// Proves the store's invariants on sled with racing threads: one creator, unique names, a token spent
/// once, contiguous events, a secret generated once.
#[test]
fn sled_store_keeps_its_invariants_under_races() {
    let dir = TempDir::new("store-sled");
    let store = Store::open(&dir.0.join("db")).unwrap();
    store_suite::store_races(&store, &store);
}

/// Proves the same invariants with two mains' stores racing on one PostgreSQL: the database enforces them,
/// not a process lock.
#[test]
fn postgres_store_keeps_its_invariants_under_races() {
    let cluster = PgCluster::start().unwrap();
    let a = Store::on(pg(&cluster)).unwrap();
    let b = Store::on(pg(&cluster)).unwrap();
    store_suite::store_races(&a, &b);
}

/// Proves a main that lost the lead cannot write: once another main took the next leader epoch, the old
/// main's units and single writes are refused as fenced, and nothing of them lands.
#[test]
fn postgres_fences_a_main_that_lost_the_lead() {
    let cluster = PgCluster::start().unwrap();
    let (old, new) = (
        Store::on(pg(&cluster)).unwrap(),
        Store::on(pg(&cluster)).unwrap(),
    );
    let lead = |s: &Store| s.lead(s.bump_leader_epoch().unwrap());
    lead(&old);
    old.create_user("before", "h".into()).unwrap();
    lead(&new);
    let fenced = |e: &vibebridge_main::store::StoreError| {
        matches!(
            e,
            vibebridge_main::store::StoreError::Db(vibebridge_main::store::kv::KvError::Fenced)
        )
    };
    let unit = old.create_user("after", "h".into()).unwrap_err();
    assert!(fenced(&unit), "{unit}");
    let single = old.set_meta_value("stale", "x").unwrap_err();
    assert!(
        matches!(
            single.downcast_ref::<vibebridge_main::store::kv::KvError>(),
            Some(vibebridge_main::store::kv::KvError::Fenced)
        ),
        "{single}"
    );
    assert!(
        new.user_by_name("after").unwrap().is_none() && new.meta_value("stale").unwrap().is_none()
    );
    new.create_user("by-the-new-lead", "h".into()).unwrap();
}

/// Proves the store's pooled connections survive the server closing them while idle (a restart, an
/// administrator's `pg_terminate_backend`): the next reads and writes find the closed ones at checkout and
/// connect anew, with no error reaching the caller.
#[test]
fn postgres_store_reconnects_after_its_idle_connections_are_closed() {
    let cluster = PgCluster::start().unwrap();
    let kv = Kv::new(pg(&cluster));
    let t = kv.tree("survives");
    // Several connections in the pool: reads from threads at once.
    std::thread::scope(|s| {
        for i in 0..4u8 {
            let t = t.clone();
            s.spawn(move || t.insert([i], [i]).unwrap());
        }
    });
    let ours = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vibebridge'";
    assert_ne!(cluster.psql(ours).unwrap().trim(), "0");
    cluster
        .psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'vibebridge'",
        )
        .unwrap();
    // Waited for, not slept on: the server processes are gone, so their sockets are closed.
    store_suite::wait_until(|| cluster.psql(ours).unwrap().trim() == "0");
    for i in 0..4u8 {
        assert_eq!(t.get([i]).unwrap(), Some(vec![i]));
    }
    kv.atomic(|| t.insert("after", "x"), |e| e).unwrap();
    assert_eq!(t.get("after").unwrap().as_deref(), Some(&b"x"[..]));
}
