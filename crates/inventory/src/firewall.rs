//! Firewall rules, read (never changed) from nftables (`nft -j list
//! ruleset`) and iptables (`iptables-save`, `ip6tables-save`), reduced to
//! what `doctor` and `audit` ask of them: which interfaces, protocols,
//! destination ports and addresses (and conntrack states) a rule matches,
//! and what it does with a match, including where a DNAT or redirect rule
//! sends the packet (so `audit` can tell what it publishes).
//!
//! Conditions berth does not model (conntrack state, marks, rate limits,
//! iptables extensions) are kept as text in [`Rule::unknown`], so that a rule
//! which only *may* match is reported as such rather than guessed at.
//!
//! iptables with the nf_tables backend (the default on current distributions)
//! stores its rules as nftables tables, where `nft -j` shows extensions only
//! as opaque `xt` objects; for those tables the `iptables-save` view is
//! used instead, as it is lossless for rules iptables wrote. Rules of the
//! legacy backend are invisible to nft and are always read with iptables-save.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one run of nft or iptables-save may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a rule does with a packet it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    Jump(String),
    Goto(String),
    Return,
    /// DNAT or redirect: the packet's destination is rewritten (and its
    /// fate decided later, by the filter chains of its new destination).
    Nat(Nat),
    Other(String),
}

/// Where a DNAT or redirect rule sends a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    /// `redirect` (iptables REDIRECT): to the primary address of the
    /// interface the packet came in on (prerouting), or to loopback (output).
    pub redirect: bool,
    /// The new destination address (DNAT); None keeps it (or, for a
    /// redirect, the interface's own address).
    pub address: Option<IpAddr>,
    /// The new destination ports (inclusive); None keeps the packet's port.
    pub ports: Option<(u16, u16)>,
}

impl Nat {
    /// `127.0.0.1:8080`, `[::1]:80`, `:8080`, `192.0.2.1:90-91`.
    pub fn target(&self) -> String {
        let port = match self.ports {
            Some((a, b)) if a == b => format!(":{a}"),
            Some((a, b)) => format!(":{a}-{b}"),
            None => String::new(),
        };
        match self.address {
            Some(IpAddr::V6(v6)) if !port.is_empty() => format!("[{v6}]{port}"),
            Some(ip) => format!("{ip}{port}"),
            None => port,
        }
    }
}

impl Verdict {
    pub fn blocks(&self) -> bool {
        matches!(self, Verdict::Drop | Verdict::Reject)
    }

    pub fn word(&self) -> String {
        match self {
            Verdict::Accept => "accept".into(),
            Verdict::Drop => "drop".into(),
            Verdict::Reject => "reject".into(),
            Verdict::Jump(target) => format!("jump {target}"),
            Verdict::Goto(target) => format!("goto {target}"),
            Verdict::Return => "return".into(),
            Verdict::Nat(nat) if nat.redirect && nat.ports.is_none() => "redirect".into(),
            Verdict::Nat(nat) if nat.redirect => format!("redirect to {}", nat.target()),
            Verdict::Nat(nat) => format!("dnat to {}", nat.target()),
            Verdict::Other(other) => other.clone(),
        }
    }
}

/// A condition on one packet field: the value is one of `values` (or, when
/// `negated`, none of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond<T> {
    pub negated: bool,
    pub values: Vec<T>,
}

/// An address with a prefix length (`127.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub address: IpAddr,
    pub len: u8,
}

impl Prefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.len.min(32));
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.len.min(128));
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A chain: a base chain has a hook (input, output, ...) and a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub tool: &'static str,
    /// ip, ip6, inet, ... (iptables-save: ip; ip6tables-save: ip6).
    pub family: String,
    pub table: String,
    pub name: String,
    pub hook: Option<String>,
    pub policy: Option<Verdict>,
    /// The nft chain type (filter, nat, route); for iptables, None.
    pub kind: Option<String>,
}

/// One rule, reduced to the conditions doctor understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub tool: &'static str,
    pub family: String,
    pub table: String,
    pub chain: String,
    /// The hook of the rule's chain, when it is a base chain.
    pub hook: Option<String>,
    /// Input interface names; a trailing `+` or `*` is a wildcard.
    pub in_interface: Option<Cond<String>>,
    pub out_interface: Option<Cond<String>>,
    /// Transport protocols by name (tcp, udp, ...).
    pub protocol: Option<Cond<String>>,
    /// Destination port ranges (inclusive).
    pub dport: Option<Cond<(u16, u16)>>,
    pub daddr: Option<Cond<Prefix>>,
    pub saddr: Option<Cond<Prefix>>,
    /// Conntrack states (new, established, related, invalid, untracked),
    /// lower case: `ct state` / `-m conntrack --ctstate` / `-m state --state`.
    pub ct_state: Option<Cond<String>>,
    /// Conditions not modelled, as text: the rule may or may not match.
    pub unknown: Vec<String>,
    pub verdict: Verdict,
    /// The rule as the tool writes it (iptables), or rebuilt from its
    /// parts (nftables JSON has no text form).
    pub text: String,
}

