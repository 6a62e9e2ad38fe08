//! The OpenID Connect provider inside `warden start`: discovery under the bound address, the generated master
//! key, and a client-credentials access token accepted by the management API beside personal access tokens.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &std::path::Path) -> Server {
    let mut child = Command::new(WARDEN)
        .args(["start", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("WARDEN_DATABASE_URL")
        .env_remove("WARDEN_EXTERNAL_URL")
        .env_remove("WARDEN_MASTER_KEY")
        .env("WARDEN_LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("warden exited before listening")
            .unwrap();
        if let Some(addr) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
        {
            break addr.parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr }
}

/// One HTTP/1.1 request; the status and the JSON body (or null).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn client_credentials_tokens_work_at_the_management_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let addr = server.addr;
    let deadline = Instant::now() + Duration::from_secs(60);
    while request(addr, "GET", "/readyz", &[], "").0 != 200 {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The issuer is the address the server is reached at; the master key was generated, owner-only.
    let (status, discovery) = request(addr, "GET", "/.well-known/openid-configuration", &[], "");
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], format!("http://{addr}"));
    assert_eq!(
        discovery["token_endpoint"],
        format!("http://{addr}/oauth/v2/token")
    );
    let key_file = dir.path().join("master.key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (status, jwks) = request(addr, "GET", "/oauth/v2/keys", &[], "");
    assert_eq!(status, 200);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3, "{jwks}");

    // The administrator (a machine user) gets a client secret, then a token for the API.
    let pat = std::fs::read_to_string(dir.path().join("admin.pat"))
        .unwrap()
        .trim()
        .to_owned();
    let admin_id = pat
        .strip_prefix("wdn_pat_")
        .unwrap()
        .split('_')
        .next()
        .unwrap()
        .to_owned();
    let (status, secret) = request(
        addr,
        "PUT",
        &format!("/api/v1/users/{admin_id}/secret"),
        &[("Authorization", &bearer(&pat))],
        "",
    );
    assert_eq!(status, 200, "{secret}");
    let secret = secret["client_secret"].as_str().unwrap().to_owned();
    let token = |scope: &str| {
        let form = format!(
            "grant_type=client_credentials&client_id={admin_id}&client_secret={secret}&scope={scope}"
        );
        let (status, body) = request(
            addr,
            "POST",
            "/oauth/v2/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &form,
        );
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    };
    let for_api = token("urn%3Awarden%3Aapi");
    let (status, body) = request(
        addr,
        "GET",
        "/api/v1/orgs",
        &[("Authorization", &bearer(&for_api))],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let (status, created) = request(
        addr,
        "POST",
        "/api/v1/orgs",
        &[
            ("Authorization", &bearer(&for_api)),
            ("Content-Type", "application/json"),
        ],
        &json!({ "name": "Made with an OIDC token" }).to_string(),
    );
    assert_eq!(status, 201, "{created}");

    // A token without the API audience, or a tampered one, is not accepted.
    let other = token("openid");
    let (status, _) = request(
        addr,
        "GET",
        "/api/v1/orgs",
        &[("Authorization", &bearer(&other))],
        "",
    );
    assert_eq!(status, 401);
    let tampered = format!("{}x", &for_api[..for_api.len() - 1]);
    let (status, _) = request(
        addr,
        "GET",
        "/api/v1/orgs",
        &[("Authorization", &bearer(&tampered))],
        "",
    );
    assert_eq!(status, 401);
}
