//! `warden start` and `warden migrate` as an operator runs them: the real binary, a real port.

#![allow(clippy::print_stderr)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::json;
use warden_eventstore::{
    AggregateKey, Cursor, Eventstore, Expected, NewEvent, Push, SqliteStore, StreamQuery,
};

const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

/// A running `warden start`, stopped (SIGTERM, then kill) on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(WARDEN);
        cmd.args(["start", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("WARDEN_DATABASE_URL")
            .env("WARDEN_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        #[allow(
            clippy::zombie_processes,
            reason = "Server's Drop kills and waits for the child"
        )]
        let mut child = cmd.spawn().expect("spawn warden");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let line = log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!("warden did not start listening; log:\n{}", seen.join("\n"))
                });
            if let Some(addr) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
            {
                let addr = addr.parse().expect("listen address in log");
                return Server { child, addr, log };
            }
            seen.push(line);
        }
    }

    fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.request("GET", path, None, None)
    }

    /// One HTTP/1.1 request on a fresh connection; returns the status and the JSON body (or null).
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).expect("send head");
        stream.write_all(body.as_bytes()).expect("send body");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        (
            status,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get("/readyz");
            if status == 200 {
                assert_eq!(body["status"], "ready", "{body}");
                assert_eq!(body["plugins"]["failed"], 0, "{body}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready in time: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server gracefully and returns the rest of its log.
    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "warden did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn start_on_empty_directory_becomes_ready_and_keeps_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");

    let server = Server::start(&data_dir, &[]);
    let (status, body) = server.get("/healthz");
    assert_eq!((status, body), (200, json!({ "status": "ok" })));
    server.wait_ready();
    assert!(
        data_dir.join("warden.db").exists(),
        "SQLite database created in the data directory"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data_dir)
            .expect("data dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "data directory is private");
    }

    // The first start set up an instance and an administrator whose token works against the API.
    let pat_path = data_dir.join("admin.pat");
    let token = std::fs::read_to_string(&pat_path).expect("admin.pat written at first start");
    let token = token.trim();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pat_path)
            .expect("admin.pat")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "admin.pat is readable only by its owner"
        );
    }
    let acme = json!({ "name": "Acme" });
    let (status, _) = server.request("POST", "/api/v1/orgs", None, Some(&acme));
    assert_eq!(status, 401, "no token, no access");
    let (status, body) = server.request("POST", "/api/v1/orgs", Some(token), Some(&acme));
    assert_eq!(status, 201, "{body}");
    let log = server.stop();
    assert!(
        log.iter().any(|l| l.contains("warden stopped")),
        "graceful stop: {log:?}"
    );

    // Something is written while the server is down ...
    let url = format!("sqlite://{}", data_dir.join("warden.db").display());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::connect(&url, 1).await.expect("open");
        store
            .push(Push::new("test").append(
                AggregateKey::new("i", "note", "n1"),
                Expected::Exact(0),
                vec![NewEvent::new("note.added", 1, json!({ "text": "kept" }))],
            ))
            .await
            .expect("push");
        store.close().await;
    });

    // ... and a second start on the same directory keeps it, without migrating or setting up again.
    let server = Server::start(&data_dir, &[]);
    server.wait_ready();
    assert_eq!(
        std::fs::read_to_string(&pat_path)
            .expect("admin.pat")
            .trim(),
        token,
        "token kept"
    );
    let (status, body) = server.request(
        "GET",
        "/api/v1/events?aggregate_type=org",
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("Acme"),
        "the org created before the restart is still there: {text}"
    );
    let log = server.stop();
    assert!(
        !log.iter().any(|l| l.contains("applied migration")),
        "no migration on the second start: {log:?}"
    );
    runtime.block_on(async {
        let store = SqliteStore::connect(&url, 1).await.expect("open");
        let mut query = StreamQuery::after(Cursor::START, 10);
        query.aggregate_types = vec!["note".into()];
        let events = store.read_stream(&query).await.expect("read");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].payload, json!({ "text": "kept" }));
        store.close().await;
    });
}

#[test]
fn bad_configuration_stops_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlisten_port = 1\n").expect("write config");
    let output = Command::new(WARDEN)
        .args(["start", "--config"])
        .arg(&config)
        .output()
        .expect("run warden");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `listen_port`"), "{stderr}");

    let output = Command::new(WARDEN)
        .args(["migrate"])
        .env("WARDEN_DATABASE_URL", "mysql://root@localhost/x")
        .output()
        .expect("run warden");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WARDEN_DATABASE_URL") && stderr.contains("not a database URL"),
        "{stderr}"
    );
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(WARDEN)
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .env_remove("WARDEN_DATABASE_URL")
        .output()
        .expect("run warden");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("warden.db").exists());
}

#[test]
fn migrate_and_start_on_postgres() {
    let Some(base) = warden_eventstore::testing::postgres_url() else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    // A fresh schema keeps this run apart from others sharing the database.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = format!("srv_{}", std::process::id());
    runtime.block_on(async {
        let store = warden_eventstore::PgStore::connect(&base, 2)
            .await
            .expect("connect");
        sqlx_exec(&store, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        sqlx_exec(&store, &format!("CREATE SCHEMA {schema}")).await;
        store.close().await;
    });
    let url = warden_eventstore::testing::with_search_path(&base, &schema);
    let dir = tempfile::tempdir().expect("temp dir");

    let output = Command::new(WARDEN)
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .env("WARDEN_DATABASE_URL", &url)
        .output()
        .expect("run warden");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !dir.path().join("warden.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );

    let server = Server::start(dir.path(), &[("WARDEN_DATABASE_URL", &url)]);
    server.wait_ready();
    server.stop();
}

async fn sqlx_exec(store: &warden_eventstore::PgStore, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.expect(sql);
}

/// Two nodes on one PostgreSQL database: both serve the API, and a write through one is readable by id
/// through the other as soon as the write has returned.
#[test]
fn two_nodes_share_one_postgres() {
    let Some(base) = warden_eventstore::testing::postgres_url() else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = format!("nodes_{}", std::process::id());
    runtime.block_on(async {
        let store = warden_eventstore::PgStore::connect(&base, 2)
            .await
            .expect("connect");
        sqlx_exec(&store, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        sqlx_exec(&store, &format!("CREATE SCHEMA {schema}")).await;
        store.close().await;
    });
    let url = warden_eventstore::testing::with_search_path(&base, &schema);
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("WARDEN_DATABASE_URL", url.as_str())];

    let a = Server::start(dir.path(), &env);
    a.wait_ready();
    let b = Server::start(dir.path(), &env);
    b.wait_ready();
    let token = std::fs::read_to_string(dir.path().join("admin.pat")).expect("admin.pat");
    let token = token.trim();

    for i in 0..10 {
        let name = format!("Shared {i}");
        let (status, body) = a.request(
            "POST",
            "/api/v1/orgs",
            Some(token),
            Some(&json!({ "name": name })),
        );
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("org id").to_owned();
        let (status, body) = b.request("GET", &format!("/api/v1/orgs/{id}"), Some(token), None);
        assert_eq!(status, 200, "node B reads node A's write at once: {body}");
        assert_eq!(body["name"], json!(name));
    }
    b.stop();
    a.stop();
}
