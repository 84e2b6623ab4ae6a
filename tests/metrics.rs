//! `berth metrics` (issue 13; the interface is /work/notes/metrics-spec.md)
//! against real sockets and real servers: listeners the test opens show up
//! as `berth_listener_info`, the HTTP exporter negotiates Prometheus text and
//! OpenMetrics, guards its Host and its token, the byte counters of a
//! listening port count closed connections and never go down, the periodic
//! audit exports a real redis-server's finding, the textfile is replaced
//! atomically and read by Debian's real node_exporter, bad input gets one
//! clear line, and an unreadable part of /proc (in a private mount
//! namespace only) is a `berth_scrape_error`, not a failed scrape.
//!
//! Every exposition berth gives is read by [`parse`], a strict parser of
//! the two formats written here (not berth's code), so a malformed line
//! fails the test that met it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::common::http::{read_response, request, send_raw, Response};
use crate::common::*;

/// The content types of the spec.
const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long berth, redis-server or node_exporter may take to start.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The uid and gid of `nobody`, for runs as an unprivileged user.
const NOBODY: (u32, u32) = (65534, 65534);

// ---------------------------------------------------------------- a strict exposition parser

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

#[derive(Clone, Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    samples: Vec<Sample>,
    /// Family name → type, from the `# TYPE` lines.
    types: BTreeMap<String, String>,
}

impl Exposition {
    /// The samples named `name` whose labels include every pair of `labels`.
    fn series(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect()
    }

    /// The value of the one sample named `name` with `labels`; None when
    /// there is none, a panic when there are several.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.series(name, labels);
        assert!(found.len() <= 1, "several {name} series with {labels:?}: {found:?}");
        found.first().map(|s| s.value)
    }

    /// The listeners, as (proto, address, port).
    fn listeners(&self) -> BTreeSet<(String, String, String)> {
        self.series("berth_listener_info", &[])
            .into_iter()
            .map(|s| (label(s, "proto"), label(s, "address"), label(s, "port")))
            .collect()
    }

    /// The listener_info series of one (proto, address, port).
    fn listener(&self, proto: &str, address: &str, port: u16) -> Option<&Sample> {
        let port = port.to_string();
        let found = self.series("berth_listener_info", &[("proto", proto), ("address", address), ("port", &port)]);
        assert!(found.len() <= 1, "several listener_info series for {proto} {address}:{port}: {found:?}");
        found.first().copied()
    }
}

fn label(sample: &Sample, name: &str) -> String {
    sample.labels.get(name).cloned().unwrap_or_else(|| panic!("{} has no label {name}: {sample:?}", sample.name))
}

fn is_name(name: &str, colons: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'));
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

/// A sample value: a decimal or exponent number, +Inf, -Inf or NaN.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok && !mantissa.ends_with('.') {
        text.parse().ok()
    } else {
        None
    }
}

/// `{name="value",...}` at the start of `text`: the labels and the rest.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').expect("starts with {");
    if let Some(after) = rest.strip_prefix('}') {
        return Ok((labels, after));
    }
    loop {
        let eq = rest.find('=').ok_or("a label without '='")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or(format!("label {name}: value not quoted"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("label {name}: bad escape \\{:?}", other.map(|(_, c)| c))),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        rest = rest.strip_prefix(',').ok_or(format!("after label {name}: expected ',' or '}}'"))?;
    }
}

/// The family a sample named `name` belongs to, given the declared types.
fn family_of(name: &str, types: &BTreeMap<String, String>, format: Format) -> Option<String> {
    if let Some(kind) = types.get(name) {
        let exact_ok = match format {
            Format::Text => true,
            Format::OpenMetrics => matches!(kind.as_str(), "gauge" | "unknown" | "stateset" | "summary"),
        };
        if exact_ok {
            return Some(name.to_string());
        }
    }
    let suffixes: &[(&str, &[&str])] = match format {
        Format::Text => &[("histogram", &["_bucket", "_sum", "_count"]), ("summary", &["_sum", "_count"])],
        Format::OpenMetrics => &[
            ("counter", &["_total", "_created"]),
            ("info", &["_info"]),
            ("histogram", &["_bucket", "_sum", "_count", "_created"]),
            ("gaugehistogram", &["_gsum", "_gcount", "_bucket"]),
            ("summary", &["_sum", "_count", "_created"]),
        ],
    };
    for (kind, endings) in suffixes {
        for ending in *endings {
            if let Some(family) = name.strip_suffix(ending) {
                if types.get(family).map(String::as_str) == Some(*kind) {
                    return Some(family.to_string());
                }
            }
        }
    }
    None
}

