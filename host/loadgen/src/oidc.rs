//! The OpenID Connect load: one endpoint hammered with the same request (client-credentials tokens,
//! introspection, a trivial endpoint), refresh-token chains rotated, full password logins through the login
//! pages, and the raw Argon2id hash rate of the server's hasher.
//!
//! ```text
//! warden-loadgen hammer --addr A --name cc_jwt --path /oauth/v2/token --basic ID:SECRET \
//!     --form 'grant_type=client_credentials' --expect-body access_token [--method GET] [--connections 32]
//! warden-loadgen refresh --addr A --name refresh --basic ID:SECRET --tokens-file F [--connections 32]
//! warden-loadgen login --addr A --name login --client-id ID --client-secret S --redirect-uri URI \
//!     --login-name 'user{worker}' --password P [--scope 'openid'] [--connections 8] [--count N]
//! warden-loadgen hash --name argon2id [--connections 8] [--seconds 10]
//! ```
//!
//! Every phase prints the same `key=value` lines as `run` (rate, p50, p99, errors, and the CPU time of the
//! server named by `--server-pid`, of this process and, with `--database`, of that PostgreSQL database's
//! backends). A request counts only when it answered the expected status and its body holds what
//! `--expect-body` names; anything else is an error.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use warden_command::secret::{PasswordHasher, SecretString};

use crate::{Conn, CpuClock, Outcome, address, join, parsed, required};

/// Base64 (standard alphabet, padded), for `Authorization: Basic`.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Decodes `%XX` and `+` of a query or form value.
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP/1.1 request: method, path, optional Basic credentials, cookies and a form body.
fn request(
    method: &str,
    path: &str,
    basic: Option<&str>,
    cookies: &BTreeMap<String, String>,
    form: Option<&str>,
) -> Vec<u8> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if let Some(basic) = basic {
        request.push_str(&format!("Authorization: Basic {basic}\r\n"));
    }
    if !cookies.is_empty() {
        let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        request.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
    }
    match form {
        Some(form) => request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )),
        None => request.push_str("\r\n"),
    }
    request.into_bytes()
}

/// `--basic ID:SECRET` as the value of an `Authorization: Basic` header (both parts form-encoded, RFC 6749
/// §2.3.1).
fn basic_credentials(args: &[String]) -> Result<Option<String>, String> {
    let Some(pair) = crate::flag(args, "--basic") else {
        return Ok(None);
    };
    let (id, secret) = pair.split_once(':').ok_or("--basic must be ID:SECRET")?;
    Ok(Some(base64(
        format!("{}:{}", form_encode(id), form_encode(secret)).as_bytes(),
    )))
}

fn cpu_clock(args: &[String]) -> Result<CpuClock, String> {
    Ok(CpuClock {
        server_pid: parsed(args, "--server-pid", 0)?,
        clock_ticks: parsed(args, "--clock-ticks", 100.0)?,
        database: crate::flag(args, "--database").map(str::to_owned),
    })
}

fn seconds(args: &[String]) -> Result<Duration, String> {
    Ok(Duration::from_secs_f64(parsed(args, "--seconds", 10.0)?))
}

/// The same request over `--connections` keep-alive connections for `--seconds`.
pub(crate) async fn hammer(args: &[String]) -> Result<(), String> {
    let addr = address(args)?;
    let name = required(args, "--name")?;
    let path = required(args, "--path")?;
    let method = crate::flag(args, "--method").unwrap_or("POST");
    let basic = basic_credentials(args)?;
    let form = crate::flag(args, "--form");
    let expect: u16 = parsed(args, "--expect", 200)?;
    let expect_body: Arc<str> = crate::flag(args, "--expect-body").unwrap_or("").into();
    let connections: usize = parsed(args, "--connections", 32)?;
    let cpu = cpu_clock(args)?;
    let request: Arc<[u8]> = request(method, path, basic.as_deref(), &BTreeMap::new(), form).into();

    // One request first: a setup mistake shows as its answer, not as a phase of errors.
    let mut probe = Conn::new(addr);
    match probe.answer(&request).await {
        Ok(answer) if answer.status == expect && contains(&answer.body, &expect_body) => {}
        Ok(answer) => {
            return Err(format!(
                "{name}: the first request answered {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        Err(error) => return Err(format!("{name}: the first request failed: {error}")),
    }

    let started = cpu.sample(Instant::now());
    let deadline = Instant::now() + seconds(args)?;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let request = request.clone();
            let expect_body = expect_body.clone();
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut outcome = Outcome::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = conn.exchange(&request).await;
                    match outcome.record(sent, expect, answer) {
                        Some(body) if !contains(&body, &expect_body) => {
                            outcome.latencies_us.pop();
                            outcome.fail("unexpected body".to_owned());
                        }
                        Some(_) => {}
                        None if conn.stream.is_none() => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        None => {}
                    }
                }
                outcome
            })
        })
        .collect();
    let outcome = join(workers).await?;
    cpu.report(name, started, &outcome);
    Ok(())
}

