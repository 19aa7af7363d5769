//! The throwaway PostgreSQL clusters the PostgreSQL backend's tests stand on (`tests/src/pg.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vibebridge_tests::pg::PgCluster;

/// Proves a test gets a cluster of its own on a loopback port that keeps its data across a restart, and that
/// dropping it stops the server and removes its files.
#[test]
fn a_throwaway_cluster_starts_restarts_and_goes_away() {
    let pg = PgCluster::start().unwrap();
    let other = PgCluster::start().unwrap();
    assert_ne!(pg.port(), other.port());
    pg.psql("CREATE TABLE kv (k bytea PRIMARY KEY, v bytea)")
        .unwrap();
    pg.psql("INSERT INTO kv VALUES ('\\x01', 'a'), ('\\x0100', 'b'), ('\\x02', 'c')")
        .unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM kv").unwrap(), "3");
    pg.restart().unwrap();
    // bytea orders bytewise, shorter prefixes first: the order sled's keys have.
    assert_eq!(
        pg.psql("SELECT string_agg(encode(k, 'hex'), ',' ORDER BY k) FROM kv")
            .unwrap(),
        "01,0100,02"
    );
    assert_eq!(
        other
            .psql("SELECT count(*) FROM pg_tables WHERE tablename = 'kv'")
            .unwrap(),
        "0"
    );
    let port = pg.port();
    drop(pg);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the dropped cluster still serves on {port}"
    );
}