impl Rule {
    /// A rule of `table` in `family` with no conditions yet and no verdict
    /// (each parser fills in what it reads).
    fn empty(tool: &'static str, family: &str, table: &str, chain: &str, hook: Option<String>, text: String) -> Rule {
        Rule {
            tool,
            family: family.to_string(),
            table: table.to_string(),
            chain: chain.to_string(),
            hook,
            in_interface: None,
            out_interface: None,
            protocol: None,
            dport: None,
            daddr: None,
            saddr: None,
            ct_state: None,
            unknown: Vec::new(),
            verdict: Verdict::Other(String::new()),
            text,
        }
    }
}

/// What happened when one tool was asked for its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolOutcome {
    /// Read; this many rules were taken from it.
    Read(usize),
    /// Not installed.
    Absent,
    /// The kernel refused: reading rules needs root (CAP_NET_ADMIN).
    NeedsPrivilege(String),
    /// It ran but failed, or its output could not be understood.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRead {
    pub tool: &'static str,
    pub outcome: ToolOutcome,
}

/// Every rule berth could read, and what each tool said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Firewall {
    pub tools: Vec<ToolRead>,
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
}

/// Why no tool gave its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// The kernel refused: reading rules needs root (CAP_NET_ADMIN).
    NeedsPrivilege { tool: &'static str, message: String },
    /// Neither nft nor iptables-save is installed.
    Absent,
    /// The tools ran and failed; what each said.
    Failed(Vec<String>),
}

impl Firewall {
    /// True when at least one tool gave its rules.
    pub fn readable(&self) -> bool {
        self.tools.iter().any(|t| matches!(t.outcome, ToolOutcome::Read(_)))
    }

    /// The rules of one iptables-save text, as if read from the tool: for
    /// judging saved rules (a file, another machine's) and for tests of the
    /// code that judges rules.
    pub fn from_iptables_save(saved: &str) -> Firewall {
        let saved = parse_iptables_save(saved, "iptables-save", "ip");
        Firewall {
            tools: vec![ToolRead { tool: "iptables-save", outcome: ToolOutcome::Read(saved.rules.len()) }],
            chains: saved.chains,
            rules: saved.rules,
        }
    }

    /// Why the rules could not be read; None when some were.
    pub fn unreadable(&self) -> Option<Unreadable> {
        if self.readable() {
            return None;
        }
        let denied = self.tools.iter().find_map(|t| match &t.outcome {
            ToolOutcome::NeedsPrivilege(message) => Some((t.tool, message.clone())),
            _ => None,
        });
        if let Some((tool, message)) = denied {
            return Some(Unreadable::NeedsPrivilege { tool, message });
        }
        if self.tools.iter().all(|t| t.outcome == ToolOutcome::Absent) {
            return Some(Unreadable::Absent);
        }
        Some(Unreadable::Failed(
            self.tools
                .iter()
                .filter_map(|t| match &t.outcome {
                    ToolOutcome::Failed(message) => Some(message.clone()),
                    _ => None,
                })
                .collect(),
        ))
    }
}

/// Reads the rules of the network namespace berth runs in.
pub fn read() -> Firewall {
    let mut firewall = Firewall::default();
    let nft = match run_tool("nft", &["-j", "list", "ruleset"]) {
        Ok(text) => match parse_nft_json(&text) {
            Ok((chains, rules)) => Some((chains, rules)),
            Err(e) => {
                firewall.tools.push(ToolRead { tool: "nft", outcome: ToolOutcome::Failed(e) });
                None
            }
        },
        Err(outcome) => {
            firewall.tools.push(ToolRead { tool: "nft", outcome });
            None
        }
    };
    let nft_read = nft.is_some();
    if let Some((chains, rules)) = nft {
        firewall.chains = chains;
        firewall.rules = rules;
    }
    let nft_rule_count = |fw: &Firewall| fw.rules.iter().filter(|r| r.tool == "nft").count();

    for (tool, family) in [("iptables-save", "ip"), ("ip6tables-save", "ip6")] {
        match run_tool(tool, &[]) {
            Ok(text) => {
                let saved = parse_iptables_save(&text, tool, family);
                // Tables iptables-nft wrote are also in nft's view: take
                // them from iptables-save only, which shows them in full.
                if nft_read && saved.nf_tables_backend {
                    firewall.rules.retain(|r| !(r.family == family && saved.tables.contains(&r.table)));
                    firewall.chains.retain(|c| !(c.family == family && saved.tables.contains(&c.table)));
                }
                firewall.tools.push(ToolRead { tool, outcome: ToolOutcome::Read(saved.rules.len()) });
                firewall.chains.extend(saved.chains);
                firewall.rules.extend(saved.rules);
            }
            Err(outcome) => firewall.tools.push(ToolRead { tool, outcome }),
        }
    }
    if nft_read {
        let count = nft_rule_count(&firewall);
        firewall.tools.insert(0, ToolRead { tool: "nft", outcome: ToolOutcome::Read(count) });
    }
    firewall
}

