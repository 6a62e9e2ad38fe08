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
        try_request(self.addr, method, path, token, body).expect("an HTTP answer")
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

/// One HTTP/1.1 request to `addr` on a fresh connection; the status and the JSON body (or null), or `None`
/// when no answer came (the server is gone).
fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Option<(u16, serde_json::Value)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    Some((
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    ))
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

/// Runs `command` to its end, failing the test if it is still running after 30 s.
fn run_to_exit(command: &mut Command) -> std::process::Output {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warden");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.expect("wait for warden"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("warden pid {pid} did not exit: it should have stopped at once");
        }
    }
}

/// The embedded database belongs to one process: a second `warden start` (or `warden migrate`) on the same
/// data directory stops at once with a message naming the directory and the holder's pid, and the first keeps
/// serving; the lock goes with the process, even a killed one.
#[test]
fn a_second_process_on_the_same_data_dir_stops_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut first = Server::start(&data_dir, &[]);
    first.wait_ready();
    let holder = format!("pid {}", first.child.id());
    for command in ["start", "migrate"] {
        let mut second = Command::new(WARDEN);
        second.arg(command).arg("--data-dir").arg(&data_dir);
        if command == "start" {
            second.args(["--listen", "127.0.0.1:0"]);
        }
        let output = run_to_exit(second.env_remove("WARDEN_DATABASE_URL"));
        assert!(!output.status.success(), "a second `warden {command}` ran");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&data_dir.display().to_string()) && stderr.contains(&holder),
            "the message names the data directory and {holder}: {stderr}"
        );
    }
    let (status, _) = first.get("/readyz");
    assert_eq!(status, 200, "the first process keeps serving");

    // Killed without a chance to clean up, the holder leaves no stale lock behind.
    first.child.kill().expect("kill");
    first.child.wait().expect("wait");
    let again = Server::start(&data_dir, &[]);
    again.wait_ready();
    again.stop();
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

