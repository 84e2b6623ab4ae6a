//! From typed arguments to configured objects: the one place that knows how
//! a command's arguments become what it asks the inventory (a [`Query`]),
//! what it sets up (listeners, limits), and how its report reaches the
//! terminal (`Output`, in the [`Style`] that colour and width allow).
//!
//! ripgrep's `crates/core/flags/hiargs.rs` is the model: clap types the
//! values ([`crate::cli`]), this module configures, and a command only
//! calls, renders and picks its exit code. The methods extend the argument
//! structs of [`crate::cli`], one `impl` per command, so a command reads
//! `args.query(global)` and never sets a field of a Query itself.

use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::slice;

use crate::analysis::filter::LsFilter;
use crate::cli::values::invalid;
use crate::cli::{
    ColorChoice, DoctorArgs, EchoArgs, FreeArgs, GlobalArgs, HistoryArgs, KillArgs, ListenArgs, LsArgs, RecordArgs,
    RunArgs, ScanArgs, SocketFilterArgs, WatchArgs, WhoArgs,
};
use crate::commands::{stdout, Stdout};
use crate::error::Error;
use crate::history::query::HistoryFilter;
use crate::history::{self, HistoryError, Recorder, Retention};
use crate::render::ls::LsLayout;
use crate::render::style::Style;
use crate::servers::echo::TcpLimits;
use crate::servers::listener::ListenSpec;
use crate::watch::alerts::AlertRules;
use berth_inventory::target::PortTarget;
use berth_inventory::{Protocol, Query};

/// Every socket in every state, from the source the user chose, without
/// owners or counters: what the queries below start from.
fn every_socket(global: &GlobalArgs) -> Query {
    Query { source: global.source, tcp_counters: false, owners: false, ..Query::default() }
}

/// The sockets on the targets' ports, in every state, with their owners:
/// only the protocols the targets name, and with one target only its port
/// (the kernel filters it; several ports are read in one dump).
fn sockets_of(targets: &[PortTarget], global: &GlobalArgs) -> Query {
    Query {
        tcp: targets.iter().any(|t| t.protocol.is_none_or(|p| p == Protocol::Tcp)),
        udp: targets.iter().any(|t| t.protocol.is_none_or(|p| p == Protocol::Udp)),
        owners: true,
        port: match targets {
            [one] => Some(one.port),
            _ => None,
        },
        ..every_socket(global)
    }
}

impl SocketFilterArgs {
    /// The filter these flags ask for; `all_states` also shows connections.
    pub(crate) fn filter(&self, all_states: bool) -> LsFilter {
        LsFilter {
            all_states,
            tcp: self.tcp,
            udp: self.udp,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            port: self.port,
            pid: self.pid,
            process: self.process.clone(),
            exposed: self.exposed,
        }
    }
}

impl LsArgs {
    /// Which sockets of the snapshot `ls` shows.
    pub(crate) fn filter(&self) -> LsFilter {
        self.sockets.filter(self.all)
    }

    /// What `ls` reads: the protocols its filter shows, listeners only
    /// unless `-a`, the port when one is given (the kernel filters it), the
    /// owners, and the counters only for JSON (the table does not show them).
    pub(crate) fn query(&self, global: &GlobalArgs) -> Query {
        let filter = self.filter();
        Query {
            tcp: filter.wants_protocol(Protocol::Tcp),
            udp: filter.wants_protocol(Protocol::Udp),
            tcp_listening_only: !self.all,
            all_netns: self.all_netns,
            tcp_counters: self.json,
            owners: true,
            port: self.sockets.port,
            ..every_socket(global)
        }
    }

    /// The table's columns.
    pub(crate) fn layout(&self) -> LsLayout {
        LsLayout { connections: self.all, namespaces: self.all_netns }
    }
}

impl WatchArgs {
    /// Which events the live view shows: `ls`'s filter, over every state.
    pub(crate) fn filter(&self) -> LsFilter {
        self.sockets.filter(true)
    }

    /// What the full dumps read: every socket of both protocols with
    /// counters, whatever the filter shows (the history keeps everything;
    /// the filter is for the screen), without TIME_WAIT remnants and
    /// without owners: the loop looks owners up only for what opened, and
    /// every few seconds for the listeners (see watch::runner).
    pub(crate) fn query(&self, global: &GlobalArgs) -> Query {
        Query {
            all_netns: self.all_netns,
            tcp_counters: true,
            owners: false,
            without_time_wait: true,
            ..every_socket(global)
        }
    }

