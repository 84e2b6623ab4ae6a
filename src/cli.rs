//! The command line, as one clap definition. Doc comments here are the help
//! text; completions and the man page are generated from the same structs.
//!
//! Every value is typed here, at the boundary ([`values`] holds the
//! parsers): a command gets ports, targets, signals and durations, never
//! strings to parse. [`crate::args`] turns them into queries and output.

pub mod values;

use std::time::Duration;

use clap::builder::{EnumValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::actions::signal::Signal;
use crate::audit::Severity;
use crate::net::resolve::ProbeTarget;
use crate::servers::echo::LogFormat;
use berth_inventory::target::PortTarget;
use berth_inventory::SourceChoice;
use values::{Addresses, Choices, PortList, RunPort, Seconds, Threshold};

const ROOT_EXAMPLES: &str = "\
Examples:
  berth ls                     what listens on this machine, and who owns it
  berth ls -a -t --port 5432   every TCP socket to or from port 5432
  berth who 62893              who holds port 62893 (exit 1 if nobody)
  berth kill 3000              free port 3000: SIGTERM its holder, check it is free
  berth free                   a free port, outside the ephemeral range
  berth doctor 8080            why port 8080 will not bind or connect
  berth serve ./site           static files on http://127.0.0.1:62893/
  berth ls --exposed --json    listeners reachable beyond loopback, for scripts

Exit codes: 0 found / done, 1 nothing found, 2 bad usage or input,
3 action failed, 4 the system would not tell berth what it needs,
5 timed out, 6 berth could not write its output (a full disk, a path it
cannot write; a reader that closed the pipe, as `| head` does, is not an
error: 0). Each command's --help says what its codes mean.";

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Everything you do with ports on your own machine.",
    long_about = "Everything you do with ports on your own machine: what listens where and who owns it, \
                  in one fast, safe-by-default tool.",
    after_help = ROOT_EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Where to read sockets from: netlink (fast, what ss uses), proc
    /// (/proc/net text tables) or auto (netlink, falling back to proc).
    #[arg(
        long,
        global = true,
        value_parser = value_enum::<SourceArg, SourceChoice>(),
        default_value = "auto",
        env = "BERTH_SOURCE"
    )]
    pub source: SourceChoice,

    /// When to colour output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List sockets with their owning processes (like ss -tulpn, lsof -i).
    #[command(visible_alias = "list", after_help = LS_EXAMPLES)]
    Ls(LsArgs),

    /// Show who holds a port: processes, parents, command lines, clients.
    #[command(after_help = WHO_EXAMPLES)]
    Who(WhoArgs),

    /// Stop the processes holding a port: SIGTERM, wait, then SIGKILL only with --force.
    #[command(after_help = KILL_EXAMPLES)]
    Kill(KillArgs),

    /// Print a free port (or several), safe from the kernel's ephemeral range.
    #[command(after_help = FREE_EXAMPLES)]
    Free(FreeArgs),

    /// Run a program on a free port: PORT in its environment, and the bound
    /// socket by systemd socket activation with --socket.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),

    /// Check the loopback setup, or explain why a port will not bind or connect.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),

    /// Serve a directory over HTTP on 127.0.0.1:62893 (listings, ranges, ETags, compression).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),

    /// A mock HTTP API from an OpenAPI document (3.0, 3.1, Swagger 2.0) or a
    /// routes file, on 127.0.0.1:4010: examples or generated data, validation,
    /// latency and faults, hot reload, a request journal.
    #[command(after_help = MOCK_EXAMPLES)]
    Mock(MockArgs),

    /// HTTPS in front of a local service: a trusted certificate from berth's
    /// CA, HTTP/2, WebSocket, streaming, and a token or password if asked.
    #[command(after_help = PROXY_EXAMPLES)]
    Proxy(ProxyArgs),

    /// berth's local CA, limited to loopback names: trust it in every store,
    /// print the environment for other clients, write certificates.
    #[command(after_help = CA_EXAMPLES)]
    Ca(CaArgs),

    /// TCP and UDP echo server on 127.0.0.1:49342.
    #[command(after_help = ECHO_EXAMPLES)]
    Echo(EchoArgs),

    /// Listen on a port and connect stdin/stdout to the first client, like nc -l.
    #[command(after_help = LISTEN_EXAMPLES)]
    Listen(ListenArgs),

    /// Connect stdin/stdout to HOST:PORT, like nc or telnet.
    #[command(after_help = CONNECT_EXAMPLES)]
    Connect(ConnectArgs),

    /// Is it reachable? Every address, open/refused/timeout, latency, banner, TLS and HTTP facts.
    #[command(after_help = PROBE_EXAMPLES)]
    Probe(ProbeArgs),

    /// Fast TCP connect scan of loopback (or a host you name), with owners.
    #[command(after_help = SCAN_EXAMPLES)]
    Scan(ScanArgs),

    /// Security audit of this machine's listeners: exposure, reachability,
    /// DNS rebinding and CORS, services without auth, TLS, odd owners.
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),

    /// Watch listeners and connections come and go, live: every close, however
    /// short-lived, with owners, bytes and alerts.
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),

    /// What berth watch recorded: events, what listened at a time, every
    /// listener ever seen, the busiest peers of a port.
    #[command(after_help = HISTORY_EXAMPLES)]
    History(HistoryArgs),

    /// Export listeners, sockets, bytes per port and audit findings to
    /// Prometheus: serve /metrics, write a node_exporter textfile, or print once.
    #[command(after_help = METRICS_EXAMPLES)]
    Metrics(MetricsArgs),

    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  berth completions bash > /etc/bash_completion.d/berth\n  berth completions zsh > \"${fpath[1]}/_berth\"\n  berth completions fish > ~/.config/fish/completions/berth.fish"
    )]
    Completions {
        /// The shell to write completions for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff) to stdout.
    #[command(
        after_help = "Example:\n  mkdir -p /usr/local/share/man/man1 && berth man | gzip > /usr/local/share/man/man1/berth.1.gz"
    )]
    Man,
}