/// Parses an exposition strictly: every line is `# HELP`, `# TYPE` (or `#
/// UNIT`, OpenMetrics) or `name{labels} value` (no timestamps, no blank
/// lines); every sample's family has its `# TYPE` before it, once; a
/// family's samples are one group; no series twice; label values escaped
/// (only \\, \" and \n); the text ends with a newline, and in OpenMetrics
/// with `# EOF`, which plain text must not have.
fn parse(text: &str, format: Format) -> Result<Exposition, String> {
    if text.is_empty() {
        return Err("empty exposition".into());
    }
    if !text.ends_with('\n') {
        return Err(format!("does not end with a newline: ...{:?}", &text[text.len().saturating_sub(80)..]));
    }
    let mut out = Exposition::default();
    let mut helps = BTreeSet::new();
    let mut finished_families = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut seen = BTreeSet::new();
    let mut eof = false;
    for (number, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if eof {
            return Err(at("a line after # EOF".into()));
        }
        if line.is_empty() {
            return Err(at("a blank line".into()));
        }
        // Switching to another family ends the current one.
        let mut enter = |family: &str, current: &mut Option<String>| -> Result<(), String> {
            if current.as_deref() != Some(family) {
                if finished_families.contains(family) {
                    return Err(format!("family {family} appears again after another one (not one group)"));
                }
                if let Some(previous) = current.take() {
                    finished_families.insert(previous);
                }
                *current = Some(family.to_string());
            }
            Ok(())
        };
        if let Some(comment) = line.strip_prefix('#') {
            if comment == " EOF" {
                if format == Format::Text {
                    return Err(at("# EOF in Prometheus text (an OpenMetrics ending)".into()));
                }
                eof = true;
                continue;
            }
            let mut words = comment.strip_prefix(' ').unwrap_or(comment).splitn(3, ' ');
            let keyword = words.next().unwrap_or("");
            match keyword {
                "HELP" | "TYPE" | "UNIT" => {
                    let name = words.next().ok_or_else(|| at(format!("{keyword} without a name")))?;
                    if !is_name(name, true) {
                        return Err(at(format!("bad metric name {name:?}")));
                    }
                    let rest = words.next();
                    if seen_samples_of(&out, name, format) {
                        return Err(at(format!("{keyword} for {name} after its samples")));
                    }
                    enter(name, &mut current).map_err(at)?;
                    match keyword {
                        "TYPE" => {
                            let kind = rest.ok_or_else(|| at("TYPE without a type".into()))?;
                            let known: &[&str] = match format {
                                Format::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                                Format::OpenMetrics => &[
                                    "counter",
                                    "gauge",
                                    "histogram",
                                    "gaugehistogram",
                                    "stateset",
                                    "info",
                                    "summary",
                                    "unknown",
                                ],
                            };
                            if !known.contains(&kind) {
                                return Err(at(format!("unknown type {kind:?}")));
                            }
                            if out.types.insert(name.to_string(), kind.to_string()).is_some() {
                                return Err(at(format!("a second TYPE for {name}")));
                            }
                        }
                        "HELP" => {
                            if !helps.insert(name.to_string()) {
                                return Err(at(format!("a second HELP for {name}")));
                            }
                            let help = rest.unwrap_or("");
                            let mut chars = help.chars();
                            while let Some(c) = chars.next() {
                                if c == '\\' {
                                    let ok = match chars.next() {
                                        Some('\\') | Some('n') => true,
                                        Some('"') => format == Format::OpenMetrics,
                                        _ => false,
                                    };
                                    if !ok {
                                        return Err(at("a bad escape in HELP".into()));
                                    }
                                }
                            }
                        }
                        _ => {
                            if format == Format::Text {
                                return Err(at("# UNIT in Prometheus text".into()));
                            }
                        }
                    }
                }
                _ => {
                    if format == Format::OpenMetrics {
                        return Err(at("a free comment in OpenMetrics".into()));
                    }
                }
            }
            continue;
        }
        // A sample.
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("a sample without a value".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let value_text = rest.strip_prefix(' ').ok_or_else(|| at("no single space before the value".into()))?;
        if value_text.contains(' ') {
            return Err(at("more than a value after the labels (a timestamp?)".into()));
        }
        let value = parse_value(value_text).ok_or_else(|| at(format!("bad value {value_text:?}")))?;
        let family =
            family_of(name, &out.types, format).ok_or_else(|| at(format!("{name} has no # TYPE before it")))?;
        enter(&family, &mut current).map_err(at)?;
        let key = format!("{name}{labels:?}");
        if !seen.insert(key) {
            return Err(at("the same series twice".into()));
        }
        out.samples.push(Sample { name: name.to_string(), labels, value });
    }
    if format == Format::OpenMetrics && !eof {
        return Err("OpenMetrics without # EOF at the end".into());
    }
    Ok(out)
}

fn seen_samples_of(out: &Exposition, family: &str, format: Format) -> bool {
    out.samples.iter().any(|s| family_of(&s.name, &out.types, format).as_deref() == Some(family))
}

/// [`parse`], panicking with the text on an error.
fn parse_or_panic(text: &str, format: Format, what: &str) -> Exposition {
    parse(text, format).unwrap_or_else(|e| panic!("{what}: not valid {format:?}: {e}\n{text}"))
}

fn the_strict_parser_refuses_broken_expositions() {
    let _serial = serial();
    let good = "# HELP a_total A counter.\n# TYPE a_total counter\na_total{port=\"1\"} 3\n\
                # TYPE b gauge\nb{x=\"q\\\"u\\\\o\\nte\"} -1.5e3\nb{x=\"y\"} +Inf\n";
    let parsed = parse(good, Format::Text).expect("the good text parses");
    assert_eq!(parsed.value("a_total", &[("port", "1")]), Some(3.0));
    assert_eq!(parsed.series("b", &[("x", "q\"u\\o\nte")]).len(), 1, "escapes decoded: {parsed:?}");
    let om = "# TYPE a counter\na_total{port=\"1\"} 3\n# TYPE i info\ni_info{v=\"1\"} 1\n# EOF\n";
    parse(om, Format::OpenMetrics).expect("the good OpenMetrics parses");
    for (bad, format) in [
        ("", Format::Text),
        ("# TYPE a gauge\na 1", Format::Text),                   // no final newline
        ("a 1\n", Format::Text),                                 // no TYPE
        ("a 1\n# TYPE a gauge\n", Format::Text),                 // TYPE after
        ("# TYPE a gauge\n# TYPE a gauge\na 1\n", Format::Text), // TYPE twice
        ("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", Format::Text), // series twice
        ("# TYPE a gauge\na{x=\"\\t\"} 1\n", Format::Text),      // bad escape
        ("# TYPE a gauge\na{x=\"1} 1\n", Format::Text),          // unterminated
        ("# TYPE a gauge\na{x=1} 1\n", Format::Text),            // unquoted
        ("# TYPE a gauge\na{1x=\"1\"} 1\n", Format::Text),       // bad label name
        ("# TYPE a gauge\na 1 1700000000\n", Format::Text),      // timestamp
        ("# TYPE a gauge\na one\n", Format::Text),               // bad value
        ("# TYPE a gauge\na  1\n", Format::Text),                // two spaces
        ("# TYPE a gauge\n\na 1\n", Format::Text),               // blank line
        ("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n", Format::Text), // not one group
        ("# TYPE a counter\na_total 1\n", Format::Text),         // OpenMetrics naming in text
        ("# TYPE a gauge\na 1\n# EOF\n", Format::Text),          // EOF in text
        ("# TYPE a gauge\na 1\n", Format::OpenMetrics),          // no EOF
        ("# TYPE a gauge\na 1\n# EOF\na 2\n", Format::OpenMetrics), // after EOF
        ("# TYPE a counter\na 1\n# EOF\n", Format::OpenMetrics), // counter without _total
        ("# TYPE a wobbly\na 1\n", Format::Text),                // unknown type
    ] {
        assert!(parse(bad, format).is_err(), "the parser accepted {bad:?} as {format:?}");
    }
}

// ---------------------------------------------------------------- running berth metrics

/// A running `berth metrics --listen ...`: its port read from the
/// "berth: metrics on http://ADDR:PORT/metrics" line; its stderr collected
/// on a thread; stopped by its pid (SIGTERM, then SIGKILL) and reaped.
struct Exporter {
    child: Child,
    port: u16,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Exporter {
    /// `berth metrics ARGS` (ARGS has the --listen).
    fn start(args: &[&str]) -> Exporter {
        Exporter::start_with(&[], args, &[])
    }

    /// As [`Exporter::start`], behind `wrapper` (a program that execs
    /// berth: `unshare -m sh -c ...`) and with extra environment.
    fn start_with(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::try_start(wrapper, args, env).unwrap_or_else(|e| panic!("berth metrics {args:?} {e}"))
    }

    /// As [`Exporter::start_with`]; Err(what berth said) when it exits
    /// before it serves.
    fn try_start(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Result<Exporter, String> {
        let berth = env!("CARGO_BIN_EXE_berth");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(berth);
                c
            }
            None => Command::new(berth),
        };
        command
            .arg("metrics")
            .args(args)
            .env_remove("BERTH_SOURCE")
            .env_remove("NO_COLOR")
            .env_remove("BERTH_METRICS_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start berth metrics");
        let stderr = collect_stderr(&mut child);
        let mut exporter = Exporter { child, port: 0, url: String::new(), stderr };
        let found = poll_until(START_LIMIT, || {
            let text = exporter.stderr();
            if let Some(line) = text.lines().find(|l| l.starts_with("berth: metrics on ")) {
                return Some(Ok(line.rsplit(' ').next().expect("a URL").to_string()));
            }
            if let Ok(Some(status)) = exporter.child.try_wait() {
                return Some(Err(format!("exited ({status}) before serving:\n{text}")));
            }
            None
        });
        let url = match found {
            Some(Ok(url)) => url,
            Some(Err(e)) => return Err(e),
            None => panic!("berth metrics {args:?} printed no URL within {START_LIMIT:?}:\n{}", exporter.stderr()),
        };
        let host_port = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("the URL line is not http://ADDR:PORT/metrics: {url}"));
        exporter.port = host_port.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the URL");
        assert_ne!(exporter.port, 0, "the URL names the port picked, not 0: {url}");
        exporter.url = url;
        Ok(exporter)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// GET /metrics (Prometheus text): asserts 200 and the content type,
    /// returns the parsed body.
    fn scrape(&self) -> Exposition {
        let response = request(self.port, "GET", "/metrics", &[]);
        assert_eq!(response.status, 200, "GET /metrics: {}\nberth said:\n{}", response.text(), self.stderr());
        assert_eq!(response.header("Content-Type"), Some(TEXT_TYPE), "{:?}", response.headers);
        parse_or_panic(&response.text(), Format::Text, "GET /metrics")
    }

    /// SIGTERM by pid and a bounded wait for the exit.
    fn stop(&mut self) -> ExitStatus {
        terminate(&mut self.child, "berth metrics")
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM to our child by its pid, then at most 10 s for it to exit
/// (SIGKILL and a panic if it does not).
fn terminate(child: &mut Child, what: &str) -> ExitStatus {
    if let Ok(Some(status)) = child.try_wait() {
        return status;
    }
    // SAFETY: the pid is our own unreaped child, so it cannot have been reused.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = poll_until(Duration::from_secs(10), || child.try_wait().ok().flatten());
    status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not exit within 10 s of SIGTERM");
    })
}

/// `berth metrics ARGS` run to its end: asserts exit 0 and no panic,
/// returns the parsed stdout.
fn one_shot(args: &[&str]) -> Exposition {
    let mut full = vec!["metrics"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = run_berth(&full, &[]);
    assert!(!stderr.contains("panicked"), "berth {full:?} panicked: {stderr}");
    assert_eq!(code, 0, "berth {full:?} exited {code}\nstderr: {stderr}");
    parse_or_panic(&stdout, Format::Text, &format!("berth {full:?}"))
}

/// Non-zero exit (by a code, not a signal), nothing on stdout, exactly one
/// stderr line starting with "berth:", no panic; returns (code, the line).
fn assert_one_line_error(args: &[&str]) -> (i32, String) {
    assert_one_line_error_as(args, None)
}

fn assert_one_line_error_as(args: &[&str], user: Option<(u32, u32)>) -> (i32, String) {
    let out = run_berth_with(args, &[], user);
    let (code, stdout, stderr) = (out.code, out.stdout, out.stderr);
    assert!(!stderr.contains("panicked"), "berth {args:?} panicked: {stderr}");
    assert_ne!(code, 0, "berth {args:?} should fail\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, "", "berth {args:?}: nothing on stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "berth {args:?}: exactly one stderr line, got:\n{stderr}");
    assert!(lines[0].starts_with("berth:") && lines[0].len() > 10, "berth {args:?}: {stderr}");
    (code, lines[0].to_string())
}

// ---------------------------------------------------------------- 1: one-shot

/// The process label berth should give sockets this test process holds.
fn our_comm() -> String {
    comm_of(our_pid())
}

fn assert_listener(metrics: &Exposition, proto: &str, address: &str, port: u16) {
    let sample = metrics.listener(proto, address, port).unwrap_or_else(|| {
        panic!("no berth_listener_info for {proto} {address}:{port}; listeners: {:?}", metrics.listeners())
    });
    assert_eq!(sample.value, 1.0, "{sample:?}");
    assert_eq!(label(sample, "scope"), "loopback", "{sample:?}");
    assert_eq!(label(sample, "process"), our_comm(), "the owner is this test process: {sample:?}");
    if let Some(user) = user_name(euid()) {
        assert_eq!(label(sample, "user"), user, "{sample:?}");
    }
    // The bounded label set of the spec, no more (no pid, no peer).
    let names: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
    assert_eq!(names, ["address", "container", "port", "process", "proto", "scope", "service", "user"], "{sample:?}");
}

fn one_shot_lists_tcp_and_udp_listeners() {
    let _serial = serial();
    let (tcp, tcp_port) = listener_v4();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
    let udp_port = udp.local_addr().expect("local_addr").port();
    let metrics = one_shot(&[]);
    assert_listener(&metrics, "tcp", "127.0.0.1", tcp_port);
    assert_listener(&metrics, "udp", "127.0.0.1", udp_port);
    let version = metrics.series("berth_build_info", &[]);
    assert_eq!(version.len(), 1, "one berth_build_info: {version:?}");
    assert_eq!(label(version[0], "version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(version[0].value, 1.0);
    assert!(metrics.value("berth_scrape_duration_seconds", &[]).is_some_and(|d| d >= 0.0), "scrape duration");
    let loopback = metrics.value("berth_listeners", &[("scope", "loopback")]).expect("berth_listeners{scope=loopback}");
    assert!(loopback >= 2.0, "at least our two loopback listeners: {loopback}");
    let listening = metrics.value("berth_sockets", &[("proto", "tcp"), ("state", "LISTEN")]).expect("tcp LISTEN");
    assert!(listening >= 1.0, "{listening}");
    assert!(metrics.value("berth_ephemeral_port_range_size", &[]).is_some_and(|n| n >= 1.0), "range size");
    assert!(metrics.value("berth_time_wait_sockets", &[]).is_some(), "TIME_WAIT count");
    // Gone when closed.
    drop(tcp);
    drop(udp);
    let after = one_shot(&["--audit-every", "0"]);
    for (proto, port) in [("tcp", tcp_port), ("udp", udp_port)] {
        let ours = after.listener(proto, "127.0.0.1", port).filter(|s| label(s, "process") == our_comm());
        assert!(ours.is_none(), "{proto} 127.0.0.1:{port} still listed after it was closed: {ours:?}");
    }
}

fn one_shot_lists_a_v6_loopback_listener() {
    let _serial = serial();
    require_ipv6_loopback();
    let (v6, port) = listener_v6(Ipv6Addr::LOCALHOST, true);
    let metrics = one_shot(&["--audit-every", "0"]);
    assert_listener(&metrics, "tcp", "::1", port);
    drop(v6);
}

/// A listener on 127.0.0.1 held only by a forked child whose comm is `name`
/// (PR_SET_NAME). Returns the child (killed on drop), its port and its
/// comm as /proc shows it.
fn listener_held_by_comm(name: &[u8]) -> (ChildGuard, u16, String) {
    use std::os::fd::AsRawFd;
    let (listener, port) = listener_v4();
    let mut c_name = name.to_vec();
    c_name.push(0);
    let fd = listener.as_raw_fd();
    // Made before the fork and freed by the parent only: the child calls
    // prctl(2) on it and nothing else (no allocation, no free).
    let name_at = c_name.as_ptr() as usize;
    // SAFETY: see above; the buffer outlives the fork in both processes.
    let child = unsafe {
        fork_child(&[fd], move || {
            libc::prctl(libc::PR_SET_NAME, name_at as *const libc::c_char);
        })
    };
    drop(c_name);
    drop(listener);
    let comm = poll_until(Duration::from_secs(5), || {
        let comm = std::fs::read(format!("/proc/{}/comm", child.pid)).ok()?;
        let comm = String::from_utf8_lossy(comm.strip_suffix(b"\n").unwrap_or(&comm)).into_owned();
        (comm.as_bytes() == name).then_some(comm)
    });
    let comm = comm.unwrap_or_else(|| panic!("the child did not take the name {:?}", String::from_utf8_lossy(name)));
    (child, port, comm)
}

fn label_values_with_quotes_backslashes_and_newlines_are_escaped() {
    let _serial = serial();
    let (_quoted, quoted_port, quoted) = listener_held_by_comm(b"q\"uo\\te{x}=,");
    let (_newline, newline_port, _) = listener_held_by_comm(b"new\nline");
    let metrics = one_shot(&["--audit-every", "0"]);
    let sample = metrics.listener("tcp", "127.0.0.1", quoted_port).expect("the quoted child's listener");
    assert_eq!(label(sample, "process"), quoted, "the comm, escaped and read back exactly: {sample:?}");
    let sample = metrics.listener("tcp", "127.0.0.1", newline_port).expect("the newline child's listener");
    let shown = label(sample, "process");
    assert!(shown.starts_with("new") && shown.ends_with("line"), "{shown:?}");
}

fn scopes_states_and_counts_in_a_namespace_of_its_own() {
    let _serial = serial();
    require_root("a network namespace, where the test knows every socket");
    let netns = NetnsGuard::create("mscope");
    let (ok, err) = ip(&["-n", &netns.name, "addr", "add", "192.0.2.7/32", "dev", "lo"]);
    assert!(ok, "ip addr add 192.0.2.7/32 dev lo: {err}");
    run_in(&netns, &["sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40999"]);
    in_netns(&netns, || {
        let (loopback, loopback_port) = listener_v4();
        let all = std::net::TcpListener::bind("0.0.0.0:0").expect("bind 0.0.0.0:0 in the namespace");
        let all_port = all.local_addr().unwrap().port();
        let one = std::net::TcpListener::bind("192.0.2.7:0").expect("bind 192.0.2.7:0");
        let one_port = one.local_addr().unwrap().port();
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let udp_port = udp.local_addr().unwrap().port();
        let client = TcpStream::connect(("127.0.0.1", loopback_port)).expect("connect");
        let (server, _) = loopback.accept().expect("accept");
        let _remnant = time_wait_port();

        let metrics = one_shot(&["--audit-every", "0"]);
        let scope = |proto: &str, address: &str, port: u16| {
            let sample = metrics
                .listener(proto, address, port)
                .unwrap_or_else(|| panic!("no listener_info for {proto} {address}:{port}: {:?}", metrics.listeners()));
            label(sample, "scope")
        };
        assert_eq!(scope("tcp", "127.0.0.1", loopback_port), "loopback");
        assert_eq!(scope("tcp", "0.0.0.0", all_port), "all");
        assert_eq!(scope("tcp", "192.0.2.7", one_port), "address");
        assert_eq!(scope("udp", "127.0.0.1", udp_port), "loopback");
        // Only these four in this namespace.
        assert_eq!(metrics.listeners().len(), 4, "{:?}", metrics.listeners());
        // Each expected count checked, the mismatches said together.
        let mut wrong = Vec::new();
        let mut expect = |name: &str, labels: &[(&str, &str)], want: f64| {
            let got = metrics.value(name, labels);
            if got != Some(want) {
                wrong.push(format!("{name}{labels:?}: {got:?}, expected {want}"));
            }
        };
        expect("berth_listeners", &[("scope", "loopback")], 2.0);
        expect("berth_listeners", &[("scope", "all")], 1.0);
        expect("berth_listeners", &[("scope", "address")], 1.0);
        // The state names of `berth ls` (docs/metrics.md).
        expect("berth_sockets", &[("proto", "tcp"), ("state", "LISTEN")], 3.0);
        expect("berth_sockets", &[("proto", "tcp"), ("state", "ESTABLISHED")], 2.0);
        expect("berth_sockets", &[("proto", "tcp"), ("state", "TIME_WAIT")], 1.0);
        expect("berth_sockets", &[("proto", "udp"), ("state", "UNCONN")], 1.0);
        expect("berth_time_wait_sockets", &[], 1.0);
        // The namespace's own range: 40000-40999.
        expect("berth_ephemeral_port_range_size", &[], 1000.0);
        let states: Vec<String> = metrics.series("berth_sockets", &[]).iter().map(|s| label(s, "state")).collect();
        assert!(wrong.is_empty(), "{}\n(berth_sockets states given: {states:?})", wrong.join("\n"));
        let count = |name: &str, labels: &[(&str, &str)]| metrics.value(name, labels).unwrap_or(-1.0);
        let in_use = count("berth_ephemeral_ports_in_use", &[("proto", "tcp")]);
        assert!(in_use >= 1.0, "the client's port (40000-40999) is in use: {in_use}");
        assert_eq!(
            metrics.series("berth_port_received_bytes_total", &[]).len(),
            3,
            "a counter per listening TCP port: {:?}",
            metrics.series("berth_port_received_bytes_total", &[])
        );
        drop((client, server, all, one, udp));
    });
}

// ---------------------------------------------------------------- 2: --listen

fn listen_negotiates_text_and_openmetrics() {
    let _serial = serial();
    let (_tcp, tcp_port) = listener_v4();
    let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0"]);
    assert!(exporter.url.starts_with("http://127.0.0.1:"), "{}", exporter.url);

    let text = exporter.scrape();
    assert_listener(&text, "tcp", "127.0.0.1", tcp_port);
    // berth's own listener is one of them.
    assert!(text.listener("tcp", "127.0.0.1", exporter.port).is_some(), "berth's own port: {:?}", text.listeners());

    let om = request(exporter.port, "GET", "/metrics", &[("Accept", "application/openmetrics-text")]);
    assert_eq!(om.status, 200, "{}", om.text());
    assert_eq!(om.header("Content-Type"), Some(OPENMETRICS_TYPE), "{:?}", om.headers);
    let body = om.text();
    assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF: ...{:?}", &body[body.len().saturating_sub(60)..]);
    let parsed = parse_or_panic(&body, Format::OpenMetrics, "OpenMetrics");
    assert_listener(&parsed, "tcp", "127.0.0.1", tcp_port);
    assert_eq!(parsed.series("berth_build_info", &[]).len(), 1, "berth_build_info in OpenMetrics too");
    // What Prometheus itself sends picks OpenMetrics too.
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om2 = request(exporter.port, "GET", "/metrics", &[("Accept", prometheus_accept)]);
    assert_eq!(om2.header("Content-Type"), Some(OPENMETRICS_TYPE), "Prometheus's own Accept: {:?}", om2.headers);
    // And plain text when asked for.
    let plain = request(exporter.port, "GET", "/metrics", &[("Accept", "text/plain")]);
    assert_eq!(plain.header("Content-Type"), Some(TEXT_TYPE), "{:?}", plain.headers);

    // HEAD: the headers, no body.
    let mut stream = crate::common::http::connect(exporter.port);
    let head = format!("HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", exporter.port);
    stream.write_all(head.as_bytes()).expect("send HEAD");
    let response = read_response(&mut stream, true).expect("an answer to HEAD");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some(TEXT_TYPE), "{:?}", response.headers);
    let mut after = Vec::new();
    let _ = stream.read_to_end(&mut after);
    assert!(after.is_empty(), "HEAD sent a body: {:?}", String::from_utf8_lossy(&after));

    let root = request(exporter.port, "GET", "/", &[]);
    assert_eq!(root.status, 200);
    assert!(root.text().contains("/metrics"), "GET / names /metrics: {}", root.text());
    let nope = request(exporter.port, "GET", "/nope", &[]);
    assert_eq!(nope.status, 404, "{}", nope.text());
    assert!(!nope.text().contains("berth_listener_info"), "{}", nope.text());

    // SIGTERM ends it, and the port is free again.
    let mut exporter = exporter;
    let status = exporter.stop();
    assert!(status.success() || status.signal() == Some(libc::SIGTERM), "after SIGTERM: {status:?}");
    assert!(!exporter.stderr().contains("panicked"), "{}", exporter.stderr());
    assert!(TcpStream::connect(("127.0.0.1", exporter.port)).is_err(), "port {} still open", exporter.port);
}

fn listen_refuses_foreign_host_headers() {
    let _serial = serial();
    let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0"]);
    let with_host = |host: &str| {
        let raw = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        send_raw(exporter.port, raw.as_bytes()).expect("a response")
    };
    for foreign in ["evil.example", "evil.example:9100", "127.0.0.1.evil.example", "localhost.evil.example"] {
        let response = with_host(foreign);
        assert_eq!(response.status, 421, "Host: {foreign}: {}", response.text());
        assert!(!response.text().contains("berth_listener_info"), "Host: {foreign}: no metrics");
        assert!(!response.text().is_empty(), "Host: {foreign}: a body that says why");
    }
    for allowed in ["localhost", "127.0.0.1", &format!("127.0.0.1:{}", exporter.port), "[::1]"] {
        assert_eq!(with_host(allowed).status, 200, "Host: {allowed}");
    }
}

fn concurrent_scrapes_succeed_with_one_listener_set() {
    let _serial = serial();
    // In a namespace of its own when root, so that no other program's
    // listeners come and go between the scrapes.
    isolated("mconc", || {
        let (_tcp, tcp_port) = listener_v4();
        let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0"]);
        let port = exporter.port;
        let barrier = Arc::new(Barrier::new(20));
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    request(port, "GET", "/metrics", &[])
                })
            })
            .collect();
        let responses: Vec<Response> = threads.into_iter().map(|t| t.join().expect("a scraper thread")).collect();
        let mut sets = Vec::new();
        for (i, response) in responses.iter().enumerate() {
            assert_eq!(response.status, 200, "scrape {i}: {}", response.text());
            let parsed = parse_or_panic(&response.text(), Format::Text, &format!("concurrent scrape {i}"));
            assert!(parsed.listener("tcp", "127.0.0.1", tcp_port).is_some(), "scrape {i} has the test's listener");
            sets.push(parsed.listeners());
        }
        for (i, set) in sets.iter().enumerate() {
            assert_eq!(set, &sets[0], "scrape {i}'s listeners differ from scrape 0's");
        }
        // Concurrent scrapes share a snapshot: a shared one has one
        // duration, to the nanosecond. Twenty different ones would be twenty walks of /proc.
        let durations: BTreeSet<String> = responses
            .iter()
            .map(|r| {
                let parsed = parse_or_panic(&r.text(), Format::Text, "a concurrent scrape");
                format!("{:?}", parsed.value("berth_scrape_duration_seconds", &[]))
            })
            .collect();
        assert!(durations.len() < 20, "20 concurrent scrapes, 20 snapshots (no two shared one): {durations:?}");
        assert!(exporter.stderr().lines().all(|l| !l.contains("panicked")), "{}", exporter.stderr());
    });
}