/// The program's path: PATH first, then the sbin directories a non-root
/// user's PATH often lacks.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a tool with a time limit, returning its stdout, or how it failed.
/// A tool that hangs is killed (by its pid, through `Child::kill`).
fn run_tool(name: &'static str, args: &[&str]) -> Result<String, ToolOutcome> {
    let Some(path) = find_program(name) else { return Err(ToolOutcome::Absent) };
    let mut child = Command::new(&path)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ToolOutcome::Failed(format!("cannot run {}: {e}", path.display())))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Both pipes are drained on threads so a full pipe never stalls the tool.
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let mut status = None;
    // Bounded: at most TOOL_TIMEOUT in 10 ms steps.
    for _ in 0..(TOOL_TIMEOUT.as_millis() / 10 + 1) {
        match child.try_wait() {
            Ok(Some(done)) => {
                status = Some(done);
                break;
            }
            Ok(None) if started.elapsed() < TOOL_TIMEOUT => std::thread::sleep(Duration::from_millis(10)),
            _ => break,
        }
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ToolOutcome::Failed(format!("{name} did not answer within {}s", TOOL_TIMEOUT.as_secs())));
    };
    let out = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    if status.success() {
        return Ok(out);
    }
    let first = err.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message").to_string();
    if err.contains("Operation not permitted") || err.contains("Permission denied") || err.contains("must be root") {
        Err(ToolOutcome::NeedsPrivilege(first))
    } else {
        Err(ToolOutcome::Failed(format!("{name} failed: {first}")))
    }
}

// ------------------------------------------------------------------ nftables

/// Parses `nft -j list ruleset` into chains and rules.
pub fn parse_nft_json(text: &str) -> Result<(Vec<Chain>, Vec<Rule>), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("nft -j output is not JSON: {e}"))?;
    let items = value["nftables"].as_array().ok_or("nft -j output has no \"nftables\" array")?;
    let mut chains = Vec::new();
    let mut sets: Vec<(String, String, String, Vec<Value>)> = Vec::new();
    for item in items {
        if let Some(chain) = item.get("chain") {
            chains.push(Chain {
                tool: "nft",
                family: text_of(&chain["family"]),
                table: text_of(&chain["table"]),
                name: text_of(&chain["name"]),
                hook: chain["hook"].as_str().map(str::to_string),
                policy: chain["policy"].as_str().map(nft_policy),
                kind: chain["type"].as_str().map(str::to_string),
            });
        } else if let Some(set) = item.get("set") {
            let elements = set["elem"].as_array().cloned().unwrap_or_default();
            sets.push((text_of(&set["family"]), text_of(&set["table"]), text_of(&set["name"]), elements));
        }
    }
    let mut rules = Vec::new();
    for item in items {
        let Some(rule) = item.get("rule") else { continue };
        let family = text_of(&rule["family"]);
        let table = text_of(&rule["table"]);
        let chain = text_of(&rule["chain"]);
        let hook = chains
            .iter()
            .find(|c| c.family == family && c.table == table && c.name == chain)
            .and_then(|c| c.hook.clone());
        let named_set =
            |name: &str| sets.iter().find(|(f, t, n, _)| *f == family && *t == table && n == name).map(|s| s.3.clone());
        let mut parsed = Rule::empty("nft", &family, &table, &chain, hook, String::new());
        let mut verdict = None;
        for expr in rule["expr"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(found) = nft_verdict(expr) {
                verdict = Some(found);
            } else if let Some(m) = expr.get("match") {
                nft_match(m, &mut parsed, &named_set);
            } else if let Some((key, _)) = expr.as_object().and_then(|o| o.iter().next()) {
                // Statements that do not decide whether the rule matches.
                if !matches!(key.as_str(), "counter" | "log" | "mangle" | "notrack" | "comment" | "set" | "xt") {
                    parsed.unknown.push(key.clone());
                } else if key == "xt" && expr["xt"]["type"] == "match" {
                    parsed.unknown.push(format!("iptables match {}", text_of(&expr["xt"]["name"])));
                }
            }
        }
        // Rules without a verdict (counters, logs) decide nothing.
        let Some(verdict) = verdict else { continue };
        parsed.verdict = verdict;
        parsed.text = describe_nft(&parsed);
        rules.push(parsed);
    }
    Ok((chains, rules))
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn nft_policy(policy: &str) -> Verdict {
    match policy {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        other => Verdict::Other(other.to_string()),
    }
}

