//! The command line, as one clap definition. Doc comments here are the help
//! text; completions and the man page are generated from the same structs.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::inventory::SourceChoice;
use crate::render::style::ColorChoice;

const ROOT_EXAMPLES: &str = "\
Examples:
  berth ls                     what listens on this machine, and who owns it
  berth ls -a -t --port 5432   every TCP socket to or from port 5432
  berth who 62893              who holds port 62893 (exit 1 if nobody)
  berth ls --exposed --json    listeners reachable beyond loopback, for scripts

Exit codes: 0 found / done, 1 nothing found, 2 bad usage or input,
3 action failed, 4 the system would not tell berth what it needs.";

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
    #[arg(long, global = true, value_enum, default_value_t = SourceArg::Auto, env = "BERTH_SOURCE")]
    pub source: SourceArg,

    /// When to colour output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List sockets with their owning processes (like ss -tulpn, lsof -i).
    #[command(visible_alias = "list", after_help = LS_EXAMPLES)]
    Ls(LsArgs),

    /// Show who holds a port: processes, parents, command lines, clients.
    #[command(after_help = WHO_EXAMPLES)]
    Who(WhoArgs),

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
    #[command(after_help = "Example:\n  berth man | gzip > /usr/local/share/man/man1/berth.1.gz")]
    Man,
}

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

#[derive(Args, Debug, Clone, Default)]
pub struct LsArgs {
    /// Every socket in every state (ESTABLISHED, TIME_WAIT, ...), as ss -a.
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Only listening TCP and bound UDP sockets (the default).
    #[arg(short = 'l', long, conflicts_with = "all")]
    pub listening: bool,

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
    #[arg(short = 'p', long, value_name = "PORT", value_parser = parse_port_arg)]
    pub port: Option<u16>,

    /// Only sockets held by this process id.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,

    /// Only sockets held by processes whose name contains NAME (any case).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// Only sockets bound beyond loopback (0.0.0.0, ::, or a network address).
    #[arg(long)]
    pub exposed: bool,

    /// Also list every other network namespace on the machine (needs root).
    #[arg(long)]
    pub all_netns: bool,

    /// One JSON object per socket, owners nested (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WhoArgs {
    /// The port: 62893, :62893, 127.0.0.1:62893, [::1]:62893,
    /// localhost:62893, tcp/62893 or udp/53.
    #[arg(value_name = "PORT")]
    pub target: String,

    /// Also look inside every other network namespace (needs root).
    #[arg(long)]
    pub all_netns: bool,

    /// The report as one JSON object (schema: docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceArg {
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

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for ColorChoice {
    fn from(arg: ColorArg) -> Self {
        match arg {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        }
    }
}

fn parse_port_arg(text: &str) -> Result<u16, String> {
    crate::analysis::target::parse_port(text).map_err(|e| e.0)
}
