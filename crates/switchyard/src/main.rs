//! The `switchyard` binary: parse the command line, load the config, run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard::config::{Config, QueueMode, ReasoningFormat};
use switchyard::decode_cmd::{self, DecodeOptions};
use switchyard::demo::{self, DemoOptions};
use switchyard::doctor::{self, DoctorOptions};
use switchyard::gateway::Gateway;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An OpenAI-compatible gateway over provider chat web apps driven in Chromium lanes."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The config file (default: ./switchyard.toml if it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// How log lines are written: `text` (coloured only on a terminal) or `json` (one object a
    /// line, for log collectors).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve {
        /// Serve `POST /api/lanes/{id}/crash`, `/kill-browser` and `/panic`, which break a lane
        /// on purpose (for trying out recovery; never in production).
        #[arg(long)]
        enable_fault_injection: bool,
    },
    /// Run the gateway on built-in local replicas of every implemented provider.
    Demo {
        /// Queue mode.
        #[arg(long, value_enum, default_value = "full_parallel_lanes")]
        mode: ModeArg,
        /// Lanes per provider (in full_parallel_lanes).
        #[arg(long, default_value_t = 2)]
        lanes_per_provider: u32,
        /// Port of the OpenAI API.
        #[arg(long, default_value_t = 7777)]
        port: u16,
        /// Delay between the replicas' answer chunks, in milliseconds.
        #[arg(long, default_value_t = 40)]
        chunk_delay_ms: u64,
        /// Answer chunks per reply.
        #[arg(long, default_value_t = 24)]
        chunks: usize,
        /// Serve `POST /api/lanes/{id}/crash`, `/kill-browser` and `/panic`, which break a lane
        /// on purpose (for trying out recovery).
        #[arg(long)]
        enable_fault_injection: bool,
        /// Also run N dummy lanes (no browser), answering `dummy-instant`, `dummy-slow`,
        /// `dummy-flaky` and `dummy-error` (the config's `[dummy] lanes`).
        #[arg(long, default_value_t = 0)]
        dummy_lanes: u32,
    },
    /// Measure relay latency, time to first content, makespan and memory on the replicas.
    Bench {
        /// Write the table here as well as to stdout.
        #[arg(long, global = true)]
        out: Option<PathBuf>,
        /// Write every figure with its conditions as JSON here (keys name their units).
        #[arg(long, global = true)]
        json: Option<PathBuf>,
        /// Fewer samples, for a quick look.
        #[arg(long)]
        quick: bool,
        #[command(subcommand)]
        what: Option<BenchWhat>,
    },
    /// Open each configured site and check every page hook its driver relies on (exit 1 if
    /// one is missing).
    Doctor {
        /// Only this provider (a model prefix or alias).
        #[arg(long)]
        provider: Option<String>,
        /// Also send a short probe message: checks the stream endpoint and the Stop control.
        #[arg(long)]
        probe: bool,
        /// Check the demo's sites (replicas started in this process) instead of the configured
        /// ones; `--config` is laid over them.
        #[arg(long)]
        demo: bool,
    },
    /// Print the SSE a client would receive for a captured response body (exit 1 if the body
    /// is truncated or malformed).
    Decode {
        /// The site whose body it is: a model prefix or alias, as in the model IDs (see README).
        #[arg(long)]
        provider: String,
        /// The raw body as captured; `-` reads stdin.
        file: PathBuf,
        /// Where thinking goes, as `api.reasoning_format`.
        #[arg(long, value_enum, default_value = "think_tags")]
        reasoning_format: ReasoningArg,
        /// Drop the thinking, as a `-chat` ID or `send_thinking = false` does.
        #[arg(long)]
        no_thinking: bool,
        /// The `model` of every chunk (default: the provider's `-auto` ID).
        #[arg(long)]
        model: Option<String>,
        /// Print the decoder's events as JSON lines instead of SSE.
        #[arg(long)]
        events: bool,
        /// End with the usage chunk, as for a client that asks for one
        /// (`stream_options.include_usage`).
        #[arg(long)]
        include_usage: bool,
    },
    /// Print a running gateway's lanes and queue as tables (from GET /api/lanes and
    /// /api/queue).
    Status {
        /// The gateway's address (default: server.host and server.port of the config, on
        /// loopback for 0.0.0.0 or ::).
        #[arg(long)]
        url: Option<String>,
        /// An API key, when the gateway requires one (default: the SWITCHYARD_API_KEY
        /// environment variable).
        #[arg(long)]
        key: Option<String>,
    },
    /// Manage API keys; only their hashes are kept (`auth.keys_file`, default
    /// `<data_dir>/keys.toml`). A running gateway that requires keys sees changes at once.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Sign in to a provider's site by hand in a visible browser window, and save the session
    /// where its lanes look for it: the account's browser profile with `isolation = "process"`,
    /// else with the account in the saved accounts. Needs a display. With --account, the form
    /// is started for you (the saved password, or Perplexity's emailed code, asked for here);
    /// it waits until the site shows the signed-in chat (Ctrl-C stops, saving nothing).
    Login {
        /// The provider (a model prefix or alias).
        #[arg(long)]
        provider: String,
        /// The saved account to sign in (its email; for Perplexity it is saved if new).
        #[arg(long)]
        account: Option<String>,
    },
    /// Manage the saved accounts, encrypted in `<data_dir>/accounts/accounts.enc` under a key
    /// from SWITCHYARD_PASSPHRASE or `accounts.key_file`. Passwords are prompted for (or read
    /// as one line of stdin), never taken from the command line.
    Accounts {
        #[command(subcommand)]
        action: switchyard::accounts::cli::Action,
    },
}