fn expose_serves_another_address_in_a_namespace() {
    let _serial = serial();
    require_root("a network namespace with an address of its own");
    let netns = NetnsGuard::create("mexpose");
    let (ok, err) = ip(&["-n", &netns.name, "addr", "add", "192.0.2.9/32", "dev", "lo"]);
    assert!(ok, "ip addr add 192.0.2.9/32 dev lo: {err}");
    in_netns(&netns, || {
        let exporter = Exporter::start(&["--listen", "192.0.2.9:0", "--expose", "--audit-every", "0"]);
        assert!(exporter.url.starts_with("http://192.0.2.9:"), "{}", exporter.url);
        let ask = |host: &str| {
            let mut stream = TcpStream::connect(("192.0.2.9", exporter.port)).expect("connect to 192.0.2.9");
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let raw = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(raw.as_bytes()).expect("send");
            read_response(&mut stream, false).expect("an answer")
        };
        let by_address = ask(&format!("192.0.2.9:{}", exporter.port));
        assert_eq!(by_address.status, 200, "Host: the exposed address: {}", by_address.text());
        let metrics = parse_or_panic(&by_address.text(), Format::Text, "exposed /metrics");
        let own = metrics.listener("tcp", "192.0.2.9", exporter.port).expect("berth's own listener");
        assert_eq!(label(own, "scope"), "address");
        assert_eq!(ask("evil.example").status, 421, "the Host guard stays on with --expose");
    });
}

