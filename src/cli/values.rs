//! Typed values at the clap boundary: each parser here turns what the user
//! typed into the type the command works with, so no command parses a
//! string (fd's `value_parser = SizeFilter::from_string` is the model).
//!
//! How a refusal reads: every parser here rejects a value in berth's own
//! words, as [`invalid`] writes them (`invalid port 'abc': a port is a
//! number 1-65535, or 0/auto for any free port`), and returns an
//! [`Error::Usage`], which [`crate::app`] prints as it prints every other
//! error value: `berth: MESSAGE (try 'berth CMD --help')`, on one line,
//! exit 2. No number is parsed by clap's own parsers, so Rust's "invalid
//! digit found in string" never reaches the user; a value that is not
//! UTF-8 reaches its parser shown escaped (`\xff`, see `app::not_utf8`),
//! so it too is refused in these words.
//!
//! Values with a fixed set of words (`--fail-on`, `--signal`) are parsed by
//! [`Choices`], which also tells clap the words, so help, completions
//! (`audit --fail-on <Tab>`) and refusals list them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};

use crate::actions::signal::Signal;
use crate::audit::Severity;
use crate::error::Error;
use crate::net::ports;
use crate::net::resolve::{self, ProbeTarget};
use berth_inventory::target::{parse_port, refusal, PortTarget};

/// The one wording of a refused value: `invalid WHAT 'TEXT': EXPECTED`,
/// where EXPECTED says what would have been accepted. It is the
/// inventory's [`refusal`], which also words a refused piece of a longer
/// input (`invalid port '99999' in 'abc:99999'`) for the target, range and
/// port-list parsers. (An over-long TEXT is shortened where the line is
/// printed, in [`crate::app`].)
pub fn invalid(what: &str, text: &str, expected: &str) -> Error {
    refusal(what, text, text, expected).into()
}

/// A whole number of type `T` (digits only, no sign), refused in berth's
/// words: what it is and what is accepted.
fn whole<T: FromStr>(text: &str, what: &str, expected: &str) -> Result<T, Error> {
    let trimmed = text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(what, text, expected));
    }
    trimmed.parse().map_err(|_| invalid(what, text, expected))
}

/// What [`listen_port`] accepts, in its refusals and in help.
const LISTEN_PORT_FORMS: &str = "a port is a number 1-65535, or 0/auto for any free port";

/// The port a command binds (`serve`, `echo`, `listen`, `run`, all as
/// `-p/--port`): a number from 1 to 65535, or `0` or `auto`, which both
/// mean any free port (returned as 0). The one port parser of every
/// command that binds, so they take the same words and refuse alike.
pub fn listen_port(text: &str) -> Result<u16, Error> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(0);
    }
    whole::<u32>(text, "port", LISTEN_PORT_FORMS)
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| invalid("port", text, LISTEN_PORT_FORMS))
}

/// `62893`, `:62893`, `127.0.0.1:62893`, `[::1]:62893`, `localhost:62893`,
/// `tcp/62893`, `udp/53` (the one port parser, in the inventory).
pub fn port_target(text: &str) -> Result<PortTarget, Error> {
    Ok(PortTarget::parse(text)?)
}

/// A port number from 1 to 65535 (`ls --port`, a filter: 0 is no port).
pub fn port_number(text: &str) -> Result<u16, Error> {
    Ok(parse_port(text)?)
}

/// `ls --pid`: a process id (0, never a process, matches nothing).
pub fn pid(text: &str) -> Result<u32, Error> {
    whole::<u32>(text, "process id", "a process id is a whole number, such as 1234")
}

/// `TERM`, `SIGTERM`, `term`, `15`.
pub fn signal(text: &str) -> Result<Signal, Error> {
    Signal::parse(text).map_err(|_| {
        invalid("signal", text, "use TERM, INT, HUP, QUIT, KILL, USR1, USR2, ALRM or a number from 1 to 64")
    })
}

/// The signal names [`signal`] takes (numbers too), for completions.
pub const SIGNAL_NAMES: &[&str] = &["TERM", "INT", "HUP", "QUIT", "KILL", "USR1", "USR2", "ALRM"];