/// `{"drop": null}`, `{"reject": {...}}`, `{"jump": {"target": "x"}}`, and
/// the verdicts of iptables targets shown as `{"xt": {"type": "target"}}`.
fn nft_verdict(expr: &Value) -> Option<Verdict> {
    let object = expr.as_object()?;
    let (key, value) = object.iter().next()?;
    Some(match key.as_str() {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        "return" => Verdict::Return,
        "jump" => Verdict::Jump(text_of(&value["target"])),
        "goto" => Verdict::Goto(text_of(&value["target"])),
        "queue" | "continue" => Verdict::Other(key.clone()),
        "dnat" | "redirect" => Verdict::Nat(Nat {
            redirect: key == "redirect",
            address: value["addr"].as_str().and_then(|a| a.parse().ok()),
            ports: port_range(&value["port"]),
        }),
        "xt" if value["type"] == "target" => iptables_target(&text_of(&value["name"])),
        _ => return None,
    })
}

/// One `{"match": {"op", "left", "right"}}` expression.
fn nft_match(m: &Value, rule: &mut Rule, named_set: &dyn Fn(&str) -> Option<Vec<Value>>) {
    let op = m["op"].as_str().unwrap_or("==");
    let left = &m["left"];
    let mut right = m["right"].clone();
    if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
        match named_set(name) {
            Some(elements) => right = serde_json::json!({ "set": elements }),
            None => {
                rule.unknown.push(format!("{} in set @{name}", describe_left(left)));
                return;
            }
        }
    }
    let negated = match op {
        "==" | "in" => false,
        "!=" => true,
        // Comparisons: only port ranges are modelled (`tcp dport < 1024`).
        "<" | "<=" | ">" | ">=" if is_port_field(left) => {
            if let Some(n) = right.as_u64().and_then(|n| u16::try_from(n).ok()) {
                let range = match op {
                    "<" => (0, n.saturating_sub(1)),
                    "<=" => (0, n),
                    ">" => (n.saturating_add(1), u16::MAX),
                    _ => (n, u16::MAX),
                };
                set_port_protocol(left, rule);
                rule.dport = Some(Cond { negated: false, values: vec![range] });
            } else {
                rule.unknown.push(format!("{} {op} {}", describe_left(left), right));
            }
            return;
        }
        _ => {
            rule.unknown.push(format!("{} {op} {}", describe_left(left), right));
            return;
        }
    };
    let elements = set_elements(&right);
    if left["ct"]["key"] == "state" {
        let values = elements.iter().map(|v| text_of(v).to_ascii_lowercase()).collect();
        rule.ct_state = Some(Cond { negated, values });
        return;
    }
    if let Some(key) = left["meta"]["key"].as_str() {
        let names = || Cond { negated, values: elements.iter().map(text_of).collect() };
        match key {
            "iifname" | "iif" => rule.in_interface = Some(names()),
            "oifname" | "oif" => rule.out_interface = Some(names()),
            "l4proto" => rule.protocol = Some(names()),
            _ => rule.unknown.push(format!("meta {key} {op} {}", m["right"])),
        }
        return;
    }
    if let Some(payload) = left.get("payload") {
        let protocol = payload["protocol"].as_str().unwrap_or("");
        let field = payload["field"].as_str().unwrap_or("");
        match (protocol, field) {
            ("tcp" | "udp" | "th" | "sctp" | "dccp" | "udplite", "dport") => {
                let ranges: Option<Vec<(u16, u16)>> = elements.iter().map(port_range).collect();
                match ranges {
                    Some(values) => {
                        set_port_protocol(left, rule);
                        rule.dport = Some(Cond { negated, values });
                    }
                    None => rule.unknown.push(format!("{protocol} dport {op} {}", m["right"])),
                }
            }
            ("ip" | "ip6", "daddr" | "saddr") => {
                let prefixes: Option<Vec<Prefix>> = elements.iter().map(prefix_of).collect();
                match prefixes {
                    Some(values) if field == "daddr" => rule.daddr = Some(Cond { negated, values }),
                    Some(values) => rule.saddr = Some(Cond { negated, values }),
                    None => rule.unknown.push(format!("{protocol} {field} {op} {}", m["right"])),
                }
            }
            ("ip", "protocol") | ("ip6", "nexthdr") => {
                rule.protocol = Some(Cond { negated, values: elements.iter().map(text_of).collect() })
            }
            _ => rule.unknown.push(format!("{protocol} {field} {op} {}", m["right"])),
        }
        return;
    }
    rule.unknown.push(format!("{} {op} {}", describe_left(left), m["right"]));
}

/// `tcp dport` implies the protocol; `th dport` (any transport) does not.
fn set_port_protocol(left: &Value, rule: &mut Rule) {
    let protocol = left["payload"]["protocol"].as_str().unwrap_or("th");
    if protocol != "th" && rule.protocol.is_none() {
        rule.protocol = Some(Cond { negated: false, values: vec![protocol.to_string()] });
    }
}

fn is_port_field(left: &Value) -> bool {
    left["payload"]["field"] == "dport"
}

/// The elements a match compares against: a set's, or the one value.
fn set_elements(right: &Value) -> Vec<Value> {
    match right.get("set") {
        Some(Value::Array(items)) => items.clone(),
        _ => match right {
            Value::Array(items) => items.clone(),
            _ => vec![right.clone()],
        },
    }
}