const METRICS_EXAMPLES: &str = "\
Examples:
  berth metrics                          print every series once (Prometheus text)
  berth metrics --listen 9798            serve http://127.0.0.1:9798/metrics for Prometheus
  berth metrics --listen 9798 --expose --token-file ./token
                                         serve every address (for the fleet's Prometheus),
                                         with the bearer token in ./token required
  berth metrics --textfile /var/lib/prometheus/node-exporter --every 30s
                                         feed node_exporter's textfile collector
  berth metrics --listen 9798 --audit-every 0
                                         no periodic audit (no berth_audit_* findings)

Series (docs/metrics.md lists every one, with PromQL for common questions):
berth_listener_info{proto,address,port,scope,service,process,user,container},
berth_listeners{scope}, berth_sockets{proto,state}, berth_time_wait_sockets,
berth_ephemeral_ports_in_use{proto}, berth_ephemeral_port_range_size,
berth_port_received_bytes_total{port}, berth_port_sent_bytes_total{port},
berth_audit_finding{check,severity,port,process}, berth_scrape_error{part},
berth_scrape_duration_seconds, berth_build_info{version}.
Alerting rules and a Grafana dashboard: contrib/prometheus, contrib/grafana.
--listen and --every run until stopped (Ctrl-C, SIGTERM). Exit codes: 0
done; 2 bad usage (a malformed address, a missing token file or directory);
4 the system would not give the socket table or the port; 6 the textfile
could not be written.";

const WATCH_EXAMPLES: &str = "\
Examples:
  berth watch                          every listener and connection as it comes and goes
  berth watch --listeners-only         only listeners opening and closing
  berth watch -p 5432 --json           JSON lines about port 5432, for scripts
  berth watch --alert exposed          say when a new listener is reachable beyond loopback
  berth watch --alert new --exec 'logger -t berth'
                                       hand each never-seen port's alert to a command
  berth watch --alert policy berth-policy.toml
                                       alert on listeners the audit policy does not expect
  berth watch --duration 10s --json    ten seconds of events, then a summary line

Every close is seen, however short the connection, from the kernel's
sock_diag destroy events (what ss -E reads; no root needed); listeners and
connections that live longer than --interval are also seen opening, with
their owners. A connection that opened and closed between two reads of the
table is one `connection-closed` event with `open_seen: false`.
Ctrl-C prints a summary. Exit codes: 0 stopped, with no alert; 1 stopped
after at least one alert; 2 bad usage; 4 the system would not give the
socket table.";

const AUDIT_EXAMPLES: &str = "\
Examples:
  berth audit                          findings, worst first, each with a fix
  sudo berth audit                     also firewall rules and every process
  berth audit --fail-on medium         exit 1 if anything medium or worse is found (CI)
  berth audit --json | jq '.[] | select(.severity == \"critical\")'
  berth audit --sarif > berth.sarif    for code-scanning dashboards
  berth audit --write-policy > berth-policy.toml   accept today's listeners and findings
  berth audit --policy berth-policy.toml   flag only what is new since

Probes are harmless reads (GET, OPTIONS, Redis PING/INFO, memcached stats, a
PostgreSQL startup message); nothing is written or changed. Exit codes: 0
nothing at or above --fail-on (default high), 1 findings at or above it, 2
bad usage or a malformed policy file.";

const HISTORY_EXAMPLES: &str = "\
Examples:
  berth history                                    the events berth watch recorded, oldest first
  berth history events --port 8080 --since 1h      what happened on port 8080 in the last hour
  berth history at \"yesterday 14:00\" --port 8080   what listened on 8080 then, and who owned it
  berth history listeners --exposed                every process that ever listened beyond loopback
  berth history peers --port 8080                  the busiest peers of port 8080
  berth history --since 2026-12-01 --until 2026-12-02 --json

Times: a time ago (90s, 2h, 7d), HH:MM (today), 'yesterday HH:MM',
YYYY-MM-DD[ HH:MM[:SS]] (local time), or RFC 3339 (2026-12-01T14:00:00Z).
The history is $XDG_STATE_HOME/berth/history.sqlite (else
~/.local/state/berth/history.sqlite), or $BERTH_HISTORY, or --file FILE;
berth watch records it.

Exit codes: 0 found, 1 nothing matched (or there is no history yet), 2 bad
usage or a bad time, 4 the history could not be read.";

const LS_EXAMPLES: &str = "\
Examples:
  berth ls                       listening TCP and bound UDP sockets
  berth ls -a                    every socket in every state (like ss -tuanp)
  berth ls -t -4 --exposed       IPv4 TCP listeners reachable beyond loopback
  berth ls --process nginx       sockets held by processes named like nginx
  berth ls --all-netns           also sockets inside containers' namespaces (root)
  berth ls --json | jq '.[] | select(.scope == \"all\")'

Without root, sockets of other users' processes are listed without owners,
and berth says how many.";

const WHO_EXAMPLES: &str = "\
Examples:
  berth who 62893
  berth who localhost:8080
  berth who '[::1]:5432'
  berth who udp/53
  berth who 3000 --json

Exit codes: 0 the port is held, 1 it is free (TIME_WAIT remnants alone do
not hold a port), 2 the port was malformed.";

const KILL_EXAMPLES: &str = "\
Examples:
  berth kill 3000                 stop whatever holds port 3000 (asks first on a terminal;
                                  without one, as in a script, it does not ask)
  berth kill 3000 8080 -y         two ports, no question on a terminal either
  berth kill 5432 --dry-run       show what would be stopped, stop nothing
  berth kill 8080 --force         SIGKILL what is still there after the timeout
  berth kill udp/5353 --signal HUP

Exit codes: 0 freed, 1 nothing held the port, 2 bad input, 3 the port could
not be freed (a refusal, a process that would not stop, or no permission:
another user's process needs sudo berth kill PORT).";

const FREE_EXAMPLES: &str = "\
Examples:
  berth free                      one free TCP port on 127.0.0.1 and ::1
  berth free -n 3 --udp           three ports free for UDP
  berth free --both --range 20000-20100
  PORT=$(berth free) && my-server --port \"$PORT\"

By default ports come from IANA's dynamic range (49152-65535) minus the
kernel's ephemeral range and reserved ports, so they will not collide with
outgoing connections later. Free means bindable right now, checked by binding.";

const RUN_EXAMPLES: &str = "\
Examples:
  berth run --port auto -- python3 -m http.server {port} --bind 127.0.0.1
  berth run -- npm run dev                     PORT is set for the program
  berth run --socket -- ./server               socket activation, no race
  berth run --env HTTP_PORT -- ./app

Every {port} in the program's arguments becomes the port (the rest of each
argument is passed on byte for byte), and PORT (or --env NAME) holds it too.
Without --socket, berth checks the port by binding it and keeps it bound
until the program starts (the socket closes as exec runs); a program that
binds PORT itself races only with other programs binding in that instant.
With --socket, the program gets the listening socket itself as fd 3
(LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES), as under systemd: no race.
berth becomes the program (exec), so signals and the exit status are its own.";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  berth doctor                    loopback, localhost, ephemeral ports, limits, firewall
  berth doctor 3000               why port 3000 will not bind or connect
  berth doctor 3000 --json

Exit codes: 0 no check warned or failed, 1 one did (a held port is a
warning: its holder comes first, with the command that frees it), 2 bad
input, 6 the output could not be written.";

const SERVE_EXAMPLES: &str = "\
Examples:
  berth serve                         this directory on http://127.0.0.1:62893/
  berth serve ./dist --spa --port 0   a single-page app on any free port
  berth serve --cors http://localhost:3000
  berth serve --token                 require a token (printed once)
  berth serve --expose --allow-host myhost.lan

Safe by default: loopback only, Host headers must name loopback or an
--allow-host name (DNS rebinding), no CORS headers, nothing outside DIR.
Not as root: started with sudo (sudo berth serve -p 80), it binds the port,
then serves as the user who ran sudo (SUDO_UID, SUDO_GID), so only what they
may read; as root without sudo it warns on stderr. Run it as yourself.";

const MOCK_EXAMPLES: &str = "\
Examples:
  berth mock openapi.yaml                 the API on http://127.0.0.1:4010/
  berth mock openapi.yaml --port 0 --seed 7 --dynamic
                                          any free port, values generated from the
                                          schemas, the same ones on every run
  berth mock routes.toml                  an API without a spec: [[route]] method,
                                          path, status, headers, body or body_file
  berth mock openapi.yaml --delay 20ms..200ms --fail 5%:503 --fail 1%:reset
  berth mock --proxy http://127.0.0.1:8080 --record recorded.toml
                                          pass everything to a real service on
                                          loopback and record its answers as routes
  curl -H 'Prefer: code=404' http://127.0.0.1:4010/pets/1
  curl -H 'Prefer: example=cat' http://127.0.0.1:4010/pets/1
  curl http://127.0.0.1:4010/__berth/requests      what the clients sent

Requests are checked against the spec (parameters, bodies, security): a bad
one gets 400 or 422 as application/problem+json naming each failing JSON
pointer (/query/limit, /body/name); --no-validate serves it anyway. The spec
and every file it refers to are watched: an edit is served at once, an
invalid edit is logged and the last good version goes on serving.
Safe by default: loopback only, Host headers must name loopback or an
--allow-host name, no CORS headers without --cors; the journal answers
loopback clients only, also with --expose.

Exit codes: 0 stopped by a signal, 2 bad input (an unusable spec names its
file, line and JSON pointer).";

const PROXY_EXAMPLES: &str = "\
Examples:
  berth proxy 3000                       https://localhost:3443/ in front of localhost:3000
  berth proxy 5173 --port 8443 --token   a random token; prints it and a one-time login link
  berth proxy 127.0.0.1:8080 --auth dev:s3cret
                                         HTTP basic auth in front of 127.0.0.1:8080
  berth proxy 3000 --http-port 3080      also redirect http://localhost:3080 to HTTPS
  berth proxy 3000 --name myapp.localhost --preserve-host
  curl https://localhost:3443/           trusted once `berth ca install` ran

The certificate is issued at start by berth's CA (made if there is none yet,
trusted once `berth ca install` ran) for localhost, 127.0.0.1, ::1 and each
--name, and renewed before it expires. The proxy listens on 127.0.0.1 and ::1
(--expose for more), port TARGET+443 unless --port; clients get HTTP/2 or
HTTP/1.1, WebSocket and other upgrades pass through, bodies stream both ways;
the backend gets X-Forwarded-For, -Proto and -Host, and its own Host unless
--preserve-host. Host headers must name loopback or an --allow-host name (DNS
rebinding); no CORS headers are added without --cors. A backend that does not
answer gets a 502 page, and the next request tries again.

