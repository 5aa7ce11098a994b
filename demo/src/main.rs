//! `demo`: the article's scene on nbio.
//!
//! With no arguments: two servers and a client in one process; the client sends 7,340,032
//! bytes to each server while a counter keeps counting, and prints a summary. The subcommands
//! play the article's separate processes: `demo server --port P` and
//! `demo client --port P --port Q`. `demo --help` explains every option.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use demo::client::{self, ClientConfig, ARTICLE_REPEAT};
use demo::counter::CounterConfig;
use demo::report::{self, thousands};
use demo::server::{self, Log, ServerConfig};
use demo::{scene, Failure};

/// The article's scene on nbio: 7 MB to each of two servers while a counter keeps counting.
///
/// With no subcommand, demo starts two servers and a client in this one process, all of them
/// tasks on one thread: each of two senders writes b"foobar\n" x 1,048,576 (7,340,032 bytes)
/// to its server with nbio's write_all while a counter ticks on nbio's timer. Each server
/// confirms what it received, and demo prints how it went. It exits 0 only if every byte
/// arrived.
///
/// The subcommands play the article's separate processes: start `demo server --port 1234` and
/// `demo server --port 5678` in two terminals, then `demo client --port 1234 --port 5678`.
#[derive(Parser, Debug)]
#[command(
    name = "demo",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "nbio's own switches work here too: NBIO_EXPLAIN=1 narrates every poll, wake \
                  and wait for readiness on stderr; NBIO_TRACE=trace.json writes a trace that \
                  ui.perfetto.dev opens."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    scene: SceneArgs,

    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Listen on a port and count what each connection sends, like the article's server.
    ///
    /// Each connection is read until the client shuts down its side; then the server replies
    /// "received N" with the byte count, which is how `demo client` confirms every byte arrived.
    Server(ServerArgs),
    /// Send to running servers while a counter counts, like the article's client script.
    ///
    /// Connects to every --port at once, sends the payload to each with write_all, and checks
    /// each server's confirmation. Exits 0 only if every byte arrived.
    Client(ClientArgs),
}

/// Settings of the nbio runtime itself, applied in `RuntimeArgs::build`.
#[derive(Args, Debug)]
struct RuntimeArgs {
    /// How many task polls nbio runs between two looks at the reactor while tasks stay ready
    /// (the runtime's default is 61). Lower favours I/O latency, higher busy tasks.
    #[arg(long, global = true, value_name = "POLLS",
          value_parser = clap::value_parser!(u32).range(1..))]
    event_interval: Option<u32>,

    /// Record everything the runtime does (spawns, polls, wakes and what caused them, reactor
    /// waits, sends waiting for room) and write it, when the demo ends, as Chrome Trace Event JSON to
    /// FILE. Open it in ui.perfetto.dev: one row of polls, arrows from each wake to the poll
    /// it caused. The NBIO_TRACE environment variable does the same for any nbio program.
    #[arg(long, global = true, value_name = "FILE.json")]
    trace: Option<PathBuf>,

    /// Run the tasks on N worker threads (nbio's multi-thread runtime) instead of on this one
    /// thread, the article's single loop (the default, 1). With 2, the two sends run side by
    /// side, one on each worker, while the counter keeps ticking on the main thread.
    #[arg(long, global = true, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,

    /// Narrate every event on stderr as it happens, in the spirit of the article's prints
    /// ("send ...#2: short write, the kernel took 2,883,584 bytes with 4,456,448 bytes remaining:
    /// its buffer is full, waiting for writable on fd 7").
    /// Many lines: try it with a smaller --repeat. Same as NBIO_EXPLAIN=1.
    #[arg(long, global = true)]
    explain: bool,
}

#[derive(Args, Debug)]
struct SceneArgs {
    #[command(flatten)]
    send: SendArgs,

    #[command(flatten)]
    counter: CounterArgs,

    /// Bytes each server asks for per read: the article's conn.recv(1024).
    #[arg(long, value_name = "BYTES", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    read_size: u32,
}

#[derive(Args, Debug)]
struct SendArgs {
    /// How many times each sender repeats b"foobar\n". The default, 1048576, is the article's
    /// 7,340,032 bytes.
    #[arg(long, value_name = "N", default_value_t = ARTICLE_REPEAT as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    repeat: u32,
}