/// 80, "80", {"range": [a, b]}, and set elements wrapped as {"elem": {"val": ..}}.
fn port_range(value: &Value) -> Option<(u16, u16)> {
    if let Some(inner) = value.get("elem") {
        return port_range(&inner["val"]);
    }
    if let Some(range) = value.get("range").and_then(Value::as_array) {
        let low = port_number(range.first()?)?;
        let high = port_number(range.get(1)?)?;
        return Some((low, high));
    }
    let port = port_number(value)?;
    Some((port, port))
}

fn port_number(value: &Value) -> Option<u16> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// "127.0.0.1", {"prefix": {"addr", "len"}}, {"range": [a, b]} (taken as
/// the prefix covering a when a == b only).
fn prefix_of(value: &Value) -> Option<Prefix> {
    if let Some(inner) = value.get("elem") {
        return prefix_of(&inner["val"]);
    }
    if let Some(prefix) = value.get("prefix") {
        let address: IpAddr = prefix["addr"].as_str()?.parse().ok()?;
        let len = u8::try_from(prefix["len"].as_u64()?).ok()?;
        return Some(Prefix { address, len });
    }
    let address: IpAddr = value.as_str()?.parse().ok()?;
    Some(Prefix { address, len: if address.is_ipv4() { 32 } else { 128 } })
}

fn describe_left(left: &Value) -> String {
    if let Some(key) = left["meta"]["key"].as_str() {
        return format!("meta {key}");
    }
    if let Some(payload) = left.get("payload") {
        return format!("{} {}", text_of(&payload["protocol"]), text_of(&payload["field"]));
    }
    if let Some(object) = left.as_object() {
        if let Some((key, inner)) = object.iter().next() {
            let detail = inner.get("key").map(text_of).unwrap_or_default();
            return format!("{key} {detail}").trim_end().to_string();
        }
    }
    left.to_string()
}

/// `inet filter input: iifname "lo" tcp dport 5555 drop`, rebuilt.
fn describe_nft(rule: &Rule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(c) = &rule.in_interface {
        parts.push(format!("iifname {}{}", neg(c.negated), join_quoted(&c.values)));
    }
    if let Some(c) = &rule.out_interface {
        parts.push(format!("oifname {}{}", neg(c.negated), join_quoted(&c.values)));
    }
    if let Some(c) = &rule.saddr {
        parts.push(format!("saddr {}{}", neg(c.negated), join_prefixes(&c.values)));
    }
    if let Some(c) = &rule.daddr {
        parts.push(format!("daddr {}{}", neg(c.negated), join_prefixes(&c.values)));
    }
    let protocol = rule.protocol.as_ref().map(|p| p.values.join(",")).unwrap_or_else(|| "th".into());
    match &rule.dport {
        Some(c) => parts.push(format!("{protocol} dport {}{}", neg(c.negated), join_ports(&c.values))),
        None => {
            if let Some(c) = &rule.protocol {
                parts.push(format!("meta l4proto {}{}", neg(c.negated), c.values.join(",")));
            }
        }
    }
    if let Some(c) = &rule.ct_state {
        parts.push(format!("ct state {}{}", neg(c.negated), c.values.join(",")));
    }
    parts.extend(rule.unknown.iter().cloned());
    parts.push(rule.verdict.word());
    format!("{} {} {}: {}", rule.family, rule.table, rule.chain, parts.join(" "))
}

fn neg(negated: bool) -> &'static str {
    if negated {
        "!= "
    } else {
        ""
    }
}

fn join_quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    braces(quoted)
}

fn join_prefixes(values: &[Prefix]) -> String {
    braces(values.iter().map(|p| format!("{}/{}", p.address, p.len)).collect())
}

/// `80`, `{ 80, 6000-6010 }`.
pub fn join_ports(values: &[(u16, u16)]) -> String {
    braces(values.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect())
}

fn braces(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.into_iter().next().unwrap_or_default()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

// ------------------------------------------------------------------ iptables

/// What one iptables-save run gave.
pub struct Saved {
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
    /// Tables it printed (`*filter`, ...).
    pub tables: Vec<String>,
    /// The header says `(nf_tables)`: its tables are also visible to nft.
    pub nf_tables_backend: bool,
}

/// Parses `iptables-save` (or `ip6tables-save`, with family "ip6") output.
pub fn parse_iptables_save(text: &str, tool: &'static str, family: &str) -> Saved {
    let mut saved = Saved { chains: Vec::new(), rules: Vec::new(), tables: Vec::new(), nf_tables_backend: false };
    let mut table = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("# Generated by") && line.contains("nf_tables") {
            saved.nf_tables_backend = true;
        } else if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
            saved.tables.push(table.clone());
        } else if let Some(chain) = line.strip_prefix(':') {
            let mut fields = chain.split_ascii_whitespace();
            let name = fields.next().unwrap_or("").to_string();
            let policy = match fields.next() {
                Some("ACCEPT") => Some(Verdict::Accept),
                Some("DROP") => Some(Verdict::Drop),
                _ => None,
            };
            saved.chains.push(Chain {
                tool,
                family: family.to_string(),
                table: table.clone(),
                hook: builtin_hook(&name),
                name,
                policy,
                kind: None,
            });
        } else if line.starts_with("-A ") {
            if let Some(rule) = parse_iptables_rule(line, tool, family, &table) {
                saved.rules.push(rule);
            }
        }
    }
    saved
}