Exit codes: 0 stopped by a signal, 2 bad input (a malformed target, a taken
port, a --name the CA does not allow), 4 the CA's files cannot be read.";

const CA_EXAMPLES: &str = "\
Examples:
  berth ca install                       make the CA (once) and trust it everywhere
  berth ca install --store nss           only Chromium's and Firefox's databases
  eval \"$(berth ca env)\"                 Node, Python requests, curl, Deno trust it too
  berth ca cert localhost 127.0.0.1 ::1  write localhost+2.pem and localhost+2-key.pem
  berth ca status                        where it is trusted
  berth ca uninstall                     out of every store, and the keys deleted

The CA can sign only for localhost and *.localhost, 127.0.0.0/8 and ::1 (name
constraints), plus the names given to --name when it is made: a stolen key
cannot impersonate any other site. Its files are in $XDG_DATA_HOME/berth/ca
(~/.local/share/berth/ca), the keys readable by you alone. Only the system
store needs root: sudo is asked for just that step.

Exit codes: 0 done, 1 no CA (status, uninstall), 2 bad input, 3 a store could
not be changed (the others were), 4 the CA's files cannot be read.";

const ECHO_EXAMPLES: &str = "\
Examples:
  berth echo                          TCP and UDP echo on 127.0.0.1:49342
  berth echo --port 7000 --log text   and print what passes through
  berth echo --tcp --port 0           TCP only, any free port
  berth echo 7000                     the port alone, as nc takes it

