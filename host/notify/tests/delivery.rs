//! Delivery of the mail outbox on both backends: to the mail directory without SMTP, and through a real
//! SMTP server (Python's `aiosmtpd`) on a loopback port. Each test takes the code from the mail as a user
//! would and uses it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use warden_command::{
    Caller, Commands, CommandsConfig, FirstInstance, Identity, NewHumanUser, SecretString,
    bootstrap, seal::SecretBox,
};
use warden_domain::{
    notification::Notification,
    user::{Profile, User},
};
use warden_eventstore::Store;
use warden_notify::{Notifier, NotifyConfig, SmtpConfig, TlsMode};
use warden_spooler::{SpoolerConfig, Spoolers};

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let t = warden_eventstore::testing::sqlite().await;
                    super::$name(t.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(t) = warden_eventstore::testing::postgres().await else {
                        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
                        return;
                    };
                    super::$name(t.store.clone()).await;
                }
            )*
        }
    };
}

both_backends!(
    without_smtp_the_reset_mail_goes_to_the_mail_directory_once,
    the_reset_mail_reaches_a_real_smtp_server_and_its_code_resets_the_password,
);

const EXTERNAL_URL: &str = "https://id.example.com";

struct Setup {
    commands: Commands,
    instance_id: String,
    admin: Caller,
    user_id: String,
    _dir: tempfile::TempDir,
}