fn contains(body: &[u8], needle: &str) -> bool {
    needle.is_empty() || body.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A string field of a JSON object body.
fn json_field(body: &[u8], field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value[field].as_str().map(str::to_owned)
}

/// Rotates refresh tokens: each connection takes one line of `--tokens-file` and keeps exchanging the newest
/// token of its chain; the newest tokens are written back, so the next run continues the chains.
pub(crate) async fn refresh(args: &[String]) -> Result<(), String> {
    let addr = address(args)?;
    let name = required(args, "--name")?.to_owned();
    let basic = basic_credentials(args)?.ok_or("--basic is required")?;
    let tokens_file = required(args, "--tokens-file")?;
    let tokens: Vec<String> = std::fs::read_to_string(tokens_file)
        .map_err(|error| format!("{tokens_file}: {error}"))?
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let connections: usize = parsed(args, "--connections", 32)?;
    if tokens.len() < connections {
        return Err(format!(
            "{tokens_file} holds {} refresh tokens; {connections} connections need as many",
            tokens.len()
        ));
    }
    let cpu = cpu_clock(args)?;
    let started = cpu.sample(Instant::now());
    let deadline = Instant::now() + seconds(args)?;
    let basic: Arc<str> = basic.into();
    let workers: Vec<_> = tokens
        .into_iter()
        .take(connections)
        .map(|token| {
            let basic = basic.clone();
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut outcome = Outcome::default();
                let mut token = token;
                while Instant::now() < deadline {
                    let form = format!(
                        "grant_type=refresh_token&refresh_token={}",
                        form_encode(&token)
                    );
                    let request = request(
                        "POST",
                        "/oauth/v2/token",
                        Some(&basic),
                        &BTreeMap::new(),
                        Some(&form),
                    );
                    let sent = Instant::now();
                    let answer = conn.exchange(&request).await;
                    match outcome.record(sent, 200, answer) {
                        Some(body) => match json_field(&body, "refresh_token") {
                            Some(next) => token = next,
                            None => {
                                outcome.latencies_us.pop();
                                outcome.fail("200 without refresh_token".to_owned());
                                break;
                            }
                        },
                        // A refused token ends its chain (a retry would be reuse, which revokes it).
                        None if conn.stream.is_some() => break,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                outcome.ids.push(token);
                outcome
            })
        })
        .collect();
    let outcome = join(workers).await?;
    cpu.report(&name, started, &outcome);
    std::fs::write(tokens_file, outcome.ids.join("\n") + "\n")
        .map_err(|error| format!("{tokens_file}: {error}"))?;
    Ok(())
}

/// What a login needs.
struct LoginSpec {
    addr: SocketAddr,
    client_id: String,
    basic: String,
    redirect_uri: String,
    login_name: String,
    password: String,
    scope: String,
}

/// The forms of a page: action and named inputs with their values.
fn forms(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')? + start;
        Some(unescape(&tag[start..end]))
    };
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<form") {
        rest = &rest[at..];
        let Some(tag_end) = rest.find('>') else { break };
        let action = attribute(&rest[..tag_end], "action").unwrap_or_default();
        let body_end = rest.find("</form>").unwrap_or(rest.len());
        let mut fields = Vec::new();
        let mut inner = &rest[tag_end..body_end];
        while let Some(input) = inner.find("<input") {
            inner = &inner[input..];
            let end = inner.find('>').unwrap_or(inner.len());
            if let Some(name) = attribute(&inner[..end], "name") {
                fields.push((name, attribute(&inner[..end], "value").unwrap_or_default()));
            }
            inner = &inner[end..];
        }
        out.push((action, fields));
        rest = &rest[body_end..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    out
}

/// One full password login of a browser without a session: the authorization request, the login name form,
/// the password form, the redirect back with a code, and the code exchanged at the token endpoint. The token
/// response's body on success.
async fn log_in(
    spec: &LoginSpec,
    conn: &mut Conn,
    worker: usize,
    n: u64,
) -> Result<Vec<u8>, String> {
    let login_name = spec.login_name.replace("{worker}", &worker.to_string());
    let mut cookies = BTreeMap::new();
    let state = format!("s{n}");
    let mut path = format!(
        "/oauth/v2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&nonce=n{n}",
        form_encode(&spec.client_id),
        form_encode(&spec.redirect_uri),
        form_encode(&spec.scope),
    );
    let mut post: Option<String> = None;
    let origin = format!("http://{}", spec.addr);
    for _ in 0..12 {
        let method = if post.is_some() { "POST" } else { "GET" };
        let bytes = request(method, &path, None, &cookies, post.as_deref());
        post = None;
        let answer = conn
            .answer(&bytes)
            .await
            .map_err(|error| format!("io {:?}", error.kind()))?;
        for (name, value) in answer.cookies {
            cookies.insert(name, value);
        }
        if (300..400).contains(&answer.status) {
            let location = answer.location.ok_or("redirect without location")?;
            if let Some(query) = location.strip_prefix(&spec.redirect_uri) {
                let code = query
                    .trim_start_matches('?')
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("code="))
                    .map(form_decode)
                    .ok_or_else(|| format!("callback without code: {location}"))?;
                let form = format!(
                    "grant_type=authorization_code&code={}&redirect_uri={}",
                    form_encode(&code),
                    form_encode(&spec.redirect_uri)
                );
                let bytes = request(
                    "POST",
                    "/oauth/v2/token",
                    Some(&spec.basic),
                    &BTreeMap::new(),
                    Some(&form),
                );
                let answer = conn
                    .answer(&bytes)
                    .await
                    .map_err(|error| format!("io {:?}", error.kind()))?;
                if answer.status != 200 {
                    return Err(format!("token {}", answer.status));
                }
                return Ok(answer.body);
            }
            path = location
                .strip_prefix(&origin)
                .map_or(location.clone(), str::to_owned);
            if !path.starts_with('/') {
                return Err(format!("redirect to {location}"));
            }
            continue;
        }
        if answer.status != 200 {
            return Err(format!(
                "{} at {}",
                answer.status,
                path.split('?').next().unwrap_or("")
            ));
        }
        let html = String::from_utf8_lossy(&answer.body);
        let found = forms(&html);
        let fill = |field: &str, value: &str| {
            found.iter().find_map(|(action, fields)| {
                fields.iter().any(|(name, _)| name == field).then(|| {
                    let body: Vec<String> = fields
                        .iter()
                        .map(|(name, v)| {
                            let v = if name == field { value } else { v.as_str() };
                            format!("{}={}", form_encode(name), form_encode(v))
                        })
                        .collect();
                    (action.clone(), body.join("&"))
                })
            })
        };
        let (action, body) = fill("password", &spec.password)
            .or_else(|| fill("login_name", &login_name))
            .ok_or_else(|| format!("no login form at {}", path.split('?').next().unwrap_or("")))?;
        path = if action.starts_with('/') {
            action
        } else {
            format!("/login/{action}")
        };
        post = Some(body);
    }
    Err("the login did not finish".to_owned())
}

