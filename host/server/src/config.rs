//! Configuration: defaults, then a TOML file, then `WARDEN_*` environment variables, then flags.
//!
//! Every layer is checked: an unknown key in the file, an unknown `WARDEN_*` variable or a bad value stops
//! the process with a message that names the key and says what is wrong.

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use warden_eventstore::Synchronous;

/// Environment variables under this prefix are reserved for the test suite and ignored here.
const TEST_PREFIX: &str = "WARDEN_TEST_";

/// The resolved configuration of a Warden process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory for the embedded database and generated files (created if missing).
    pub data_dir: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The database.
    pub database: DatabaseConfig,
    /// Logging.
    pub log: LogConfig,
    /// `GET /metrics`.
    pub metrics: MetricsConfig,
    /// The URL clients reach Warden at, without a trailing slash: the OpenID Connect issuer, from which every
    /// URL in discovery derives (`external_url`, `WARDEN_EXTERNAL_URL`). `None`: `http://<bound address>`.
    pub external_url: Option<String>,
    /// The key sealing signing keys at rest (`master_key`, `WARDEN_MASTER_KEY`: 64 hex digits). `None`: the
    /// key in `<data_dir>/master.key`, generated at first start.
    pub master_key: Option<MasterKeySetting>,
    /// The SMTP server notifications are mailed through (`[smtp]`, `WARDEN_SMTP_*`); `None` writes them to
    /// the log and to `<data_dir>/mail`.
    pub smtp: Option<warden_notify::SmtpConfig>,
}

/// A configured master key (validated); never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKeySetting(String);

impl MasterKeySetting {
    /// The key as configured.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MasterKeySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKeySetting(…)")
    }
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`; otherwise anyone.
    pub token: Option<MetricsToken>,
}

/// The bearer token `/metrics` requires; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// The token.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

/// Which database Warden keeps its eventstore and views in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`; `None` means SQLite in the data directory.
    pub url: Option<String>,
    /// Most connections in the pool.
    pub max_connections: u32,
    /// SQLite: whether a write is on disk before it is answered (`full`) or only safe from a crash of the
    /// process (`normal`).
    pub sqlite_synchronous: Synchronous,
}

/// How Warden logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Human-readable lines or one JSON object per line.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `warden=debug,sqlx=warn`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("warden-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: DatabaseConfig {
                url: None,
                max_connections: 20,
                sqlite_synchronous: Synchronous::Full,
            },
            log: LogConfig {
                format: LogFormat::Human,
                level: "info".into(),
            },
            metrics: MetricsConfig::default(),
            external_url: None,
            master_key: None,
            smtp: None,
        }
    }
}

impl Config {
    /// The database URL in effect: the configured one, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("warden.db").display()),
        }
    }

    /// Whether the database is SQLite (embedded, one process at a time), wherever its file lives.
    pub fn uses_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// The OpenID Connect issuer: the external URL, or without one `http://<bound>`, the address the server's
    /// listener actually bound (with `--listen 127.0.0.1:0` the port is only known then).
    pub fn issuer(&self, bound: SocketAddr) -> String {
        self.external_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Whether the database lives in the data directory.
    pub fn uses_embedded_database(&self) -> bool {
        self.database.url.is_none()
    }
}

