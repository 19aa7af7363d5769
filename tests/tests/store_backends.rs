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
    let lead = |s: &Store| {
        let epoch = s.bump_leader_epoch().unwrap();
        let Backend::Postgres(p) = s.backend() else {
            unreachable!()
        };
        p.set_epoch(Some(epoch));
    };
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