// ---------------------------------------------------------------- 3: --token

fn assert_unauthorized(port: u16, headers: &[(&str, &str)], what: &str) {
    let response = request(port, "GET", "/metrics", headers);
    assert_eq!(response.status, 401, "{what}: {}", response.text());
    assert!(!response.text().trim().is_empty(), "{what}: a 401 with a body");
    assert!(!response.text().contains("berth_listener_info"), "{what}: no metrics");
    let challenge =
        response.header("WWW-Authenticate").unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
    assert!(challenge.to_ascii_lowercase().starts_with("bearer"), "{what}: {challenge}");
}

fn token_is_required_when_set() {
    let _serial = serial();
    let token = "s3cret-token-for-berth";
    let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0", "--token", token]);
    assert_unauthorized(exporter.port, &[], "no Authorization");
    assert_unauthorized(exporter.port, &[("Authorization", "Bearer wrong")], "a wrong token");
    assert_unauthorized(exporter.port, &[("Authorization", &format!("Bearer {token}x"))], "a longer token");
    assert_unauthorized(exporter.port, &[("Authorization", &format!("Basic {token}"))], "another scheme");
    assert_unauthorized(exporter.port, &[("Authorization", "Bearer ")], "an empty token");
    let bearer = format!("Bearer {token}");
    let right = request(exporter.port, "GET", "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(right.status, 200, "{}", right.text());
    parse_or_panic(&right.text(), Format::Text, "with the token");
    // The scheme is case-insensitive (RFC 7235, 2.1).
    let lower = request(exporter.port, "GET", "/metrics", &[("Authorization", &format!("bearer {token}"))]);
    assert_eq!(lower.status, 200, "'bearer' in lower case: {}", lower.text());
    // HEAD is guarded too.
    let head = request(exporter.port, "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 401);
}

fn token_from_file_and_environment() {
    let _serial = serial();
    let dir = ScratchDir::new("mtoken");
    let file = dir.write("token", "file-token-123\n");
    let from_file =
        Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0", "--token-file", file.to_str().unwrap()]);
    assert_unauthorized(from_file.port, &[], "token file, no Authorization");
    let trimmed = request(from_file.port, "GET", "/metrics", &[("Authorization", "Bearer file-token-123")]);
    assert_eq!(trimmed.status, 200, "the file's token, trimmed: {}", trimmed.text());
    let with_newline = request(from_file.port, "GET", "/metrics", &[("Authorization", "Bearer file-token-123\\n")]);
    assert_eq!(with_newline.status, 401);

    let from_env = Exporter::start_with(
        &[],
        &["--listen", "127.0.0.1:0", "--audit-every", "0"],
        &[("BERTH_METRICS_TOKEN", "env-token-456")],
    );
    assert_unauthorized(from_env.port, &[], "token from the environment, no Authorization");
    let right = request(from_env.port, "GET", "/metrics", &[("Authorization", "Bearer env-token-456")]);
    assert_eq!(right.status, 200, "{}", right.text());
}

fn a_missing_token_file_is_a_usage_error() {
    let _serial = serial();
    let dir = ScratchDir::new("mtoken-missing");
    let missing = dir.path.join("no-such-token");
    let (code, line) =
        assert_one_line_error(&["metrics", "--listen", "127.0.0.1:0", "--token-file", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains(missing.to_str().unwrap()), "names the file: {line}");
}

// ---------------------------------------------------------------- TLS

fn serves_https_with_a_cert_and_key() {
    let _serial = serial();
    let dir = ScratchDir::new("mtls-serve");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let cert_file = dir.write("cert.pem", cert.pem());
    let key_file = dir.write("key.pem", key.serialize_pem());
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--audit-every",
        "0",
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ];
    let exporter = match Exporter::try_start(&[], &args, &[]) {
        Ok(exporter) => exporter,
        Err(said) => panic!("berth metrics {args:?} {said}"),
    };
    assert!(exporter.url.starts_with("https://127.0.0.1:"), "the URL says https: {}", exporter.url);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("trust the certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    let tcp = crate::common::http::connect(exporter.port);
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let raw = format!("GET /metrics HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", exporter.port);
    tls.write_all(raw.as_bytes()).expect("send over TLS");
    let response = read_response(&mut tls, false).expect("an answer over TLS");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("Content-Type"), Some(TEXT_TYPE));
    let metrics = parse_or_panic(&response.text(), Format::Text, "GET /metrics over TLS");
    assert!(metrics.listener("tcp", "127.0.0.1", exporter.port).is_some(), "{:?}", metrics.listeners());

    // Plain HTTP on the TLS port gets no metrics (whatever else it gets).
    let mut stream = crate::common::http::connect(exporter.port);
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("berth_listener_info"), "metrics over plain HTTP on the TLS port: {answer}");
    assert!(!exporter.stderr().contains("panicked"), "{}", exporter.stderr());
}

// ---------------------------------------------------------------- 4: byte counters

fn port_bytes(metrics: &Exposition, port: u16) -> (f64, f64) {
    let port = port.to_string();
    let received = metrics.value("berth_port_received_bytes_total", &[("port", &port)]);
    let sent = metrics.value("berth_port_sent_bytes_total", &[("port", &port)]);
    match (received, sent) {
        (Some(r), Some(s)) => (r, s),
        _ => panic!(
            "no byte counters for port {port}: received {received:?}, sent {sent:?}; ports with counters: {:?}",
            metrics.series("berth_port_received_bytes_total", &[]).iter().map(|s| label(s, "port")).collect::<Vec<_>>()
        ),
    }
}

/// One connection to `listener`: the client sends `n` bytes, the server
/// reads them and answers `m`, which the client reads. Returns (client, server).
fn exchange(listener: &std::net::TcpListener, port: u16, n: u64, m: u64, seed: u64) -> (TcpStream, TcpStream) {
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    for s in [&client, &server] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let request = random_bytes(n as usize, seed);
    client.write_all(&request).expect("client sends");
    let mut got = vec![0u8; n as usize];
    server.read_exact(&mut got).expect("server receives");
    assert_eq!(got, request);
    let answer = random_bytes(m as usize, seed + 1000);
    server.write_all(&answer).expect("server sends");
    let mut back = vec![0u8; m as usize];
    client.read_exact(&mut back).expect("client receives");
    assert_eq!(back, answer);
    (client, server)
}

/// Closes a connection client first; the server reads the EOF (so the
/// client's FIN, which acknowledges every byte it read, has arrived) and
/// closes: the server side's final counts are in its destroy message.
fn close_client_first(client: TcpStream, mut server: TcpStream) {
    drop(client);
    let mut byte = [0u8; 1];
    assert_eq!(server.read(&mut byte).expect("the server reads the EOF"), 0, "EOF after the client closed");
    drop(server);
}

fn port_byte_counters_count_closed_connections_and_never_go_down() {
    let _serial = serial();
    // In a namespace of its own when root: another test run's audit or scan,
    // which connects to every listener it sees, would add bytes here.
    isolated("mbytes", || {
        let (listener, port) = listener_v4();
        let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0"]);
        let mut history: Vec<(f64, f64)> = Vec::new();
        // Every scrape: never below the last one.
        let scrape = |history: &mut Vec<(f64, f64)>| {
            let now = port_bytes(&exporter.scrape(), port);
            if let Some(last) = history.last() {
                assert!(now.0 >= last.0 && now.1 >= last.1, "a counter went down: {now:?} after {last:?}; {history:?}");
            }
            history.push(now);
            now
        };

        // Phase 1: 20 connections open at once, then closed one by one,
        // a scrape after each close.
        let sizes: Vec<(u64, u64)> = (0..20).map(|i| (1000 + 97 * i, 2000 + 131 * i)).collect();
        let pairs: Vec<_> =
            sizes.iter().enumerate().map(|(i, &(n, m))| exchange(&listener, port, n, m, i as u64 + 1)).collect();
        let mut want_received: u64 = sizes.iter().map(|(n, _)| n).sum();
        let mut want_sent: u64 = sizes.iter().map(|(_, m)| m).sum();
        let now = scrape(&mut history);
        assert!(now.0 >= want_received as f64, "received {} < the {want_received} bytes read", now.0);
        let mut acknowledged = 0;
        for (i, (client, server)) in pairs.into_iter().enumerate() {
            close_client_first(client, server);
            acknowledged += sizes[i].1;
            let now = scrape(&mut history);
            assert!(
                now.0 >= want_received as f64,
                "received {} < {want_received} ({} closed); {history:?}",
                now.0,
                i + 1
            );
            assert!(
                now.1 >= acknowledged as f64,
                "sent {} < the {acknowledged} bytes acknowledged; {history:?}",
                now.1
            );
        }

        // Phase 2: 10 connections each opened, used and closed between two
        // scrapes, so no scrape sees them open: their bytes can only come
        // from the close messages. Each round's total catches up (bounded poll).
        for round in 0..10u64 {
            let (n, m) = (500 + 61 * round, 700 + 83 * round);
            let (client, server) = exchange(&listener, port, n, m, 100 + round);
            close_client_first(client, server);
            want_received += n;
            want_sent += m;
            let caught_up = poll_until(Duration::from_secs(10), || {
                let now = scrape(&mut history);
                (now.0 >= want_received as f64 && now.1 >= want_sent as f64).then_some(())
            });
            assert!(
                caught_up.is_some(),
                "round {round}: a connection closed between scrapes is not counted within 10 s: \
                 now {:?}, the test moved ({want_received}, {want_sent})",
                history.last()
            );
        }

        // Exact, once every close message is in (a bounded poll). The
        // received side counts as the kernel does (tcp_info's
        // bytes_received, what `ss -ti` shows): the FIN of each of the 30
        // connections, all closed by the client, is one byte more.
        let want_received = want_received + 30;
        let exact = poll_until(Duration::from_secs(10), || {
            let now = scrape(&mut history);
            (now == (want_received as f64, want_sent as f64)).then_some(())
        });
        let last = *history.last().expect("scrapes");
        assert!(
            exact.is_some(),
            "after all closed: received/sent {last:?}, the test moved ({want_received}, {want_sent}) \
             (received {:+} over, sent {:+}; a peer's FIN is counted as a byte, as the kernel does); \
             {} scrapes, the first 40: {:?}",
            last.0 - want_received as f64,
            last.1 - want_sent as f64,
            history.len(),
            &history[..history.len().min(40)]
        );
        assert!(history.len() >= 30, "{} scrapes", history.len());
        drop(listener);
    });
}

// ---------------------------------------------------------------- 5: audit findings

/// A redis-server on 127.0.0.1:port without a password (as in audit_noauth),
/// stopped by its pid with SIGTERM on drop (then SIGKILL), and reaped.
struct Redis(Child);

impl Redis {
    fn start(port: u16, scratch: &ScratchDir) -> Redis {
        let program = require_program("redis-server", "redis-server");
        let mut command = Command::new(program);
        let dir = scratch.path.to_string_lossy().into_owned();
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &dir, "--daemonize", "no", "--logfile", "", "--unixsocket", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut redis = Redis(command.spawn().expect("start redis-server"));
        wait_listening(&mut redis.0, port, "redis-server");
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| terminate(&mut self.0, "redis-server")));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until 127.0.0.1:port accepts connections; panics if `child` exits first.
fn wait_listening(child: &mut Child, port: u16, what: &str) {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let up = poll_until(START_LIMIT, || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on {address}");
        }
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok().map(|_| ())
    });
    assert!(up.is_some(), "{what} did not listen on {address} within {START_LIMIT:?}");
}

