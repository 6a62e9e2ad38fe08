//! What plugins print and log reaches the server's log with their name, within bounds.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{Binding, CallError, ValidatorOutcome};

use common::{load, new_user, runtime};

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

fn capture() -> (Lines, tracing::subscriber::DefaultGuard) {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    (lines, tracing::subscriber::set_default(subscriber))
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_message_reaches_the_log_with_the_plugins_name() {
    let (lines, _guard) = capture();
    let plugin = load("trapper", fixtures::HOSTILE_TRAP).await;
    let outcome = runtime()
        .validate(&plugin, &Binding::default(), &new_user(None))
        .await;
    assert!(matches!(outcome, Err(CallError::Trap(_))), "{outcome:?}");
    let log = lines.text();
    let line = log
        .lines()
        .find(|l| l.contains("hostile fixture refuses command user.human.add"))
        .unwrap_or_else(|| panic!("no panic message in the log:\n{log}"));
    assert!(
        line.contains("plugin=trapper") && line.contains("stream=\"stderr\""),
        "{line}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn log_records_carry_fields_and_floods_are_cut() {
    let (lines, _guard) = capture();
    let plugin = load("domains", fixtures::EMAIL_DOMAINS).await;
    let outcome = runtime()
        .validate(
            &plugin,
            &Binding::with_config([("allowed_domains", "example.com")]),
            &new_user(Some("ada@evil.test")),
        )
        .await;
    assert!(
        matches!(outcome, Ok(ValidatorOutcome::Violations(_))),
        "{outcome:?}"
    );
    let log = lines.text();
    assert!(
        log.lines().any(|l| l.contains("email domain refused")
            && l.contains("plugin=domains")
            && l.contains(r#"domain="evil.test""#)),
        "{log}"
    );

    let (lines, _guard) = capture();
    let noisy = load("noisy", fixtures::HOSTILE_NOISY).await;
    let binding = Binding {
        config: Arc::new(BTreeMap::from([
            ("megabytes".to_owned(), "4".to_owned()),
            ("records".to_owned(), "5000".to_owned()),
        ])),
        limits: warden_wasm_runtime::Limits {
            deadline: std::time::Duration::from_secs(1),
            ..warden_wasm_runtime::Limits::default()
        },
        ..Binding::default()
    };
    let outcome = runtime().validate(&noisy, &binding, &new_user(None)).await;
    assert_eq!(outcome, Ok(ValidatorOutcome::Ok));
    let log = lines.text();
    let defaults = warden_wasm_runtime::RuntimeConfig::default();
    let records = log.lines().filter(|l| l.contains("record=")).count();
    assert!(
        records > 0 && records <= defaults.max_log_records,
        "{records} records kept"
    );
    assert!(
        log.len() < 2 * defaults.max_output_bytes + defaults.max_log_bytes + 256 * 1024,
        "{} bytes of log for a flood of 8 MiB",
        log.len()
    );
    for dropped in ["dropped_bytes=", "dropped_records="] {
        assert!(log.contains(dropped), "no {dropped} note in the log");
    }
}