TCP limits: a client that sends nothing for --idle-timeout (60 s) is
closed; one that does not read its echo for --send-timeout (30 s) is
dropped. At --max-clients a new client is served all the same: the client
quiet the longest (since it last sent, or last took a whole echo) is closed
to make room, so clients that send a byte now and then, or read their echo
a byte at a time, cannot keep others out. A client is read only once its
last read has been echoed, so one that does not read stops being read (its
data waits in the kernel). Memory: each client has a 16 KiB buffer and a
64 KiB thread stack, and bulk transfers borrow one of 16 shared 1 MiB
buffers: at most --max-clients x 80 KiB + 16 MiB in all (56 MiB at the
default 512), with --log too.

--log prints every byte of every read (up to 1 MiB), control characters
and invalid UTF-8 escaped in text, as it goes: no memory of its own, and
the echo goes as fast as stderr takes the log.

UDP: datagrams from berth's own port, and from ports below 1024 (echo 7,
daytime 13, qotd 17, chargen 19, time 37 and every other service that
answers whatever it gets), are dropped: answering them is how one spoofed
datagram starts an endless loop. A loop with an echo on another port dies
out at --udp-rate (1000 datagrams a second per peer). Each reason is logged
once, with its source, when it first drops one; later drops are summed up
every 10 s.";

const LISTEN_EXAMPLES: &str = "\
Examples:
  berth listen 9000 > received.bin    receive a file
  berth listen -u 9000                UDP
  berth listen --port 0               any free port (printed on stderr)
The session ends when both directions are done: stdin's end is passed on as
a half-close, the peer's end closes stdout, and berth waits until the peer
has acknowledged every byte sent. (With a terminal on stdin, the peer's end
is enough.) UDP has no end of stream: with -u berth prints the datagrams of
the first peer until --idle-timeout or a signal (Ctrl-C, kill), however
soon stdin ends (at once in a script, where it is /dev/null).
Exit codes: 0 done, every byte delivered both ways; 2 bad input; 3 the
transfer was cut short (a reset or write error: some bytes were not
delivered); 5 timed out waiting for a client, or --idle-timeout.";

const CONNECT_EXAMPLES: &str = "\
Examples:
  berth connect 9000 < file.bin       send a file to 127.0.0.1:9000
  printf 'PING\\r\\n' | berth connect localhost:6379
  berth connect -u 127.0.0.1:5353
The session ends when both directions are done: stdin's end is passed on as
a half-close, the peer's end closes stdout, and berth waits until the peer
has acknowledged every byte sent. (With a terminal on stdin, the peer's end
is enough.)
Exit codes: 0 done, every byte delivered both ways; 1 refused (nothing
listens); 2 bad input; 3 the transfer was cut short (a reset or write error:
some bytes were not delivered); 5 timed out connecting, or --idle-timeout.";

const PROBE_EXAMPLES: &str = "\
Examples:
  berth probe 8080                     every address of localhost, port 8080
  berth probe https://localhost:8443/  TLS certificate and HTTP status
  berth probe '[::1]:5432' --json
Exit codes: 0 reachable, 1 not reachable, 2 bad input.";

const SCAN_EXAMPLES: &str = "\
Examples:
  berth scan                          all 65,535 TCP ports of 127.0.0.1
  berth scan ::1 --ports 1-1024
  berth scan --udp --ports 5000-6000
  berth scan --json | jq '.[].port'
Exit codes: 0 open ports found, 1 none, 2 bad input.";

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The directory to serve.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,

    /// The port: a number, or 0 or auto for any free one.
    #[arg(short = 'p', long, value_name = "PORT", default_value = "62893", value_parser = values::listen_port)]
    pub port: u16,

    #[command(flatten)]
    pub http: HttpServerArgs,

    /// Answer unknown paths with /index.html (single-page apps).
    #[arg(long)]
    pub spa: bool,

    /// Serve hidden files (names starting with a dot).
    #[arg(long)]
    pub hidden: bool,

    /// Follow symbolic links that stay inside DIR (without it, none is
    /// followed); a link that leads outside DIR is refused either way.
    #[arg(long)]
    pub follow_symlinks: bool,

    /// Require HTTP basic authentication (USER:PASSWORD).
    #[arg(long, value_name = "USER:PASSWORD", conflicts_with = "token")]
    pub auth: Option<String>,

    /// Require a random token (printed once) as a bearer token or ?token=.
    #[arg(long)]
    pub token: bool,
}

/// How an HTTP server berth starts listens and whom it answers: the flags
/// serve and mock share (each has its own --port, for its own default).
#[derive(Args, Debug, Clone)]
pub struct HttpServerArgs {
    /// The address to listen on (loopback unless --expose).
    #[arg(short = 'b', long, value_name = "ADDRESS")]
    pub bind: Option<std::net::IpAddr>,

    /// Listen beyond loopback: alone, on every address (dual-stack ::);
    /// with -b, on that address. Prints every address it is reachable at,
    /// and answers Host headers naming them (and the host name).
    #[arg(long)]
    pub expose: bool,

    /// Also answer requests whose Host header names NAME (repeatable).
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,

    /// Send CORS headers allowing ORIGIN (repeatable), and answer its
    /// preflight requests; none are sent without it.
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Vec<String>,

    /// Most connections served at once.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = values::max_connections)]
    pub max_connections: usize,

    /// Do not log a line per request.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ProxyArgs {
    /// The service: a port (localhost:PORT, 127.0.0.1 or ::1) or HOST:PORT.
    #[arg(value_name = "TARGET", value_parser = values::probe_target, required_unless_present = "to")]
    pub target: Option<ProbeTarget>,

    /// The service, as HOST:PORT (the same as TARGET).
    #[arg(long, value_name = "HOST:PORT", value_parser = values::probe_target, conflicts_with = "target")]
    pub to: Option<ProbeTarget>,

    /// The HTTPS port: a number, or 0 or auto for any free one (default:
    /// the target's port + 443, as 3000 -> 3443).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::listen_port)]
    pub port: Option<u16>,

    #[command(flatten)]
    pub http: HttpServerArgs,

    /// Also put NAME in the certificate (repeatable); the CA must allow it.
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,