#[derive(Args, Debug)]
struct CounterArgs {
    /// Stop the counter after N counts (the article counts to 2000). Without it, the counter
    /// counts until the sends are done. `--count 2000 --tick-ms 20` replays the article's counter.
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Milliseconds between two counts [default: 1; with --blocking-counter, 20 as the
    /// article's time.sleep(0.02)].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    tick_ms: Option<u64>,

    /// Make the counter wait with std::thread::sleep (20 ms per count unless --tick-ms says
    /// otherwise), as the article's time.sleep(0.02) does, instead of on nbio's timer. The
    /// whole thread stops at each count, and every other task (senders, servers, the display)
    /// stops with it: compare the elapsed time, and see nbio's slow-poll warning name the
    /// counter on stderr.
    #[arg(long)]
    blocking_counter: bool,
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// The port to listen on; 0 lets the system pick a free one (the first line names it).
    #[arg(long, value_name = "PORT")]
    port: u16,

    /// The address to listen on.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,

    /// Echo the received data to stdout, as the article's `print data` does. Status lines then
    /// go to stderr.
    #[arg(long)]
    print: bool,

    /// Bytes asked for per read: the article's conn.recv(1024).
    #[arg(long, value_name = "BYTES", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    read_size: u32,

    /// Exit after serving N connections. Without it, the server runs until interrupted.
    #[arg(long, value_name = "N")]
    connections: Option<u64>,
}

#[derive(Args, Debug)]
struct ClientArgs {
    /// A server's port. Give it once per server: `--port 1234 --port 5678` is the article's pair.
    #[arg(long = "port", value_name = "PORT", required = true,
          value_parser = clap::value_parser!(u16).range(1..))]
    ports: Vec<u16>,

    /// The servers' address.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,

    #[command(flatten)]
    send: SendArgs,

    #[command(flatten)]
    counter: CounterArgs,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let runtime = match cli.runtime.build() {
        Ok(runtime) => runtime,
        Err(failure) => return fail(&failure),
    };
    let outcome = match cli.command {
        None => run_scene(&runtime, cli.scene),
        Some(Command::Client(args)) => run_client(&runtime, args),
        Some(Command::Server(args)) => run_server(&runtime, args),
    };
    // Written whatever the outcome: a trace of a failed run is the one worth reading.
    let traced = cli.runtime.write_trace(&runtime);
    match (outcome, traced) {
        (Err(failure), _) | (Ok(_), Err(failure)) => fail(&failure),
        (Ok(code), Ok(())) => code,
    }
}

impl RuntimeArgs {
    /// Writes the journal to the --trace file, if one was asked for.
    fn write_trace(&self, runtime: &nbio::Runtime) -> Result<(), Failure> {
        let Some(path) = &self.trace else {
            return Ok(());
        };
        let written = std::fs::File::create(path).and_then(|file| {
            let mut out = std::io::BufWriter::new(file);
            runtime.write_trace(&mut out)?;
            std::io::Write::flush(&mut out)
        });
        written.map_err(|err| {
            Failure::new(format!(
                "could not write the trace to {}: {err}",
                path.display()
            ))
        })
    }

    /// The runtime every subcommand runs on: one thread, this one, unless --threads asks for
    /// worker threads.
    fn build(&self) -> Result<nbio::Runtime, Failure> {
        let mut builder = nbio::Runtime::builder();
        if self.threads > 1 {
            builder = builder.worker_threads(usize::from(self.threads));
        }
        if let Some(polls) = self.event_interval {
            builder = builder.event_interval(polls);
        }
        if self.trace.is_some() {
            builder = builder.trace(true);
        }
        if self.explain {
            builder = builder.explain(true);
        }
        builder
            .build()
            .map_err(|err| Failure::new(format!("could not start the nbio runtime: {err}")))
    }
}

impl CounterArgs {
    fn config(&self) -> CounterConfig {
        CounterConfig {
            limit: self.count,
            tick: Duration::from_millis(self.tick_ms.unwrap_or(if self.blocking_counter {
                BLOCKING_TICK_MS
            } else {
                TICK_MS
            })),
            blocking: self.blocking_counter,
        }
    }
}

/// The counter's default tick on nbio's timer.
const TICK_MS: u64 = 1;

