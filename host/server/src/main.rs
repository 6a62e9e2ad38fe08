//! `warden`: the identity and access management server.

use std::{collections::BTreeMap, io::IsTerminal, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use warden::config::{self, Config, Flags, LogFormat};

/// Warden: identity and access management with WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (API, login, console, spoolers) in this process.
    Start(ConfigArgs),
    /// Apply pending database migrations and exit.
    Migrate(ConfigArgs),
    /// Work with plugins locally, without a server.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Operator tasks run on the server's machine against the database directly (no HTTP).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Issue a new administrator token (IAM_OWNER) into <data-dir>/admin.pat, when every token is lost.
    Recover(ConfigArgs),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a plugin against a sample input and print its answer and timing.
    Test(PluginTestArgs),
}

#[derive(Debug, Args)]
struct PluginTestArgs {
    /// The component (.wasm).
    file: PathBuf,
    /// The world the component implements.
    #[arg(long, value_enum)]
    world: WorldArg,
    /// JSON input document (see docs/plugins.md); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// How many calls to time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    runs: u32,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WorldArg {
    Validator,
    Projection,
    Action,
}

impl From<WorldArg> for warden_wasm_runtime::World {
    fn from(world: WorldArg) -> Self {
        match world {
            WorldArg::Validator => Self::Validator,
            WorldArg::Projection => Self::Projection,
            WorldArg::Action => Self::Action,
        }
    }
}

/// Options shared by every command that reads the configuration.
#[derive(Debug, Args)]
struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, env = "WARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the embedded database and generated files.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DATABASE.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl ConfigArgs {
    fn load(&self) -> Result<Config, config::ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let flags = Flags {
            data_dir: self.data_dir.clone(),
            listen: self.listen.clone(),
            database_url: self.database_url.clone(),
            log_format: self.log_format,
        };
        config::load(self.config.as_deref(), &env, &flags)
    }
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match &cli.command {
        Command::Start(args)
        | Command::Migrate(args)
        | Command::Admin(AdminCommand::Recover(args)) => args,
        Command::Plugin(PluginCommand::Test(args)) => return plugin_test(args),
    };
    let config = match args.load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("warden: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warden: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Start(_) => warden::server::start(config).await,
            Command::Plugin(_) => Ok(()),
            Command::Admin(AdminCommand::Recover(_)) => {
                let path = warden::server::recover_admin(&config).await?;
                eprintln!(
                    "warden: a new administrator token is in {} (readable only by you)",
                    path.display()
                );
                Ok(())
            }
            Command::Migrate(_) => {
                let _data_dir = warden::server::open_data_dir(&config)?;
                let store = warden::server::open_store(&config).await?;
                warden::server::migrate(&store).await?;
                store.close().await;
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("warden: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `warden plugin test`: prints the plugin's answer as JSON, then the timing, on standard output.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn plugin_test(args: &PluginTestArgs) -> ExitCode {
    let input = if args.input.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.input)
    };
    let input = match input {
        Ok(input) => input,
        Err(error) => {
            eprintln!(
                "warden: cannot read input {}: {error}",
                args.input.display()
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warden: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runs = usize::try_from(args.runs).unwrap_or(1);
    let report = runtime.block_on(warden_wasm_runtime::run_local_test(
        &args.file,
        args.world.into(),
        &input,
        runs,
    ));
    match report {
        Ok(report) => {
            let result = serde_json::to_string_pretty(&report.result)
                .unwrap_or_else(|_| report.result.to_string());
            println!("{result}");
            println!(
                "world {} · sha256 {} · compile {:.1} ms · {} calls: p50 {:.1} µs, p99 {:.1} µs (fresh instance + call)",
                report.world.name(),
                report.digest,
                report.compile.as_secs_f64() * 1e3,
                report.runs,
                report.call_p50.as_secs_f64() * 1e6,
                report.call_p99.as_secs_f64() * 1e6,
            );
            if report.result.get("error").is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("warden: {error}");
            ExitCode::from(2)
        }
    }
}