    /// Require a token: this one, or a random one printed at start, with a
    /// login link that works once and sets an HttpOnly cookie.
    #[arg(long, value_name = "TOKEN", num_args = 0..=1, default_missing_value = "", conflicts_with = "auth")]
    pub token: Option<String>,

    /// Require HTTP basic authentication with USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub auth: Option<String>,

    /// Send the backend the client's Host header, not the backend's own.
    #[arg(long)]
    pub preserve_host: bool,

    /// Also listen for plain HTTP on PORT and redirect it to HTTPS.
    #[arg(long, value_name = "PORT", value_parser = values::listen_port)]
    pub http_port: Option<u16>,

    /// How long each certificate lives before it is renewed (for tests of
    /// the renewal).
    #[arg(long, value_name = "DURATION", value_parser = values::leaf_lifetime, hide = true)]
    pub leaf_lifetime: Option<std::time::Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct CaArgs {
    #[command(subcommand)]
    pub command: CaCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum CaCommand {
    /// Make the CA (once) and trust it in the system store, NSS databases
    /// (Chromium, Firefox) and Java's cacerts.
    Install(CaInstallArgs),
    /// Take the CA out of every store install put it in, and delete its keys.
    Uninstall(CaUninstallArgs),
    /// Show the CA and where it is trusted.
    Status(CaStatusArgs),
    /// Print the environment for clients that ignore the system store
    /// (Node, Python requests, Deno), for eval in a shell.
    Env(CaEnvArgs),
    /// Write a certificate and key for NAMEs, for servers you run yourself.
    Cert(CaCertArgs),
}

#[derive(Args, Debug, Clone)]
pub struct CaInstallArgs {
    /// When the CA is made: let it sign for NAME too (a DNS name and the
    /// names under it, an IP address or ADDRESS/PREFIX); repeatable.
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,

    #[command(flatten)]
    pub change: CaChangeArgs,
}

#[derive(Args, Debug, Clone)]
pub struct CaUninstallArgs {
    #[command(flatten)]
    pub change: CaChangeArgs,
}

/// What install and uninstall share: which stores, asking, the report.
#[derive(Args, Debug, Clone)]
pub struct CaChangeArgs {
    /// Only these stores (repeatable; default: every one there is). For
    /// uninstall, the keys are kept then.
    #[arg(long, value_enum, value_name = "STORE")]
    pub store: Vec<crate::ca::stores::StoreKind>,

    /// Do not ask first.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CaStatusArgs {
    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CaEnvArgs {
    /// The shell syntax.
    #[arg(long, value_enum, default_value_t = EnvShell::Sh)]
    pub shell: EnvShell,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvShell {
    Sh,
    Fish,
}

#[derive(Args, Debug, Clone)]
pub struct CaCertArgs {
    /// The names: DNS names (*.app.localhost too) and IP addresses.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,

    /// Where to write the certificate chain (default: NAME[+N].pem here).
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<std::path::PathBuf>,

    /// Where to write the key (default: NAME[+N]-key.pem here).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<std::path::PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct MockArgs {
    /// The OpenAPI document (JSON or YAML) or routes file (TOML, YAML, JSON);
    /// none with --proxy.
    #[arg(value_name = "SPEC", required_unless_present = "proxy")]
    pub spec: Option<std::path::PathBuf>,

    /// The port: a number, or 0 or auto for any free one (default 4010,
    /// Prism's, where clients written for a mock look for one).
    #[arg(short = 'p', long, value_name = "PORT", default_value = "4010", value_parser = values::listen_port)]
    pub port: u16,

    #[command(flatten)]
    pub http: HttpServerArgs,

    /// Generated values repeat: the same request gets the same answer on
    /// every run with the same N.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Generate every body from its schema, even where the spec has an
    /// example (per request: Prefer: dynamic=true or false).
    #[arg(short = 'd', long)]
    pub dynamic: bool,

    /// Answer requests that do not match the spec instead of refusing them.
    #[arg(long)]
    pub no_validate: bool,

    /// Wait before each answer: 50ms, a range 20ms..200ms, or a log-normal
    /// lognormal:MEDIAN:P99 (lognormal:40ms:400ms). An operation's
    /// x-berth-delay (a route's delay) takes its place.
    #[arg(long, value_name = "DELAY")]
    pub delay: Option<String>,

    /// Fail RATE of the requests (repeatable): RATE:STATUS (5%:500),
    /// RATE:reset, RATE:empty (closed without an answer), RATE:stall (half
    /// the body, then silence). An operation's x-berth-fail takes its place.
    #[arg(long, value_name = "RATE:KIND")]
    pub fail: Vec<String>,

    /// Do not watch the spec and the files it refers to for changes.
    #[arg(long)]
    pub no_reload: bool,

    /// Append every request and the answer chosen to FILE, as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<std::path::PathBuf>,

    /// Pass the requests the spec does not know (all of them with --record)
    /// to the service at URL, on this machine (http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Record each answer of --proxy as a route of the routes file FILE
    /// (TOML, or JSON for a .json name), which berth mock FILE serves back.
    #[arg(long, value_name = "FILE", requires = "proxy")]
    pub record: Option<std::path::PathBuf>,
}

/// The port `echo` binds when given none.
pub const ECHO_PORT: u16 = 49342;

#[derive(Args, Debug, Clone)]
pub struct EchoArgs {
    /// The port: a number, or 0 or auto for any free one (default 49342).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::listen_port)]
    pub port: Option<u16>,

    /// The port as nc takes it, without --port (the same values).
    #[arg(value_name = "PORT", value_parser = values::listen_port, conflicts_with = "port")]
    pub port_shorthand: Option<u16>,

    /// The address to listen on (loopback unless --expose).
    #[arg(short = 'b', long, value_name = "ADDRESS")]
    pub bind: Option<std::net::IpAddr>,

    /// Listen beyond loopback: alone, on every address (dual-stack ::); with -b, on that address.
    #[arg(long)]
    pub expose: bool,

    /// TCP only.
    #[arg(short = 't', long, conflicts_with = "udp")]
    pub tcp: bool,

    /// UDP only.
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Print every byte received, one line per read: as escaped text or as hex.
    #[arg(long, value_name = "FORMAT", value_parser = value_enum::<LogArg, LogFormat>())]
    pub log: Option<LogFormat>,

    /// Most TCP clients served at once; at the cap a new client closes the one quiet the longest.
    #[arg(long, value_name = "N", default_value = "512", value_parser = values::max_clients)]
    pub max_clients: usize,

    /// Close a TCP client that sends nothing for SECONDS.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = Seconds::above_zero())]
    pub idle_timeout: Duration,

    /// Drop a TCP client that does not read its echo for SECONDS.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = Seconds::above_zero())]
    pub send_timeout: Duration,

    /// Answer at most N datagrams a second from one UDP peer (a burst of N
    /// at once); a loop with another echo server dies out at this rate.
    #[arg(long, value_name = "N", default_value = "1000", value_parser = values::udp_rate)]
    pub udp_rate: u32,
}

#[derive(Args, Debug, Clone)]
pub struct ListenArgs {
    /// The port: a number, or 0 or auto for any free one (printed on stderr).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::listen_port)]
    pub port: Option<u16>,

    /// The port as nc takes it, without --port (the same values).
    #[arg(
        value_name = "PORT",
        value_parser = values::listen_port,
        conflicts_with = "port",
        required_unless_present = "port"
    )]
    pub port_shorthand: Option<u16>,

    /// UDP instead of TCP.
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// The address to listen on (loopback unless --expose).
    #[arg(short = 'b', long, value_name = "ADDRESS")]
    pub bind: Option<std::net::IpAddr>,

    /// Listen beyond loopback: alone, on every address (dual-stack ::); with -b, on that address.
    #[arg(long)]
    pub expose: bool,

    /// Give up after SECONDS without a client (or, with UDP, without a first datagram).
    #[arg(short = 'w', long, value_name = "SECONDS", value_parser = Seconds::above_zero())]
    pub timeout: Option<Duration>,

    /// End the session after SECONDS in which nothing moved either way (exit 5).
    /// Without it berth runs until both directions are done.
    #[arg(short = 'i', long, value_name = "SECONDS", value_parser = Seconds::above_zero())]
    pub idle_timeout: Option<Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Where to: PORT (on localhost), HOST:PORT, [IPV6]:PORT.
    #[arg(value_name = "TARGET", value_parser = values::connect_target)]
    pub target: ProbeTarget,

    /// UDP instead of TCP.
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Seconds to wait for the connection (and, with UDP, for replies once stdin ends).
    #[arg(short = 'w', long, value_name = "SECONDS", default_value = "5", value_parser = Seconds::above_zero())]
    pub timeout: Duration,

    /// End the session after SECONDS in which nothing moved either way (exit 5).
    /// Without it berth runs until both directions are done.
    #[arg(short = 'i', long, value_name = "SECONDS", value_parser = Seconds::above_zero())]
    pub idle_timeout: Option<Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// PORT, HOST:PORT or a URL (http://, https://).
    #[arg(value_name = "TARGET", value_parser = values::probe_target)]
    pub target: ProbeTarget,

    /// Seconds each address may take, all of it: connect, banner, TLS, HTTP and redirects.
    #[arg(short = 'w', long, value_name = "SECONDS", default_value = "2", value_parser = Seconds::above_zero())]
    pub timeout: Duration,

    /// The results as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    /// The host to scan (default 127.0.0.1).
    #[arg(value_name = "HOST", default_value = "127.0.0.1", value_parser = values::host)]
    pub host: String,

    /// Ports to scan: 1-65535, 80,443,8000-8100.
    #[arg(short = 'p', long, value_name = "PORTS", default_value = "1-65535", value_parser = values::port_list)]
    pub ports: PortList,

    /// Scan UDP instead of TCP (open means something answered).
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Seconds to wait for each connection attempt.
    #[arg(short = 'w', long, value_name = "SECONDS", default_value = "1", value_parser = Seconds::above_zero())]
    pub timeout: Duration,

    /// Attempts in flight at once (default: as many as the fd limit allows).
    #[arg(long, value_name = "N", value_parser = values::concurrency)]
    pub concurrency: Option<usize>,

    /// The open ports as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct KillArgs {
    /// The ports, as for `who`: 3000, :3000, 127.0.0.1:3000, [::1]:3000, tcp/3000, udp/53.
    #[arg(value_name = "PORT", required = true, value_parser = values::port_target)]
    pub targets: Vec<PortTarget>,

    /// Do not ask on a terminal; stop them (without a terminal berth never asks).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Show what would be stopped, and stop nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Send SIGKILL to what is still running when the timeout ends.
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Seconds to wait for the port to be released after the signal.
    #[arg(short = 't', long, value_name = "SECONDS", default_value = "5", value_parser = Seconds::from_zero())]
    pub timeout: Duration,

    /// The signal to send first: TERM (default), INT, HUP, QUIT, KILL, USR1, USR2, ALRM, or a number.
    #[arg(
        short = 's',
        long,
        value_name = "SIGNAL",
        default_value = "TERM",
        hide_possible_values = true,
        value_parser = Choices::new(values::signal, values::SIGNAL_NAMES)
    )]
    pub signal: Signal,