/// A parser for a value with a fixed set of words: `parse` reads it (in
/// berth's words when it refuses) and `words` are what clap shows in help
/// and completes, so `--fail-on <Tab>` offers the severities.
#[derive(Clone)]
pub struct Choices<T> {
    parse: fn(&str) -> Result<T, Error>,
    words: &'static [&'static str],
}

impl<T> Choices<T> {
    pub fn new(parse: fn(&str) -> Result<T, Error>, words: &'static [&'static str]) -> Self {
        Choices { parse, words }
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Choices<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let parse = self.parse;
        (move |text: &str| parse(text)).parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.words.iter().map(|word| PossibleValue::new(*word))))
    }
}

/// The most a timeout may be: an hour.
const MAX_SECONDS: f64 = 3600.0;

/// Seconds (a decimal number) as a [`Duration`], at most an hour: above 0,
/// or from 0 where waiting no time means something (`kill --timeout 0`).
/// The refusal names the flag it came from.
#[derive(Clone, Copy, Debug)]
pub struct Seconds {
    zero_allowed: bool,
}

impl Seconds {
    /// More than 0 and at most an hour.
    pub fn above_zero() -> Self {
        Seconds { zero_allowed: false }
    }

    /// From 0 to an hour.
    pub fn from_zero() -> Self {
        Seconds { zero_allowed: true }
    }
}

impl TypedValueParser for Seconds {
    type Value = Duration;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Duration, clap::Error> {
        let what = match arg.and_then(clap::Arg::get_long) {
            Some(long) => format!("--{long}"),
            None => "timeout".to_string(),
        };
        let zero_allowed = self.zero_allowed;
        // A plain function parser: clap keeps berth's refusal as the
        // error's source, which `app` prints (see the module docs).
        let parse = move |text: &str| -> Result<Duration, Error> {
            let bounds = if zero_allowed { "from 0 to 3600" } else { "above 0, at most 3600" };
            let refusal = || invalid(&what, text, &format!("give seconds {bounds}, such as 2 or 0.5"));
            let seconds: f64 = text.trim().parse().map_err(|_| refusal())?;
            let low_ok = if zero_allowed { seconds >= 0.0 } else { seconds > 0.0 };
            if seconds.is_finite() && low_ok && seconds <= MAX_SECONDS {
                return Ok(Duration::from_secs_f64(seconds));
            }
            Err(refusal())
        };
        parse.parse_ref(cmd, arg, value)
    }
}

/// A span of time as people write it: `1s`, `100ms`, `2m`, `1h 30m`, `7d`
/// (humantime's units), or plain seconds (`0.5`), between `low` and
/// `high`; `what` names the value in the refusal.
fn span(text: &str, what: &str, low: Duration, high: Duration, example: &str) -> Result<Duration, Error> {
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Some(Duration::from_secs_f64(seconds)),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(trimmed).ok(),
    };
    match parsed {
        Some(duration) if duration >= low && duration <= high => Ok(duration),
        _ => Err(invalid(
            what,
            text,
            &format!(
                "give a time from {} to {}, such as {example}",
                humantime::format_duration(low),
                humantime::format_duration(high)
            ),
        )),
    }
}

/// `watch --interval`: 50 ms to an hour.
pub fn watch_interval(text: &str) -> Result<Duration, Error> {
    span(text, "interval", Duration::from_millis(50), Duration::from_secs(3600), "1s or 200ms")
}

/// `watch --duration`: how long to watch, 1 ms to 30 days.
pub fn watch_duration(text: &str) -> Result<Duration, Error> {
    span(text, "duration", Duration::from_millis(1), Duration::from_secs(30 * 86400), "10s or 2h")
}

/// `proxy --leaf-lifetime`: how long a certificate lives, 2 s to a year.
pub fn leaf_lifetime(text: &str) -> Result<Duration, Error> {
    span(text, "lifetime", Duration::from_secs(2), Duration::from_secs(366 * 86400), "7d or 1h")
}

/// `metrics --every`: 1 s to an hour.
pub fn textfile_every(text: &str) -> Result<Duration, Error> {
    span(text, "period", Duration::from_secs(1), Duration::from_secs(3600), "30s or 1m")
}