/// The hook of a built-in chain (INPUT -> input), None for user chains.
fn builtin_hook(chain: &str) -> Option<String> {
    matches!(chain, "INPUT" | "OUTPUT" | "FORWARD" | "PREROUTING" | "POSTROUTING").then(|| chain.to_ascii_lowercase())
}

fn iptables_target(name: &str) -> Verdict {
    match name {
        "ACCEPT" => Verdict::Accept,
        "DROP" => Verdict::Drop,
        "REJECT" => Verdict::Reject,
        "RETURN" => Verdict::Return,
        other => Verdict::Jump(other.to_string()),
    }
}

/// Splits a rule line into words, keeping "quoted strings" (comments) whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => current.extend(chars.next()),
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One `-A CHAIN ... -j TARGET` line.
fn parse_iptables_rule(line: &str, tool: &'static str, family: &str, table: &str) -> Option<Rule> {
    let words = words(line);
    let mut rule = Rule::empty(tool, family, table, "", None, format!("{family} {table}: {line}"));
    let mut verdict = None;
    let mut negated = false;
    let mut index = 0;
    // Bounded: every turn consumes at least one word.
    while index < words.len() {
        let word = words[index].as_str();
        let value = words.get(index + 1).cloned().unwrap_or_default();
        index += 1;
        match word {
            "!" => {
                negated = true;
                continue;
            }
            "-A" => rule.chain = value,
            "-i" | "--in-interface" => rule.in_interface = Some(Cond { negated, values: vec![value] }),
            "-o" | "--out-interface" => rule.out_interface = Some(Cond { negated, values: vec![value] }),
            "-p" | "--protocol" => rule.protocol = Some(Cond { negated, values: vec![protocol_name(&value)] }),
            "-s" | "--source" | "-d" | "--destination" => {
                let prefixes: Option<Vec<Prefix>> = value.split(',').map(iptables_prefix).collect();
                match prefixes {
                    Some(values) if word.starts_with("-d") || word == "--destination" => {
                        rule.daddr = Some(Cond { negated, values })
                    }
                    Some(values) => rule.saddr = Some(Cond { negated, values }),
                    None => rule.unknown.push(format!("{word} {value}")),
                }
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" | "--ports" => {
                let ranges: Option<Vec<(u16, u16)>> = value.split(',').map(iptables_port_range).collect();
                match ranges {
                    Some(values) if word != "--ports" => rule.dport = Some(Cond { negated, values }),
                    // multiport --ports matches either port: it may match.
                    _ => rule.unknown.push(format!("{word} {value}")),
                }
            }
            "--ctstate" | "--state" => {
                let values = value.split(',').map(str::to_ascii_lowercase).collect();
                rule.ct_state = Some(Cond { negated, values });
            }
            "-m" | "--match" => {
                if !matches!(value.as_str(), "tcp" | "udp" | "multiport" | "comment" | "conntrack" | "state") {
                    rule.unknown.push(format!("-m {value}"));
                }
            }
            "--comment" => {}
            "-j" | "--jump" => {
                // What follows are the target's options, not conditions.
                let options = words.get(index + 1..).unwrap_or_default();
                verdict = Some(match value.as_str() {
                    "DNAT" | "REDIRECT" => Verdict::Nat(iptables_nat(&value, options)),
                    _ => iptables_target(&value),
                });
                break;
            }
            "-g" | "--goto" => {
                verdict = Some(Verdict::Goto(value));
                break;
            }
            other if other.starts_with('-') => {
                // An option berth does not model, with its arguments.
                let mut text = other.to_string();
                while index < words.len() && !words[index].starts_with('-') && words[index] != "!" {
                    text.push(' ');
                    text.push_str(&words[index]);
                    index += 1;
                }
                rule.unknown.push(text);
                negated = false;
                continue;
            }
            _ => {
                negated = false;
                continue;
            }
        }
        // The option's value was consumed.
        index += 1;
        negated = false;
    }
    rule.verdict = verdict?;
    rule.hook = builtin_hook(&rule.chain);
    Some(rule)
}