/// A configuration error, naming the key and the source it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown keys or wrong types.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value is invalid.
    #[error("{source_name} `{key}`: {message}")]
    Invalid {
        /// Where the value came from (config file, environment variable, flag).
        source_name: &'static str,
        /// The key, variable or flag.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The config file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    database: Option<FileDatabase>,
    log: Option<FileLog>,
    metrics: Option<FileMetrics>,
    external_url: Option<String>,
    master_key: Option<String>,
    smtp: Option<FileSmtp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSmtp {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    from: Option<String>,
    tls: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    max_connections: Option<u32>,
    sqlite_synchronous: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

/// Values given as command-line flags (the last layer).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

/// Loads the configuration from all layers: defaults, `file` (if any), `env`, `flags`.
pub fn load(
    file: Option<&Path>,
    env: &BTreeMap<String, String>,
    flags: &Flags,
) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    if let Some(path) = file {
        apply_file(&mut config, path)?;
    }
    apply_env(&mut config, env)?;
    check_smtp(&config)?;
    if let Some(dir) = &flags.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = &flags.listen {
        config.listen = parse_listen(listen, "flag", "--listen")?;
    }
    if let Some(url) = &flags.database_url {
        config.database.url = Some(check_database_url(url, "flag", "--database-url")?);
    }
    if let Some(format) = flags.log_format {
        config.log.format = format;
    }
    Ok(config)
}

fn apply_file(config: &mut Config, path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        message: e.message().to_owned()
            + &e.span()
                .map(|span| format!(" (at byte {})", span.start))
                .unwrap_or_default(),
    })?;
    const SRC: &str = "config file key";
    if let Some(dir) = file.data_dir {
        config.data_dir = dir;
    }
    if let Some(listen) = file.listen {
        config.listen = parse_listen(&listen, SRC, "listen")?;
    }
    if let Some(db) = file.database {
        if let Some(url) = db.url {
            config.database.url = Some(check_database_url(&url, SRC, "database.url")?);
        }
        if let Some(n) = db.max_connections {
            config.database.max_connections =
                check_connections(n, SRC, "database.max_connections")?;
        }
        if let Some(value) = db.sqlite_synchronous {
            config.database.sqlite_synchronous =
                parse_synchronous(&value, SRC, "database.sqlite_synchronous")?;
        }
    }
    if let Some(log) = file.log {
        if let Some(format) = log.format {
            config.log.format = format;
        }
        if let Some(level) = log.level {
            config.log.level = check_level(&level, SRC, "log.level")?;
        }
    }
    if let Some(url) = file.external_url {
        config.external_url = Some(check_external_url(&url, SRC, "external_url")?);
    }
    if let Some(key) = file.master_key {
        config.master_key = Some(check_master_key(&key, SRC, "master_key")?);
    }
    if let Some(token) = file.metrics.and_then(|m| m.token) {
        config.metrics.token = Some(check_metrics_token(&token, SRC, "metrics.token")?);
    }
    if let Some(smtp) = file.smtp {
        if let Some(host) = smtp.host {
            smtp_mut(config).host = check_smtp_text(&host, SRC, "smtp.host")?;
        }
        if let Some(port) = smtp.port {
            smtp_mut(config).port = Some(check_smtp_port(port, SRC, "smtp.port")?);
        }
        if let Some(user) = smtp.user {
            smtp_mut(config).user = Some(check_smtp_text(&user, SRC, "smtp.user")?);
        }
        if let Some(password) = smtp.password {
            smtp_mut(config).password = Some(warden_notify::SmtpPassword::new(password));
        }
        if let Some(from) = smtp.from {
            smtp_mut(config).from = check_smtp_text(&from, SRC, "smtp.from")?;
        }
        if let Some(tls) = smtp.tls {
            smtp_mut(config).tls = tls.parse().map_err(|e| invalid(SRC, "smtp.tls", e))?;
        }
    }
    Ok(())
}

/// The SMTP settings being assembled from the layers.
fn smtp_mut(config: &mut Config) -> &mut warden_notify::SmtpConfig {
    config
        .smtp
        .get_or_insert_with(|| warden_notify::SmtpConfig {
            host: String::new(),
            port: None,
            user: None,
            password: None,
            from: String::new(),
            tls: warden_notify::TlsMode::default(),
        })
}

fn check_smtp_text(value: &str, src: &'static str, key: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 320 || value.chars().any(char::is_control) {
        return Err(invalid(
            src,
            key,
            "must be 1 to 320 characters without control characters",
        ));
    }
    Ok(value.to_owned())
}