    /// The plan and the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct FreeArgs {
    /// How many distinct ports to print.
    #[arg(short = 'n', long, value_name = "N", default_value = "1", value_parser = values::free_count)]
    pub count: usize,

    /// Free for UDP (instead of TCP).
    #[arg(short = 'u', long, conflicts_with = "both")]
    pub udp: bool,

    /// Free for TCP and UDP alike.
    #[arg(long)]
    pub both: bool,

    /// Search LOW-HIGH instead of the default range.
    #[arg(short = 'r', long, value_name = "LOW-HIGH", value_parser = values::port_range)]
    pub range: Option<(u16, u16)>,

    /// The addresses the port must be free on (default 127.0.0.1 and ::1).
    #[arg(short = 'b', long, value_name = "ADDRESS", value_parser = values::addresses)]
    pub bind: Vec<Addresses>,

    /// The ports as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The port: a number, or 0 or auto for a free one (as `berth free` picks).
    #[arg(short = 'p', long, value_name = "PORT", default_value = "auto", value_parser = values::run_port)]
    pub port: RunPort,

    /// Environment variable that carries the port.
    #[arg(short = 'e', long = "env", value_name = "NAME", default_value = "PORT", value_parser = values::env_name)]
    pub env_name: String,

    /// Address to bind (loopback unless --expose).
    #[arg(short = 'b', long, value_name = "ADDRESS", default_value = "127.0.0.1", value_parser = values::run_address)]
    pub bind: std::net::IpAddr,

