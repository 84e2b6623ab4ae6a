//! Typed values at the clap boundary: each parser here turns what the user
//! typed into the type the command works with, so no command parses a
//! string (fd's `value_parser = SizeFilter::from_string` is the model).
//!
//! How a refusal reads: a parser that rejects a value in berth's own words
//! returns an [`Error::Usage`], which [`crate::app`] prints as it prints
//! every other error value: `berth: MESSAGE`, on one line, exit 2. Where
//! the text is not a number at all, the parser returns the standard
//! library's error instead, and clap words it as it does for every other
//! flag: `invalid value 'x' for '--flag <N>': invalid digit found in string`.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use clap::builder::TypedValueParser;

use crate::actions::signal::Signal;
use crate::audit::Severity;
use crate::error::Error;
use crate::net::{ports, resolve::ProbeTarget};
use berth_inventory::target::{parse_port, PortTarget};

/// What a parser that may refuse in either voice returns (see the module docs).
type Refusal = Box<dyn StdError + Send + Sync>;

/// `62893`, `:62893`, `127.0.0.1:62893`, `[::1]:62893`, `localhost:62893`,
/// `tcp/62893`, `udp/53` (the one port parser, in the inventory).
pub fn port_target(text: &str) -> Result<PortTarget, Error> {
    Ok(PortTarget::parse(text)?)
}

/// A port number from 1 to 65535, as `ls --port` has always worded its
/// refusal: inside clap's "invalid value" message.
pub fn port_number(text: &str) -> Result<u16, String> {
    parse_port(text).map_err(|e| e.0)
}

/// `TERM`, `SIGTERM`, `term`, `15`.
pub fn signal(text: &str) -> Result<Signal, Error> {
    Signal::parse(text).map_err(Error::Usage)
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
        let flag = match arg.and_then(clap::Arg::get_long) {
            Some(long) => format!("--{long}"),
            None => "the timeout".to_string(),
        };
        let zero_allowed = self.zero_allowed;
        // A plain function parser, so clap words the non-number case and
        // keeps berth's own refusal as the error's source (see the module docs).
        let parse = move |text: &str| -> Result<Duration, Refusal> {
            let seconds: f64 = text.parse()?;
            let low_ok = if zero_allowed { seconds >= 0.0 } else { seconds > 0.0 };
            if seconds.is_finite() && low_ok && seconds <= MAX_SECONDS {
                return Ok(Duration::from_secs_f64(seconds));
            }
            let bounds = if zero_allowed { "from 0 to 3600" } else { "above 0, at most 3600" };
            Err(Error::Usage(format!("{flag} {seconds} is out of range: give seconds {bounds}")).into())
        };
        parse.parse_ref(cmd, arg, value)
    }
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
    let parsed = ProbeTarget::parse(text)?;
    if parsed.scheme.is_some() {
        return Err(Error::Usage(format!("'{text}': connect takes PORT, HOST:PORT or [IPV6]:PORT, not a URL")));
    }
    Ok(parsed)
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
        Error::Usage(format!("'{text}' is not an IP address: give one such as 127.0.0.1, ::1 or 0.0.0.0"))
    })?;
    Ok(Addresses(vec![ip]))
}

/// At most this many ports at once from `free`: more is a mistake, not a need.
const MAX_FREE_COUNT: usize = 1000;

/// `free -n`: how many ports, 1 to `MAX_FREE_COUNT`.
pub fn free_count(text: &str) -> Result<usize, Refusal> {
    match text.parse::<usize>()? {
        count @ 1..=MAX_FREE_COUNT => Ok(count),
        count => Err(Error::Usage(format!("-n {count} is out of range: ask for 1 to {MAX_FREE_COUNT} ports")).into()),
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

/// `run --port`: `auto` or a port number.
pub fn run_port(text: &str) -> Result<RunPort, Error> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(RunPort::Auto);
    }
    parse_port(text).map(RunPort::Number).map_err(|e| Error::Usage(format!("--port: {e}")))
}

/// `run --bind`: one IP address (brackets around IPv6 allowed).
pub fn run_address(text: &str) -> Result<IpAddr, Error> {
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| Error::Usage(format!("--bind '{text}' is not an IP address: give one such as 127.0.0.1 or ::1")))
}

/// `run --env`: a name a shell could export (letters, digits and _, not
/// starting with a digit).
pub fn env_name(text: &str) -> Result<String, Error> {
    let valid = !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Error::Usage(format!(
            "--env '{text}' is not a valid variable name: use letters, digits and _, not starting with a digit"
        )));
    }
    Ok(text.to_string())
}

/// `echo --max-clients`: at least 1.
pub fn max_clients(text: &str) -> Result<usize, Refusal> {
    match text.parse::<usize>()? {
        0 => Err(Error::Usage("--max-clients must be at least 1".into()).into()),
        count => Ok(count),
    }
}

/// `echo --udp-rate`: at least 1 datagram a second.
pub fn udp_rate(text: &str) -> Result<u32, Refusal> {
    match text.parse::<u32>()? {
        0 => Err(Error::Usage("--udp-rate must be at least 1 datagram a second".into()).into()),
        rate => Ok(rate),
    }
}

/// `scan --concurrency`: at least 1 attempt in flight.
pub fn concurrency(text: &str) -> Result<usize, Refusal> {
    match text.parse::<usize>()? {
        0 => Err(Error::Usage("--concurrency 0: give at least 1 attempt in flight".into()).into()),
        count => Ok(count),
    }
}

/// `audit --fail-on`: the severity from which findings fail the run;
/// None for `none` (never fail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold(pub Option<Severity>);

/// See [`Threshold`].
pub fn fail_on(text: &str) -> Result<Threshold, Error> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Threshold(None));
    }
    text.parse::<Severity>().map(|s| Threshold(Some(s))).map_err(|e| Error::Usage(format!("--fail-on: {e}, or none")))
}

/// `audit --min-severity`.
pub fn min_severity(text: &str) -> Result<Severity, Error> {
    text.parse::<Severity>().map_err(|e| Error::Usage(format!("--min-severity: {e}")))
}