/// `metrics --audit-every`: 0 (off) or 1 s to a day.
pub fn audit_every(text: &str) -> Result<Duration, Error> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    span(text, "period", Duration::from_secs(1), Duration::from_secs(86400), "5m, 1h, or 0 for off")
}

/// What [`listen_address`] accepts, in its refusals.
const LISTEN_ADDRESS_FORMS: &str = "give a port (9798), an address and port (127.0.0.1:9798; an IPv6 address in brackets, [::1]:9798), or port 0 for any free port";

/// `metrics --listen`: `PORT`, `ADDRESS:PORT`, `[IPv6]:PORT` or
/// `localhost:PORT`, as std's socket address syntax has it (so an IPv6
/// address needs its brackets, as everywhere in berth); the address is
/// None when only a port is given (loopback, or every address with
/// --expose, as for serve's --bind).
pub fn listen_address(text: &str) -> Result<(Option<IpAddr>, u16), Error> {
    let trimmed = text.trim();
    if let Ok(port) = listen_port(trimmed) {
        return Ok((None, port));
    }
    if let Ok(address) = trimmed.parse::<std::net::SocketAddr>() {
        return Ok((Some(address.ip()), address.port()));
    }
    if let Some(port) = trimmed.strip_prefix("localhost:") {
        let port = listen_port(port).map_err(|_| invalid("listen address", text, LISTEN_ADDRESS_FORMS))?;
        return Ok((Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), port));
    }
    Err(invalid("listen address", text, LISTEN_ADDRESS_FORMS))
}

/// `scan --ports`: ports and ranges, as `1-1024,8080`, each port once, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList(pub Vec<u16>);

/// See [`PortList`].
pub fn port_list(text: &str) -> Result<PortList, Error> {
    ports::parse_ports(text).map(PortList)
}

/// `free --range LOW-HIGH`.
pub fn port_range(text: &str) -> Result<(u16, u16), Error> {
    Ok(crate::analysis::free::parse_range(text)?)
}

/// What `probe` is pointed at: PORT, HOST:PORT, `[IPV6]:PORT` or a URL.
pub fn probe_target(text: &str) -> Result<ProbeTarget, Error> {
    ProbeTarget::parse(text)
}

/// What `connect` is pointed at: as for `probe`, but not a URL.
pub fn connect_target(text: &str) -> Result<ProbeTarget, Error> {
    ProbeTarget::parse_address(text)
}

/// `scan HOST`: a host name or an IP address, checked as typed (it is
/// resolved when the scan starts).
pub fn host(text: &str) -> Result<String, Error> {
    resolve::parse_host(text)
}

/// One `free --bind` value: an address, or `localhost` for both loopback
/// addresses (127.0.0.1 and ::1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addresses(pub Vec<IpAddr>);

/// See [`Addresses`]; brackets around IPv6 are allowed.
pub fn addresses(text: &str) -> Result<Addresses, Error> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(Addresses(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]));
    }
    let trimmed = text.trim_start_matches('[').trim_end_matches(']');
    let ip = trimmed.parse::<IpAddr>().map_err(|_| {
        invalid("address", text, "an address is an IP address, as 127.0.0.1, ::1 or 0.0.0.0, or localhost")
    })?;
    Ok(Addresses(vec![ip]))
}

/// At most this many ports at once from `free`: more is a mistake, not a need.
const MAX_FREE_COUNT: usize = 1000;

/// `free -n`: how many ports, 1 to `MAX_FREE_COUNT`.
pub fn free_count(text: &str) -> Result<usize, Error> {
    let forms = format!("ask for 1 to {MAX_FREE_COUNT} ports");
    match whole::<usize>(text, "count", &forms) {
        Ok(count @ 1..=MAX_FREE_COUNT) => Ok(count),
        _ => Err(invalid("count", text, &forms)),
    }
}

/// The port `run` gives the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPort {
    /// A free one, as `berth free` picks.
    Auto,
    /// This one.
    Number(u16),
}

/// `run --port`: as every command that binds takes it ([`listen_port`]);
/// `0` and `auto` both pick a free one.
pub fn run_port(text: &str) -> Result<RunPort, Error> {
    Ok(match listen_port(text)? {
        0 => RunPort::Auto,
        port => RunPort::Number(port),
    })
}