    /// How often listeners are read: every 100 ms, or at the interval if it
    /// is shorter, or (with --all-netns, where each read walks /proc to find
    /// the namespaces) at the interval.
    pub(crate) fn listener_interval(&self) -> std::time::Duration {
        if self.all_netns {
            self.interval
        } else {
            self.interval.min(std::time::Duration::from_millis(100))
        }
    }

    /// `--alert` as rules: `exposed`, `new`, `policy FILE`.
    pub(crate) fn alert_rules(&self) -> Result<AlertRules, Error> {
        let mut rules = AlertRules::default();
        let expected = "use exposed, new, or policy FILE (try 'berth watch --help')";
        // The values in order: `policy` takes the next one as its file.
        let mut words = self.alert.iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "exposed" => rules.exposed = true,
                "new" => rules.new = true,
                "policy" => {
                    let Some(file) = words.next() else {
                        return Err(invalid(
                            "alert",
                            word,
                            "policy needs the policy file: --alert policy FILE (berth audit --write-policy FILE writes one)",
                        ));
                    };
                    let policy = crate::audit::policy::load(std::path::Path::new(file)).map_err(Error::Usage)?;
                    rules.policy = Some(policy);
                }
                _ => return Err(invalid("alert", word, expected)),
            }
        }
        Ok(rules)
    }
}

impl WhoArgs {
    /// The port's sockets with their owners and the owners' parents, in
    /// every namespace with `--all-netns`; counters only for JSON.
    pub(crate) fn query(&self, global: &GlobalArgs) -> Query {
        Query {
            all_netns: self.all_netns,
            ancestors: true,
            tcp_counters: self.json,
            ..sockets_of(slice::from_ref(&self.target), global)
        }
    }
}

impl KillArgs {
    /// The ports' sockets with their owners and the owners' parents: what
    /// the plan and the final check read.
    pub(crate) fn holders_query(&self, global: &GlobalArgs) -> Query {
        Query { ancestors: true, ..sockets_of(&self.targets, global) }
    }

    /// The ports' sockets without owners (no pass over /proc): cheap
    /// enough to sample while waiting for the ports to be released.
    pub(crate) fn release_query(&self, global: &GlobalArgs) -> Query {
        Query { owners: false, ..sockets_of(&self.targets, global) }
    }
}

impl DoctorArgs {
    /// For a port, its sockets with their owners, as `who` reads them;
    /// for the machine, every socket in every state (for the ephemeral
    /// range), without owners.
    pub(crate) fn query(&self, global: &GlobalArgs) -> Query {
        match &self.target {
            Some(target) => sockets_of(slice::from_ref(target), global),
            None => every_socket(global),
        }
    }
}

impl FreeArgs {
    /// The protocols a port must be free for.
    pub(crate) fn protocols(&self) -> Vec<Protocol> {
        if self.both {
            vec![Protocol::Tcp, Protocol::Udp]
        } else if self.udp {
            vec![Protocol::Udp]
        } else {
            vec![Protocol::Tcp]
        }
    }

    /// The addresses a port must be free on: loopback in both families
    /// unless `--bind` names others.
    pub(crate) fn addresses(&self) -> Vec<IpAddr> {
        if self.bind.is_empty() {
            return vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
        }
        self.bind.iter().flat_map(|given| given.0.iter().copied()).collect()
    }

    /// Every socket of those protocols, without owners: which ports are taken.
    pub(crate) fn query(&self, global: &GlobalArgs) -> Query {
        let protocols = self.protocols();
        Query {
            tcp: protocols.contains(&Protocol::Tcp),
            udp: protocols.contains(&Protocol::Udp),
            ..every_socket(global)
        }
    }
}

impl RunArgs {
    /// Every TCP socket, without owners: which ports `--port auto` must avoid.
    pub(crate) fn free_port_query(&self, global: &GlobalArgs) -> Query {
        Query { udp: false, ..every_socket(global) }
    }
}

impl ScanArgs {
    pub(crate) fn protocol(&self) -> Protocol {
        if self.udp {
            Protocol::Udp
        } else {
            Protocol::Tcp
        }
    }

    /// Who holds the open ports: this namespace's listeners of the scanned
    /// protocol, with owners; with one open port, only that port.
    /// The listeners behind `ports` (open ones, and TCP ones that timed
    /// out, to tell a full accept queue from a firewall).
    pub(crate) fn holders_query(&self, ports: &[u16], global: &GlobalArgs) -> Query {
        Query {
            tcp: self.protocol() == Protocol::Tcp,
            udp: self.protocol() == Protocol::Udp,
            port: match ports {
                [one] => Some(*one),
                _ => None,
            },
            ..Query::listeners(global.source)
        }
    }
}

