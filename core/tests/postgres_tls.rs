//! TLS to PostgreSQL, against a server of the test's own with `ssl=on` and a CA made for
//! it (`tests/support/pg-throwaway.sh create-tls`): which modes encrypt (read back from
//! `pg_stat_ssl` on the connection itself), that `verify-ca` / `verify-full` accept the
//! right CA and host and refuse a wrong one with a typed error naming the cause, client
//! certificates, options winning over the URL, and bad settings refused at `connect`.
//! A password in the URL never appears in an error or a `Debug`. Without initdb/pg_ctl
//! or openssl the test is skipped, and under `CI=true` it fails instead.

mod support;

use std::time::Duration;

use uuid::Uuid;
use waypost::{CheckpointRepository, ErrorKind, PostgresOptions, PostgresRepository, SqlValue, SslMode};

use support::Cluster;

const PASSWORD: &str = "pw-never-shown-4711";

fn options() -> PostgresOptions {
    PostgresOptions { connect_timeout: Duration::from_secs(3), events_table: None, ..PostgresOptions::default() }
}

/// Whether the repository's own connection is encrypted, and as whom it logged in, after
/// one checkpoint write and read through it.
async fn encrypted(url: &str, options: PostgresOptions) -> waypost::Result<(bool, String)> {
    let repo = PostgresRepository::connect(url, options).await?;
    repo.save_position("Tls", 7, Uuid::new_v4(), "Tick").await?;
    assert_eq!(repo.get_position("Tls").await?, Some(7));
    let tx = repo.begin().await?;
    let rows = tx
        .fetch_all("SELECT ssl, current_user::text AS who FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await?;
    tx.rollback().await?;
    repo.close().await?;
    let row = &rows[0];
    let ssl = row.iter().find(|(k, _)| k == "ssl").map(|(_, v)| v.clone());
    let who = row.iter().find(|(k, _)| k == "who").map(|(_, v)| v.clone());
    match (ssl, who) {
        (Some(SqlValue::Bool(ssl)), Some(SqlValue::Text(who))) => Ok((ssl, who)),
        other => panic!("unexpected row {other:?}"),
    }
}

/// The error a repository gives at its first call, checked to hide the password.
async fn refused(url: &str, options: PostgresOptions) -> waypost::Error {
    let repo = PostgresRepository::connect(url, options).await.expect("connect checks no server");
    assert!(!format!("{repo:?}").contains(PASSWORD), "{repo:?}");
    let err = repo.get_position("Tls").await.expect_err("must be refused");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(PASSWORD), "the password appears in {shown}");
    }
    err
}