fn check_smtp_port(port: u16, src: &'static str, key: &str) -> Result<u16, ConfigError> {
    if port == 0 {
        return Err(invalid(src, key, "must be a port between 1 and 65535"));
    }
    Ok(port)
}

/// Once every layer is applied: SMTP settings need a host and a sender, and a password needs a user.
fn check_smtp(config: &Config) -> Result<(), ConfigError> {
    const SRC: &str = "setting";
    let Some(smtp) = &config.smtp else {
        return Ok(());
    };
    if smtp.host.is_empty() {
        return Err(invalid(
            SRC,
            "smtp.host (WARDEN_SMTP_HOST)",
            "is required when any other SMTP setting is given",
        ));
    }
    if smtp.from.is_empty() {
        return Err(invalid(
            SRC,
            "smtp.from (WARDEN_SMTP_FROM)",
            "is required with an SMTP server: the sender address, e.g. `Warden <noreply@example.com>`",
        ));
    }
    if smtp.password.is_some() && smtp.user.is_none() {
        return Err(invalid(
            SRC,
            "smtp.user (WARDEN_SMTP_USER)",
            "is required when a password is set",
        ));
    }
    // The transport checks the sender and host the same way at start; fail here with the key named.
    warden_notify::Mailer::new(Some(smtp), Path::new(".")).map_err(|e| invalid(SRC, "smtp", e))?;
    Ok(())
}

fn apply_env(config: &mut Config, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    const SRC: &str = "environment variable";
    for (key, value) in env {
        if !key.starts_with("WARDEN_") || key.starts_with(TEST_PREFIX) {
            continue;
        }
        match key.as_str() {
            "WARDEN_CONFIG" => {} // read by the command line, which names the file
            "WARDEN_DATA_DIR" => config.data_dir = PathBuf::from(value),
            "WARDEN_LISTEN" => config.listen = parse_listen(value, SRC, key)?,
            "WARDEN_DATABASE_URL" => {
                config.database.url = Some(check_database_url(value, SRC, key)?)
            }
            "WARDEN_DATABASE_MAX_CONNECTIONS" => {
                let n = value
                    .parse()
                    .map_err(|_| invalid(SRC, key, "must be a whole number"))?;
                config.database.max_connections = check_connections(n, SRC, key)?;
            }
            "WARDEN_DATABASE_SQLITE_SYNCHRONOUS" => {
                config.database.sqlite_synchronous = parse_synchronous(value, SRC, key)?
            }
            "WARDEN_LOG_FORMAT" => {
                config.log.format = match value.as_str() {
                    "human" => LogFormat::Human,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid(SRC, key, "must be `human` or `json`")),
                }
            }
            "WARDEN_LOG_LEVEL" => config.log.level = check_level(value, SRC, key)?,
            "WARDEN_EXTERNAL_URL" => {
                config.external_url = Some(check_external_url(value, SRC, key)?)
            }
            "WARDEN_MASTER_KEY" => config.master_key = Some(check_master_key(value, SRC, key)?),
            "WARDEN_METRICS_TOKEN" => {
                config.metrics.token = Some(check_metrics_token(value, SRC, key)?)
            }
            "WARDEN_SMTP_HOST" => smtp_mut(config).host = check_smtp_text(value, SRC, key)?,
            "WARDEN_SMTP_PORT" => {
                let port = value
                    .parse()
                    .map_err(|_| invalid(SRC, key, "must be a port between 1 and 65535"))?;
                smtp_mut(config).port = Some(check_smtp_port(port, SRC, key)?);
            }
            "WARDEN_SMTP_USER" => smtp_mut(config).user = Some(check_smtp_text(value, SRC, key)?),
            "WARDEN_SMTP_PASSWORD" => {
                smtp_mut(config).password = Some(warden_notify::SmtpPassword::new(value.clone()))
            }
            "WARDEN_SMTP_FROM" => smtp_mut(config).from = check_smtp_text(value, SRC, key)?,
            "WARDEN_SMTP_TLS" => {
                smtp_mut(config).tls = value.parse().map_err(|e| invalid(SRC, key, e))?
            }
            _ => {
                return Err(invalid(
                    SRC,
                    key,
                    "is not a Warden setting (known: WARDEN_CONFIG, WARDEN_EXTERNAL_URL, WARDEN_MASTER_KEY, WARDEN_DATA_DIR, WARDEN_LISTEN, \
                     WARDEN_DATABASE_URL, WARDEN_DATABASE_MAX_CONNECTIONS, WARDEN_DATABASE_SQLITE_SYNCHRONOUS, WARDEN_LOG_FORMAT, WARDEN_LOG_LEVEL, \
                     WARDEN_METRICS_TOKEN, WARDEN_SMTP_HOST, WARDEN_SMTP_PORT, WARDEN_SMTP_USER, \
                     WARDEN_SMTP_PASSWORD, WARDEN_SMTP_FROM, WARDEN_SMTP_TLS)",
                ));
            }
        }
    }
    Ok(())
}