fn audit_findings_appear_and_audit_every_zero_turns_them_off() {
    let _serial = serial();
    require_program("redis-server", "redis-server");
    isolated("maudit", || {
        let scratch = ScratchDir::new("mredis");
        let port = free_port();
        let mut redis = Some(Redis::start(port, &scratch));
        let redis_comm = comm_of(u64::from(redis.as_ref().unwrap().0.id()));
        let port_text = port.to_string();
        let started = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();

        let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "1s"]);
        let finding = |metrics: &Exposition| {
            let found = metrics.series("berth_audit_finding", &[("check", "noauth.redis"), ("port", &port_text)]);
            assert!(found.len() <= 1, "one noauth.redis series per port: {found:?}");
            found.first().map(|s| (*s).clone())
        };
        let mut last = None;
        let seen = poll_until(Duration::from_secs(30), || {
            let metrics = exporter.scrape();
            let stamp = metrics.value("berth_audit_last_run_timestamp_seconds", &[]);
            let found = finding(&metrics);
            last = Some(metrics);
            match (found, stamp) {
                (Some(f), Some(t)) if t > 0.0 => Some((f, t)),
                _ => None,
            }
        });
        let (sample, stamp) = seen.unwrap_or_else(|| {
            let last = last.as_ref().unwrap();
            panic!(
                "no berth_audit_finding{{check=noauth.redis,port={port}}} with a last-run timestamp within 30 s; \
                 findings {:?}, last run {:?}\nberth said:\n{}",
                last.series("berth_audit_finding", &[]),
                last.value("berth_audit_last_run_timestamp_seconds", &[]),
                exporter.stderr()
            )
        });
        assert_eq!(sample.value, 1.0, "{sample:?}");
        assert!(
            ["info", "low", "medium", "high", "critical"].contains(&label(&sample, "severity").as_str()),
            "{sample:?}"
        );
        assert_eq!(label(&sample, "severity"), "medium", "redis without a password on loopback (as berth audit says)");
        assert_eq!(label(&sample, "process"), redis_comm, "{sample:?}");
        let names: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
        assert_eq!(names, ["check", "port", "process", "severity"], "{sample:?}");
        assert!(stamp >= started - 5.0 && stamp < started + 120.0, "last run {stamp}, test started {started}");
        let metrics = exporter.scrape();
        assert!(metrics.value("berth_audit_duration_seconds", &[]).is_some_and(|d| d >= 0.0), "audit duration");
        assert_eq!(metrics.value("berth_scrape_error", &[("part", "audit")]).unwrap_or(0.0), 0.0);

        // Every second: the timestamp moves on, and a stopped redis's finding goes.
        let later = poll_until(Duration::from_secs(15), || {
            let t = exporter.scrape().value("berth_audit_last_run_timestamp_seconds", &[])?;
            (t > stamp).then_some(t)
        });
        assert!(later.is_some(), "the audit did not run again within 15 s (--audit-every 1s)");
        drop(redis.take());
        let gone = poll_until(Duration::from_secs(20), || finding(&exporter.scrape()).is_none().then_some(()));
        assert!(gone.is_some(), "the noauth.redis finding stayed 20 s after redis-server stopped");

        // --audit-every 0: never an audit, so no finding series at all.
        let _redis = Redis::start(port, &scratch);
        let quiet = Exporter::start(&["--listen", "127.0.0.1:0", "--audit-every", "0"]);
        for round in 0..3 {
            if round > 0 {
                std::thread::sleep(Duration::from_millis(1200));
            }
            let metrics = quiet.scrape();
            assert!(metrics.listener("tcp", "127.0.0.1", port).is_some(), "redis is listed");
            let findings = metrics.series("berth_audit_finding", &[]);
            assert!(findings.is_empty(), "--audit-every 0 exported findings: {findings:?}");
        }
    });
}

