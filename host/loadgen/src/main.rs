//! `warden-loadgen`: drives a running Warden server over HTTP/1.1 keep-alive connections and prints what it
//! measured as `key=value` lines, for `scripts/bench-server` to put beside its baselines.
//!
//! ```text
//! warden-loadgen wait-ready --addr 127.0.0.1:8080 --started-ns <unix ns when the server was spawned>
//! warden-loadgen run --addr 127.0.0.1:8080 --token-file warden-data/admin.pat --server-pid <pid> [--seconds 10]
//!                    [--database <PostgreSQL database name>]
//! warden-loadgen hammer|refresh|login|hash …   # the OpenID Connect load of scripts/bench-oidc, see `oidc`
//! ```
//!
//! `run` creates an organization, then machine users with unique login names at 32 connections and at 1, then
//! reads the created users by id at 32 connections, first alone (`read_c32`), then while 4 more connections
//! keep creating users (`read_c32_with_writes` for the reads, `create_c4_with_reads` for the creates). A request
//! counts as a sample only when it succeeded (201 for creates, 200 for reads); anything else — another status,
//! a broken connection — is a failure and never a latency sample. The client is deliberately minimal (one
//! thread, a hand-written HTTP/1.1 exchange, no pipelining) so that its own CPU time, printed beside the
//! server's, stays a small part of the machine. With `--database` the CPU time of the PostgreSQL backends
//! serving that database (the local processes titled with its name) is printed per request too.

// A command-line tool whose output is its product.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod oidc;