/// A fresh schema in the test PostgreSQL database; its URL, or `None` when no database is configured.
fn postgres_schema(prefix: &str) -> Option<String> {
    let base = warden_eventstore::testing::postgres_url()?;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let schema = format!("{prefix}_{}", std::process::id());
    runtime.block_on(async {
        let store = warden_eventstore::PgStore::connect(&base, 2)
            .await
            .expect("connect");
        sqlx_exec(&store, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        sqlx_exec(&store, &format!("CREATE SCHEMA {schema}")).await;
        store.close().await;
    });
    Some(warden_eventstore::testing::with_search_path(&base, &schema))
}

/// Reads `path` through `server` until it is not a 503 (a view catching up, e.g. while a lease changes hands).
fn read_through(server: &Server, path: &str, token: &str) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server.request("GET", path, Some(token), None);
        if status != 503 {
            return (status, body);
        }
        assert!(Instant::now() < deadline, "{path} still 503: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two nodes on one PostgreSQL database; the node holding every projection's lease is killed (SIGKILL) while
/// it takes writes. The survivor takes the leases over, every write acknowledged by either node is in its
/// views, and its reads by id are fresh.
#[test]
fn the_survivor_takes_over_when_the_lease_holder_is_killed_under_load() {
    let Some(url) = postgres_schema("takeover") else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("WARDEN_DATABASE_URL", url.as_str())];
    let mut holder = Server::start(dir.path(), &env);
    holder.wait_ready();
    let token = std::fs::read_to_string(dir.path().join("admin.pat")).expect("admin.pat");
    let token = token.trim().to_owned();
    // The first node takes every lease before the second starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = holder.request("GET", "/api/v1/projections", Some(&token), None);
        assert_eq!(status, 200, "{body}");
        let projections = body["projections"].as_array().expect("projections").clone();
        if !projections.is_empty() && projections.iter().all(|p| p["held_here"] == json!(true)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first node holds no lease: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let survivor = Server::start(dir.path(), &env);
    survivor.wait_ready();

    // Load on the holder until it dies.
    let (addr, load_token) = (holder.addr, token.clone());
    let load = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for i in 0.. {
            let body = json!({ "name": format!("Load {i}") });
            match try_request(addr, "POST", "/api/v1/orgs", Some(&load_token), Some(&body)) {
                Some((201, body)) => acknowledged.push(body["id"].as_str().expect("id").to_owned()),
                Some((status, body)) => panic!("write to the holder: {status} {body}"),
                None => break,
            }
        }
        acknowledged
    });

    let mut written = Vec::new();
    for i in 0..40 {
        if i == 10 {
            holder.child.kill().expect("SIGKILL the lease holder");
            holder.child.wait().expect("wait");
        }
        let name = format!("Survivor {i}");
        let (status, body) = survivor.request(
            "POST",
            "/api/v1/orgs",
            Some(&token),
            Some(&json!({ "name": name })),
        );
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("org id").to_owned();
        let (status, body) = read_through(&survivor, &format!("/api/v1/orgs/{id}"), &token);
        assert_eq!(
            status, 200,
            "a write is readable by id once it returned: {body}"
        );
        assert_eq!(body["name"], json!(name));
        written.push(id);
    }
    let acknowledged = load.join().expect("load thread");
    assert!(
        !acknowledged.is_empty(),
        "the holder took writes before it died"
    );
    written.extend(acknowledged);

    // The survivor holds every lease, every view caught up, nothing failed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = survivor.request("GET", "/api/v1/projections", Some(&token), None);
        assert_eq!(status, 200, "{body}");
        let projections = body["projections"].as_array().expect("projections").clone();
        let done = projections.iter().all(|p| {
            p["held_here"] == json!(true)
                && p["lag_events"] == json!(0)
                && p["retrying_events"] == json!(0)
                && p["skipped_events"] == json!(0)
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor did not converge: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = read_through(&survivor, "/api/v1/orgs?limit=500", &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["has_more"], json!(false), "every org on one page");
    let listed: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    let missing: Vec<&String> = written
        .iter()
        .filter(|id| !listed.contains(&id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing from the view: {missing:?}"
    );
    for id in written.iter().rev().take(5) {
        let (status, _) = read_through(&survivor, &format!("/api/v1/orgs/{id}"), &token);
        assert_eq!(status, 200);
    }
    survivor.stop();
}

/// Polls `check` every 20 ms until it holds, failing after `seconds`.
fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_org_removal_reaches_every_node_and_cascades() {
    let Some(url) = postgres_schema("cascade") else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("WARDEN_DATABASE_URL", url.as_str())];
    let a = Server::start(dir.path(), &env);
    a.wait_ready();
    let b = Server::start(dir.path(), &env);
    b.wait_ready();
    let admin = std::fs::read_to_string(dir.path().join("admin.pat")).expect("admin.pat");
    let admin = Some(admin.trim());
    let created = |server: &Server, path: &str, body: serde_json::Value| {
        let (status, body) = server.request("POST", path, admin, Some(&body));
        assert_eq!(status, 201, "{path}: {body}");
        body
    };

    let org = created(&a, "/api/v1/orgs", json!({ "name": "Doomed" }))["id"]
        .as_str()
        .expect("org id")
        .to_owned();
    let robot = created(
        &a,
        "/api/v1/users/machine",
        json!({ "org_id": org, "login_name": "robot", "name": "Robot" }),
    )["id"]
        .as_str()
        .expect("user id")
        .to_owned();
    created(
        &a,
        &format!("/api/v1/orgs/{org}/members"),
        json!({ "user_id": robot, "roles": ["ORG_OWNER"] }),
    );
    let token = created(&a, &format!("/api/v1/users/{robot}/pats"), json!({}))["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let own_org = format!("/api/v1/orgs/{org}");
    let (status, body) = b.request("GET", &own_org, Some(&token), None);
    assert_eq!(status, 200, "node B accepts the token: {body}");

    let (status, body) = a.request("DELETE", &own_org, admin, None);
    assert_eq!(status, 200, "{body}");
    eventually(10, "node B refusing the removed org's token", || {
        b.request("GET", &own_org, Some(&token), None).0 == 401
    });
    eventually(20, "the cascade removing the org's user", || {
        b.request("GET", &format!("/api/v1/users/{robot}"), admin, None)
            .0
            == 404
    });
    let (status, trail) = b.request(
        "GET",
        &format!("/api/v1/events?aggregate_id={robot}&event_type=user.removed"),
        admin,
        None,
    );
    assert_eq!(status, 200, "{trail}");
    assert_eq!(trail["events"][0]["creator"], "system", "{trail}");
    assert_eq!(trail["events"][0]["org_id"], org.as_str(), "{trail}");
    b.stop();
    a.stop();
}

#[test]
fn admin_recover_issues_a_working_token_beside_a_running_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, &[]);
    server.wait_ready();
    let first = std::fs::read_to_string(data_dir.join("admin.pat")).expect("admin.pat");
    std::fs::remove_file(data_dir.join("admin.pat")).expect("lose the token file");

    let output = run_to_exit(
        Command::new(WARDEN)
            .args(["admin", "recover", "--data-dir"])
            .arg(&data_dir)
            .env_remove("WARDEN_DATABASE_URL"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = data_dir.join("admin.pat");
    let recovered = std::fs::read_to_string(&path).expect("a new admin.pat");
    assert_ne!(recovered.trim(), first.trim(), "a new token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable only by its owner");
    }

    // The running server accepts it as an administrator's, and the audit trail shows who issued it.
    let (status, body) = server.request(
        "POST",
        "/api/v1/orgs",
        Some(recovered.trim()),
        Some(&json!({ "name": "After recovery" })),
    );
    assert_eq!(status, 201, "{body}");
    let (status, trail) = server.request(
        "GET",
        "/api/v1/events?event_type=user.machine.pat.added&limit=100",
        Some(recovered.trim()),
        None,
    );
    assert_eq!(status, 200, "{trail}");
    let creators: Vec<&str> = trail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["creator"].as_str())
        .collect();
    assert!(creators.contains(&"system:recover"), "{trail}");
    server.stop();
}

/// Started on port 0 without an external URL, the issuer is the address the server actually bound: discovery
/// names the URL it was fetched under, and so do the console's settings.
fn the_issuer_is_the_bound_address(server: &Server) {
    assert_ne!(server.addr.port(), 0, "a port was picked");
    let base = format!("http://{}", server.addr);
    let (status, discovery) = server.get("/.well-known/openid-configuration");
    assert_eq!(status, 200, "{discovery}");
    assert_eq!(discovery["issuer"], json!(base), "{discovery}");
    for endpoint in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        let url = discovery[endpoint].as_str().unwrap_or_default();
        assert!(
            url.starts_with(&format!("{base}/")),
            "{endpoint} under the issuer: {url}"
        );
    }
    let (status, metadata) = server.get("/.well-known/oauth-authorization-server");
    assert_eq!(status, 200, "{metadata}");
    assert_eq!(metadata["issuer"], json!(base), "{metadata}");
    let (status, console) = server.get("/console/config.json");
    assert_eq!(status, 200, "{console}");
    assert_eq!(console["issuer"], json!(base), "{console}");
}

