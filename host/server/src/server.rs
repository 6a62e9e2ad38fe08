//! Start-up: open the database, migrate, serve until a shutdown signal.

use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;
use warden_eventstore::{ConnectOptions, Store, redact};

use std::sync::Arc;

use warden_command::{Commands, CommandsConfig, FirstInstance, bootstrap};
use warden_plugin::{PluginRuntime, RuntimeConfig};
use warden_plugins::{
    PluginApiState, PluginRegistry, PluginService, PluginValidators, projection::ProjectionPlugins,
};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;

use crate::{Config, http};

/// Opens the configured database, creating the (private) data directory first.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    create_private_dir(&config.data_dir)?;
    let url = config.database_url();
    let store = Store::connect(
        &url,
        &ConnectOptions {
            max_connections: config.database.max_connections,
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
pub async fn recover_admin(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    let store = open_store(config).await?;
    migrate(&store).await?;
    let commands = Commands::new(store.clone(), CommandsConfig::default());
    let instance_id = FirstInstance::default().instance_id;
    let report = warden_command::recover(&commands, &config.data_dir, &instance_id)
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
    let store = open_store(&config).await?;
    migrate(&store).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;

    // Plugins first: the command pipeline runs the validators the registry has loaded.
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir.join("plugin-cache")),
        ..RuntimeConfig::default()
    })
    .context("starting the plugin runtime")?;
    let registry = PluginRegistry::new(store.clone(), runtime);
    registry.sync().await.context("loading plugins")?;
    let follower = registry.spawn();
    let commands = Commands::new(
        store.clone(),
        CommandsConfig {
            validators: vec![Arc::new(PluginValidators::new(registry.clone()))],
            ..CommandsConfig::default()
        },
    );
    let setup = bootstrap(&commands, &config.data_dir, &FirstInstance::default())
        .await
        .context("setting up the first instance")?;
    if let Some(path) = &setup.admin_token_path {
        tracing::info!(
            path = %path.display(),
            "first start: the administrator's personal access token is in this file (readable only by you); \
             use it as `Authorization: Bearer <token>`"
        );
    }
    let read_side = ReadSide::start(store.clone(), SpoolerConfig::generated())
        .await
        .context("starting the spoolers")?;
    // Projection plugins run under the spoolers of this node, following the registry.
    let projection_plugins = ProjectionPlugins::new(
        store.clone(),
        read_side.spoolers().clone(),
        registry.runtime().clone(),
    );
    let projection_follower = projection_plugins.spawn(registry.projections());
    let plugin_routes = warden_plugins::router(PluginApiState::new(
        PluginService::new(commands.clone(), registry.clone()),
        setup.instance_id.clone(),
    ));
    let api = warden_api::router(
        warden_api::ApiState::new(commands, setup.instance_id.clone(), &read_side)
            .with_extra_endpoints(warden_plugins::ENDPOINTS),
    )
    .merge(plugin_routes);
    let state = http::AppState::new(store.clone())
        .with_spoolers(read_side.spoolers().clone())
        .with_plugins(registry.clone());
    let app = http::router(state, api);

    tracing::info!(%addr, data_dir = %config.data_dir.display(), backend = store.backend(), "warden is listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server failed")?;
    follower.abort();
    projection_follower.abort();
    // Release the projection leases so another node takes over at once.
    read_side.shutdown().await;
    store.close().await;
    tracing::info!("warden stopped");
    Ok(())
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

/// Creates `dir` (and parents) readable only by the owner, as it holds the database and secrets.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict data directory {}", dir.display()))?;
    }
    Ok(())
}