/// What `switchyard bench` measures instead of its default table.
#[derive(Subcommand)]
enum BenchWhat {
    /// Measure nothing: print the table of a run saved with `bench --json`.
    Table {
        /// The saved run.
        json: PathBuf,
        /// Write the table into this file's generated part (between the `bench-table` marker
        /// lines) instead of printing it.
        #[arg(long, value_name = "FILE")]
        readme: Option<PathBuf>,
    },
    /// The gateway's own added latency under an open-loop load against dummy lanes (no
    /// browser), streaming and not.
    Overhead {
        /// Request rates to run, one after the other (requests per second).
        #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
        qps: Vec<u32>,
        /// Seconds each rate and delivery runs.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Also drive the same load through LiteLLM's proxy (installed from PyPI into
        /// target/litellm-venv on first use) in front of the same dummy lanes, and report its
        /// added latency against switchyard's.
        #[arg(long)]
        compare_litellm: bool,
    },
    /// Relay latency (tee capture) and memory with the replicas' light pages and with pages as
    /// heavy as the real sites'.
    Heavy,
    /// Only the 8-lane tee-capture rows of the default table (one lane per provider, all
    /// streaming at once), for as many rounds as asked.
    Tee {
        /// Rounds of one stamped request per lane.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Do not sample memory while the lanes stream (the default table does).
        #[arg(long)]
        no_memory: bool,
        /// Keep the pages shown while they stream (`hide_while_streaming = false` for every
        /// provider), to compare with the default.
        #[arg(long)]
        shown: bool,
    },
    /// Only the memory of the 8-lane setup (one lane per provider, each in its own browser
    /// context), PSS and anonymous memory per process kind, for each set of extra Chromium
    /// flags given, to compare launch choices within one run.
    Memory {
        /// Extra Chromium flags for one variant, separated by spaces (as browser.extra_flags);
        /// repeat for more variants; "" is switchyard's own flags only (the default).
        #[arg(long = "flags", value_name = "FLAGS", allow_hyphen_values = true)]
        flags: Vec<String>,
        /// Tee capture everywhere (default: replay where the provider offers it).
        #[arg(long)]
        tee: bool,
        /// Rounds of one stamped request per lane, all at once.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Run the variants in turn this many times.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Then crash the first lane's renderer and report which lanes had to be brought back.
        #[arg(long)]
        crash: bool,
    },
    /// Many short requests through real lanes: memory after warm-up and its growth per 1,000
    /// requests.
    Soak {
        /// Requests to send in all.
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Lanes of the bench provider, and requests in flight at once.
        #[arg(long, default_value_t = 4)]
        lanes: u32,
        /// Requests in flight at once, when not one per lane (fewer leave the lanes idle
        /// moments, as a gateway that is not saturated has).
        #[arg(long)]
        in_flight: Option<u32>,
        /// Serve pages as heavy as the real sites' (megabytes of script, a retained heap, a
        /// re-render of the whole answer per streamed piece).
        #[arg(long)]
        heavy: bool,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new random key and print it, this once only.
    Add {
        name: String,
        /// May use /api/*, / and /metrics when `auth.admin_routes = "admin_keys"`.
        #[arg(long)]
        admin: bool,
    },
    /// List the keys' names (never the keys).
    List,
    /// Remove a key; requests with it are refused from then on.
    Remove { name: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum ReasoningArg {
    ThinkTags,
    ReasoningContent,
}

impl From<ReasoningArg> for ReasoningFormat {
    fn from(r: ReasoningArg) -> ReasoningFormat {
        match r {
            ReasoningArg::ThinkTags => ReasoningFormat::ThinkTags,
            ReasoningArg::ReasoningContent => ReasoningFormat::ReasoningContent,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
#[expect(
    clippy::enum_variant_names,
    reason = "the variants mirror the runtime.mode values"
)]
enum ModeArg {
    ProviderLanes,
    ConcurrentProviderLanes,
    FullParallelLanes,
}

impl From<ModeArg> for QueueMode {
    fn from(m: ModeArg) -> QueueMode {
        match m {
            ModeArg::ProviderLanes => QueueMode::ProviderLanes,
            ModeArg::ConcurrentProviderLanes => QueueMode::ConcurrentProviderLanes,
            ModeArg::FullParallelLanes => QueueMode::FullParallelLanes,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Keys { action }) = &cli.command {
        return match keys(cli.config.clone(), action) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchyard keys: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Accounts { action }) = &cli.command {
        init_tracing("warn", true, cli.log_format);
        return match load_config(cli.config.clone())
            .and_then(|config| switchyard::accounts::cli::run(&config, action))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchyard accounts: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Decode {
        provider,
        file,
        reasoning_format,
        no_thinking,
        model,
        events,
        include_usage,
    }) = cli.command
    {
        // No runtime and no log: stdout is the decoded stream, stderr the findings.
        return decode(
            &provider,
            &file,
            reasoning_format.into(),
            !no_thinking,
            model,
            events,
            include_usage,
        );
    }
    // The bench prints a table; its lanes' routine log lines would only bury it.
    let quiet = matches!(cli.command, Some(Command::Bench { .. }));
    // Doctor prints its report on stdout; its log goes to stderr.
    let doctor = matches!(cli.command, Some(Command::Doctor { .. }));
    // Status prints its tables on stdout; only warnings go to stderr. So does login, whose
    // prompts are on stderr and its report on stdout.
    let status = matches!(
        cli.command,
        Some(Command::Status { .. } | Command::Login { .. })
    );
    init_tracing(
        if quiet || doctor || status {
            "warn"
        } else {
            "info"
        },
        doctor || status,
        cli.log_format,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchyard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let serve = Command::Serve {
        enable_fault_injection: false,
    };
    match cli.command.unwrap_or(serve) {
        Command::Serve {
            enable_fault_injection,
        } => {
            let source = config_file(cli.config).map(switchyard::reload::Source::file);
            let mut config = match &source {
                Some(source) => source.load()?,
                None => Config::from_toml_str("", "defaults")?,
            };
            config.fault_injection = enable_fault_injection;
            let mut signals = switchyard::signals::Signals::listen();
            let mut hangups = switchyard::signals::Hangups::listen();
            let start = Gateway::start_from(config, source);
            tokio::pin!(start);
            // A signal during start-up (the lanes may take a while) still stops gracefully:
            // the start finishes, so nothing it launched is left behind, then the gateway stops.
            let interrupted = tokio::select! {
                started = &mut start => Ok(started?),
                signal = signals.recv() => Err(signal),
            };
            let gateway = match interrupted {
                Ok(gateway) => gateway,
                Err(signal) => {
                    signals.exit_on_second();
                    tracing::info!(
                        "{signal} received during start-up: stopping once the lanes are up \
                         (a second signal exits at once)."
                    );
                    start.await?.shutdown().await;
                    return Ok(());
                }
            };
            let serving = format!(
                "switchyard is serving the OpenAI API at {}/v1",
                gateway.base_url()
            );
            // In JSON mode stdout holds only log objects.
            match cli.log_format {
                LogFormat::Text => println!("{serving}"),
                LogFormat::Json => tracing::info!(url = %gateway.base_url(), "{serving}"),
            }
            let signal =
                switchyard::signals::serve_until_stopped(&mut signals, &mut hangups, &gateway)
                    .await;
            signals.exit_on_second();
            tracing::info!("{signal} received: shutting down (a second signal exits at once).");
            gateway.shutdown().await;
            tracing::info!("switchyard stopped.");
            Ok(())
        }
        Command::Demo {
            mode,
            lanes_per_provider,
            port,
            chunk_delay_ms,
            chunks,
            enable_fault_injection,
            dummy_lanes,
        } => {
            demo::run(DemoOptions {
                dummy_lanes,
                mode: mode.into(),
                lanes_per_provider,
                port,
                chunk_delay_ms,
                chunks,
                config: cli.config,
                fault_injection: enable_fault_injection,
            })
            .await
        }
        Command::Bench {
            what: Some(BenchWhat::Table { json, readme }),
            ..
        } => switchyard::bench::table_from(&json, readme.as_deref()),
        Command::Bench {
            out,
            json,
            what:
                Some(BenchWhat::Overhead {
                    qps,
                    duration,
                    compare_litellm,
                }),
            ..
        } => {
            let duration = std::time::Duration::try_from_secs_f64(duration)
                .map_err(|e| format!("--duration {duration}: {e}"))?;
            if compare_litellm {
                switchyard::bench::litellm(qps, duration, out, json).await
            } else {
                switchyard::bench::overhead(qps, duration, out, json).await
            }
        }
        Command::Bench {
            out,
            json,
            what:
                Some(BenchWhat::Soak {
                    requests,
                    lanes,
                    in_flight,
                    heavy,
                }),
            ..
        } => switchyard::bench::soak(requests, lanes, in_flight, heavy, out, json).await,
        Command::Bench {
            out,
            json,
            what:
                Some(BenchWhat::Tee {
                    rounds,
                    no_memory,
                    shown,
                }),
            ..
        } => switchyard::bench::tee(rounds, !no_memory, !shown, out, json).await,
        Command::Bench {
            out,
            json,
            what:
                Some(BenchWhat::Memory {
                    flags,
                    tee,
                    rounds,
                    repeat,
                    crash,
                }),
            ..
        } => {
            let opts = switchyard::bench::MemoryOptions {
                variants: flags,
                capture: if tee {
                    switchyard::config::CaptureMode::Tee
                } else {
                    switchyard::config::CaptureMode::Replay
                },
                rounds,
                repeat,
                crash,
            };
            switchyard::bench::memory(opts, out, json).await
        }
        Command::Bench {
            out,
            json,
            what: Some(BenchWhat::Heavy),
            ..
        } => switchyard::bench::heavy(out, json).await,
        Command::Bench {
            out,
            json,
            quick,
            what: None,
        } => switchyard::bench::run(out, json, quick).await,
        Command::Doctor {
            provider,
            probe,
            demo,
        } => {
            let provider = provider.map(|p| doctor::provider(&p)).transpose()?;
            let opts = DoctorOptions { provider, probe };
            let reports = if demo {
                doctor::run_on_demo(cli.config.as_deref(), &opts).await?
            } else {
                doctor::run(&load_config(cli.config)?, &opts).await?
            };
            print!("{}", doctor::render(&reports));
            if doctor::healthy(&reports) {
                Ok(())
            } else {
                Err("some page hooks are missing (see above)".to_owned())
            }
        }
        Command::Status { url, key } => {
            let url = match url {
                Some(url) => url,
                None => {
                    // The config's address; a wildcard bind is reached on loopback.
                    let config = load_config(cli.config)?;
                    let host = match config.server.host {
                        ip if ip.is_unspecified() && ip.is_ipv6() => {
                            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
                        }
                        ip if ip.is_unspecified() => {
                            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
                        }
                        ip => ip,
                    };
                    let addr = std::net::SocketAddr::new(host, config.server.port);
                    format!("http://{addr}")
                }
            };
            let key = key.or_else(|| {
                std::env::var(switchyard::status::KEY_ENV)
                    .ok()
                    .filter(|k| !k.trim().is_empty())
            });
            let status = switchyard::status::fetch(&url, key.as_deref()).await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            print!("{}", switchyard::status::render(&status, now));
            Ok(())
        }
        Command::Login { provider, account } => {
            let provider = doctor::provider(&provider)?;
            let config = load_config(cli.config)?;
            let headless = std::env::var(switchyard::login::HEADLESS_ENV)
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
            let opts = switchyard::login::LoginOptions {
                provider,
                account,
                headless,
            };
            let report = switchyard::login::run(&config, &opts).await?;
            println!("{report}");
            Ok(())
        }
        Command::Decode { .. } | Command::Keys { .. } | Command::Accounts { .. } => {
            Err("this command runs without the async runtime".to_owned())
        }
    }
}

/// `switchyard decode`: exit 0 for a whole body, 1 for a truncated or malformed one, 2 when
/// the provider or the file cannot be used.
fn decode(
    provider: &str,
    file: &std::path::Path,
    reasoning_format: ReasoningFormat,
    send_thinking: bool,
    model: Option<String>,
    events: bool,
    include_usage: bool,
) -> ExitCode {
    let usage_error = |message: String| {
        eprintln!("switchyard decode: {message}");
        ExitCode::from(2)
    };
    let provider = match decode_cmd::provider(provider) {
        Ok(provider) => provider,
        Err(e) => return usage_error(e),
    };
    let body = if file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map(|_| body)
            .map_err(|e| format!("cannot read stdin: {e}"))
    } else {
        std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return usage_error(e),
    };
    let options = DecodeOptions {
        provider,
        model,
        reasoning_format,
        send_thinking,
        events,
        include_usage,
    };
    let decoded = decode_cmd::decode(&options, &body);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(&decoded.output)
        .and_then(|()| stdout.flush())
    {
        eprintln!("switchyard decode: cannot write the output: {e}");
        return ExitCode::FAILURE;
    }
    for note in &decoded.notes {
        eprintln!("switchyard decode: {note}");
    }
    if decoded.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `switchyard keys`: the key goes to stdout alone, so `KEY=$(switchyard keys add NAME)` works;
/// everything else to stderr.
fn keys(config: Option<PathBuf>, action: &KeysAction) -> Result<(), String> {
    use switchyard::keys;
    let config = load_config(config)?;
    let path = &config.auth.keys_file;
    match action {
        KeysAction::Add { name, admin } => {
            let key = keys::add(path, name, *admin)?;
            println!("{key}");
            eprintln!(
                "New API key `{name}`{} above: it is shown only this once ({} keeps only its \
                 hash). Clients send it as `Authorization: Bearer <key>` (an OpenAI client's \
                 api_key). Keys are required from the next start, or at once if they already \
                 are.",
                if *admin { " (admin)" } else { "" },
                path.display()
            );
        }
        KeysAction::List => {
            let list = keys::load(path)?;
            if list.is_empty() {
                eprintln!(
                    "No API keys in {}; `switchyard keys add NAME` makes one.",
                    path.display()
                );
            }
            for k in list {
                let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(k.created);
                println!(
                    "{}\t{}\tcreated {}",
                    k.name,
                    if k.admin { "admin" } else { "-" },
                    switchyard::artifacts::rfc3339(created)
                );
            }
        }
        KeysAction::Remove { name } => {
            keys::remove(path, name)?;
            eprintln!("Removed the API key `{name}` from {}.", path.display());
        }
    }
    Ok(())
}

/// The config file to read: `--config`, else `./switchyard.toml` if it exists.
fn config_file(path: Option<PathBuf>) -> Option<PathBuf> {
    path.or_else(|| {
        let default = PathBuf::from("switchyard.toml");
        default.is_file().then_some(default)
    })
}

fn load_config(path: Option<PathBuf>) -> Result<Config, String> {
    match path {
        Some(path) => Ok(Config::load(&path)?),
        None => {
            let default = PathBuf::from("switchyard.toml");
            if default.is_file() {
                Ok(Config::load(&default)?)
            } else {
                Ok(Config::from_toml_str("", "defaults")?)
            }
        }
    }
}

/// The log: to stdout (the gateway) or stderr (commands whose stdout is their output), in
/// colour only when that stream is a terminal and `NO_COLOR` is unset, or as JSON lines with
/// `--log-format json`.
fn init_tracing(level: &str, to_stderr: bool, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},chromiumoxide=error,tungstenite=warn"))
    });
    let terminal = if to_stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    // NO_COLOR, the common convention, turns colour off on a terminal too.
    let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let writer = if to_stderr {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr)
    } else {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout)
    };
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    match format {
        LogFormat::Text => log.with_ansi(colour).init(),
        // One JSON object a line: timestamp, level, message and the event's other fields.
        LogFormat::Json => log.json().flatten_event(true).with_ansi(false).init(),
    }
}