#[test]
fn on_port_zero_the_issuer_is_the_bound_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    server.wait_ready();
    the_issuer_is_the_bound_address(&server);
    server.stop();
}

#[test]
fn on_port_zero_the_issuer_is_the_bound_address_on_postgres() {
    let Some(url) = postgres_schema("issuer") else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &[("WARDEN_DATABASE_URL", &url)]);
    server.wait_ready();
    the_issuer_is_the_bound_address(&server);
    server.stop();
}

/// Starts a node with master key A, then one with master key B on the same database: the second refuses to
/// start, naming `WARDEN_MASTER_KEY`, instead of serving with signing keys it cannot open. With A again the
/// database serves as before.
fn another_master_key_refuses_to_start(data_dir: &Path, database: &[(&str, &str)]) {
    const KEY_A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const KEY_B: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let with_key = |key: &'static str| {
        let mut env = database.to_vec();
        env.push(("WARDEN_MASTER_KEY", key));
        env
    };
    let first = Server::start(data_dir, &with_key(KEY_A));
    first.wait_ready();
    // A first start serves while its keys are generated; the key set waits for them rather than answer empty.
    let (status, jwks) = first.get("/oauth/v2/keys");
    assert_eq!(status, 200, "{jwks}");
    let mut algs: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"], "{jwks}");
    first.stop();

    let mut other = Command::new(WARDEN);
    other
        .args(["start", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("WARDEN_DATABASE_URL");
    for (name, value) in with_key(KEY_B) {
        other.env(name, value);
    }
    let output = run_to_exit(&mut other);
    assert!(
        !output.status.success(),
        "a node with another master key started"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WARDEN_MASTER_KEY")
            && stderr.contains("cannot decrypt the stored signing key"),
        "the message names the setting and the cause: {stderr}"
    );

    let again = Server::start(data_dir, &with_key(KEY_A));
    again.wait_ready();
    let (status, after) = again.get("/oauth/v2/keys");
    assert_eq!(status, 200);
    assert_eq!(after, jwks, "the same signing keys");
    again.stop();
}

#[test]
fn a_node_with_another_master_key_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    another_master_key_refuses_to_start(&dir.path().join("data"), &[]);
}

#[test]
fn a_node_with_another_master_key_refuses_to_start_on_postgres() {
    let Some(url) = postgres_schema("master_key") else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    another_master_key_refuses_to_start(dir.path(), &[("WARDEN_DATABASE_URL", &url)]);
}