async fn setup(store: Store) -> Setup {
    let commands = Commands::new(
        store,
        CommandsConfig {
            secret_box: Some(SecretBox::generate().expect("key")),
            ..CommandsConfig::default()
        },
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
        .await
        .expect("bootstrap");
    let admin = Caller {
        instance_id: report.instance_id.clone(),
        identity: Identity::User {
            user_id: report.admin_user_id.clone(),
            org_id: report.org_id.clone(),
        },
    };
    let org = commands
        .for_caller(&admin)
        .add_org("Acme")
        .await
        .expect("org");
    let user_id = commands
        .for_caller(&admin)
        .add_human_user(&NewHumanUser {
            org_id: org.id,
            login_name: "alice".to_owned(),
            profile: Profile {
                given_name: "Alice".into(),
                family_name: "Liddell".into(),
                display_name: String::new(),
                preferred_language: "en".into(),
            },
            email: "alice@example.com".to_owned(),
            email_verified: true,
            phone: None,
            password: Some(SecretString::new("Initial-Passw0rd!")),
            password_change_required: false,
        })
        .await
        .expect("user")
        .id;
    Setup {
        commands,
        instance_id: report.instance_id,
        admin,
        user_id,
        _dir: dir,
    }
}

fn spooler_config(node: &str) -> SpoolerConfig {
    let mut config = SpoolerConfig::new(node);
    config.lease_ttl = Duration::from_millis(600);
    config.acquire_interval = Duration::from_millis(100);
    config.poll_interval = Duration::from_millis(200);
    config.retry_backoff = Duration::from_millis(50);
    config
}

/// Starts a node's spoolers with only the notifier.
async fn start_notifier(s: &Setup, node: &str, config: &NotifyConfig) -> (Spoolers, Notifier) {
    let notifier = Notifier::new(s.commands.clone(), config).expect("notifier");
    let spoolers = Spoolers::start(
        s.commands.store().clone(),
        vec![Arc::new(notifier.clone())],
        spooler_config(node),
    )
    .await
    .expect("spoolers");
    (spoolers, notifier)
}

/// Waits (bounded) until the latest requested notification is recorded as sent, and returns its id.
async fn latest_sent(s: &Setup) -> String {
    for _ in 0..400 {
        if let Some(id) = notification_ids(s.commands.store()).await.pop() {
            let model = s
                .commands
                .load::<Notification>(&s.instance_id, &id)
                .await
                .expect("load");
            if model.state.sent {
                return id;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the notification was not sent in time");
}

/// The ids of the `notification.requested` events, oldest first.
async fn notification_ids(store: &Store) -> Vec<String> {
    let sql = "SELECT aggregate_id FROM events WHERE event_type = 'notification.requested' ORDER BY position";
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_all(s.reader()).await,
        Store::Postgres(s) => sqlx::query_scalar(sql).fetch_all(s.pool()).await,
    }
    .expect("notification ids")
}

/// The link of a reset mail and the code in it, checked against what the user expects to read.
fn reset_link_and_code(mail: &str, user_id: &str) -> (String, String) {
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    assert!(mail.contains("Subject: Reset your password"), "{mail}");
    assert!(mail.contains("Hello Alice Liddell,"), "{mail}");
    let prefix = format!("{EXTERNAL_URL}/login/reset?user={user_id}&code=");
    let start = mail
        .find(&prefix)
        .unwrap_or_else(|| panic!("no reset link in {mail}"));
    let link: String = mail[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let code = link[prefix.len()..].to_owned();
    assert_eq!(code.len(), 14, "code `{code}` in {link}");
    assert!(mail.contains(&format!(
        "enter this code on the password reset page: {code}"
    )));
    (link, code)
}

async fn reset_with(s: &Setup, code: &str) {
    let system = Caller::system(&s.instance_id);
    s.commands
        .for_caller(&system)
        .reset_password_with_code(&s.user_id, code, &SecretString::new("Mailed-Passw0rd!"))
        .await
        .expect("the mailed code resets the password");
    let user = s
        .commands
        .load::<User>(&s.instance_id, &s.user_id)
        .await
        .expect("load");
    let hash = user
        .state
        .human()
        .and_then(|h| h.password_hash.clone())
        .expect("hash");
    assert!(
        s.commands
            .hasher()
            .verify(&hash, SecretString::new("Mailed-Passw0rd!"))
            .await
            .expect("verify")
    );
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
}

async fn without_smtp_the_reset_mail_goes_to_the_mail_directory_once(store: Store) {
    let s = setup(store.clone()).await;
    let mail_dir = s._dir.path().join("mail");
    let config = NotifyConfig {
        smtp: None,
        mail_dir: mail_dir.clone(),
        external_url: format!("{EXTERNAL_URL}/"),
    };
    let (spoolers, notifier) = start_notifier(&s, "node-1", &config).await;
    assert!(notifier.mailer().is_directory());

    s.commands
        .for_caller(&s.admin)
        .request_password_reset(&s.user_id)
        .await
        .expect("reset requested");
    let id = &latest_sent(&s).await;

    let files = eml_files(&mail_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with(&format!("-{id}.eml")), "{name}");
    let mail = std::fs::read_to_string(&files[0]).expect("read mail");
    assert!(
        mail.contains(&format!("Message-ID: <{id}@warden>")),
        "{mail}"
    );
    let (_, code) = reset_link_and_code(&mail, &s.user_id);
    // Delivered once: handling the request again (a crash before the checkpoint moved, or another node
    // taking over) finds it sent and writes nothing.
    notifier.deliver(&s.instance_id, id).await.expect("again");
    spoolers.shutdown().await;
    // A node starting afresh (its checkpoint behind the request, as after a crash) skips the sent mail:
    // a second request after it is the only new mail.
    let (second_node, _) = start_notifier(&s, "node-2", &config).await;
    s.commands
        .for_caller(&s.admin)
        .send_email_verification_code(&s.user_id)
        .await
        .expect_err("the email is verified already: nothing is requested");
    s.commands
        .for_caller(&s.admin)
        .request_password_reset(&s.user_id)
        .await
        .expect("second reset requested");
    let second = latest_sent(&s).await;
    assert_ne!(&second, id);
    second_node.shutdown().await;
    let files = eml_files(&mail_dir);
    assert_eq!(files.len(), 2, "one mail per notification: {files:?}");
    let newest = std::fs::read_to_string(
        files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(&format!("-{second}.eml")))
            .expect("the second mail"),
    )
    .expect("read");
    let (_, newest_code) = reset_link_and_code(&newest, &s.user_id);
    assert_ne!(newest_code, code, "a new code");
    let system = Caller::system(&s.instance_id);
    let replaced = s
        .commands
        .for_caller(&system)
        .reset_password_with_code(&s.user_id, &code, &SecretString::new("Mailed-Passw0rd!"))
        .await
        .expect_err("the first code was replaced by the second");
    assert_eq!(
        replaced.as_refusal().map(|r| r.code.to_string()).as_deref(),
        Some("user.password.code.invalid")
    );
    let code = newest_code;

    reset_with(&s, &code).await;
}

/// A Python `aiosmtpd` server on a loopback port, storing what it receives in a maildir; stopped on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `aiosmtpd`, or says why it cannot (a skip locally, a failure in CI).
async fn smtp_server(dir: &Path) -> Option<SmtpServer> {
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        let message =
            "python3 with aiosmtpd is needed for the SMTP test: pip install aiosmtpd==1.4.6";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        // A skip must be visible in the test output.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: {message}");
        }
        return None;
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("addr").port()
    };
    let maildir = dir.join("maildir");
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let server = SmtpServer {
        child,
        port,
        maildir,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("aiosmtpd did not listen on 127.0.0.1:{port}");
}

async fn the_reset_mail_reaches_a_real_smtp_server_and_its_code_resets_the_password(store: Store) {
    let s = setup(store).await;
    let Some(server) = smtp_server(s._dir.path()).await else {
        return;
    };
    let config = NotifyConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port: Some(server.port),
            user: None,
            password: None,
            from: "Warden <noreply@id.example.com>".to_owned(),
            tls: TlsMode::None,
        }),
        mail_dir: s._dir.path().join("unused"),
        external_url: EXTERNAL_URL.to_owned(),
    };
    let (spoolers, notifier) = start_notifier(&s, "node-1", &config).await;
    assert!(!notifier.mailer().is_directory());

    s.commands
        .for_caller(&s.admin)
        .request_password_reset(&s.user_id)
        .await
        .expect("reset requested");
    latest_sent(&s).await;
    spoolers.shutdown().await;

    let received = eml_or_maildir(&server.maildir.join("new"));
    assert_eq!(received.len(), 1, "one mail received: {received:?}");
    let mail = std::fs::read_to_string(&received[0]).expect("read mail");
    assert!(
        mail.contains("From: Warden <noreply@id.example.com>"),
        "{mail}"
    );
    let (_, code) = reset_link_and_code(&mail, &s.user_id);
    assert!(
        !s._dir.path().join("unused").exists(),
        "nothing written to the mail directory"
    );
    reset_with(&s, &code).await;
}

/// Every file in a maildir's `new` folder.
fn eml_or_maildir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default()
}
