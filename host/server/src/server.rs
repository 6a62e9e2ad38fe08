//! Start-up: open the database, migrate, serve until a shutdown signal.

use anyhow::Context;
use tokio::net::TcpListener;
use warden_eventstore::{ConnectOptions, Store, redact};

use std::sync::Arc;

use warden_command::{Commands, CommandsConfig, FirstInstance, bootstrap_with};
use warden_plugin_host::{
    PluginApiState, PluginRegistry, PluginService, PluginValidators, projection::ProjectionPlugins,
};
use warden_process::Cascades;
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;
use warden_wasm_runtime::{PluginRuntime, RuntimeConfig};

use crate::{
    Config,
    data_dir::{DataDir, PLUGIN_CACHE_DIR},
    http,
};

/// Creates and opens the data directory; when it holds the embedded database (any SQLite database), takes
/// its exclusive lock for the life of the process, so a second process on it stops at once, naming the holder.
pub fn open_data_dir(config: &Config) -> anyhow::Result<DataDir> {
    let mut data_dir = DataDir::open(&config.data_dir)?;
    if config.uses_sqlite() {
        data_dir.lock()?;
    }
    Ok(data_dir)
}

/// Opens the configured database; call [`open_data_dir`] first (it creates and locks the data directory).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let store = Store::connect(
        &url,
        &ConnectOptions {
            max_connections: config.database.max_connections,
            sqlite_synchronous: config.database.sqlite_synchronous,
        },
    )
    .await
    .with_context(|| format!("cannot open database {}", redact(&url)))?;
    Ok(store)
}

/// Applies pending migrations.
pub async fn migrate(store: &Store) -> anyhow::Result<usize> {
    let ran = store.migrate().await.context("migrating the database")?;
    tracing::info!(
        applied = ran,
        backend = store.backend(),
        "database is up to date"
    );
    Ok(ran)
}