fn invalid(source_name: &'static str, key: &str, message: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        source_name,
        key: key.to_owned(),
        message: message.to_string(),
    }
}

fn parse_listen(value: &str, src: &'static str, key: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            src,
            key,
            format!("`{value}` is not an address like 127.0.0.1:8080"),
        )
    })
}

fn check_database_url(url: &str, src: &'static str, key: &str) -> Result<String, ConfigError> {
    let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let sqlite_ok = url
        .strip_prefix("sqlite://")
        .is_some_and(|path| !path.is_empty());
    if scheme_ok || sqlite_ok {
        Ok(url.to_owned())
    } else {
        Err(invalid(
            src,
            key,
            format!(
                "`{}` is not a database URL: use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
                warden_eventstore::redact(url)
            ),
        ))
    }
}

fn parse_synchronous(
    value: &str,
    src: &'static str,
    key: &str,
) -> Result<Synchronous, ConfigError> {
    match value {
        "full" => Ok(Synchronous::Full),
        "normal" => Ok(Synchronous::Normal),
        _ => Err(invalid(src, key, "must be `full` or `normal`")),
    }
}

fn check_connections(n: u32, src: &'static str, key: &str) -> Result<u32, ConfigError> {
    if (1..=1000).contains(&n) {
        Ok(n)
    } else {
        Err(invalid(src, key, "must be between 1 and 1000"))
    }
}

/// Shortest metrics token accepted: a guessable one would protect nothing.
const METRICS_TOKEN_MIN: usize = 16;
/// Longest metrics token accepted.
const METRICS_TOKEN_MAX: usize = 256;

fn check_metrics_token(
    token: &str,
    src: &'static str,
    key: &str,
) -> Result<MetricsToken, ConfigError> {
    let visible = token.bytes().all(|b| b.is_ascii_graphic());
    if visible && (METRICS_TOKEN_MIN..=METRICS_TOKEN_MAX).contains(&token.len()) {
        Ok(MetricsToken(token.to_owned()))
    } else {
        // The value is a secret: the message does not repeat it.
        Err(invalid(
            src,
            key,
            format!(
                "must be {METRICS_TOKEN_MIN} to {METRICS_TOKEN_MAX} visible ASCII characters (no spaces)"
            ),
        ))
    }
}

/// An absolute `http`/`https` URL without query or fragment; the trailing slash is dropped.
fn check_external_url(value: &str, src: &'static str, key: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    let ok = rest.is_some_and(|rest| {
        let host = rest.split('/').next().unwrap_or_default();
        !host.is_empty()
            && !host.contains('@')
            && !rest.contains(['?', '#'])
            && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(invalid(
            src,
            key,
            format!(
                "`{value}` is not a URL like https://id.example.com (http or https, a host, no query or fragment)"
            ),
        ))
    }
}

