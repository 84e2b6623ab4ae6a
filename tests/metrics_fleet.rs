//! `berth metrics` watched by a real Prometheus (Debian's `prometheus`
//! package, started by the test on loopback), and the Prometheus side that
//! ships in the repository: the alerting rules in contrib/prometheus (checked
//! and unit-tested with promtool), the Grafana dashboard in contrib/grafana
//! and the PromQL in docs/metrics.md (every expression sent to Prometheus,
//! which must parse and evaluate it).
//!
//! The fleet test builds three "hosts" out of network namespaces, each joined
//! to the test's namespace by a veth pair (10.213.B.4i+1 here, .4i+2 inside,
//! a /30 each, in a /28 that overlaps no address or route of the machine),
//! each running `berth metrics` on its own address with listeners of its
//! own. Prometheus scrapes the three every second; the test reads its HTTP
//! API. Namespaces, veths and every child are removed by guards, on success
//! and on failure.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus/berth-alerts.yml");
const ALERTS_TEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus/berth-alerts.test.yml");
const QUERIES_TEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus/berth-queries.test.yml");
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/berth-dashboard.json");
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");

/// The alerts berth-alerts.yml must define.
const ALERT_NAMES: [&str; 5] = [
    "BerthListenerExposed",
    "BerthAuditFindingHigh",
    "BerthExporterDown",
    "BerthScrapeError",
    "BerthEphemeralPortsExhausted",
];

/// The scrape (and rule evaluation) interval of the test's Prometheus.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// The `for` of BerthListenerExposed in the test's copy of the rules (the
/// shipped file says 1m; only that line differs).
const TEST_FOR: &str = "2s";

// ------------------------------------------------------------ HTTP

/// One HTTP response: status and body (de-chunked).
struct HttpResponse {
    status: u16,
    body: String,
}

/// `GET target` from 127.0.0.1:`port` (or `host`), `Connection: close`,
/// read to the end (10 s limit on each read). Prometheus answers large
/// bodies chunked, which the serve tests' client does not read.
fn http_get(host: &str, port: u16, target: &str) -> std::io::Result<HttpResponse> {
    http_get_with(host, port, target, &[])
}