// ---------------------------------------------------------------- 6: textfile

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the textfile directory")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn textfile_is_written_once() {
    let _serial = serial();
    let (_tcp, tcp_port) = listener_v4();
    let dir = ScratchDir::new("mtextfile");
    let (code, stdout, stderr) =
        run_berth(&["metrics", "--textfile", dir.path.to_str().unwrap(), "--audit-every", "0"], &[]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("berth_listener_info"), "the metrics go to the file, not stdout: {stdout}");
    assert_eq!(dir_entries(&dir.path), ["berth.prom"], "only berth.prom, no temporary file left");
    let file = dir.path.join("berth.prom");
    let text = std::fs::read_to_string(&file).expect("read berth.prom");
    let metrics = parse_or_panic(&text, Format::Text, "berth.prom");
    assert_listener(&metrics, "tcp", "127.0.0.1", tcp_port);
    // node_exporter runs as its own user (Debian: prometheus): the file must be readable by others.
    let mode = std::fs::metadata(&file).expect("stat berth.prom").permissions().mode();
    assert!(mode & 0o004 != 0, "berth.prom is mode {mode:o}: node_exporter's user cannot read it");
}

fn textfile_rewrites_are_atomic_and_leave_no_temporary_files() {
    let _serial = serial();
    // In a namespace of its own when root: a small file of known series,
    // whatever else the machine runs (reads of a busy machine's file are slow).
    isolated("mtextfile", textfile_rewrites_in_this_namespace);
}