fn check_master_key(
    value: &str,
    src: &'static str,
    key: &str,
) -> Result<MasterKeySetting, ConfigError> {
    match warden_oidc::MasterKey::parse(value) {
        Ok(_) => Ok(MasterKeySetting(value.trim().to_owned())),
        // The value is a secret: the message does not repeat it.
        Err(_) => Err(invalid(
            src,
            key,
            "must be 32 bytes written as 64 hex digits (e.g. the output of `openssl rand -hex 32`)",
        )),
    }
}

fn check_level(level: &str, src: &'static str, key: &str) -> Result<String, ConfigError> {
    tracing_subscriber::EnvFilter::try_new(level)
        .map(|_| level.to_owned())
        .map_err(|e| invalid(src, key, format!("not a log filter: {e}")))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn defaults_run_embedded() {
        let config = load(None, &env(&[]), &Flags::default()).expect("defaults");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://warden-data/warden.db");
        assert!(config.uses_embedded_database());
    }

    #[test]
    fn layers_override_in_order() {
        let f =
            file("listen = \"127.0.0.1:1000\"\ndata_dir = \"/srv/a\"\n[log]\nformat = \"json\"\n");
        let config = load(
            Some(f.path()),
            &env(&[
                ("WARDEN_LISTEN", "127.0.0.1:2000"),
                ("WARDEN_TEST_POSTGRES_URL", "x"),
            ]),
            &Flags::default(),
        )
        .expect("load");
        assert_eq!(config.listen.port(), 2000, "environment beats file");
        assert_eq!(
            config.data_dir,
            PathBuf::from("/srv/a"),
            "file beats default"
        );
        assert_eq!(config.log.format, LogFormat::Json);

        let flags = Flags {
            listen: Some("127.0.0.1:3000".into()),
            ..Flags::default()
        };
        let config = load(
            Some(f.path()),
            &env(&[("WARDEN_LISTEN", "127.0.0.1:2000")]),
            &flags,
        )
        .expect("load");
        assert_eq!(config.listen.port(), 3000, "flag beats environment");
    }

    #[test]
    fn smtp_from_file_then_environment_and_the_password_never_printed() {
        let f = file(
            "[smtp]\nhost = \"mail.example.com\"\nuser = \"warden\"\npassword = \"file-secret-pw\"\n\
             from = \"Warden <noreply@example.com>\"\ntls = \"tls\"\n",
        );
        let config = load(Some(f.path()), &env(&[]), &Flags::default()).expect("load");
        let smtp = config.smtp.clone().expect("smtp configured");
        assert_eq!(smtp.host, "mail.example.com");
        assert_eq!(smtp.tls, warden_notify::TlsMode::Tls);
        assert_eq!(smtp.port(), 465, "the TLS mode's usual port");
        assert_eq!(smtp.user.as_deref(), Some("warden"));
        assert_eq!(
            smtp.password.as_ref().map(|p| p.expose()),
            Some("file-secret-pw")
        );
        assert!(
            !format!("{config:?}").contains("file-secret-pw"),
            "{config:?}"
        );

        let config = load(
            Some(f.path()),
            &env(&[
                ("WARDEN_SMTP_HOST", "127.0.0.1"),
                ("WARDEN_SMTP_PORT", "2525"),
                ("WARDEN_SMTP_TLS", "none"),
                ("WARDEN_SMTP_PASSWORD", "env-secret-pw"),
            ]),
            &Flags::default(),
        )
        .expect("load");
        let smtp = config.smtp.clone().expect("smtp configured");
        assert_eq!((smtp.host.as_str(), smtp.port()), ("127.0.0.1", 2525));
        assert_eq!(smtp.tls, warden_notify::TlsMode::None);
        assert_eq!(
            smtp.password.as_ref().map(|p| p.expose()),
            Some("env-secret-pw")
        );
        assert_eq!(
            smtp.from, "Warden <noreply@example.com>",
            "kept from the file"
        );

        let none = load(None, &env(&[]), &Flags::default()).expect("defaults");
        assert_eq!(
            none.smtp, None,
            "without SMTP mail goes to the data directory"
        );
    }

    #[test]
    fn bad_smtp_settings_are_refused_by_name() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("WARDEN_SMTP_HOST", "mail.example.com")], "smtp.from"),
            (&[("WARDEN_SMTP_FROM", "noreply@example.com")], "smtp.host"),
            (
                &[
                    ("WARDEN_SMTP_HOST", "mail.example.com"),
                    ("WARDEN_SMTP_FROM", "not an address"),
                ],
                "smtp",
            ),
            (
                &[
                    ("WARDEN_SMTP_HOST", "mail.example.com"),
                    ("WARDEN_SMTP_FROM", "noreply@example.com"),
                    ("WARDEN_SMTP_PASSWORD", "pw-without-user"),
                ],
                "smtp.user",
            ),
            (&[("WARDEN_SMTP_TLS", "ssl")], "WARDEN_SMTP_TLS"),
            (&[("WARDEN_SMTP_PORT", "0")], "WARDEN_SMTP_PORT"),
            (&[("WARDEN_SMTP_PORT", "smtp")], "WARDEN_SMTP_PORT"),
        ];
        for (vars, key) in cases {
            let error = load(None, &env(vars), &Flags::default()).expect_err("refused");
            let message = error.to_string();
            assert!(message.contains(key), "{vars:?}: {message}");
            assert!(!message.contains("pw-without-user"), "{message}");
        }
        let f = file("[smtp]\nhost = \"x\"\nsender = \"y\"\n");
        let error = load(Some(f.path()), &env(&[]), &Flags::default()).expect_err("unknown key");
        assert!(error.to_string().contains("sender"), "{error}");
    }

    #[test]
    fn metrics_token_from_file_or_environment_never_printed() {
        let f = file("[metrics]\ntoken = \"file-token-0123456789\"\n");
        let config = load(Some(f.path()), &env(&[]), &Flags::default()).expect("load");
        let token = config.metrics.token.as_ref().map(MetricsToken::expose);
        assert_eq!(token, Some("file-token-0123456789"));
        assert!(!format!("{config:?}").contains("file-token"), "{config:?}");
        let config = load(
            Some(f.path()),
            &env(&[("WARDEN_METRICS_TOKEN", "env-token-0123456789")]),
            &Flags::default(),
        )
        .expect("load");
        let token = config.metrics.token.as_ref().map(MetricsToken::expose);
        assert_eq!(
            token,
            Some("env-token-0123456789"),
            "environment beats file"
        );
        let err = load(
            None,
            &env(&[("WARDEN_METRICS_TOKEN", "hunter2")]),
            &Flags::default(),
        )
        .expect_err("too short");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn external_url_and_master_key_from_file_or_environment() {
        let config = load(None, &env(&[]), &Flags::default()).expect("defaults");
        assert_eq!(
            config.issuer(config.listen),
            "http://127.0.0.1:8080",
            "default: http://<listen>"
        );
        let bound: SocketAddr = "127.0.0.1:40123".parse().expect("address");
        assert_eq!(
            config.issuer(bound),
            "http://127.0.0.1:40123",
            "the bound address, e.g. the port picked for port 0"
        );
        assert!(config.master_key.is_none());

        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let f = file(&format!(
            "external_url = \"https://id.example.com/\"\nmaster_key = \"{key}\"\n"
        ));
        let config = load(Some(f.path()), &env(&[]), &Flags::default()).expect("load");
        assert_eq!(
            config.issuer(bound),
            "https://id.example.com",
            "trailing slash dropped"
        );
        assert_eq!(
            config.master_key.as_ref().map(MasterKeySetting::expose),
            Some(key)
        );
        assert!(!format!("{config:?}").contains(key), "{config:?}");

        let config = load(
            Some(f.path()),
            &env(&[("WARDEN_EXTERNAL_URL", "https://login.example.org/warden")]),
            &Flags::default(),
        )
        .expect("load");
        assert_eq!(
            config.issuer(bound),
            "https://login.example.org/warden",
            "environment beats file"
        );

        for (name, value, expect) in [
            ("WARDEN_EXTERNAL_URL", "ftp://x", "not a URL"),
            ("WARDEN_EXTERNAL_URL", "https://", "not a URL"),
            (
                "WARDEN_EXTERNAL_URL",
                "https://id.example.com/?a=1",
                "no query",
            ),
            ("WARDEN_MASTER_KEY", "abcd", "64 hex digits"),
        ] {
            let err = load(None, &env(&[(name, value)]), &Flags::default()).expect_err(name);
            let text = err.to_string();
            assert!(text.contains(name) && text.contains(expect), "{text}");
        }
        let err = load(
            None,
            &env(&[("WARDEN_MASTER_KEY", "secret-ish-value")]),
            &Flags::default(),
        )
        .expect_err("bad key");
        assert!(!err.to_string().contains("secret-ish-value"), "{err}");
    }

    #[test]
    fn unknown_file_key_is_named() {
        let f = file("[database]\nurll = \"sqlite://x\"\n");
        let err = load(Some(f.path()), &env(&[]), &Flags::default()).expect_err("unknown key");
        assert!(err.to_string().contains("unknown field `urll`"), "{err}");
    }

    #[test]
    fn sqlite_durability_is_full_unless_relaxed() {
        let config = load(None, &env(&[]), &Flags::default()).expect("defaults");
        assert_eq!(config.database.sqlite_synchronous, Synchronous::Full);
        let f = file("[database]\nsqlite_synchronous = \"normal\"\n");
        let config = load(Some(f.path()), &env(&[]), &Flags::default()).expect("file");
        assert_eq!(config.database.sqlite_synchronous, Synchronous::Normal);
        let config = load(
            Some(f.path()),
            &env(&[("WARDEN_DATABASE_SQLITE_SYNCHRONOUS", "full")]),
            &Flags::default(),
        )
        .expect("environment over file");
        assert_eq!(config.database.sqlite_synchronous, Synchronous::Full);
    }

    #[test]
    fn unknown_env_var_is_named() {
        let err =
            load(None, &env(&[("WARDEN_LISTN", "x")]), &Flags::default()).expect_err("unknown var");
        assert!(err.to_string().contains("WARDEN_LISTN"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        for (key, value, expect) in [
            ("WARDEN_DATABASE_URL", "mysql://x", "not a database URL"),
            ("WARDEN_DATABASE_URL", "postgres-ish", "not a database URL"),
            ("WARDEN_LISTEN", "localhost", "not an address"),
            ("WARDEN_DATABASE_MAX_CONNECTIONS", "0", "between 1 and 1000"),
            (
                "WARDEN_DATABASE_SQLITE_SYNCHRONOUS",
                "off",
                "`full` or `normal`",
            ),
            ("WARDEN_LOG_FORMAT", "xml", "human"),
            ("WARDEN_METRICS_TOKEN", "short", "16 to 256"),
            (
                "WARDEN_METRICS_TOKEN",
                "sixteen chars with spaces",
                "no spaces",
            ),
        ] {
            let err = load(None, &env(&[(key, value)]), &Flags::default()).expect_err(key);
            let text = err.to_string();
            assert!(text.contains(key) && text.contains(expect), "{text}");
        }
    }

    #[test]
    fn password_is_not_echoed() {
        let err = load(
            None,
            &env(&[("WARDEN_DATABASE_URL", "mysql://u:hunter2@h/db")]),
            &Flags::default(),
        )
        .expect_err("bad scheme");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