/// Full password logins at `--connections`, each from a browser without a session, for `--seconds`; with
/// `--count N`, N logins and their refresh tokens printed one per line instead of figures. `{worker}` in
/// `--login-name` stands for the connection's number (0 with `--count`), so each browser may log in as its
/// own user.
pub(crate) async fn login(args: &[String]) -> Result<(), String> {
    let addr = address(args)?;
    let name = required(args, "--name")?.to_owned();
    let client_id = required(args, "--client-id")?.to_owned();
    let secret = required(args, "--client-secret")?;
    let spec = Arc::new(LoginSpec {
        addr,
        basic: base64(format!("{}:{}", form_encode(&client_id), form_encode(secret)).as_bytes()),
        client_id,
        redirect_uri: required(args, "--redirect-uri")?.to_owned(),
        login_name: required(args, "--login-name")?.to_owned(),
        password: required(args, "--password")?.to_owned(),
        scope: crate::flag(args, "--scope").unwrap_or("openid").to_owned(),
    });
    let connections: usize = parsed(args, "--connections", 8)?;
    if let Some(count) = crate::flag(args, "--count") {
        let count: u64 = count
            .parse()
            .map_err(|_| format!("--count: `{count}` is not a number"))?;
        let mut conn = Conn::new(addr);
        for n in 0..count {
            let body = log_in(&spec, &mut conn, 0, n).await?;
            let field = crate::flag(args, "--print").unwrap_or("refresh_token");
            println!(
                "{}",
                json_field(&body, field)
                    .ok_or_else(|| format!("the token response has no {field}"))?
            );
        }
        return Ok(());
    }
    // One login first: a setup mistake shows as its error, not as a phase of errors.
    log_in(&spec, &mut Conn::new(addr), 0, 0)
        .await
        .map_err(|error| format!("{name}: the first login failed: {error}"))?;
    let cpu = cpu_clock(args)?;
    let started = cpu.sample(Instant::now());
    let deadline = Instant::now() + seconds(args)?;
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let spec = spec.clone();
            tokio::spawn(async move {
                let mut conn = Conn::new(spec.addr);
                let mut outcome = Outcome::default();
                let mut n = (worker as u64) << 32;
                while Instant::now() < deadline {
                    n += 1;
                    let sent = Instant::now();
                    outcome.started.get_or_insert(sent);
                    let result = log_in(&spec, &mut conn, worker, n).await;
                    let now = Instant::now();
                    outcome.finished = Some(now);
                    match result {
                        Ok(body) if json_field(&body, "access_token").is_some() => outcome
                            .latencies_us
                            .push(now.duration_since(sent).as_micros() as u64),
                        Ok(_) => outcome.fail("token response without access_token".to_owned()),
                        Err(error) => {
                            outcome.fail(error);
                            if conn.stream.is_none() {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    let outcome = join(workers).await?;
    cpu.report(&name, started, &outcome);
    Ok(())
}

/// Argon2id hashes with the server's own hasher (same parameters, at most as many at once as the machine has
/// cores, as the server runs them), `--connections` callers keeping it busy for `--seconds`. The CPU time is
/// this process's.
pub(crate) async fn hash(args: &[String]) -> Result<(), String> {
    let name = required(args, "--name")?.to_owned();
    let connections: usize = parsed(args, "--connections", 8)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let hasher = PasswordHasher::new(cores);
    let cpu = CpuClock {
        server_pid: std::process::id(),
        clock_ticks: parsed(args, "--clock-ticks", 100.0)?,
        database: None,
    };
    let started = cpu.sample(Instant::now());
    let deadline = Instant::now() + seconds(args)?;
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    outcome.started.get_or_insert(sent);
                    let result = hasher
                        .hash(SecretString::new(format!("Correct-horse-{worker}")))
                        .await;
                    let now = Instant::now();
                    outcome.finished = Some(now);
                    match result {
                        Ok(_) => outcome
                            .latencies_us
                            .push(now.duration_since(sent).as_micros() as u64),
                        Err(error) => outcome.fail(error.to_string()),
                    }
                }
                outcome
            })
        })
        .collect();
    let outcome = join(workers).await?;
    cpu.report(&name, started, &outcome);
    Ok(())
}