fn textfile_rewrites_in_this_namespace() {
    let (_tcp, tcp_port) = listener_v4();
    let dir = ScratchDir::new("mtextfile-every");
    let file = dir.path.join("berth.prom");
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["metrics", "--textfile", dir.path.to_str().unwrap(), "--every", "1s", "--audit-every", "0"])
        .env_remove("BERTH_SOURCE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth metrics --textfile --every");
    let stderr = child.stderr.take().expect("stderr");
    let mut child = KillOnDrop(child);
    let first = poll_until(START_LIMIT, || std::fs::metadata(&file).ok());
    let first = first.unwrap_or_else(|| panic!("no {} within {START_LIMIT:?}", file.display()));
    let first_text = std::fs::read_to_string(&file).expect("read berth.prom");
    let first_parsed = parse_or_panic(&first_text, Format::Text, "the first berth.prom");
    assert!(first_parsed.listener("tcp", "127.0.0.1", tcp_port).is_some(), "berth_listener_info in the file");
    let families: BTreeSet<String> = first_parsed.types.keys().cloned().collect();

    // --every 1s rewrites it.
    let stamp = |m: &std::fs::Metadata| (m.ino(), m.mtime(), m.mtime_nsec());
    let rewritten = poll_until(Duration::from_secs(10), || {
        let now = std::fs::metadata(&file).ok()?;
        (stamp(&now) != stamp(&first)).then_some(())
    });
    assert!(rewritten.is_some(), "berth.prom not rewritten within 10 s with --every 1s");

    // Replaced, not rewritten in place: a new inode each time (rename),
    // or a reader could see half of it.
    let now = std::fs::metadata(&file).expect("stat berth.prom");
    assert_ne!(now.ino(), first.ino(), "berth.prom was rewritten in place (same inode), not renamed over");

    // A reader never sees a partial file: each read parses, has every
    // family the first had, and berth_build_info. Reads go on, back to
    // back, until three rewrites were seen and 2000 reads made (at most
    // 200 000 reads or 20 s).
    let mut inodes = BTreeSet::new();
    let started = Instant::now();
    let mut reads = 0;
    while reads < 200_000 && started.elapsed() < Duration::from_secs(20) && (reads < 2000 || inodes.len() < 4) {
        reads += 1;
        let mut opened = std::fs::File::open(&file).unwrap_or_else(|e| panic!("read {reads}: berth.prom missing: {e}"));
        inodes.insert(opened.metadata().expect("fstat").ino());
        let mut text = String::new();
        opened.read_to_string(&mut text).expect("read berth.prom");
        let parsed = parse(&text, Format::Text)
            .unwrap_or_else(|e| panic!("read {reads}: a partial or broken file: {e}\n{text}"));
        let now: BTreeSet<String> = parsed.types.keys().cloned().collect();
        assert_eq!(now, families, "read {reads}: families differ from the first file's");
        assert_eq!(parsed.series("berth_build_info", &[]).len(), 1, "read {reads}: berth_build_info");
    }
    assert!(reads >= 100, "only {reads} reads in 20 s");
    assert!(inodes.len() >= 2, "the {reads} reads spanned no rewrite (one inode): nothing was proven");

    let status = terminate(&mut child.0, "berth metrics --textfile");
    assert!(status.success() || status.signal() == Some(libc::SIGTERM), "after SIGTERM: {status:?}");
    let said = read_within(stderr, Duration::from_secs(5), "berth's stderr");
    assert!(!said.contains("panicked"), "{said}");
    assert_eq!(dir_entries(&dir.path), ["berth.prom"], "stray files after SIGTERM");
}

/// GET http://127.0.0.1:port/path with HTTP/1.0 (a body to the close,
/// chunked or not): (status, body).
fn http10_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).expect("send");
    let raw = read_within(stream, Duration::from_secs(15), "an HTTP response");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {raw:?}"));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {head:?}"));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        for _ in 0..100_000 {
            let (size, after) = rest.split_once("\r\n").expect("a chunk size line");
            let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
            if size == 0 {
                break;
            }
            out.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, body)
}

/// Debian's prometheus-node-exporter with only the textfile collector, on
/// DIR, at 127.0.0.1:<free>; as root it runs as nobody, as Debian runs it
/// as its own user. Killed by its pid on drop.
fn node_exporter_on(dir: &Path) -> (KillOnDrop, u16) {
    let node_exporter = require_program("/usr/bin/prometheus-node-exporter", "prometheus-node-exporter");
    let port = free_port();
    let mut command = Command::new(node_exporter);
    command
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if is_root() {
        command.uid(NOBODY.0).gid(NOBODY.1).current_dir("/");
    }
    let mut node = KillOnDrop(command.spawn().expect("start prometheus-node-exporter"));
    wait_listening(&mut node.0, port, "prometheus-node-exporter");
    (node, port)
}

/// node_exporter's /metrics, parsed strictly (it is Prometheus text 0.0.4).
fn node_exporter_scrape(port: u16) -> Exposition {
    let (status, body) = http10_get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    parse_or_panic(&body, Format::Text, "node_exporter's /metrics")
}

fn the_strict_parser_accepts_node_exporters_output() {
    let _serial = serial();
    // The parser is not stricter than the reference implementation:
    // node_exporter's own exposition (Go's client library) parses, HELP
    // texts, summaries and counters included.
    let dir = ScratchDir::new("mnode-self");
    dir.write("x.prom", "# HELP x A \\\\ help\\nline.\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1\n");
    let (_node, port) = node_exporter_on(&dir.path);
    let metrics = node_exporter_scrape(port);
    assert!(metrics.types.get("go_gc_duration_seconds").is_some_and(|t| t == "summary"), "{:?}", metrics.types);
    assert_eq!(
        metrics.value("x", &[("a", "q\"\\\n")]),
        Some(1.0),
        "escapes round-trip: {:?}",
        metrics.series("x", &[])
    );
    assert_eq!(metrics.value("node_textfile_scrape_error", &[]), Some(0.0));
}

