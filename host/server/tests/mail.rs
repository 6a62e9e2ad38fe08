//! Mail without an SMTP server, as an operator sees it: `warden start` with the defaults writes a requested
//! password reset mail to the log and to `<data_dir>/mail`, once, also across a restart.

#![allow(clippy::print_stderr)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

/// A running `warden start` on a free port; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        #[allow(
            clippy::zombie_processes,
            reason = "Server's Drop kills and waits for the child"
        )]
        let mut child = Command::new(WARDEN)
            .args(["start", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("WARDEN_DATABASE_URL")
            .env_remove("WARDEN_SMTP_HOST")
            .env("WARDEN_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn warden");
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
                .unwrap_or_else(|_| panic!("warden did not start; log:\n{}", seen.join("\n")));
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

    fn request(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("write");
        stream.write_all(body.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Log lines so far.
    fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mails(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until the mail directory holds `count` mails.
fn wait_for_mails(dir: &Path, count: usize) -> Vec<PathBuf> {
    for _ in 0..600 {
        let found = mails(dir);
        if found.len() >= count {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{count} mail(s) not written to {} in time", dir.display());
}

#[test]
fn without_smtp_a_reset_mail_is_logged_and_written_to_the_data_directory_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir);
    let token = std::fs::read_to_string(data_dir.join("admin.pat")).expect("admin.pat");
    let token = token.trim();
    let (status, org) = server.request(
        "POST",
        "/api/v1/orgs",
        token,
        Some(&json!({ "name": "Acme" })),
    );
    assert_eq!(status, 201, "{org}");
    let user = json!({
        "org_id": org["id"], "login_name": "alice", "given_name": "Alice", "family_name": "Liddell",
        "email": "alice@example.com",
    });
    let (status, user) = server.request("POST", "/api/v1/users/human", token, Some(&user));
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().expect("id").to_owned();
    let (status, body) = server.request(
        "POST",
        &format!("/api/v1/users/{user_id}/password/reset"),
        token,
        None,
    );
    assert_eq!(status, 200, "{body}");

    let mail_dir = data_dir.join("mail");
    let found = wait_for_mails(&mail_dir, 1);
    let mail = std::fs::read_to_string(&found[0]).expect("read mail");
    let link = format!("http://{}/login/reset?user={user_id}&code=", server.addr);
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    assert!(
        mail.contains(&link),
        "the link starts with the issuer: {mail}"
    );
    // The mail may be logged a moment after the file is written; its text spans several log lines.
    let mut log = Vec::new();
    let mut logged = false;
    for _ in 0..100 {
        log.extend(server.log_lines());
        let text = log.join("\n");
        if text.contains("mail written to the mail directory") && text.contains(&link) {
            logged = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logged, "the mail and its link are in the log");
    drop(server);

    // After a restart the sent mail is not sent again; a new request is the only new mail.
    let server = Server::start(&data_dir);
    let (status, body) = server.request(
        "POST",
        &format!("/api/v1/users/{user_id}/password/reset"),
        token,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let found = wait_for_mails(&mail_dir, 2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mails(&mail_dir).len(), 2, "one mail per request: {found:?}");
}