/// `warden admin recover`: migrates, then issues a new administrator token into `<data_dir>/admin.pat`
/// through the database directly; returns the file's path.
///
/// It does not take the data directory's lock: it works beside a running server on the same database (its
/// few writes wait for the SQLite writer like another connection's), which then accepts the new token.
pub async fn recover_admin(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    let data_dir = DataDir::open(&config.data_dir)?;
    let store = open_store(config).await?;
    migrate(&store).await?;
    let commands = Commands::new(store.clone(), CommandsConfig::default());
    let instance_id = FirstInstance::default().instance_id;
    let report =
        warden_command::recover_with(&commands, data_dir.admin_token_file()?, &instance_id)
            .await
            .context("recovering the administrator")?;
    tracing::info!(
        admin_user_id = report.admin_user_id,
        created = report.created,
        "administrator token recovered"
    );
    store.close().await;
    Ok(report.admin_token_path)
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn start(config: Config) -> anyhow::Result<()> {
    // Held until the process ends: the data directory's lock lives as long as this value.
    let data_dir = open_data_dir(&config)?;
    let store = open_store(&config).await?;
    migrate(&store).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;

    // Plugins first: the command pipeline runs the validators the registry has loaded.
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(data_dir.subdirectory(PLUGIN_CACHE_DIR)?),
        ..RuntimeConfig::default()
    })
    .context("starting the plugin runtime")?;
    let registry = PluginRegistry::new(store.clone(), runtime);
    // The bindings are known before the first request; compiling the plugins goes on in the background
    // (the plugin list shows them `loading` meanwhile), so a slow or hostile plugin never delays the start.
    registry
        .sync_bindings()
        .await
        .context("reading the plugins")?;
    let follower = registry.spawn();
    // The master key seals signing keys (OIDC) and the secrets the server reads back (TOTP secrets, mailed
    // codes), so it is read before the command pipeline starts.
    let master_key = data_dir
        .master_key(config.master_key.as_ref().map(|k| k.expose()))
        .context("reading the master key")?;
    let login_csrf_key = warden_login::LoginConfig::csrf_key_from(master_key.to_hex().as_bytes());
    let commands = Commands::new(
        store.clone(),
        CommandsConfig {
            validators: vec![Arc::new(PluginValidators::new(registry.clone()))],
            secret_box: Some(secret_box(&master_key)?),
            ..CommandsConfig::default()
        },
    );
    // The issuer: the external URL, else the bound address (`--listen 127.0.0.1:0` picks the port only now).
    // The OIDC provider, the login pages, the console's registration and the links in mails all use it.
    let issuer = config.issuer(addr);
    // The console is reached under the issuer, which its registered redirect URIs follow.
    let console_url = issuer.clone();
    let first_instance = FirstInstance {
        console_base_url: Some(console_url.clone()),
        ..FirstInstance::default()
    };
    // The read side (spoolers, process managers, mail) and the first instance's setup (on a first start, a
    // dozen commands and an Argon2id hash of the administrator's one-time password) are independent: started at
    // once. The spoolers apply the setup's events whenever they come.
    let mail_dir = data_dir.subdirectory(MAIL_DIR)?;
    let (read_side, setup) = tokio::join!(
        start_read_side(&config, &store, &commands, mail_dir, &issuer),
        bootstrap_with(&commands, data_dir.admin_token_file()?, &first_instance),
    );
    let read_side = read_side?;
    // Projection plugins run under the spoolers of this node, following the registry.
    let projection_plugins = ProjectionPlugins::new(
        store.clone(),
        read_side.spoolers().clone(),
        registry.runtime().clone(),
    );
    let projection_follower = projection_plugins.spawn(registry.projections());
    // The OpenID Connect provider: keys sealed with the master key, issuer = the external URL.
    let provider = warden_oidc::Provider::new(
        warden_oidc::ProviderConfig::new(issuer.clone(), master_key),
        commands.clone(),
        read_side.queries().clone(),
        &store,
    );
    // Keys that exist are loaded (and checked against the master key) before serving; a first start generates
    // its keys (an RSA key among them) in the background, and requests that need them wait for them.
    let keys = provider.start_keys(&first_instance.instance_id).await;
    let setup = setup.context("setting up the first instance")?;
    if let Some(path) = &setup.admin_password_path {
        tracing::info!(
            path = %path.display(),
            "first start: sign in to the console as `admin` with the one-time password in this file \
             (readable only by you); it must be changed at the first sign-in"
        );
    }
    tracing::info!(url = %format!("{console_url}/console/"), "management console");
    if let Some(path) = &setup.admin_token_path {
        tracing::info!(
            path = %path.display(),
            "first start: the administrator's personal access token is in this file (readable only by you); \
             use it as `Authorization: Bearer <token>`"
        );
    }
    match keys {
        Ok(()) => {}
        // Nodes sharing a database need the same master key: a node with another one could sign nothing, so
        // it does not start.
        Err(error @ warden_oidc::OidcError::MasterKeyMismatch { .. }) => {
            return Err(anyhow::Error::new(error).context(
                "refusing to start: set WARDEN_MASTER_KEY (or master_key) to the master key of this database",
            ));
        }
        Err(error) => {
            tracing::error!(%error, "the signing keys are not usable yet: tokens cannot be issued");
        }
    }
    let key_refresh = provider.spawn_key_refresh();
    // The management API accepts the provider's access tokens beside personal access tokens.
    commands.accept_external_tokens(provider.api_tokens());
    // Its pre-token and pre-userinfo actions run through the plugin registry.
    provider.set_plugins(registry.clone());
    // The login pages: the provider sees the browser's sessions through them, they complete its requests.
    let login = warden_login::Login::new(
        commands.clone(),
        read_side.queries().clone(),
        setup.instance_id.clone(),
        warden_login::LoginConfig {
            external_url: issuer,
            csrf_key: login_csrf_key,
            session_max_age: warden_login::DEFAULT_SESSION_MAX_AGE,
        },
    )
    .with_plugins(registry.clone());
    let oidc_routes = provider.router(&setup.instance_id, login.sessions());
    login.set_auth_requests(provider.auth_requests());
    // The plugin endpoints are part of the management API's table: one router, one `/openapi.json`.
    let plugin_endpoints = PluginApiState::new(
        PluginService::new(commands.clone(), registry.clone()),
        setup.instance_id.clone(),
    )
    .into_endpoints();
    let api = warden_api::router_with(
        warden_api::ApiState::new(commands, setup.instance_id.clone(), &read_side),
        plugin_endpoints,
    )
    .merge(oidc_routes)
    .merge(login.router());
    let mut state = http::AppState::new(store.clone())
        .with_spoolers(read_side.spoolers().clone())
        .with_plugins(registry.clone());
    if let Some(token) = &config.metrics.token {
        state = state.with_metrics_token(token.expose());
    }
    let console = warden_console::router(warden_console::ConsoleConfig {
        issuer: console_url,
        client_id: setup.console_client_id.clone(),
    });
    let app = http::router(state, api.merge(console));

    tracing::info!(%addr, data_dir = %config.data_dir.display(), backend = store.backend(), "warden is listening");
    // The peer address reaches the login actions (e.g. a network allow-list).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("HTTP server failed")?;
    follower.abort();
    key_refresh.abort();
    projection_follower.abort();
    // Release the projection leases so another node takes over at once.
    read_side.shutdown().await;
    store.close().await;
    drop(data_dir);
    tracing::info!("warden stopped");
    Ok(())
}

/// Starts the spoolers with the built-in views, the process managers under them and the notifier.
async fn start_read_side(
    config: &Config,
    store: &Store,
    commands: &Commands,
    mail_dir: std::path::PathBuf,
    issuer: &str,
) -> anyhow::Result<ReadSide> {
    let read_side = ReadSide::start(store.clone(), SpoolerConfig::generated())
        .await
        .context("starting the spoolers")?;
    // Cached write models, and with them accepted tokens, follow changes made on other nodes as soon as the
    // scanner reads them (woken by PostgreSQL NOTIFY), rather than after `dependency_max_age`.
    let observer = commands.clone();
    read_side
        .spoolers()
        .observe(Arc::new(move |events| observer.observe(events)));
    // The process managers run under the same spoolers (lease, checkpoint, failed events).
    Cascades::start(commands.clone(), &read_side)
        .await
        .context("starting the process managers")?;
    // Mail: through SMTP when configured, else to the log and <data_dir>/mail.
    warden_notify::Notifier::start(
        commands.clone(),
        read_side.spoolers(),
        &warden_notify::NotifyConfig {
            smtp: config.smtp.clone(),
            mail_dir,
            external_url: issuer.to_owned(),
        },
    )
    .await
    .context("starting the notifier")?;
    Ok(read_side)
}

/// The data directory's folder for mail when no SMTP server is configured.
pub const MAIL_DIR: &str = "mail";

/// The box sealing secrets the server reads back, keyed from the master key.
fn secret_box(
    master_key: &warden_oidc::MasterKey,
) -> anyhow::Result<warden_command::seal::SecretBox> {
    let hex = master_key.to_hex();
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            .context("the master key is not 32 bytes of hex")?;
    }
    Ok(warden_command::seal::SecretBox::derived(
        &key,
        warden_command::seal::PURPOSE,
    ))
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