/// The counter's default tick with `--blocking-counter`: the article's `time.sleep(0.02)`.
const BLOCKING_TICK_MS: u64 = 20;

fn run_scene(runtime: &nbio::Runtime, args: SceneArgs) -> Result<ExitCode, Failure> {
    let live = std::io::stdout().is_terminal();
    if live {
        println!("the article's scene: two servers, two senders and a counter, all nbio tasks on this thread");
    }
    let client = ClientConfig {
        servers: Vec::new(),
        counter: args.counter.config(),
        live,
    };
    let payload = client::payload(args.send.repeat as usize);
    let report = runtime.block_on(scene::run(client, payload, args.read_size as usize))?;
    Ok(print_report(&report))
}

fn run_client(runtime: &nbio::Runtime, args: ClientArgs) -> Result<ExitCode, Failure> {
    let client = ClientConfig {
        servers: args
            .ports
            .iter()
            .map(|&port| SocketAddr::new(args.host, port))
            .collect(),
        counter: args.counter.config(),
        live: std::io::stdout().is_terminal(),
    };
    let payload = client::payload(args.send.repeat as usize);
    let report = runtime.block_on(client::run(&client, payload))?;
    Ok(print_report(&report))
}

fn print_report(report: &client::ClientReport) -> ExitCode {
    print!("{}", report::summary(report));
    match report::verdict(report) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(short) => fail(&Failure::new(format!("not every byte arrived: {short}"))),
    }
}

fn run_server(runtime: &nbio::Runtime, args: ServerArgs) -> Result<ExitCode, Failure> {
    let config = ServerConfig {
        read_size: args.read_size as usize,
        print: args.print,
        connections: args.connections,
        log: if args.print { Log::Stderr } else { Log::Stdout },
    };
    let addr = SocketAddr::new(args.host, args.port);
    // Binding never waits, so it needs no runtime; serving does.
    // nbio's error already names the address: "could not bind to 127.0.0.1:80: ...".
    let listener =
        nbio::net::AsyncTcpListener::bind(addr).map_err(|err| Failure::new(err.to_string()))?;
    let local = listener
        .local_addr()
        .map_err(|err| Failure::new(format!("cannot listen on {addr}: {err}")))?;
    let until = match config.connections {
        Some(n) => format!(
            "for {} connection{}",
            thousands(n),
            if n == 1 { "" } else { "s" }
        ),
        None => "until interrupted (Ctrl-C)".to_string(),
    };
    let line = format!(
        "listening on {local}, reading {} bytes at a time, {until}",
        thousands(config.read_size as u64)
    );
    let print = args.print;
    let say = move |line: &str| {
        if print {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let ledger = server::Ledger::default();
    let stopped = runtime.block_on(async {
        // Ctrl-C's handler is installed before the server says it listens.
        let mut interrupt = nbio::signal::Signal::new(nbio::signal::SignalKind::interrupt())?;
        say(&line);
        let mut serving = nbio::spawn(server::serve_recording(listener, config, ledger.clone()));
        let finished = async { Some((&mut serving).await) };
        let interrupted = async {
            interrupt.recv().await;
            None
        };
        match futures_lite::future::or(finished, interrupted).await {
            Some(served) => served.map_err(std::io::Error::from)?.map(|()| false),
            None => {
                // Stop accepting; aborting the server aborts its connections too.
                serving.abort();
                let _ = serving.await;
                Ok(true)
            }
        }
    });
    let interrupted =
        stopped.map_err(|err| Failure::new(format!("the server on {local} failed: {err}")))?;
    if interrupted {
        say("interrupted (Ctrl-C): stopped; what each connection sent:");
        for entry in ledger.lines() {
            say(&format!("  {entry}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports a failure on one line of stderr.
fn fail(failure: &Failure) -> ExitCode {
    eprintln!("demo: {failure}");
    ExitCode::FAILURE
}

/// `--help` and `--version` print as clap renders them; a usage error becomes one line.
fn usage_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => err.exit(),
        _ => {
            eprintln!(
                "demo: {} (see demo --help)",
                one_line(&err.render().to_string())
            );
            ExitCode::from(2)
        }
    }
}

/// Clap's message without its usage block, on one line: "invalid value '70000' for
/// '--port <PORT>': 70000 is not in 1..=65535".
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .map(|line| line.strip_prefix("error: ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join(" ")
}