#[tokio::test]
async fn tls_modes_certificates_and_refusals() {
    let Some(cluster) = Cluster::create_tls("PostgreSQL TLS tests") else { return };
    let port = cluster.port;
    let ca = cluster.tls("ca.pem");
    let other_ca = cluster.tls("other-ca.pem");
    let at = |host: &str, query: &str| format!("postgres://postgres:{PASSWORD}@{host}:{port}/postgres{query}");
    let with = |mode: SslMode| PostgresOptions { ssl_mode: Some(mode), ..options() };

    // Which modes encrypt: prefer (the default) and require do, disable does not.
    assert!(encrypted(&at("127.0.0.1", ""), options()).await.unwrap().0, "prefer encrypts when offered");
    assert!(encrypted(&at("127.0.0.1", "?sslmode=require"), options()).await.unwrap().0);
    assert!(!encrypted(&at("127.0.0.1", "?sslmode=disable"), options()).await.unwrap().0);
    assert!(encrypted(&at("127.0.0.1", ""), with(SslMode::Require)).await.unwrap().0);
    // An option wins over the URL.
    assert!(!encrypted(&at("127.0.0.1", "?sslmode=require"), with(SslMode::Disable)).await.unwrap().0);

    // The right CA: verify-full for the name in the certificate, verify-ca for any host;
    // from the URL and from the options.
    let url_ca = format!("?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(encrypted(&at("localhost", &url_ca), options()).await.unwrap().0);
    let full = PostgresOptions { ssl_root_cert: Some(ca.clone()), ..with(SslMode::VerifyFull) };
    assert!(encrypted(&at("localhost", ""), full.clone()).await.unwrap().0);
    let verify_ca = PostgresOptions { ssl_root_cert: Some(ca.clone()), ..with(SslMode::VerifyCa) };
    assert!(encrypted(&at("127.0.0.1", ""), verify_ca).await.unwrap().0);

    // A wrong host name: the certificate names localhost only.
    let err = refused(&at("127.0.0.1", ""), full.clone()).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("certificate not valid for name"), "names the cause: {err}");
    // A wrong CA, for verify-ca and verify-full alike.
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let wrong = PostgresOptions { ssl_root_cert: Some(other_ca.clone()), ..with(mode) };
        let err = refused(&at("localhost", ""), wrong).await;
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains("UnknownIssuer"), "names the cause: {err}");
    }

    // Client certificates: the role waypost_cert may log in with its certificate only.
    let cert_url = |query: &str| format!("postgres://waypost_cert@127.0.0.1:{port}/postgres{query}");
    let err = refused(&cert_url(""), with(SslMode::Require)).await;
    assert!(err.to_string().contains("certificate"), "{err}");
    let client = PostgresOptions {
        ssl_cert: Some(cluster.tls("client.pem")),
        ssl_key: Some(cluster.tls("client.key")),
        ..with(SslMode::Require)
    };
    assert_eq!(encrypted(&cert_url(""), client).await.unwrap(), (true, "waypost_cert".to_owned()));
    let in_url = format!(
        "?sslmode=verify-ca&sslrootcert={}&sslcert={}&sslkey={}",
        ca.display(),
        cluster.tls("client.pem").display(),
        cluster.tls("client.key").display()
    );
    assert_eq!(encrypted(&cert_url(&in_url), options()).await.unwrap(), (true, "waypost_cert".to_owned()));
}

#[tokio::test]
async fn bad_tls_settings_are_refused_at_connect() {
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/postgres");
    let missing = std::env::temp_dir().join(format!("waypost-no-such-{}.pem", Uuid::new_v4()));
    let cases = [
        ("a missing CA file", url.clone(), PostgresOptions { ssl_root_cert: Some(missing.clone()), ..options() }),
        (
            "a directory as CA file",
            url.clone(),
            PostgresOptions { ssl_root_cert: Some(std::env::temp_dir()), ..options() },
        ),
        (
            "a certificate without its key",
            url.clone(),
            PostgresOptions { ssl_cert: Some(missing.clone()), ..options() },
        ),
        ("a key without its certificate", url.clone(), PostgresOptions { ssl_key: Some(missing), ..options() }),
        ("sslmode=allow", format!("{url}?sslmode=allow"), options()),
        ("an unknown sslmode", format!("{url}?sslmode=sometimes"), options()),
    ];
    for (what, url, options) in cases {
        let err = PostgresRepository::connect(&url, options).await.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
        assert!(!err.to_string().contains(PASSWORD), "{what}: {err}");
    }
    assert!("allow".parse::<SslMode>().is_err());
    for mode in SslMode::ALL {
        assert_eq!(mode.as_str().parse::<SslMode>().unwrap(), mode);
    }
}

/// `require` against a server with TLS off (a throwaway cluster without `ssl`): a typed
/// refusal, never a plain-text session.
#[tokio::test]
async fn require_refuses_a_server_without_tls() {
    let Some(cluster) = Cluster::create("PostgreSQL TLS tests") else { return };
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?sslmode=require", cluster.port);
    let err = refused(&url, options()).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("does not support TLS"), "{err}");
    assert!(!encrypted(&url, PostgresOptions { ssl_mode: Some(SslMode::Prefer), ..options() }).await.unwrap().0);
}