    /// Allow binding beyond loopback (warns and names every address).
    #[arg(long)]
    pub expose: bool,

    /// Pass the bound, listening socket as fd 3 by systemd socket
    /// activation (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES): no race.
    #[arg(long)]
    pub socket: bool,

    /// Name given in LISTEN_FDNAMES.
    #[arg(long, value_name = "NAME", default_value = "berth")]
    pub fd_name: String,

    /// The program and its arguments (after --), passed on byte for byte;
    /// `{port}` in any of them becomes the port.
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_parser = clap::value_parser!(std::ffi::OsString)
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Findings as JSON: an array, one object per finding.
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,

    /// Findings as SARIF 2.1.0, for CI code-scanning tools.
    #[arg(long)]
    pub sarif: bool,

    /// Exit 1 when a finding at or above this severity is found: info, low,
    /// medium, high, critical, or none (always exit 0).
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "high",
        hide_possible_values = true,
        value_parser = Choices::new(values::fail_on, values::THRESHOLDS)
    )]
    pub fail_on: Threshold,

    /// Show only findings at or above this severity.
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "info",
        value_parser = Choices::new(values::min_severity, values::SEVERITIES)
    )]
    pub min_severity: Severity,

    /// A TOML file of expected listeners and accepted findings (from
    /// --write-policy): those are silenced; listeners it does not expect,
    /// and what it expects that is gone, are findings.
    #[arg(long, value_name = "FILE", env = "BERTH_POLICY")]
    pub policy: Option<std::path::PathBuf>,

    /// Audit, then write a policy that accepts what was found (every
    /// listener and each finding about it, to review and prune) to FILE, or
    /// stdout with -, instead of reporting.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub write_policy: Option<std::path::PathBuf>,

    /// Seconds all probes of one service may take together.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = Seconds::above_zero())]
    pub timeout: Duration,

    /// Seconds all probing may take; services not reached are reported as skipped.
    #[arg(long, value_name = "SECONDS", default_value = "20", value_parser = Seconds::above_zero())]
    pub budget: Duration,

    /// Do not connect to any service: judge bind addresses, firewall and
    /// owners only.
    #[arg(long)]
    pub no_probe: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// A port to diagnose, as for `who` (without it: the machine's loopback setup).
    #[arg(value_name = "PORT", value_parser = values::port_target)]
    pub target: Option<PortTarget>,

    /// Every check as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The socket filters `ls` and `watch` share (`ls`'s analysis::filter).
#[derive(Args, Debug, Clone, Default)]
pub struct SocketFilterArgs {
    /// Only TCP.
    #[arg(short = 't', long)]
    pub tcp: bool,

    /// Only UDP.
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Only sockets taking IPv4 traffic (dual-stack [::] listeners included).
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,

    /// Only sockets taking IPv6 traffic.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Only sockets whose local or remote port is PORT.
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::port_number)]
    pub port: Option<u16>,

    /// Only sockets held by this process id (in `watch`, connections too
    /// short to have an owner count through the listener that accepted them).
    #[arg(long, value_name = "PID", value_parser = values::pid)]
    pub pid: Option<u32>,

    /// Only sockets held by processes whose name contains NAME (any case).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// Only sockets bound beyond loopback (0.0.0.0, ::, or a network address).
    #[arg(long)]
    pub exposed: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct LsArgs {
    /// Every socket in every state (ESTABLISHED, TIME_WAIT, ...), as ss -a.
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Only listening TCP and bound UDP sockets (the default).
    #[arg(short = 'l', long, conflicts_with = "all")]
    pub listening: bool,

    #[command(flatten)]
    pub sockets: SocketFilterArgs,

    /// Also list every other network namespace on the machine (needs root).
    #[arg(long)]
    pub all_netns: bool,

    /// One JSON object per socket, owners nested (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve /metrics on this port or address:port (loopback unless
    /// --expose; 0 for any free port, printed on stderr).
    #[arg(long, value_name = "[ADDRESS:]PORT", value_parser = values::listen_address, conflicts_with = "textfile")]
    pub listen: Option<(Option<std::net::IpAddr>, u16)>,

    /// Listen on an address other hosts can reach (with --listen).
    #[arg(long, requires = "listen")]
    pub expose: bool,

    /// Write DIR/berth.prom for node_exporter's textfile collector (a
    /// temporary file renamed into place: never seen half-written).
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<std::path::PathBuf>,

    /// With --textfile: write the file again this often (1s to 1h), until stopped.
    #[arg(long, value_name = "TIME", requires = "textfile", value_parser = values::textfile_every)]
    pub every: Option<std::time::Duration>,

    /// Require `Authorization: Bearer TOKEN` (shown in `ps`: prefer
    /// --token-file or the environment variable).
    #[arg(long, value_name = "TOKEN", env = "BERTH_METRICS_TOKEN", hide_env_values = true, requires = "listen")]
    pub token: Option<String>,

    /// Require the bearer token in FILE (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "token", requires = "listen")]
    pub token_file: Option<std::path::PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "listen"])]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Run the audit this often (1m, 5m, 1h) for the berth_audit_* series;
    /// 0 turns it off. The first run starts with the exporter.
    #[arg(long, value_name = "TIME", default_value = "5m", value_parser = values::audit_every)]
    pub audit_every: std::time::Duration,

    /// The periodic audit contacts no service (bind addresses, firewall
    /// and owners only).
    #[arg(long)]
    pub no_probe: bool,

    /// A log line per request on stderr (off by default: Prometheus
    /// scrapes every few seconds).
    #[arg(long, requires = "listen")]
    pub log: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    #[command(flatten)]
    pub sockets: SocketFilterArgs,

    /// Only listeners, no connections.
    #[arg(long)]
    pub listeners_only: bool,

    /// Also show the listeners already there when the watch starts.
    #[arg(long)]
    pub initial: bool,

    /// Watch every network namespace on the machine (needs root).
    #[arg(long)]
    pub all_netns: bool,

    /// How often the whole socket table is read (50ms to 1h): connections
    /// living longer are seen opening with their owners. Listeners are read
    /// every 100ms (or this interval, if shorter).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = values::watch_interval)]
    pub interval: std::time::Duration,

    /// Stop after this long (10s, 2h), with the summary.
    #[arg(long, value_name = "TIME", value_parser = values::watch_duration)]
    pub duration: Option<std::time::Duration>,

    /// Raise an alert: `exposed` (a new listener reachable beyond loopback),
    /// `new` (a listener on a port the history never saw), `policy FILE`
    /// (a listener the audit policy FILE does not expect). Repeatable.
    #[arg(long, value_names = ["KIND", "FILE"], num_args = 1..=2, action = clap::ArgAction::Append)]
    pub alert: Vec<String>,

    /// Run this shell command for every alert, with the alert as JSON on its
    /// stdin and BERTH_ALERT, BERTH_EVENT, BERTH_REASON, BERTH_PROTOCOL,
    /// BERTH_ADDRESS, BERTH_PORT, BERTH_SCOPE, BERTH_PID, BERTH_PROCESS and
    /// BERTH_TIME in its environment.
    #[arg(long, value_name = "CMD", requires = "alert")]
    pub exec: Option<String>,

    /// One JSON object per event, one per line (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Args, Debug, Clone)]