/// As [`http_get`], with extra request headers.
fn http_get_with(host: &str, port: u16, target: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no end of head in {:?}", String::from_utf8_lossy(&raw))))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok(HttpResponse { status, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    // Bounded: each round consumes at least the size line.
    for _ in 0..100_000 {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| std::io::Error::other("a chunk size line without its end"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| std::io::Error::other(format!("chunk size {size_text:?}: {e}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(std::io::Error::other("a chunk cut short"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
    Err(std::io::Error::other("too many chunks"))
}

/// Percent-encoding for a query parameter (everything but RFC 3986's
/// unreserved characters).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ------------------------------------------------------------ Prometheus

/// A Prometheus server the test started on 127.0.0.1, with its own data
/// directory; killed by its pid on drop (before the directory goes).
struct Prometheus {
    child: KillOnDrop,
    port: u16,
    log: PathBuf,
    _dir: ScratchDir,
}

impl Prometheus {
    /// Writes `config` (and `files`: name, content) into a scratch
    /// directory and starts Prometheus on it; waits (bounded) for /-/ready.
    fn start(config: &str, files: &[(&str, &str)]) -> Prometheus {
        let binary = require_program("prometheus", "prometheus");
        let dir = ScratchDir::new("prometheus");
        for (name, content) in files {
            dir.write(name, content);
        }
        let config_path = dir.write("prometheus.yml", config);
        let log = dir.path.join("prometheus.log");
        // Prometheus cannot listen on port 0 and say which port it got, so a
        // free port is found by binding 127.0.0.1:0 and closing it again;
        // another program may take it in between, hence a few tries.
        let mut last_log = String::new();
        for attempt in 0..3 {
            let port =
                TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("address").port();
            let log_file = File::create(&log).expect("create the Prometheus log");
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path.join(format!("data{attempt}")).display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone the log"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut child = KillOnDrop(child);
            let ready = poll_until(Duration::from_secs(30), || {
                if let Ok(Some(status)) = child.0.try_wait() {
                    return Some(Err(status));
                }
                match http_get("127.0.0.1", port, "/-/ready") {
                    Ok(r) if r.status == 200 => Some(Ok(())),
                    _ => {
                        std::thread::sleep(Duration::from_millis(80));
                        None
                    }
                }
            });
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            match ready {
                Some(Ok(())) => return Prometheus { child, port, log, _dir: dir },
                Some(Err(status)) if last_log.contains("address already in use") => {
                    eprintln!("prometheus: port {port} taken meanwhile ({status}), trying another");
                }
                Some(Err(status)) => panic!("prometheus exited ({status}) before it was ready:\n{last_log}"),
                None => panic!("prometheus was not ready within 30 s:\n{last_log}"),
            }
        }
        panic!("prometheus could not get a free port in 3 tries:\n{last_log}")
    }

    /// GET `target` on the API: the parsed JSON and the HTTP status.
    fn get(&self, target: &str) -> (u16, Value) {
        let response = http_get("127.0.0.1", self.port, target)
            .unwrap_or_else(|e| panic!("GET {target} from prometheus: {e}\n{}", self.log_text()));
        let json = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("GET {target}: not JSON ({e}): {}", response.body));
        (response.status, json)
    }

    /// An instant query: (status field, the whole answer).
    fn query_raw(&self, expr: &str) -> (String, Value) {
        let (_, json) = self.get(&format!("/api/v1/query?query={}", url_encode(expr)));
        (json["status"].as_str().unwrap_or("").to_string(), json)
    }

    /// An instant query that must succeed: its result vector.
    fn query(&self, expr: &str) -> Vec<Value> {
        let (status, json) = self.query_raw(expr);
        assert_eq!(status, "success", "query {expr:?}: {json}");
        json["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The active alerts (pending and firing).
    fn alerts(&self) -> Vec<Value> {
        let (status, json) = self.get("/api/v1/alerts");
        assert_eq!(status, 200, "GET /api/v1/alerts: {json}");
        json["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u64 {
        self.child.pid()
    }
}

/// A label of a query result or alert ("" when absent).
fn label<'a>(item: &'a Value, name: &str) -> &'a str {
    item.get("metric").or_else(|| item.get("labels")).and_then(|m| m[name].as_str()).unwrap_or("")
}

/// The value of an instant-vector sample.
fn sample_value(item: &Value) -> f64 {
    item["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

// ------------------------------------------------------------ promtool

/// The `expr: |` blocks of a promtool test file, whitespace collapsed.
fn tested_expressions(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if line.trim_end().ends_with("expr: |") {
            let indent = line.len() - line.trim_start().len();
            let body: Vec<&str> = lines[at + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > indent + 2 || l.trim().is_empty())
                .copied()
                .collect();
            found.push(collapse(&body.join("\n")));
        }
    }
    found
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The shipped rules pass `promtool check rules`, and their unit tests
/// (each alert shown firing and not firing) pass `promtool test rules`;
/// every alert the issue asks for is there. The PromQL of docs/metrics.md
/// passes its own unit tests (berth-queries.test.yml: a made-up fleet and
/// the answers each query must give), and every ```promql block of the
/// doc is among the expressions tested there. The doc's prometheus.yml
/// snippets pass `promtool check config`.
fn alert_rules_and_doc_queries_pass_promtool() {
    let _serial = serial();
    let promtool = require_program("promtool", "prometheus");
    let rules = std::fs::read_to_string(ALERTS).expect("read berth-alerts.yml");
    for name in ALERT_NAMES {
        assert!(rules.contains(&format!("- alert: {name}\n")), "berth-alerts.yml has no alert {name}");
        let tests = std::fs::read_to_string(ALERTS_TEST).expect("read berth-alerts.test.yml");
        assert!(tests.contains(&format!("alertname: {name}\n")), "berth-alerts.test.yml does not test {name}");
    }
    let tested = tested_expressions(QUERIES_TEST);
    let untested: Vec<String> = doc_expressions().into_iter().filter(|e| !tested.contains(&collapse(e))).collect();
    assert!(untested.is_empty(), "docs/metrics.md PromQL without a test in berth-queries.test.yml:\n{untested:#?}");
    for args in
        [vec!["check", "rules", ALERTS], vec!["test", "rules", ALERTS_TEST], vec!["test", "rules", QUERIES_TEST]]
    {
        let mut command = Command::new(&promtool);
        command
            .args(&args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = run_within(command, &format!("promtool {args:?}"), Duration::from_secs(60));
        assert_eq!(out.code, 0, "promtool {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("SUCCESS"), "promtool {args:?} said:\n{}\n{}", out.stdout, out.stderr);
    }

    // The prometheus.yml snippets of docs/metrics.md pass `promtool check
    // config`, with /etc/prometheus/ a scratch directory holding the
    // shipped rules and a token.
    let etc = ScratchDir::new("promtool-config");
    etc.write("berth-alerts.yml", &rules);
    etc.write("berth.token", "a-token\n");
    let snippets: Vec<String> = doc_blocks("yaml").into_iter().filter(|b| b.contains("scrape_configs:")).collect();
    assert!(snippets.len() >= 2, "docs/metrics.md has {} prometheus.yml snippets", snippets.len());
    for (index, snippet) in snippets.iter().enumerate() {
        let prefix = format!("{}/", etc.path.display());
        let path = etc.write(&format!("prometheus-{index}.yml"), snippet.replace("/etc/prometheus/", &prefix));
        let mut command = Command::new(&promtool);
        command
            .arg("check")
            .arg("config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = run_within(command, "promtool check config", Duration::from_secs(60));
        assert_eq!(
            out.code, 0,
            "promtool check config on docs/metrics.md's snippet:\n{snippet}\n{}\n{}",
            out.stdout, out.stderr
        );
    }
}

// ------------------------------------------------------------ PromQL in the repository

/// Every PromQL expression of the Grafana dashboard (its panels' `expr`,
/// and the series selectors inside its `label_values(...)` variables),
/// with Grafana's variables replaced by what Grafana would put there.
fn dashboard_expressions(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item) {
                        ("expr", Value::String(expr)) => found.push(expr.clone()),
                        _ => walk(item, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&dashboard["panels"], &mut found);
    for variable in dashboard["templating"]["list"].as_array().expect("templating.list") {
        let definition = variable["definition"].as_str().unwrap_or("");
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .map(|(selector, _label)| selector.trim().to_string())
            .unwrap_or_else(|| {
                panic!("variable {} is not label_values(SELECTOR, LABEL): {definition}", variable["name"])
            });
        found.push(inner);
    }
    found
        .into_iter()
        .map(|e| {
            e.replace("$__rate_interval", "1m")
                .replace("${instance}", ".*")
                .replace("$instance", ".*")
                .replace("${job}", ".*")
                .replace("$job", ".*")
        })
        .collect()
}

/// The ```promql blocks of docs/metrics.md, one expression each.
fn doc_expressions() -> Vec<String> {
    doc_blocks("promql")
}

/// The fenced blocks of docs/metrics.md in `language`.
fn doc_blocks(language: &str) -> Vec<String> {
    let text = std::fs::read_to_string(DOC).expect("read docs/metrics.md");
    let opening = format!("```{language}");
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, fence) if fence == opening => current = Some(String::new()),
            (Some(block), "```") => {
                found.push(block.trim().to_string());
                block.clear();
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "docs/metrics.md: a ```{language} block is not closed");
    found
}

/// The dashboard is valid JSON of the shape Grafana imports (a
/// DS_PROMETHEUS input, every panel on it, the panels the issue asks for),
/// and a real Prometheus parses and evaluates each PromQL expression in it
/// and in docs/metrics.md (status "success"; a broken expression is shown
/// to fail first, so the check can fail).
fn dashboard_and_doc_promql_parse_in_prometheus() {
    let _serial = serial();
    let text = std::fs::read_to_string(DASHBOARD).expect("read berth-dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("berth-dashboard.json is not JSON");
    let schema = dashboard["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = std::collections::HashSet::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().expect("a panel id")), "two panels with id {}", panel["id"]);
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {} datasource", panel["title"]);
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {} target datasource", panel["title"]);
        }
    }
    let exprs = dashboard_expressions(&dashboard);
    for wanted in [
        "berth_listeners{",
        "berth_listener_info{instance=~\".*\", job=~\".*\", scope!=\"loopback\"}",
        "count by (severity) (berth_audit_finding",
        "berth_sockets{",
        "rate(berth_port_received_bytes_total",
        "rate(berth_port_sent_bytes_total",
        "berth_ephemeral_ports_in_use",
    ] {
        assert!(exprs.iter().any(|e| e.contains(wanted)), "no dashboard panel queries {wanted}:\n{exprs:#?}");
    }
    let docs = doc_expressions();
    assert!(docs.len() >= 6, "docs/metrics.md has {} promql blocks, expected one per question", docs.len());

    let prometheus = Prometheus::start("global:\n  scrape_interval: 15s\n", &[]);
    // The check can fail: a broken expression is refused.
    let (status, json) = prometheus.query_raw("berth_listener_info{scope=");
    assert_eq!(status, "error", "a broken expression was accepted: {json}");
    let mut failures = Vec::new();
    for (source, expr) in exprs.iter().map(|e| ("dashboard", e)).chain(docs.iter().map(|e| ("docs/metrics.md", e))) {
        let (status, json) = prometheus.query_raw(expr);
        if status != "success" {
            failures.push(format!("{source}: {expr}\n  -> {json}"));
        }
    }
    assert!(failures.is_empty(), "PromQL that Prometheus refuses:\n{}", failures.join("\n"));
    eprintln!(
        "checked {} dashboard and {} doc expressions (prometheus pid {})",
        exprs.len(),
        docs.len(),
        prometheus.pid()
    );
}

/// The series names of docs/metrics.md's table (rows "| `berth_...` |").
fn documented_series() -> Vec<String> {
    let text = std::fs::read_to_string(DOC).expect("read docs/metrics.md");
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `berth_"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| format!("berth_{name}")))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// docs/metrics.md's table of series is exactly what `berth metrics`
/// prints (its `# TYPE` lines, with the default periodic audit so that
/// the berth_audit_* series are there), so neither can grow a series the
/// other does not know.
fn docs_list_every_series_berth_prints() {
    let _serial = serial();
    let (code, stdout, stderr) = run_berth(&["metrics", "--no-probe"], &[]);
    assert_eq!(code, 0, "berth metrics exited {code}: {stderr}");
    let mut printed: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    printed.sort();
    printed.dedup();
    assert!(printed.len() >= 10, "few series in berth metrics' output:\n{stdout}");
    assert_eq!(documented_series(), printed, "docs/metrics.md's series table against berth metrics' # TYPE lines");
}

/// What `berth metrics` prints passes `promtool check metrics` (the
/// exposition parses, and Prometheus's naming lints find nothing: units,
/// `_total` on counters, no reserved suffixes).
fn berth_output_passes_promtool_check_metrics() {
    let _serial = serial();
    let promtool = require_program("promtool", "prometheus");
    let (code, stdout, stderr) = run_berth(&["metrics", "--no-probe"], &[]);
    assert_eq!(code, 0, "berth metrics exited {code}: {stderr}");
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    let mut stdin = child.stdin.take().expect("stdin piped");
    let writer = std::thread::spawn(move || stdin.write_all(stdout.as_bytes()));
    let stdout = read_within(child.stdout.take().expect("stdout piped"), Duration::from_secs(30), "promtool's stdout");
    let stderr = read_within(child.stderr.take().expect("stderr piped"), Duration::from_secs(30), "promtool's stderr");
    let _ = writer.join();
    let status = KillOnDrop(child).0.wait().expect("wait for promtool");
    assert!(
        status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics ({status}):\n{stdout}\n{stderr}"
    );
}

// ------------------------------------------------------------ the fleet

/// An IPv4 prefix from `ip` output ("a.b.c.d/n" or a bare address, /32).
fn parse_prefix(token: &str) -> Option<(u32, u32)> {
    let (address, length) = match token.split_once('/') {
        Some((a, l)) => (a, l.parse().ok()?),
        None => (token, 32),
    };
    let address: Ipv4Addr = address.parse().ok()?;
    (length <= 32).then_some((u32::from(address), length))
}

fn overlaps((a, a_len): (u32, u32), (b, b_len): (u32, u32)) -> bool {
    let len = a_len.min(b_len);
    if len == 0 {
        return false; // a default route overlaps everything and matters for nothing here
    }
    let mask = u32::MAX << (32 - len);
    a & mask == b & mask
}

/// A third octet B such that 10.213.B.0/28 overlaps no address or route
/// of this machine (every table), tried from the pid on; skips when none
/// of 32 candidates is free.
fn free_block() -> u8 {
    let mut known = Vec::new();
    for args in [vec!["-4", "-o", "addr", "show"], vec!["-4", "route", "show", "table", "all"]] {
        let out = Command::new("ip").args(&args).stdin(Stdio::null()).output().expect("run ip");
        let text = String::from_utf8_lossy(&out.stdout);
        known.extend(text.split_whitespace().filter_map(parse_prefix));
    }
    let start = std::process::id() as usize;
    for attempt in 0..32 {
        let octet = ((start + attempt * 7) % 256) as u8;
        let block = (u32::from(Ipv4Addr::new(10, 213, octet, 0)), 28);
        if !known.iter().any(|&k| overlaps(k, block)) {
            return octet;
        }
    }
    skip("no free /28 in 10.213.0.0/16 for the test's veth pairs (all 32 tried overlap this machine's addresses)")
}

/// The root-namespace end of a veth pair, deleted on drop (which deletes
/// its peer in the namespace too).
struct VethGuard {
    name: String,
}

impl Drop for VethGuard {
    fn drop(&mut self) {
        let (ok, err) = ip(&["link", "del", &self.name]);
        // Already gone with its namespace is fine.
        if !ok && !err.contains("Cannot find device") {
            eprintln!("warning: ip link del {} failed: {err}", self.name);
        }
    }
}

/// A listener a host runs: protocol and address (port 0, read back).
#[derive(Clone, Copy)]
struct Spec {
    proto: &'static str,
    address: &'static str,
}

/// One "host": a namespace with a veth to ours, its listeners, and berth
/// metrics on its own address. Fields drop in order: children, the veth,
/// the namespace.
struct Host {
    listeners: Vec<KillOnDrop>,
    _berth: KillOnDrop,
    berth_stderr: Arc<Mutex<String>>,
    /// (proto, address, port) of each listener the test started.
    sockets: Vec<(String, String, u16)>,
    /// berth's address and port inside the namespace.
    address: String,
    metrics_port: u16,
    _veth: VethGuard,
    netns: NetnsGuard,
}

impl Host {
    fn instance(&self) -> String {
        format!("{}:{}", self.address, self.metrics_port)
    }

    fn berth_log(&self) -> String {
        self.berth_stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// python3 holding one socket per spec, printing their ports on one line,
/// alive for at most 120 s (and killed by its pid before that). TCP
/// listeners accept and read whatever comes, on threads.
fn start_listeners(netns: &NetnsGuard, specs: &[Spec]) -> (KillOnDrop, Vec<(String, String, u16)>) {
    let script = "import socket,sys,threading,time\n\
        def drain(s):\n  while True:\n    c,_=s.accept()\n    threading.Thread(target=lambda c=c: [None for _ in iter(lambda: c.recv(65536), b'')], daemon=True).start()\n\
        ss=[]\nfor spec in sys.argv[1:]:\n  proto,addr=spec.split('/')\n  s=socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto=='tcp' else socket.SOCK_DGRAM)\n  s.bind((addr,0))\n  if proto=='tcp':\n    s.listen(16)\n    threading.Thread(target=drain, args=(s,), daemon=True).start()\n  ss.append(s)\n\
        print(' '.join(str(s.getsockname()[1]) for s in ss), flush=True)\ntime.sleep(120)";
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &netns.name, "python3", "-c", script]);
    for spec in specs {
        command.arg(format!("{}/{}", spec.proto, spec.address));
    }
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("python3");
    let stdout = child.stdout.take().expect("stdout piped");
    let running = KillOnDrop(child);
    let line = first_line(stdout, Duration::from_secs(10)).expect("the listeners reported their ports");
    let ports: Vec<u16> = line.split_whitespace().map(|p| p.parse().expect("a port")).collect();
    assert_eq!(ports.len(), specs.len(), "ports {line:?} for {} specs", specs.len());
    let sockets = specs.iter().zip(ports).map(|(s, p)| (s.proto.to_string(), s.address.to_string(), p)).collect();
    (running, sockets)
}

/// Host `index` (0..3): namespace, veth 10.213.`octet`.(4i+1) here and
/// .(4i+2) inside, its listeners, and `berth metrics --listen ADDR:0
/// --expose --audit-every 0 EXTRA...` inside, its port read from its stderr line.
fn start_host(index: u8, octet: u8, specs: &[Spec], extra: &[&OsStr]) -> Host {
    let netns = NetnsGuard::create(&format!("fleet{index}"));
    let outside = format!("bfl{}h{index}", std::process::id());
    let _ = ip(&["link", "del", &outside]); // a leftover of a crashed run with this pid
    let (ok, err) = ip(&["link", "add", &outside, "type", "veth", "peer", "name", "fleet0", "netns", &netns.name]);
    assert!(ok, "ip link add {outside} type veth peer fleet0 in {}: {err}", netns.name);
    let veth = VethGuard { name: outside.clone() };
    let here = format!("10.213.{octet}.{}", 4 * index + 1);
    let address = host_address(octet, index);
    for args in [
        vec!["addr".to_string(), "add".into(), format!("{here}/30"), "dev".into(), outside.clone()],
        vec!["link".into(), "set".into(), outside.clone(), "up".into()],
        vec![
            "-n".into(),
            netns.name.clone(),
            "addr".into(),
            "add".into(),
            format!("{address}/30"),
            "dev".into(),
            "fleet0".into(),
        ],
        vec!["-n".into(), netns.name.clone(), "link".into(), "set".into(), "fleet0".into(), "up".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = ip(&args);
        assert!(ok, "ip {args:?}: {err}");
    }
    let (listener, sockets) = start_listeners(&netns, specs);

    let mut child = Command::new("ip")
        .args(["netns", "exec", &netns.name, env!("CARGO_BIN_EXE_berth"), "metrics"])
        .args(["--listen", &format!("{address}:0"), "--expose", "--audit-every", "0"])
        .args(extra)
        .env_remove("BERTH_SOURCE")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth metrics");
    let log = collect_stderr(&mut child);
    let berth = KillOnDrop(child);
    // The port of its "metrics on http(s)://ADDR:PORT/metrics" line.
    let port_in = |text: &str| {
        text.lines().find_map(|line| {
            line.split_once("metrics on http")
                .and_then(|(_, url)| url.strip_prefix("s://").or_else(|| url.strip_prefix("://")))
                .and_then(|url| url.split('/').next())
                .and_then(|authority| authority.rsplit_once(':'))
                .and_then(|(_, port)| port.parse::<u16>().ok())
        })
    };
    let metrics_port = poll_until(Duration::from_secs(10), || port_in(&log.lock().unwrap_or_else(|p| p.into_inner())))
        .unwrap_or_else(|| {
            panic!(
                "berth metrics in {} printed no 'metrics on http://...' line within 10 s:\n{}",
                netns.name,
                log.lock().map(|s| s.clone()).unwrap_or_default()
            )
        });
    Host {
        listeners: vec![listener],
        _berth: berth,
        berth_stderr: log,
        sockets,
        address,
        metrics_port,
        _veth: veth,
        netns,
    }
}

/// berth-alerts.yml with BerthListenerExposed's `for: 1m` made [`TEST_FOR`]
/// (a test-only copy; the expression and everything else as shipped).
fn rules_with_short_for() -> String {
    let text = std::fs::read_to_string(ALERTS).expect("read berth-alerts.yml");
    let start = text.find("- alert: BerthListenerExposed\n").expect("BerthListenerExposed in berth-alerts.yml");
    let end = text[start + 1..].find("- alert: ").map_or(text.len(), |n| n + start + 1);
    let at = text[start..end].find("for: 1m\n").expect("BerthListenerExposed has for: 1m") + start;
    format!("{}for: {TEST_FOR}\n{}", &text[..at], &text[at + "for: 1m\n".len()..])
}

/// The address of host `index` inside its namespace.
fn host_address(octet: u8, index: u8) -> String {
    format!("10.213.{octet}.{}", 4 * index + 2)
}

/// BerthListenerExposed's expression, as shipped.
fn exposure_expression() -> String {
    let text = std::fs::read_to_string(ALERTS).expect("read berth-alerts.yml");
    let start = text.find("- alert: BerthListenerExposed\n").expect("BerthListenerExposed");
    let rest = &text[start..];
    let expr_at = rest.find("expr: |\n").expect("a block expr") + "expr: |\n".len();
    let for_at = rest.find("        for: ").expect("for");
    rest[expr_at..for_at].lines().map(str::trim).collect::<Vec<_>>().join("\n")
}

fn is_exposure_alert(alert: &Value) -> bool {
    label(alert, "alertname") == "BerthListenerExposed"
}

/// Three hosts (network namespaces over veth pairs), each running `berth
/// metrics` on its own address with listeners of its own; a real
/// Prometheus scrapes them every second with the shipped rules (the
/// second host only with its bearer token, the third over HTTPS, as
/// docs/metrics.md configures them). Every target is up, every host's listeners are in `berth_listener_info` under
/// its own instance with the right proto/address/port/scope/process labels
/// (and no other host's), `berth_listeners` counts them, bytes a client
/// sends to one listener show in `berth_port_received_bytes_total`, and
/// nothing is exposed. Then a listener on 0.0.0.0 in one namespace makes
/// BerthListenerExposed go pending and firing for exactly that listener
/// (the test's copy of the rules has `for: 2s` instead of 1m), and closing
/// it resolves the alert.
fn three_hosts_in_prometheus_and_the_exposure_alert() {
    let _serial = serial();
    require_root("network namespaces and veth pairs");
    require_program("ip", "iproute2");
    require_program("python3", "python3");
    require_program("prometheus", "prometheus");
    let octet = free_block();
    let tcp = |address| Spec { proto: "tcp", address };
    let udp = |address| Spec { proto: "udp", address };
    // Each host's listeners on an address of its own (127.0.0.11 .. 13, all
    // loopback), so no host's can be mistaken for another's even where the
    // kernels of two namespaces pick the same port.
    let specs: [Vec<Spec>; 3] = [
        vec![tcp("127.0.0.11"), udp("127.0.0.11")],
        vec![tcp("127.0.0.12"), tcp("127.0.0.12")],
        vec![tcp("127.0.0.13"), udp("127.0.0.13")],
    ];
    // The second host wants a bearer token (--token-file), the third
    // serves HTTPS (--tls-cert, --tls-key: a self-signed certificate for
    // its address); each is scraped by a job of its own, configured as
    // docs/metrics.md shows (`authorization`, `scheme: https` + `tls_config`).
    let secrets = ScratchDir::new("fleet-secrets");
    let token = format!("fleet-{}-token", std::process::id());
    let token_file = secrets.write("token", format!("{token}\n"));
    let certified = rcgen::generate_simple_self_signed(vec![host_address(octet, 2)]).expect("a certificate");
    let cert_file = secrets.write("cert.pem", certified.cert.pem());
    let key_file = secrets.write("key.pem", certified.signing_key.serialize_pem());
    let extras: [Vec<&OsStr>; 3] = [
        vec![],
        vec!["--token-file".as_ref(), token_file.as_os_str()],
        vec!["--tls-cert".as_ref(), cert_file.as_os_str(), "--tls-key".as_ref(), key_file.as_os_str()],
    ];
    let mut hosts: Vec<Host> =
        (0..3u8).map(|i| start_host(i, octet, &specs[usize::from(i)], &extras[usize::from(i)])).collect();
    let started = std::time::Instant::now();

    // Straight to each exporter first, so a broken exporter is told apart
    // from a Prometheus that cannot reach it.
    let unauthorized = http_get(&hosts[1].address, hosts[1].metrics_port, "/metrics").expect("GET /metrics");
    assert_eq!(unauthorized.status, 401, "GET /metrics without the token: {}", unauthorized.body);
    // A plain-HTTP request to the HTTPS exporter gets no metrics.
    let plain = http_get(&hosts[2].address, hosts[2].metrics_port, "/metrics");
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP to the --tls-cert exporter answered 200: {:?}",
        plain.map(|r| r.body)
    );
    let bearer = format!("Bearer {token}");
    for (index, host) in hosts.iter().enumerate().take(2) {
        let headers: &[(&str, &str)] = if index == 1 { &[("Authorization", &bearer)] } else { &[] };
        let response = http_get_with(&host.address, host.metrics_port, "/metrics", headers)
            .unwrap_or_else(|e| panic!("GET /metrics from {}: {e}\n{}", host.instance(), host.berth_log()));
        assert_eq!(
            response.status,
            200,
            "GET /metrics from {}: {}\n{}",
            host.instance(),
            response.body,
            host.berth_log()
        );
        assert!(response.body.contains("berth_listener_info{"), "{}:\n{}", host.instance(), response.body);
    }

    let config = format!(
        "global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n  evaluation_interval: {s}s\n\
         rule_files:\n  - berth-alerts.yml\n\
         scrape_configs:\n  - job_name: berth\n    static_configs:\n      - targets: ['{}']\n\
         \x20 - job_name: berth-token\n    authorization:\n      type: Bearer\n      credentials_file: {}\n\
         \x20   static_configs:\n      - targets: ['{}']\n\
         \x20 - job_name: berth-tls\n    scheme: https\n    tls_config:\n      ca_file: {}\n\
         \x20   static_configs:\n      - targets: ['{}']\n",
        hosts[0].instance(),
        token_file.display(),
        hosts[1].instance(),
        cert_file.display(),
        hosts[2].instance(),
        s = SCRAPE_INTERVAL.as_secs()
    );
    let prometheus = Prometheus::start(&config, &[("berth-alerts.yml", &rules_with_short_for())]);
    let context = |prometheus: &Prometheus, hosts: &[Host]| {
        let (_, targets) = prometheus.get("/api/v1/targets");
        let logs: Vec<String> =
            hosts.iter().map(|h| format!("berth at {}:\n{}", h.instance(), h.berth_log())).collect();
        format!("targets: {targets}\n{}\nprometheus log:\n{}", logs.join("\n"), prometheus.log_text())
    };

    // Every target up.
    let mut last = Vec::new();
    let up = poll_until(Duration::from_secs(20), || {
        last = prometheus.query("up{job=~\"berth.*\"}");
        (last.len() == 3 && last.iter().all(|s| sample_value(s) == 1.0)).then_some(())
    });
    assert!(up.is_some(), "not every target up within 20 s: {last:?}\n{}", context(&prometheus, &hosts));
    let up_after = started.elapsed();

    // Each host's listeners, under its own instance only.
    let instances: Vec<String> = hosts.iter().map(Host::instance).collect();
    let expected = |host: &Host| {
        let mut set: Vec<(String, String, String, String, String)> = host
            .sockets
            .iter()
            .map(|(proto, address, port)| {
                (proto.clone(), address.clone(), port.to_string(), "loopback".to_string(), "python3".to_string())
            })
            .collect();
        set.push(("tcp".into(), host.address.clone(), host.metrics_port.to_string(), "address".into(), "berth".into()));
        set.sort();
        set
    };
    let seen_for = |series: &[Value], instance: &str| {
        let mut set: Vec<(String, String, String, String, String)> = series
            .iter()
            .filter(|s| label(s, "instance") == instance)
            .map(|s| {
                let l = |name| label(s, name).to_string();
                (l("proto"), l("address"), l("port"), l("scope"), l("process"))
            })
            .collect();
        set.sort();
        set
    };
    let mut series = Vec::new();
    let complete = poll_until(Duration::from_secs(15), || {
        series = prometheus.query("berth_listener_info{job=~\"berth.*\"}");
        hosts.iter().all(|h| seen_for(&series, &h.instance()) == expected(h)).then_some(())
    });
    for host in &hosts {
        assert_eq!(
            seen_for(&series, &host.instance()),
            expected(host),
            "berth_listener_info of {} (proto, address, port, scope, process) is not its listeners and its exporter{}",
            host.instance(),
            if complete.is_none() { " within 15 s" } else { "" }
        );
    }
    for s in &series {
        assert!(instances.iter().any(|i| i == label(s, "instance")), "a series of no test host: {s}");
        assert_eq!(s["metric"]["__name__"], "berth_listener_info");
        assert_eq!(sample_value(s), 1.0, "berth_listener_info is always 1: {s}");
    }
    // berth_listeners counts them, per scope.
    for host in &hosts {
        let counts = prometheus.query(&format!("berth_listeners{{instance=\"{}\"}}", host.instance()));
        let count = |scope: &str| counts.iter().find(|s| label(s, "scope") == scope).map_or(0.0, sample_value);
        assert_eq!(count("loopback"), host.sockets.len() as f64, "{}: berth_listeners {counts:?}", host.instance());
        assert_eq!(count("address"), 1.0, "{}: berth_listeners {counts:?}", host.instance());
        assert_eq!(count("all"), 0.0, "{}: berth_listeners {counts:?}", host.instance());
    }

    // Bytes into a listening port: a client in the first host sends
    // SENT bytes to its first TCP listener and stays connected; the
    // counter reaches them (bounded poll).
    const SENT: usize = 123_456;
    let (_, address, port) = hosts[0].sockets[0].clone();
    let client_script = "import socket,sys,time\ns=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\ns.sendall(b'x'*int(sys.argv[3]))\nprint('sent', flush=True)\ntime.sleep(60)";
    let mut client = Command::new("ip")
        .args(["netns", "exec", &hosts[0].netns.name, "python3", "-c", client_script, &address])
        .args([port.to_string(), SENT.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 client");
    let client_stdout = client.stdout.take().expect("stdout piped");
    hosts[0].listeners.push(KillOnDrop(client));
    assert_eq!(
        first_line(client_stdout, Duration::from_secs(10)).as_deref(),
        Some("sent\n"),
        "the client did not send"
    );
    let bytes_query =
        format!("berth_port_received_bytes_total{{instance=\"{}\", port=\"{port}\"}}", hosts[0].instance());
    let mut received = Vec::new();
    let counted = poll_until(Duration::from_secs(20), || {
        received = prometheus.query(&bytes_query);
        (received.len() == 1 && sample_value(&received[0]) >= SENT as f64).then_some(())
    });
    assert!(counted.is_some(), "{bytes_query} did not reach {SENT} within 20 s: {received:?}");
    // ss's name for the state (what the metrics spec says) or berth ls
    // --json's (what the exporter prints today): either is accepted here.
    let established = prometheus.query(&format!(
        "sum(berth_sockets{{instance=\"{}\", proto=\"tcp\", state=~\"ESTAB|ESTABLISHED\"}})",
        hosts[0].instance()
    ));
    assert!(
        established.first().map_or(0.0, sample_value) >= 2.0,
        "the client's connection (two ends) not among berth_sockets ESTAB(LISHED): {established:?}"
    );

    // Nothing exposed yet: the rule's expression is empty (the exporters'
    // own listeners are left out), and no exposure alert is active.
    let exposure = exposure_expression();
    let exposed = prometheus.query(&exposure);
    assert!(exposed.is_empty(), "BerthListenerExposed's expression is not empty before any exposure: {exposed:?}");
    let early: Vec<Value> = prometheus.alerts().into_iter().filter(is_exposure_alert).collect();
    assert!(early.is_empty(), "an exposure alert before any exposure: {early:?}");

    // A listener on 0.0.0.0 in the third host.
    let (listener, opened) = start_listeners(&hosts[2].netns, &[tcp("0.0.0.0")]);
    let port = opened[0].2.to_string();
    let opened_at = started.elapsed();
    hosts[2].listeners.push(listener);
    let instance = hosts[2].instance();
    let ours = |alert: &Value| {
        is_exposure_alert(alert)
            && label(alert, "instance") == instance
            && label(alert, "proto") == "tcp"
            && label(alert, "address") == "0.0.0.0"
            && label(alert, "port") == port
            && label(alert, "scope") == "all"
            && label(alert, "process") == "python3"
            && label(alert, "severity") == "warning"
    };
    // Bounded polls: two scrape intervals, the rule's `for`, and a lot of slack.
    let limit = Duration::from_secs(30);
    let mut states = Vec::new();
    let mut alerts = Vec::new();
    let firing = poll_until(limit, || {
        alerts = prometheus.alerts();
        let state = alerts.iter().find(|a| ours(a)).and_then(|a| a["state"].as_str()).map(str::to_string);
        if let Some(state) = state {
            if states.last() != Some(&state) {
                states.push(state.clone());
            }
        }
        (states.last().map(String::as_str) == Some("firing")).then_some(())
    });
    assert!(
        firing.is_some(),
        "BerthListenerExposed for {instance} tcp 0.0.0.0:{port} not firing within {limit:?} (states seen {states:?}): {alerts:#?}\n{}",
        context(&prometheus, &hosts)
    );
    let firing_at = started.elapsed();
    let others: Vec<&Value> = alerts.iter().filter(|a| is_exposure_alert(a) && !ours(a)).collect();
    assert!(others.is_empty(), "exposure alerts for other listeners: {others:#?}");

    // Closed again: the alert resolves (the series goes stale at the next scrape).
    hosts[2].listeners.pop();
    let resolved = poll_until(limit, || prometheus.alerts().iter().all(|a| !ours(a)).then_some(()));
    assert!(resolved.is_some(), "BerthListenerExposed still active {limit:?} after the listener closed");
    eprintln!(
        "fleet: 3 targets up after {up_after:?}; 0.0.0.0:{port} opened at {opened_at:?}, alert states {states:?}, firing at {firing_at:?}, resolved at {:?}",
        started.elapsed()
    );
}

tests![
    alert_rules_and_doc_queries_pass_promtool,
    dashboard_and_doc_promql_parse_in_prometheus,
    docs_list_every_series_berth_prints,
    berth_output_passes_promtool_check_metrics,
    three_hosts_in_prometheus_and_the_exposure_alert,
];
