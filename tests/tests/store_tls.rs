//! The PostgreSQL backend's TLS modes (`main/src/store/kv/pg_tls.rs`) against a real server: a throwaway
//! cluster (`tests/src/pg.rs`) serving a certificate for `localhost` only (no IP address), signed by a CA made
//! for the test with the `openssl` CLI.
//!
//! URLs naming `localhost` also carry `hostaddr=127.0.0.1`: the certificate is checked against `localhost`,
//! but the connection goes to the address the cluster listens on, whatever `localhost` resolves to here (with
//! `::1` tried last, a refused connection there would hide the TLS error the test looks for).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vibebridge_main::store::kv::{Backend, PgOptions, TlsMode};
use vibebridge_tests::TempDir;
use vibebridge_tests::pg::PgCluster;

/// How every key is made (P-256: quick to make, and every TLS stack takes it).
const P256: &str = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
/// The password every URL carries; no error may show it.
const PASSWORD: &str = "Tls-Test-Pa55word-9f3e";

/// A CA and a server certificate it signed, in a temporary directory.
struct Certs {
    dir: TempDir,
}

impl Certs {
    /// A CA (`ca.pem`), an unrelated CA (`other-ca.pem`) and a server certificate for `DNS:localhost` only
    /// (`server.pem`, key `server.key`) signed by the first.
    fn new() -> Certs {
        let certs = Certs {
            dir: TempDir::new("pg-tls"),
        };
        std::fs::write(certs.path("openssl.cnf"), OPENSSL_CNF).unwrap();
        certs.ca("ca");
        certs.ca("other-ca");
        let dir = certs.dir.path().display();
        certs.openssl(&format!("genpkey {P256} -out {dir}/server.key"));
        certs.openssl(&format!(
            "req -new -subj /CN=localhost -key {dir}/server.key -out {dir}/server.csr"
        ));
        certs.openssl(&format!(
            "x509 -req -days 2 -sha256 -set_serial 2 -in {dir}/server.csr -extfile {dir}/openssl.cnf \
             -extensions server -CA {dir}/ca.pem -CAkey {dir}/ca.key -out {dir}/server.pem"
        ));
        certs
    }