/// `run --bind`: one IP address (brackets around IPv6 allowed).
pub fn run_address(text: &str) -> Result<IpAddr, Error> {
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| invalid("address", text, "an address is an IP address, as 127.0.0.1 or ::1"))
}

/// `run --env`: a name a shell could export (letters, digits and _, not
/// starting with a digit).
pub fn env_name(text: &str) -> Result<String, Error> {
    let valid = !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(invalid("variable name", text, "a name is letters, digits and _, not starting with a digit"));
    }
    Ok(text.to_string())
}

/// A whole number of at least 1 (`what` names it in a refusal).
fn at_least_one<T: FromStr + PartialEq + From<u8>>(text: &str, what: &str, expected: &str) -> Result<T, Error> {
    match whole::<T>(text, what, expected)? {
        n if n == T::from(0) => Err(invalid(what, text, expected)),
        n => Ok(n),
    }
}

/// `echo --max-clients`: at least 1.
pub fn max_clients(text: &str) -> Result<usize, Error> {
    at_least_one(text, "--max-clients", "give a number of clients, at least 1")
}

/// `serve --max-connections`: at least 1.
pub fn max_connections(text: &str) -> Result<usize, Error> {
    at_least_one(text, "--max-connections", "give a number of connections, at least 1")
}

/// `echo --udp-rate`: at least 1 datagram a second.
pub fn udp_rate(text: &str) -> Result<u32, Error> {
    at_least_one(text, "--udp-rate", "give datagrams a second, at least 1")
}

/// `scan --concurrency`: at least 1 attempt in flight.
pub fn concurrency(text: &str) -> Result<usize, Error> {
    at_least_one(text, "--concurrency", "give at least 1 attempt in flight")
}

/// `audit --fail-on`: the severity from which findings fail the run;
/// None for `none` (never fail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold(pub Option<Severity>);

/// The words `--min-severity` takes, and `--fail-on` with `none`.
pub const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];
pub const THRESHOLDS: &[&str] = &["info", "low", "medium", "high", "critical", "none"];

/// See [`Threshold`].
pub fn fail_on(text: &str) -> Result<Threshold, Error> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Threshold(None));
    }
    text.parse::<Severity>()
        .map(|s| Threshold(Some(s)))
        .map_err(|_| invalid("severity", text, "use info, low, medium, high, critical, or none"))
}

/// `audit --min-severity`.
pub fn min_severity(text: &str) -> Result<Severity, Error> {
    text.parse::<Severity>().map_err(|_| invalid("severity", text, "use info, low, medium, high or critical"))
}

/// `history --since/--until` and `history at TIME`: a time ago (`90s`,
/// `2h`, `7d`), `HH:MM` today, `yesterday HH:MM`, a local
/// `YYYY-MM-DD[ HH:MM[:SS]]`, or RFC 3339 (see [`crate::history::when`]).
pub fn point_in_time(text: &str) -> Result<std::time::SystemTime, Error> {
    crate::history::when::parse_time(text, std::time::SystemTime::now())
        .ok_or_else(|| invalid("time", text, crate::history::when::TIME_FORMS))
}

/// `watch --keep`: how long the history keeps events (`7d`, `12h`, `30d`),
/// at least a minute.
pub fn keep(text: &str) -> Result<Duration, Error> {
    let expected = "give a duration of at least a minute, such as 12h, 7d or 30d";
    match humantime::parse_duration(text.trim()) {
        Ok(keep) if keep >= Duration::from_secs(60) => Ok(keep),
        _ => Err(invalid("--keep", text, expected)),
    }
}

/// `watch --max-size`: bytes, with a unit (`256MiB`, `1GiB`, `500MB`, `64k`),
/// at least 1 MiB.
pub fn size(text: &str) -> Result<u64, Error> {
    let expected = "give a size of at least 1MiB, such as 256MiB, 1GiB or 500MB";
    let refusal = || invalid("--max-size", text, expected);
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(refusal());
    }
    let number: u64 = digits.parse().map_err(|_| refusal())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        "t" | "tib" => 1 << 40,
        "tb" => 1_000_000_000_000,
        _ => return Err(refusal()),
    };
    match number.checked_mul(multiplier) {
        Some(bytes) if bytes >= 1 << 20 => Ok(bytes),
        _ => Err(refusal()),
    }
}