/// `-j DNAT --to-destination 127.0.0.1:80` (also `[::1]:80`, `ADDR`,
/// `ADDR:80-81`, `:80`), `-j REDIRECT --to-ports 8080[-8090]`.
fn iptables_nat(target: &str, options: &[String]) -> Nat {
    let mut nat = Nat { redirect: target == "REDIRECT", address: None, ports: None };
    let value_of = |flag: &str| options.iter().position(|w| w == flag).and_then(|i| options.get(i + 1));
    if let Some(ports) = value_of("--to-ports") {
        nat.ports = iptables_port_range(&ports.replace('-', ":"));
    }
    if let Some(destination) = value_of("--to-destination") {
        // `[v6]:port`, `v4:port`, a bare address, or `:port`.
        let (address, port) = if let Some(rest) = destination.strip_prefix('[') {
            let (address, after) = rest.split_once(']').unwrap_or((rest, ""));
            (address, after.strip_prefix(':').unwrap_or(""))
        } else if destination.matches(':').count() > 1 {
            (destination.as_str(), "")
        } else {
            destination.split_once(':').unwrap_or((destination.as_str(), ""))
        };
        // A range of addresses keeps its first one.
        nat.address = address.split('-').next().and_then(|a| a.parse().ok());
        if !port.is_empty() {
            nat.ports = iptables_port_range(&port.replace('-', ":"));
        }
    }
    nat
}