pub struct WhoArgs {
    /// The port: 62893, :62893, 127.0.0.1:62893, [::1]:62893,
    /// localhost:62893, tcp/62893 or udp/53.
    #[arg(value_name = "PORT", value_parser = values::port_target)]
    pub target: PortTarget,

    /// Also look inside every other network namespace (needs root).
    #[arg(long)]
    pub all_netns: bool,

    /// The report as one JSON object (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,
}

/// `berth history`'s views.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryView {
    Events,
    At,
    Listeners,
    Peers,
}

#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// What to show: events (one line each, oldest first), at TIME (what
    /// listened then, and who owned it), listeners (every listener ever
    /// seen), peers (the busiest peers of --port).
    #[arg(value_name = "VIEW", value_enum, default_value = "events")]
    pub view: HistoryView,

    /// For `at`: the time (the forms of --since).
    #[arg(value_name = "TIME", value_parser = values::point_in_time)]
    pub time: Option<std::time::SystemTime>,

    /// Only from TIME on: a time ago (90s, 2h, 7d), HH:MM, 'yesterday HH:MM',
    /// YYYY-MM-DD[ HH:MM[:SS]] or RFC 3339.
    #[arg(long, value_name = "TIME", value_parser = values::point_in_time)]
    pub since: Option<std::time::SystemTime>,

    /// Only up to TIME (the forms of --since).
    #[arg(long, value_name = "TIME", value_parser = values::point_in_time)]
    pub until: Option<std::time::SystemTime>,

    /// Only sockets whose local or remote port is PORT (peers: the port whose peers are shown).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = values::port_number)]
    pub port: Option<u16>,

    /// Only sockets held by this process id.
    #[arg(long, value_name = "PID", value_parser = values::pid)]
    pub pid: Option<u32>,

    /// Only sockets held by processes whose name contains NAME (any case).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// Only TCP.
    #[arg(short = 't', long)]
    pub tcp: bool,

    /// Only UDP.
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Only sockets bound beyond loopback (0.0.0.0, ::, or a network address).
    #[arg(long)]
    pub exposed: bool,

    /// The history file (default: $BERTH_HISTORY, else $XDG_STATE_HOME/berth/history.sqlite,
    /// else ~/.local/state/berth/history.sqlite).
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,

    /// A JSON array, one object per line (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,
}

/// How `berth watch` records its events (flattened into its arguments).
#[derive(Args, Debug, Clone, Default)]
pub struct RecordArgs {
    /// Record the events to FILE (default: $BERTH_HISTORY, else
    /// $XDG_STATE_HOME/berth/history.sqlite, else ~/.local/state/berth/history.sqlite).
    #[arg(long, value_name = "FILE", conflicts_with = "no_history")]
    pub history: Option<std::path::PathBuf>,

    /// Record nothing.
    #[arg(long)]
    pub no_history: bool,

    /// Keep events this long (12h, 7d, 30d).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = values::keep)]
    pub keep: Duration,

    /// Delete the oldest events when the file grows past SIZE (256MiB, 1GiB).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = values::size)]
    pub max_size: u64,
}

/// When to colour output: `args::style` decides what `Auto` means.
/// (No doc comments on the variants: clap would show them in the help.)
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A clap value enum read as the type below the CLI it stands for: the
/// inventory and the servers know nothing of clap, so their choices are
/// spelled for clap here, and help, completions and refusals list the
/// possible values as for any value enum.
fn value_enum<A, T>() -> impl TypedValueParser<Value = T>
where
    A: ValueEnum + Clone + Send + Sync + 'static,
    T: From<A> + Clone + Send + Sync + 'static,
{
    EnumValueParser::<A>::new().map(T::from)
}

/// `--source`, for [`SourceChoice`].
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SourceArg {
    Auto,
    Netlink,
    Proc,
}

impl From<SourceArg> for SourceChoice {
    fn from(arg: SourceArg) -> Self {
        match arg {
            SourceArg::Auto => SourceChoice::Auto,
            SourceArg::Netlink => SourceChoice::Netlink,
            SourceArg::Proc => SourceChoice::Proc,
        }
    }
}

/// `echo --log`, for [`LogFormat`].
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogArg {
    Text,
    Hex,
}

impl From<LogArg> for LogFormat {
    fn from(arg: LogArg) -> Self {
        match arg {
            LogArg::Text => LogFormat::Text,
            LogArg::Hex => LogFormat::Hex,
        }
    }
}

#[cfg(test)]
mod tests;
