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
