//! Per-test PostgreSQL databases. REUSABLE by any integration test (HTTP tests too):
//!
//! ```ignore
//! #[path = "common/pg.rs"]
//! mod pg;
//! let Some(db) = pg::TestDb::create().await else { return }; // None only when TRD_CDS_SKIP_PG=1
//! let url = db.url();                                          // postgres://.../trd_test_<random>
//! // ... Store::postgres(url, 4) or start the app with DATABASE_URL = url ...
//! // dropping `db` drops the database (WITH (FORCE)), also when the test panics.
//! ```
//!
//! Server: `TRD_CDS_TEST_PG_ADMIN_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), a
//! role allowed to CREATE DATABASE. If it is unreachable the test FAILS with a message saying so;
//! set `TRD_CDS_SKIP_PG=1` to skip the PostgreSQL half of the suite instead.

#![allow(dead_code)]

use std::time::Duration;

use tokio_postgres::NoTls;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Whether the PostgreSQL tests are switched off (`TRD_CDS_SKIP_PG=1`).
pub fn skip_pg() -> bool {
    std::env::var("TRD_CDS_SKIP_PG").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn admin_url() -> String {
    std::env::var("TRD_CDS_TEST_PG_ADMIN_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database created for one test, dropped when this guard is dropped.
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// Creates `trd_test_<random>`. `None` when `TRD_CDS_SKIP_PG=1`; panics (fails the test) with a
    /// clear message when the server is unreachable.
    pub async fn create() -> Option<TestDb> {
        if skip_pg() {
            eprintln!("TRD_CDS_SKIP_PG=1: skipping the PostgreSQL variant of this test");
            return None;
        }
        let admin_url = admin_url();
        let client = admin_connect(&admin_url).await;
        let name = format!("trd_test_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let url = database_url(&admin_url, &name);
        Some(TestDb {
            name,
            url,
            admin_url,
        })
    }

    /// Connection URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime (or while unwinding); do the async work on a
        // separate thread with its own small runtime, and wait for it.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let res = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for DROP DATABASE");
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&admin_url, NoTls).await?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

async fn admin_connect(admin_url: &str) -> tokio_postgres::Client {
    let attempt = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(admin_url, NoTls),
    )
    .await;
    match attempt {
        Ok(Ok((client, conn))) => {
            tokio::spawn(conn);
            client
        }
        Ok(Err(e)) => panic!(
            "PostgreSQL test server unreachable at {} ({e}: {}). Start it, point \
             TRD_CDS_TEST_PG_ADMIN_URL at one, or set TRD_CDS_SKIP_PG=1 to skip the PostgreSQL tests.",
            redact(admin_url),
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        Err(_) => panic!(
            "PostgreSQL test server at {} did not answer within 10 s. Start it, point \
             TRD_CDS_TEST_PG_ADMIN_URL at one, or set TRD_CDS_SKIP_PG=1 to skip the PostgreSQL tests.",
            redact(admin_url)
        ),
    }
}

/// Same server and credentials as `admin_url`, other database: replaces the URL path.
fn database_url(admin_url: &str, db: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