/// iptables-save writes protocols by name, or by number for unnamed ones.
fn protocol_name(text: &str) -> String {
    match text {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// `127.0.0.0/8`, `203.0.113.1/255.255.255.0`, `::1/128`, `203.0.113.1`.
fn iptables_prefix(text: &str) -> Option<Prefix> {
    let (address, len) = text.split_once('/').unwrap_or((text, ""));
    let address: IpAddr = address.parse().ok()?;
    let full = if address.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() {
        full
    } else if let Ok(n) = len.parse::<u8>() {
        n.min(full)
    } else {
        let mask: std::net::Ipv4Addr = len.parse().ok()?;
        u32::from(mask).count_ones() as u8
    };
    Some(Prefix { address, len })
}

/// `80`, `1000:2000`, `:1024` (from 0), `1024:` (to 65535).
fn iptables_port_range(text: &str) -> Option<(u16, u16)> {
    match text.split_once(':') {
        Some((low, high)) => {
            let low = if low.is_empty() { 0 } else { low.parse().ok()? };
            let high = if high.is_empty() { u16::MAX } else { high.parse().ok()? };
            Some((low, high))
        }
        None => {
            let port = text.parse().ok()?;
            Some((port, port))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 22 00:00:36 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:mine - [0:0]
-A INPUT -i lo -p tcp -m tcp --dport 5556 -j DROP
-A INPUT -p udp -m multiport --dports 53,1000:2000 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -d 127.0.0.0/8 ! -i lo -j DROP
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -i lo -m comment --comment \"loop back\" -j ACCEPT
-A INPUT -p tcp -j mine
COMMIT
";

    #[test]
    fn iptables_save_rules() {
        let saved = parse_iptables_save(SAVED, "iptables-save", "ip");
        assert!(saved.nf_tables_backend);
        assert_eq!(saved.tables, ["filter"]);
        assert_eq!(saved.chains.len(), 4);
        assert_eq!(saved.chains[0].policy, Some(Verdict::Drop));
        assert_eq!(saved.chains[0].hook.as_deref(), Some("input"));
        assert_eq!(saved.chains[3].hook, None);
        let r = &saved.rules;
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].in_interface, Some(Cond { negated: false, values: vec!["lo".into()] }));
        assert_eq!(r[0].protocol, Some(Cond { negated: false, values: vec!["tcp".into()] }));
        assert_eq!(r[0].dport, Some(Cond { negated: false, values: vec![(5556, 5556)] }));
        assert_eq!(r[0].verdict, Verdict::Drop);
        assert!(r[0].unknown.is_empty(), "{:?}", r[0].unknown);
        assert_eq!(r[0].hook.as_deref(), Some("input"));
        assert_eq!(r[1].dport, Some(Cond { negated: false, values: vec![(53, 53), (1000, 2000)] }));
        assert_eq!(r[1].verdict, Verdict::Reject);
        assert!(r[2].in_interface.as_ref().unwrap().negated);
        assert_eq!(r[2].daddr.as_ref().unwrap().values[0].len, 8);
        assert!(r[3].unknown.is_empty(), "{:?}", r[3].unknown);
        assert_eq!(r[3].ct_state, Some(Cond { negated: false, values: vec!["invalid".into()] }));
        assert_eq!(r[4].verdict, Verdict::Accept);
        assert!(r[4].unknown.is_empty());
        assert_eq!(r[5].verdict, Verdict::Jump("mine".into()));
    }

    #[test]
    fn nft_json_rules() {
        let json = r#"{"nftables": [
          {"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "inet", "name": "t", "handle": 1}},
          {"set": {"family": "inet", "name": "blocked", "table": "t", "type": "inet_service", "elem": [7000, {"range": [8000, 8010]}]}},
          {"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [5555, {"range": [6000, 6010]}]}}},
            {"counter": {"packets": 0, "bytes": 0}},
            {"drop": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 4, "expr": [
            {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}},
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
            {"reject": {"type": "icmpx", "expr": "port-unreachable"}}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 5, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": "@blocked"}},
            {"xt": {"type": "target", "name": "REJECT"}}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 6, "expr": [
            {"counter": {"packets": 0, "bytes": 0}}]}}
        ]}"#;
        let (chains, rules) = parse_nft_json(json).unwrap();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].policy, Some(Verdict::Drop));
        assert_eq!(rules.len(), 3, "the counter-only rule decides nothing");
        let r = &rules[0];
        assert_eq!(r.hook.as_deref(), Some("input"));
        assert_eq!(r.in_interface, Some(Cond { negated: false, values: vec!["lo".into()] }));
        assert_eq!(r.protocol, Some(Cond { negated: false, values: vec!["tcp".into()] }));
        assert_eq!(r.dport, Some(Cond { negated: false, values: vec![(5555, 5555), (6000, 6010)] }));
        assert_eq!(r.verdict, Verdict::Drop);
        assert_eq!(r.text, "inet t input: iifname \"lo\" tcp dport { 5555, 6000-6010 } drop");
        let r = &rules[1];
        assert!(r.out_interface.as_ref().unwrap().negated);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(r.ct_state, Some(Cond { negated: false, values: vec!["new".into()] }));
        assert!(r.daddr.as_ref().unwrap().values[0].contains("127.0.0.1".parse().unwrap()));
        assert_eq!(r.verdict, Verdict::Reject);
        let r = &rules[2];
        assert_eq!(r.protocol, None, "th dport names no protocol");
        assert_eq!(r.dport, Some(Cond { negated: false, values: vec![(7000, 7000), (8000, 8010)] }));
        assert_eq!(r.verdict, Verdict::Reject);
    }

    #[test]
    fn dnat_and_redirect_rules() {
        let saved = parse_iptables_save(
            "*nat\n:PREROUTING ACCEPT [0:0]\n\
             -A PREROUTING -p tcp -m tcp --dport 9000 -j DNAT --to-destination 127.0.0.1:90\n\
             -A PREROUTING -p tcp -m tcp --dport 9001 -j REDIRECT --to-ports 91-92\n\
             -A PREROUTING ! -i docker0 -p tcp -m tcp --dport 9002 -j DNAT --to-destination 203.0.113.5\n\
             -A PREROUTING -p tcp --dport 9003 -j DNAT --to-destination [2001:db8::5]:80\nCOMMIT\n",
            "iptables-save",
            "ip",
        );
        let nats: Vec<Nat> = saved
            .rules
            .iter()
            .map(|r| match &r.verdict {
                Verdict::Nat(nat) => nat.clone(),
                other => panic!("not a nat verdict: {other:?}"),
            })
            .collect();
        assert_eq!(
            nats[0],
            Nat { redirect: false, address: Some("127.0.0.1".parse().unwrap()), ports: Some((90, 90)) }
        );
        assert_eq!(nats[1], Nat { redirect: true, address: None, ports: Some((91, 92)) });
        assert_eq!(nats[2].address, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(nats[2].ports, None);
        assert_eq!(nats[3].target(), "[2001:db8::5]:80");
        assert_eq!(saved.rules[0].dport, Some(Cond { negated: false, values: vec![(9000, 9000)] }));
        assert_eq!(saved.rules[0].hook.as_deref(), Some("prerouting"));

        let json = r#"{"nftables": [
          {"chain": {"family": "inet", "table": "f", "name": "pre", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8004}},
            {"dnat": {"family": "ip", "addr": "127.0.0.1", "port": 82}}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8005}},
            {"redirect": null}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 8003}},
            {"dnat": {"addr": "192.0.2.1", "port": {"range": [90, 91]}}}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
            {"accept": null}]}}
        ]}"#;
        let (chains, rules) = parse_nft_json(json).unwrap();
        assert_eq!(chains[0].kind.as_deref(), Some("nat"));
        assert_eq!(rules.len(), 4, "dnat and redirect are verdicts: the rules are kept");
        assert_eq!(rules[0].text, "inet f pre: tcp dport 8004 dnat to 127.0.0.1:82");
        assert_eq!(rules[1].verdict, Verdict::Nat(Nat { redirect: true, address: None, ports: None }));
        assert_eq!(rules[2].text, "inet f pre: udp dport 8003 dnat to 192.0.2.1:90-91");
        assert_eq!(
            rules[3].ct_state,
            Some(Cond { negated: false, values: vec!["established".into(), "related".into()] })
        );
    }

    #[test]
    fn prefixes_and_ports() {
        let p = iptables_prefix("198.18.0.0/255.254.0.0").unwrap();
        assert_eq!(p.len, 15);
        assert!(p.contains("198.19.8.7".parse().unwrap()));
        assert!(!p.contains("198.20.0.1".parse().unwrap()));
        assert!(iptables_prefix("::1/128").unwrap().contains("::1".parse().unwrap()));
        assert_eq!(iptables_port_range(":1024"), Some((0, 1024)));
        assert_eq!(iptables_port_range("1024:"), Some((1024, 65535)));
        assert_eq!(iptables_port_range("x"), None);
        assert_eq!(words(r#"-A INPUT -m comment --comment "a \"b\" c" -j DROP"#)[5], "a \"b\" c");
    }
}