impl EchoArgs {
    /// TCP, UDP, or (with neither flag) both: `(tcp, udp)`.
    pub(crate) fn protocols(&self) -> (bool, bool) {
        match (self.tcp, self.udp) {
            (true, false) => (true, false),
            (false, true) => (false, true),
            _ => (true, true),
        }
    }

    /// The port to bind, by `--port` or the nc-style positional (0: any).
    pub(crate) fn port(&self) -> u16 {
        self.port.or(self.port_shorthand).unwrap_or(crate::cli::ECHO_PORT)
    }

    pub(crate) fn listen_spec(&self) -> ListenSpec {
        ListenSpec { bind: self.bind, port: self.port(), expose: self.expose }
    }

    pub(crate) fn tcp_limits(&self) -> TcpLimits {
        TcpLimits { max_clients: self.max_clients, idle_timeout: self.idle_timeout, send_timeout: self.send_timeout }
    }
}

impl ListenArgs {
    /// The port, by `--port` or the nc-style positional (clap requires one).
    pub(crate) fn listen_spec(&self) -> ListenSpec {
        ListenSpec { bind: self.bind, port: self.port.or(self.port_shorthand).unwrap_or(0), expose: self.expose }
    }
}

/// The style of text for people: colour as `--color` says, and with
/// `auto` only when stdout is a terminal, NO_COLOR is unset or empty
/// (https://no-color.org) and TERM is not dumb; the terminal's width, so
/// tables can fit it (none in pipes: never truncate there).
pub(crate) fn style(global: &GlobalArgs) -> Style {
    let tty = io::stdout().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && !no_color && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true),
    };
    Style { color, width: if tty { terminal_width() } else { None } }
}

fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a winsize struct; failure leaves it zeroed.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0 {
            Some(size.ws_col as usize)
        } else {
            None
        }
    }
}

/// How a command's report reaches stdout: one JSON document for programs
/// (`--json`), or text for people in the [`Style`] the terminal allows.
pub(crate) enum Output {
    Json,
    Text(Style),
}

impl Output {
    pub(crate) fn new(json: bool, global: &GlobalArgs) -> Output {
        if json {
            Output::Json
        } else {
            Output::Text(style(global))
        }
    }

    /// Writes the report to stdout with `json` or `text`, whichever this
    /// output is, and flushes it.
    pub(crate) fn write(
        &self,
        json: impl FnOnce(&mut Stdout) -> io::Result<()>,
        text: impl FnOnce(&mut Stdout, &Style) -> io::Result<()>,
    ) -> Result<(), Error> {
        let mut out = stdout();
        match self {
            Output::Json => json(&mut out)?,
            Output::Text(style) => text(&mut out, style)?,
        }
        out.flush()?;
        Ok(())
    }
}

impl HistoryArgs {
    /// The history file to read: --file, else the default place.
    pub(crate) fn path(&self) -> Result<PathBuf, Error> {
        match &self.file {
            Some(file) => Ok(file.clone()),
            None => history::default_path().ok_or_else(|| HistoryError::NoDefault.into()),
        }
    }

    /// The filters every view applies.
    pub(crate) fn filter(&self) -> HistoryFilter {
        HistoryFilter {
            since: self.since,
            until: self.until,
            port: self.port,
            pid: self.pid,
            process: self.process.clone(),
            tcp: self.tcp,
            udp: self.udp,
            exposed: self.exposed,
        }
    }
}

// Used by `berth watch`, which flattens RecordArgs into its arguments.
#[allow(dead_code)]
impl RecordArgs {
    /// How much history `--keep` and `--max-size` keep.
    pub(crate) fn retention(&self) -> Retention {
        Retention { keep: self.keep, max_bytes: self.max_size }
    }

    /// The file to record to: --history, else the default place; None
    /// with --no-history.
    pub(crate) fn history_path(&self) -> Result<Option<PathBuf>, Error> {
        if self.no_history {
            return Ok(None);
        }
        match &self.history {
            Some(file) => Ok(Some(file.clone())),
            None => history::default_path().map(Some).ok_or_else(|| HistoryError::NoDefault.into()),
        }
    }

    /// The recorder of this watch, or None with --no-history. A file
    /// another watch is writing is an error that says what to do.
    pub(crate) fn recorder(&self) -> Result<Option<Recorder>, Error> {
        match self.history_path()? {
            Some(path) => Ok(Some(Recorder::open(&path, self.retention())?)),
            None => Ok(None),
        }
    }
}