    /// A self-signed CA certificate `<name>.pem` and its key `<name>.key`.
    fn ca(&self, name: &str) {
        let dir = self.dir.path().display();
        self.openssl(&format!("genpkey {P256} -out {dir}/{name}.key"));
        self.openssl(&format!(
            "req -x509 -new -days 2 -sha256 -extensions ca -subj /CN=vibebridge-test-{name} \
             -key {dir}/{name}.key -out {dir}/{name}.pem"
        ));
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl` with `args` (split at whitespace: the temporary directory's path has none), `req` with
    /// our `openssl.cnf` (the system's could add extensions of its own); panics with its output when it fails.
    fn openssl(&self, args: &str) {
        let mut args = args.split_whitespace();
        let mut cmd = Command::new("openssl");
        let sub = args.next().unwrap();
        cmd.arg(sub);
        if sub == "req" {
            cmd.arg("-config").arg(self.path("openssl.cnf"));
        }
        cmd.args(args);
        let out = cmd.output().expect("running openssl (Debian's `openssl`)");
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A cluster serving `server.pem`.
    fn cluster(&self) -> PgCluster {
        PgCluster::start_with_tls(&self.path("server.pem"), &self.path("server.key")).unwrap()
    }
}

/// The configuration `openssl req` and `openssl x509` use: a CA, and a server certificate naming only
/// `localhost`.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no

[dn]

[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// Options for `host` on `cluster`'s port, with `tls` and `ca_file`.
fn options(cluster: &PgCluster, host: &str, tls: TlsMode, ca_file: Option<&Path>) -> PgOptions {
    let port = cluster.port();
    let url = match host {
        "localhost" => {
            format!("postgres://postgres:{PASSWORD}@localhost:{port}/postgres?hostaddr=127.0.0.1")
        }
        host => format!("postgres://postgres:{PASSWORD}@{host}:{port}/postgres"),
    };
    PgOptions {
        url,
        pool_size: 2,
        tls,
        ca_file: ca_file.map(Path::to_path_buf),
        connect_timeout: Duration::from_secs(5),
    }
}

/// Connects with `opts` and returns whether the backend's connections (the store's own, which answered a
/// read, and the control pool's) are encrypted, and with what protocol (`pg_stat_ssl` of their server
/// processes).
fn connects(opts: &PgOptions) -> (bool, Option<String>) {
    let backend = Backend::postgres(opts).unwrap_or_else(|e| panic!("{e:#}"));
    let Backend::Postgres(pg) = &backend else {
        unreachable!()
    };
    assert!(pg.is_empty().unwrap(), "a fresh database holds nothing");
    let pool = pg.pool().clone();
    pg.block_on_db(async move {
        let client = pool.get().await.unwrap();
        let row = client
            .query_one(
                "SELECT bool_and(s.ssl), min(s.version), count(*) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'vibebridge'",
                &[],
            )
            .await
            .unwrap();
        let connections: i64 = row.get(2);
        assert!(
            connections >= 2,
            "the store's connection and the pool's are both counted"
        );
        (row.get(0), row.get(1))
    })
}

/// Connects with `opts`, which must fail; the error (its whole chain), after checking it does not show the
/// URL's password.
fn refused(opts: &PgOptions) -> String {
    let err = match Backend::postgres(opts) {
        Ok(_) => panic!("connected with {opts:?}, which should have been refused"),
        Err(e) => e,
    };
    let (text, debug) = (format!("{err:#}"), format!("{err:?}"));
    assert!(
        !text.contains(PASSWORD) && !debug.contains(PASSWORD),
        "the error shows the URL's password: {debug}"
    );
    text
}

/// Proves `require` encrypts the backend's connection yet takes a certificate it cannot verify (at 127.0.0.1).
#[test]
fn require_encrypts_without_checking_the_certificate() {
    let certs = Certs::new();
    let cluster = certs.cluster();
    let (ssl, version) = connects(&options(&cluster, "127.0.0.1", TlsMode::Require, None));
    assert!(ssl, "the connection is not encrypted");
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{version:?}"
    );
}

/// Proves `pg_stat_ssl` tells the difference: `disable` stays plain TCP on the same TLS-capable server.
#[test]
fn disable_stays_plaintext_on_a_tls_server() {
    let certs = Certs::new();
    let cluster = certs.cluster();
    let (ssl, _) = connects(&options(&cluster, "127.0.0.1", TlsMode::Disable, None));
    assert!(!ssl, "disable made an encrypted connection");
}

/// Proves `verify-full` connects, encrypted, with the server's CA in `ca_file` and its certificate's host name.
#[test]
fn verify_full_connects_with_the_right_ca_and_host() {
    let certs = Certs::new();
    let cluster = certs.cluster();
    let ca = certs.path("ca.pem");
    let (ssl, _) = connects(&options(
        &cluster,
        "localhost",
        TlsMode::VerifyFull,
        Some(&ca),
    ));
    assert!(ssl, "the connection is not encrypted");
}

/// Proves `verify-full` refuses a certificate another CA signed, saying why, without showing the password.
#[test]
fn verify_full_refuses_a_certificate_from_another_ca() {
    let certs = Certs::new();
    let cluster = certs.cluster();
    let other = certs.path("other-ca.pem");
    let err = refused(&options(
        &cluster,
        "localhost",
        TlsMode::VerifyFull,
        Some(&other),
    ));
    // rustls says `invalid peer certificate: UnknownIssuer`: the chain, not the name, is what failed.
    let lower = err.to_lowercase();
    assert!(lower.contains("invalid peer certificate"), "{err}");
    assert!(
        lower.contains("unknownissuer") || lower.contains("unknown issuer"),
        "{err}"
    );
    assert!(err.contains("postgres:***@localhost"), "{err}");
    assert!(
        err.contains("database.ca_file") && !err.contains("is it running"),
        "a certificate refusal points at the TLS settings: {err}"
    );
}

/// Proves `verify-full` refuses a host the certificate does not name (127.0.0.1), without showing the password.
#[test]
fn verify_full_refuses_a_host_the_certificate_does_not_name() {
    let certs = Certs::new();
    let cluster = certs.cluster();
    let ca = certs.path("ca.pem");
    let err = refused(&options(
        &cluster,
        "127.0.0.1",
        TlsMode::VerifyFull,
        Some(&ca),
    ));
    // rustls says `invalid peer certificate: certificate not valid for name "127.0.0.1"; …` (older releases:
    // `NotValidForName`). Not just "name": the hint after it names the host too.
    let lower = err.to_lowercase();
    assert!(lower.contains("invalid peer certificate"), "{err}");
    assert!(
        lower.contains("not valid for name") || lower.contains("notvalidforname"),
        "{err}"
    );
    assert!(
        err.contains("names the host in database.url"),
        "the hint says what verify-full checks: {err}"
    );
}

/// Proves `verify-full` with a missing `ca_file` fails naming that file, without showing the password.
#[test]
fn verify_full_names_a_missing_ca_file() {
    let certs = Certs::new();
    let cluster = certs.cluster();
    let missing = certs.path("no-such-ca.pem");
    let err = refused(&options(
        &cluster,
        "localhost",
        TlsMode::VerifyFull,
        Some(&missing),
    ));
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("ca_file"), "{err}");
}