fn node_exporter_reads_the_textfile() {
    let _serial = serial();
    let (_tcp, tcp_port) = listener_v4();
    let dir = ScratchDir::new("mnode");
    let (code, _, stderr) =
        run_berth(&["metrics", "--textfile", dir.path.to_str().unwrap(), "--audit-every", "0"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (mut node, port) = node_exporter_on(&dir.path);
    let metrics = node_exporter_scrape(port);
    assert_eq!(
        metrics.value("node_textfile_scrape_error", &[]),
        Some(0.0),
        "node_exporter could not read berth.prom (as {}); mtimes {:?}",
        if is_root() { "nobody" } else { "this user" },
        metrics.series("node_textfile_mtime_seconds", &[])
    );
    let listener = metrics.listener("tcp", "127.0.0.1", tcp_port).unwrap_or_else(|| {
        panic!("node_exporter does not expose berth_listener_info for port {tcp_port}: {:?}", metrics.listeners())
    });
    assert_eq!(label(listener, "scope"), "loopback");
    assert_eq!(label(listener, "process"), our_comm());
    assert_eq!(metrics.series("berth_build_info", &[]).len(), 1, "berth_build_info through node_exporter");
    terminate(&mut node.0, "prometheus-node-exporter");
}

// ---------------------------------------------------------------- 7: bad input

/// `berth metrics --listen VALUE`: refused with one line (exit 2), not
/// accepted and served (a run still going after 5 s is killed by its pid).
fn assert_listen_refused(value: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(["metrics", "--audit-every", "0", "--listen", value])
        .env_remove("BERTH_SOURCE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let what = format!("berth metrics --listen {value:?}");
    let out =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_within(command, &what, Duration::from_secs(5))))
            .unwrap_or_else(|_| panic!("{what} was accepted (it served for 5 s): it should be refused as malformed"));
    assert!(!out.stderr.contains("panicked"), "{what} panicked: {}", out.stderr);
    assert_eq!(out.code, 2, "{what}: a usage error\n{}", out.stderr);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one stderr line, got:\n{}", out.stderr);
    assert!(lines[0].starts_with("berth:"), "{what}: {}", out.stderr);
    lines[0].to_string()
}

fn bad_listen_addresses_are_refused() {
    let _serial = serial();
    // Port 0 wherever a lax parser could take the value, so a wrongly
    // accepted one binds no fixed port.
    for bad in ["127.0.0.1:99999", "nonsense", "127.0.0.1:", "99999", "127.0.0.1:0:0", "1.2.3:0", "-1"] {
        let line = assert_listen_refused(bad);
        assert!(line.contains(bad.trim()), "--listen {bad}: names the input: {line}");
    }
    let (_, line) = assert_one_line_error(&["metrics", "--listen", "10.1.2.3:0"]);
    assert!(line.contains("--expose"), "a non-loopback address is refused with advice: {line}");
}

fn ipv6_listen_addresses_need_their_brackets() {
    let _serial = serial();
    // "::1:0" is itself an IPv6 address (0:0:0:0:0:0:1:0); berth's other
    // commands refuse it and ask for [::1]:PORT; so do unbalanced brackets.
    for bad in ["::1:0", "[::1:0", "::1]:0", "[[::1]]:0", "[127.0.0.1]:0"] {
        assert_listen_refused(bad);
    }
}

fn a_taken_port_is_refused() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let (_, line) = assert_one_line_error(&["metrics", "--listen", &format!("127.0.0.1:{port}"), "--audit-every", "0"]);
    drop(listener);
    assert!(line.contains(&port.to_string()), "names the port: {line}");
    assert!(line.to_lowercase().contains("in use"), "says it is in use: {line}");
}

fn unwritable_textfile_dirs_are_refused() {
    let _serial = serial();
    let (_, line) = assert_one_line_error(&["metrics", "--textfile", "/nonexistent/dir", "--audit-every", "0"]);
    assert!(line.contains("/nonexistent/dir"), "names the directory: {line}");

    let dir = ScratchDir::new("mreadonly");
    let locked = dir.path.join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod 555");
    // Root writes anywhere: as root the run drops to nobody (the directory is root's).
    let user = is_root().then_some(NOBODY);
    let args = ["metrics", "--textfile", locked.to_str().unwrap(), "--audit-every", "0"];
    let result = std::panic::catch_unwind(|| assert_one_line_error_as(&args, user));
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    let (_, line) = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(line.contains(locked.to_str().unwrap()), "names the directory: {line}");
    assert!(line.to_lowercase().contains("permission denied"), "says why: {line}");
    assert!(dir_entries(&locked).is_empty(), "nothing left in it");
}

fn flag_combinations_are_usage_errors() {
    let _serial = serial();
    let (code, line) = assert_one_line_error(&["metrics", "--every", "30s"]);
    assert_eq!(code, 2, "--every without --textfile: {line}");
    assert!(line.contains("--textfile"), "{line}");
    let dir = ScratchDir::new("mtls");
    let cert = dir.write("cert.pem", "not really a certificate\n");
    let (code, line) =
        assert_one_line_error(&["metrics", "--listen", "127.0.0.1:0", "--tls-cert", cert.to_str().unwrap()]);
    assert_eq!(code, 2, "--tls-cert without --tls-key: {line}");
    assert!(line.contains("--tls-key"), "{line}");
    let (code, line) = assert_one_line_error(&["metrics", "--textfile", dir.path.to_str().unwrap(), "--every", "0s"]);
    assert_eq!(code, 2, "--every 0s is outside 1s..1h: {line}");
    let (code, line) = assert_one_line_error(&["metrics", "--textfile", dir.path.to_str().unwrap(), "--every", "2h"]);
    assert_eq!(code, 2, "--every 2h is outside 1s..1h: {line}");
}

// ---------------------------------------------------------------- 8: berth_scrape_error

/// `unshare -m` with /dev/null bind-mounted over ip_local_port_range, in the
/// new mount namespace only (the machine's /proc is untouched), then exec.
const HIDE_PORT_RANGE: [&str; 7] = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    "mount --bind /dev/null /proc/sys/net/ipv4/ip_local_port_range && exec \"$@\"",
];

fn an_unreadable_port_range_is_a_scrape_error() {
    let _serial = serial();
    require_root("unshare -m and a bind mount over /proc/sys/net/ipv4/ip_local_port_range");
    require_program("unshare", "util-linux");
    let (_tcp, tcp_port) = listener_v4();

    // The control: everything readable, every part 0.
    let normal = one_shot(&["--audit-every", "0"]);
    for part in ["sockets", "owners", "port_ranges"] {
        assert_eq!(normal.value("berth_scrape_error", &[("part", part)]), Some(0.0), "part {part} in a normal run");
    }

    // `sh -c SCRIPT` takes the next word as $0: "berth-metrics" here.
    let mut wrapper = HIDE_PORT_RANGE.to_vec();
    wrapper.push("berth-metrics");
    let out = run_berth_wrapped(&wrapper, &["metrics", "--audit-every", "0"]);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, 0, "returns what it can: {}", out.stderr);
    let hidden = parse_or_panic(&out.stdout, Format::Text, "metrics with the port range hidden");
    assert_eq!(hidden.value("berth_scrape_error", &[("part", "port_ranges")]), Some(1.0), "{}", out.stdout);
    for part in ["sockets", "owners"] {
        assert_eq!(hidden.value("berth_scrape_error", &[("part", part)]), Some(0.0), "part {part}");
    }
    assert_listener(&hidden, "tcp", "127.0.0.1", tcp_port);
    assert_eq!(hidden.series("berth_build_info", &[]).len(), 1);
    assert!(hidden.value("berth_listeners", &[("scope", "loopback")]).is_some(), "berth_listeners");
    // The machine's own file is untouched.
    let (low, high) = ephemeral_range();
    assert!(low > 0 && high >= low);

    // And over HTTP: a 200 with the gauge, never a 500.
    let exporter = Exporter::start_with(&wrapper, &["--listen", "127.0.0.1:0", "--audit-every", "0"], &[]);
    let scraped = exporter.scrape();
    assert_eq!(scraped.value("berth_scrape_error", &[("part", "port_ranges")]), Some(1.0));
    assert_listener(&scraped, "tcp", "127.0.0.1", tcp_port);
}

tests![
    the_strict_parser_refuses_broken_expositions,
    the_strict_parser_accepts_node_exporters_output,
    one_shot_lists_tcp_and_udp_listeners,
    one_shot_lists_a_v6_loopback_listener,
    label_values_with_quotes_backslashes_and_newlines_are_escaped,
    scopes_states_and_counts_in_a_namespace_of_its_own,
    listen_negotiates_text_and_openmetrics,
    listen_refuses_foreign_host_headers,
    concurrent_scrapes_succeed_with_one_listener_set,
    expose_serves_another_address_in_a_namespace,
    token_is_required_when_set,
    token_from_file_and_environment,
    a_missing_token_file_is_a_usage_error,
    serves_https_with_a_cert_and_key,
    port_byte_counters_count_closed_connections_and_never_go_down,
    audit_findings_appear_and_audit_every_zero_turns_them_off,
    textfile_is_written_once,
    textfile_rewrites_are_atomic_and_leave_no_temporary_files,
    node_exporter_reads_the_textfile,
    bad_listen_addresses_are_refused,
    ipv6_listen_addresses_need_their_brackets,
    a_taken_port_is_refused,
    unwritable_textfile_dirs_are_refused,
    flag_combinations_are_usage_errors,
    an_unreadable_port_range_is_a_scrape_error,
];