use std::{
    collections::BTreeMap,
    io,
    net::SocketAddr,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Connections of the concurrent phases.
const WIDE: usize = 32;
/// Connections that keep creating users while the reads run.
const BACKGROUND_WRITERS: usize = 4;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warden-loadgen: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.first().map(String::as_str) {
        Some("wait-ready") => runtime.block_on(wait_ready(&args[1..])),
        Some("run") => runtime.block_on(run(&args[1..])),
        Some("hammer") => runtime.block_on(oidc::hammer(&args[1..])),
        Some("refresh") => runtime.block_on(oidc::refresh(&args[1..])),
        Some("login") => runtime.block_on(oidc::login(&args[1..])),
        Some("hash") => runtime.block_on(oidc::hash(&args[1..])),
        _ => Err(
            "usage: warden-loadgen wait-ready|run|hammer|refresh|login|hash --addr HOST:PORT …"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("warden-loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The value of `--name` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

fn required<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    flag(args, name).ok_or_else(|| format!("{name} is required"))
}

fn parsed<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match flag(args, name) {
        None => Ok(default),
        Some(value) => value
            .parse()
            .map_err(|_| format!("{name}: `{value}` is not a valid value")),
    }
}

fn address(args: &[String]) -> Result<SocketAddr, String> {
    let addr = required(args, "--addr")?;
    addr.parse()
        .map_err(|_| format!("--addr: `{addr}` is not HOST:PORT"))
}

/// Polls `/readyz` every millisecond and prints the milliseconds since `--started-ns`.
async fn wait_ready(args: &[String]) -> Result<(), String> {
    let addr = address(args)?;
    let started_ns: u128 = parsed(args, "--started-ns", 0)?;
    let timeout = Duration::from_secs(parsed(args, "--timeout-seconds", 60)?);
    let deadline = Instant::now() + timeout;
    let request = request_bytes("GET", "/readyz", None, None);
    loop {
        let mut conn = Conn::new(addr);
        if let Ok((200, _)) = conn.exchange(&request).await {
            let now_ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|error| error.to_string())?
                .as_nanos();
            let ready_ms = now_ns.saturating_sub(started_ns) as f64 / 1e6;
            println!("ready_ms={ready_ms:.1}");
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{addr} not ready after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let addr = address(args)?;
    let token_file = required(args, "--token-file")?;
    let token = std::fs::read_to_string(token_file)
        .map_err(|error| format!("{token_file}: {error}"))?
        .trim()
        .to_owned();
    let server_pid: u32 = parsed(args, "--server-pid", 0)?;
    let seconds = Duration::from_secs_f64(parsed(args, "--seconds", 10.0)?);
    let clock_ticks: f64 = parsed(args, "--clock-ticks", 100.0)?;
    let database = flag(args, "--database").map(str::to_owned);
    let token: Arc<str> = token.into();

    let mut conn = Conn::new(addr);
    let org_request = request_bytes(
        "POST",
        "/api/v1/orgs",
        Some(&token),
        Some(r#"{"name":"Load"}"#),
    );
    let org = match conn.exchange(&org_request).await {
        Ok((201, body)) => id_of(&body).ok_or("the created organization has no id")?,
        Ok((status, body)) => {
            return Err(format!(
                "creating the organization: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Err(error) => return Err(format!("creating the organization: {error}")),
    };
    let org: Arc<str> = org.into();
    let cpu = CpuClock {
        server_pid,
        clock_ticks,
        database,
    };
    let run_tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| error.to_string())?
        .as_millis();

    let mut ids = Vec::new();
    for (name, connections) in [("create_c32", WIDE), ("create_c1", 1)] {
        let started = cpu.sample(Instant::now());
        let deadline = Instant::now() + seconds;
        let workers: Vec<_> = (0..connections)
            .map(|worker| {
                let tag = format!("lg{run_tag}-{name}-{worker}");
                tokio::spawn(create_loop(addr, token.clone(), org.clone(), tag, deadline))
            })
            .collect();
        let outcome = join(workers).await?;
        cpu.report(name, started, &outcome);
        ids.extend(outcome.ids.iter().cloned());
    }
    if ids.is_empty() {
        return Err("no user was created, so there is nothing to read".to_owned());
    }

    let ids: Arc<[String]> = ids.into();
    let readers = |deadline: Instant| -> Vec<_> {
        (0..WIDE)
            .map(|worker| {
                tokio::spawn(read_loop(
                    addr,
                    token.clone(),
                    ids.clone(),
                    worker,
                    deadline,
                ))
            })
            .collect()
    };

    let started = cpu.sample(Instant::now());
    let reads = join(readers(Instant::now() + seconds)).await?;
    cpu.report("read_c32", started, &reads);

    let started = cpu.sample(Instant::now());
    let deadline = Instant::now() + seconds;
    let writers: Vec<_> = (0..BACKGROUND_WRITERS)
        .map(|worker| {
            let tag = format!("lg{run_tag}-background-{worker}");
            tokio::spawn(create_loop(addr, token.clone(), org.clone(), tag, deadline))
        })
        .collect();
    let reads = join(readers(deadline)).await?;
    let writes = join(writers).await?;
    cpu.report("read_c32_with_writes", started, &reads);
    print_outcome("create_c4_with_reads", &writes);
    Ok(())
}

/// Creates machine users with login names `{tag}-{n}` until `deadline`.
async fn create_loop(
    addr: SocketAddr,
    token: Arc<str>,
    org: Arc<str>,
    tag: String,
    deadline: Instant,
) -> Outcome {
    let mut conn = Conn::new(addr);
    let mut outcome = Outcome::default();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let body = format!(r#"{{"org_id":"{org}","login_name":"{tag}-{n}","name":"Load {n}"}}"#);
        n += 1;
        let request = request_bytes("POST", "/api/v1/users/machine", Some(&token), Some(&body));
        let sent = Instant::now();
        let answer = conn.exchange(&request).await;
        if let Some(body) = outcome.record(sent, 201, answer) {
            match id_of(&body) {
                Some(id) => outcome.ids.push(id),
                None => outcome.fail("201 without id".to_owned()),
            }
        } else if conn.stream.is_none() {
            // A refused connection fails at once; do not spin on it.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    outcome
}

/// Reads users by id, in a different order on every connection, until `deadline`.
async fn read_loop(
    addr: SocketAddr,
    token: Arc<str>,
    ids: Arc<[String]>,
    worker: usize,
    deadline: Instant,
) -> Outcome {
    let mut conn = Conn::new(addr);
    let mut outcome = Outcome::default();
    // xorshift: cheap, and spreads the reads over all ids.
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (worker as u64 + 1);
    while Instant::now() < deadline {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let id = &ids[(state % ids.len() as u64) as usize];
        let request = request_bytes("GET", &format!("/api/v1/users/{id}"), Some(&token), None);
        let sent = Instant::now();
        let answer = conn.exchange(&request).await;
        if outcome.record(sent, 200, answer).is_none() && conn.stream.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    outcome
}

async fn join(workers: Vec<tokio::task::JoinHandle<Outcome>>) -> Result<Outcome, String> {
    let mut total = Outcome::default();
    for worker in workers {
        let outcome = worker.await.map_err(|error| error.to_string())?;
        total.latencies_us.extend(outcome.latencies_us);
        total.ids.extend(outcome.ids);
        for (kind, count) in outcome.failures {
            *total.failures.entry(kind).or_default() += count;
        }
        total.started = match (total.started, outcome.started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        total.finished = total.finished.max(outcome.finished);
    }
    Ok(total)
}

/// What the connections of one phase saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Latency of every successful request.
    latencies_us: Vec<u64>,
    /// Failed requests by kind (status code or connection error).
    failures: BTreeMap<String, u64>,
    /// Ids from the bodies of successful creates.
    ids: Vec<String>,
    /// When the first request was sent.
    started: Option<Instant>,
    /// When the last answer arrived.
    finished: Option<Instant>,
}

impl Outcome {
    /// Counts one answer; the body when it had the expected status.
    fn record(
        &mut self,
        sent: Instant,
        expected: u16,
        answer: io::Result<(u16, Vec<u8>)>,
    ) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.started.get_or_insert(sent);
        self.finished = Some(now);
        match answer {
            Ok((status, body)) if status == expected => {
                self.latencies_us
                    .push(now.duration_since(sent).as_micros() as u64);
                Some(body)
            }
            Ok((status, body)) => {
                let code = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|body| body["code"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.fail(format!("{status} {code}").trim().to_owned());
                None
            }
            Err(error) => {
                self.fail(format!("io {:?}", error.kind()));
                None
            }
        }
    }

    fn fail(&mut self, kind: String) {
        *self.failures.entry(kind).or_default() += 1;
    }

    fn wall(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(started), Some(finished)) => finished.duration_since(started),
            _ => Duration::ZERO,
        }
    }
}

fn print_outcome(name: &str, outcome: &Outcome) {
    let mut latencies = outcome.latencies_us.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let at = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[at] as f64 / 1000.0
    };
    let wall = outcome.wall().as_secs_f64();
    let rate = if wall > 0.0 {
        latencies.len() as f64 / wall
    } else {
        0.0
    };
    let errors: u64 = outcome.failures.values().sum();
    println!("{name}.ok={}", latencies.len());
    println!("{name}.rate={rate:.0}");
    println!("{name}.p50_ms={:.2}", percentile(0.50));
    println!("{name}.p99_ms={:.2}", percentile(0.99));
    println!("{name}.errors={errors}");
    let kinds: Vec<String> = outcome
        .failures
        .iter()
        .map(|(kind, count)| format!("{kind}:{count}"))
        .collect();
    println!("{name}.error_kinds={}", kinds.join(","));
}

/// CPU time of the server, of the database's backends and of this process, to show which of them the machine
/// spent its time on.
#[derive(Debug, Clone)]
struct CpuClock {
    server_pid: u32,
    clock_ticks: f64,
    /// The PostgreSQL database whose backends' CPU time is counted.
    database: Option<String>,
}

#[derive(Debug, Clone)]
struct CpuSample {
    at: Instant,
    server_s: f64,
    own_s: f64,
    /// CPU time of each backend of the database, by process id.
    database_s: BTreeMap<u32, f64>,
}

impl CpuClock {
    fn sample(&self, at: Instant) -> CpuSample {
        CpuSample {
            at,
            server_s: self.seconds(&format!("/proc/{}/stat", self.server_pid)),
            own_s: self.seconds("/proc/self/stat"),
            database_s: self.database_seconds(),
        }
    }

    /// utime + stime of a process from its `/proc/…/stat`; 0 when unreadable.
    fn seconds(&self, path: &str) -> f64 {
        let Ok(stat) = std::fs::read_to_string(path) else {
            return 0.0;
        };
        // Fields after the command name, which is parenthesised and may contain spaces.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0.0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat; `rest` starts at field 3.
        let ticks = |at: usize| fields.get(at).and_then(|f| f.parse::<f64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(user), Some(system)) => (user + system) / self.clock_ticks,
            _ => 0.0,
        }
    }

    /// CPU time of every local PostgreSQL backend serving the database: a backend's process title is
    /// `postgres: <cluster>: <user> <database> <client> <state>`.
    fn database_seconds(&self) -> BTreeMap<u32, f64> {
        let mut backends = BTreeMap::new();
        let Some(database) = &self.database else {
            return backends;
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return backends;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(title) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let title = String::from_utf8_lossy(&title);
            if title.starts_with("postgres: ") && title.split_whitespace().any(|w| w == database) {
                backends.insert(pid, self.seconds(&format!("/proc/{pid}/stat")));
            }
        }
        backends
    }

    fn report(&self, name: &str, started: CpuSample, outcome: &Outcome) {
        let ended = self.sample(Instant::now());
        let wall = ended.at.duration_since(started.at).as_secs_f64().max(1e-9);
        print_outcome(name, outcome);
        println!(
            "{name}.server_cores={:.2}",
            (ended.server_s - started.server_s) / wall
        );
        println!(
            "{name}.loadgen_cores={:.2}",
            (ended.own_s - started.own_s) / wall
        );
        // CPU time per successful request: unlike rates, barely moved by what else the machine runs.
        let ok = outcome.latencies_us.len().max(1) as f64;
        println!(
            "{name}.server_cpu_us={:.0}",
            (ended.server_s - started.server_s) * 1e6 / ok
        );
        if self.database.is_some() {
            // Backends that ended during the phase are not counted; backends started during it count whole.
            let database_s: f64 = ended
                .database_s
                .iter()
                .map(|(pid, s)| s - started.database_s.get(pid).copied().unwrap_or(0.0))
                .sum();
            println!("{name}.database_cores={:.2}", database_s / wall);
            println!("{name}.database_cpu_us={:.0}", database_s * 1e6 / ok);
        }
    }
}

/// The `"id"` of a JSON object body.
fn id_of(body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    body["id"].as_str().map(str::to_owned)
}

fn request_bytes(method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Vec<u8> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: warden\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        request.push_str("\r\n");
    }
    request.into_bytes()
}

/// One keep-alive HTTP/1.1 connection, opened on first use and again after an error.
#[derive(Debug)]
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Sends one request and reads its answer: status and body. A failed exchange drops the connection.
    async fn exchange(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.answer(request)
            .await
            .map(|answer| (answer.status, answer.body))
    }

    /// Sends one request and reads its whole answer. A failed exchange drops the connection.
    async fn answer(&mut self, request: &[u8]) -> io::Result<Answer> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let answer = self.exchange_on_open(request).await;
        if !matches!(answer, Ok((_, true))) {
            self.stream = None;
        }
        answer.map(|(answer, _)| answer)
    }

    /// Reads from the stream until `buf` holds more than `len` bytes.
    async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
        while buf.len() <= len {
            if stream.read_buf(buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// The answer and whether the connection stays open.
    async fn exchange_on_open(&mut self, request: &[u8]) -> io::Result<(Answer, bool)> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| invalid("head"))?
            .to_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .ok_or_else(|| invalid("status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut keep_alive = true;
        let mut location = None;
        let mut cookies = Vec::new();
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                keep_alive = false;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
                if !chunked {
                    return Err(invalid("unsupported transfer-encoding"));
                }
            } else if name.eq_ignore_ascii_case("location") {
                location = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("set-cookie")
                && let Some((pair, _)) = value.split_once(';').or(Some((value, "")))
                && let Some((cookie, cookie_value)) = pair.split_once('=')
            {
                cookies.push((cookie.trim().to_owned(), cookie_value.trim().to_owned()));
            }
        }
        let body = if chunked {
            // Chunks: hex size, CRLF, data, CRLF; a zero-size chunk ends the body.
            let mut body = Vec::new();
            let mut at = head_end;
            loop {
                let line_end = loop {
                    if let Some(end) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                        break at + end;
                    }
                    let len = self.buf.len();
                    Self::fill(stream, &mut self.buf, len).await?;
                };
                let size_text = std::str::from_utf8(&self.buf[at..line_end])
                    .map_err(|_| invalid("chunk size"))?;
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| invalid("chunk size"))?;
                let data = line_end + 2;
                Self::fill(stream, &mut self.buf, data + size + 1).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&self.buf[data..data + size]);
                at = data + size + 2;
            }
            body
        } else {
            let length = length.unwrap_or(0);
            if head_end + length > 0 {
                Self::fill(stream, &mut self.buf, head_end + length - 1).await?;
            }
            self.buf[head_end..head_end + length].to_vec()
        };
        Ok((
            Answer {
                status,
                body,
                location,
                cookies,
            },
            keep_alive,
        ))
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The `Location` header.
    pub(crate) location: Option<String>,
    /// The `Set-Cookie` headers as name and value.
    pub(crate) cookies: Vec<(String, String)>,
}
