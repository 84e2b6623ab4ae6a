//! The policy file: the listeners a machine is expected to have, and the
//! findings about them that a reviewer accepted.
//!
//! ```toml
//! version = 2
//!
//! [[listener]]
//! port = 6379
//! protocol = "tcp"             # tcp or udp; default tcp
//! address = ["127.0.0.1"]      # the exact bound addresses; omit to accept any within scope
//! process = "redis-server"     # the owner's name; omit to accept any
//! scope = "loopback"           # loopback, address or all: the widest bind expected
//! allow = [
//!     "noauth.redis",          # medium: Redis answers without a password
//! ]
//!
//! [[accept]]                   # a finding about no one listener (a firewall rule, a sysctl)
//! check = "reach.route-localnet"
//! ```
//!
//! A listener that matches an entry is expected: the findings about it
//! whose ids are in `allow` are silenced. A listener that matches none is
//! a `policy.unexpected` finding, which names the nearest entry when there
//! is one (same port, other process, address or wider scope). An entry no
//! listener matches is `policy.missing`. An `[[accept]]` entry silences
//! the findings with its check id and exactly its protocol, port, addresses
//! and process (each as written; omitted means none). Bound UDP sockets on
//! ports of the kernel's ephemeral range are clients' sockets, not
//! services, and are left out.
//!
//! The listener's identity is what survives a restart: protocol, port,
//! bound addresses and the owner's name (never a pid or an inode), so a
//! policy written today still fits after a reboot.
//!
//! Policies without `version = 2` (berth before it wrote `allow`) keep
//! their meaning: a matching listener's `exposure.*` findings are
//! silenced without being listed, and nothing else unless `allow` says so.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use super::{CheckInfo, Facts, Finding, Listener, Outcome, Severity};
use berth_inventory::scope::BindScope;
use berth_inventory::Protocol;

/// The ids of the policy's own findings.
pub const IDS: &[CheckInfo] = &[
    CheckInfo {
        id: "policy.unexpected",
        summary: "a listener the policy file does not expect (another process, port or bind scope)",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "policy.missing",
        summary: "a listener the policy file expects is not there",
        default_severity: Severity::Low,
    },
];

/// The version `--write-policy` writes: `allow` lists every accepted
/// finding, exposure included.
pub const VERSION: u32 = 2;

/// A parsed policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// 2 for policies that list every accepted finding; absent (1) for
    /// older ones, whose matching listeners have their exposure silenced.
    pub version: Option<u32>,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Expected>,
    #[serde(default, rename = "accept")]
    pub accepted: Vec<Accepted>,
}

/// One expected listener.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub port: u16,
    #[serde(default = "tcp")]
    pub protocol: ProtocolName,
    /// The bound addresses, exactly (as a set); None accepts any within `scope`.
    pub address: Option<Vec<IpAddr>>,
    pub process: Option<String>,
    #[serde(default = "any_scope")]
    pub scope: ScopeName,
    #[serde(default)]
    pub allow: Vec<String>,
}

/// One accepted finding that is about no single listener (a DNAT rule to
/// another host, a sysctl): its check id and exactly the protocol, port,
/// addresses and process the finding names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub check: String,
    pub protocol: Option<ProtocolName>,
    pub port: Option<u16>,
    #[serde(default)]
    pub address: Vec<IpAddr>,
    pub process: Option<String>,
}

impl Policy {
    /// Policies written before `version = 2` silence exposure without listing it.
    pub fn implicit_exposure(&self) -> bool {
        self.version.unwrap_or(1) < VERSION
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    Tcp,
    Udp,
}

/// The widest bind scope an entry expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    Loopback,
    Address,
    All,
}

fn tcp() -> ProtocolName {
    ProtocolName::Tcp
}

fn any_scope() -> ScopeName {
    ScopeName::All
}

impl ProtocolName {
    fn protocol(self) -> Protocol {
        match self {
            ProtocolName::Tcp => Protocol::Tcp,
            ProtocolName::Udp => Protocol::Udp,
        }
    }
}

impl ScopeName {
    fn of(scope: &BindScope) -> ScopeName {
        match scope {
            BindScope::Loopback => ScopeName::Loopback,
            BindScope::Address { .. } => ScopeName::Address,
            BindScope::All => ScopeName::All,
        }
    }

    fn word(self) -> &'static str {
        match self {
            ScopeName::Loopback => "loopback",
            ScopeName::Address => "address",
            ScopeName::All => "all",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            ScopeName::Loopback => "on loopback",
            ScopeName::Address => "on one address",
            ScopeName::All => "on all interfaces",
        }
    }
}

/// Reads and parses a policy file; the error names the file and the line.
pub fn load(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the policy file {}: {}; write one with: berth audit --write-policy {}",
            path.display(),
            crate::net::error_text(&e),
            path.display()
        )
    })?;
    parse(&text).map_err(|e| format!("policy file {}: {e}", path.display()))
}

/// Parses policy text; errors read "line N: what is wrong".
pub fn parse(text: &str) -> Result<Policy, String> {
    let policy: Policy = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim().to_string();
        match line {
            Some(line) => format!("line {line}: {message}"),
            None => message,
        }
    })?;
    if let Some(version) = policy.version.filter(|v| !(1..=VERSION).contains(v)) {
        return Err(format!(
            "version = {version} is not a policy version this berth reads (1 or {VERSION}); write one with: berth audit --write-policy FILE"
        ));
    }
    let known = |id: &String| super::catalogue().any(|c| c.id == id.as_str());
    for (n, entry) in policy.accepted.iter().enumerate() {
        if !known(&entry.check) {
            return Err(format!(
                "accept #{}: check = '{}' is not a check id (docs/audit.md lists them, as do the rules of berth audit --sarif)",
                n + 1,
                entry.check
            ));
        }
    }
    for (n, entry) in policy.listeners.iter().enumerate() {
        if entry.port == 0 {
            return Err(format!("listener #{}: port 0 is not a listener's port; use 1-65535", n + 1));
        }
        if let Some(unknown) = entry.allow.iter().find(|id| !known(id)) {
            return Err(format!(
                "listener #{} (port {}): allow names '{unknown}', which is not a check id (docs/audit.md lists them, as do the rules of berth audit --sarif)",
                n + 1,
                entry.port
            ));
        }
    }
    Ok(policy)
}

/// Is this listener a client's UDP socket (ephemeral port), not a service?
fn is_client_udp(listener: &Listener, facts: &Facts) -> bool {
    let (low, high) = facts.ephemeral;
    listener.protocol == Protocol::Udp && (low..=high).contains(&listener.port)
}

/// How an entry fits a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// Same protocol and port, an expected process, the expected addresses
    /// and within the scope.
    Full,
    /// Same protocol and port, but another process, other addresses or a
    /// wider scope.
    Port,
    None,
}

fn fit(entry: &Expected, listener: &Listener) -> Fit {
    if entry.protocol.protocol() != listener.protocol || entry.port != listener.port {
        return Fit::None;
    }
    let process_ok = match &entry.process {
        None => true,
        Some(name) => listener.owners.iter().any(|o| &o.name == name),
    };
    let addresses_ok = entry.address.as_ref().is_none_or(|addresses| same_addresses(addresses, &listener.addresses));
    if process_ok && addresses_ok && ScopeName::of(&listener.scope) <= entry.scope {
        Fit::Full
    } else {
        Fit::Port
    }
}

/// The same set of addresses, whatever the order and repeats.
fn same_addresses(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let sorted = |list: &[IpAddr]| {
        let mut list = list.to_vec();
        list.sort();
        list.dedup();
        list
    };
    sorted(a) == sorted(b)
}

/// Is this finding about this listener? The same protocol and port, an
/// address in common, and (when it names one) a process holding it. The
/// writer and [`apply`] both decide by it, so what one lists under a
/// listener the other silences there.
fn about(finding: &Finding, listener: &Listener) -> bool {
    finding.protocol == Some(listener.protocol)
        && finding.port == Some(listener.port)
        && finding.addresses.iter().any(|a| listener.addresses.contains(a))
        && finding.process.as_ref().is_none_or(|p| listener.owners.iter().any(|o| o.pid == p.pid))
}

/// Does this `[[accept]]` entry name this finding: its check, and exactly
/// its protocol, port, addresses and process?
fn accepts(entry: &Accepted, finding: &Finding) -> bool {
    entry.check == finding.id
        && entry.protocol.map(ProtocolName::protocol) == finding.protocol
        && entry.port == finding.port
        && same_addresses(&entry.address, &finding.addresses)
        && entry.process.as_deref() == finding.process.as_ref().map(|p| p.name.as_str())
}

/// "redis-server on 127.0.0.1", "any process on loopback": what an entry expects.
fn expectation(entry: &Expected) -> String {
    let process = entry.process.as_deref().unwrap_or("any process");
    match &entry.address {
        Some(addresses) => {
            let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
            format!("{process} on {}", super::list_words(&shown))
        }
        None => format!("{process} {}", entry.scope.phrase()),
    }
}

/// Why the policy does not expect this listener, in the words of the
/// audit's `policy.unexpected` finding; None when an entry fits it. What
/// `berth watch --alert policy` asks of each new listener.
pub fn unexpected_reason(policy: &Policy, listener: &Listener) -> Option<String> {
    let fits: Vec<(usize, Fit)> = policy.listeners.iter().enumerate().map(|(i, e)| (i, fit(e, listener))).collect();
    if fits.iter().any(|(_, f)| *f == Fit::Full) {
        return None;
    }
    let scope = ScopeName::of(&listener.scope);
    let found_text = format!("{} on {}", listener.owner_name(), listener.places());
    Some(match fits.iter().find(|(_, f)| *f == Fit::Port) {
        Some(&(index, _)) => format!(
            "the policy expects {}; found {found_text} ({})",
            expectation(&policy.listeners[index]),
            scope.phrase()
        ),
        None => format!(
            "no policy entry for {} port {}; found {found_text} ({})",
            listener.protocol.name(),
            listener.port,
            scope.phrase()
        ),
    })
}

/// Silences expected and accepted findings and adds policy findings.
pub fn apply(policy: &Policy, facts: &Facts, outcome: &mut Outcome) {
    let mut used = vec![false; policy.listeners.len()];
    let mut found = Vec::new();
    for listener in &facts.listeners {
        if is_client_udp(listener, facts) {
            continue;
        }
        let fits: Vec<(usize, Fit)> = policy.listeners.iter().enumerate().map(|(i, e)| (i, fit(e, listener))).collect();
        if let Some(&(index, _)) = fits.iter().find(|(_, f)| *f == Fit::Full) {
            used[index] = true;
            let entry = &policy.listeners[index];
            outcome.findings.retain(|f| {
                let silenced = (policy.implicit_exposure() && f.id.starts_with("exposure."))
                    || entry.allow.iter().any(|id| id == f.id);
                !(silenced && about(f, listener))
            });
            continue;
        }
        let scope = ScopeName::of(&listener.scope);
        let severity = if scope == ScopeName::Loopback { Severity::Low } else { Severity::Medium };
        let found_text = format!("{} on {}", listener.owner_name(), listener.places());
        let mut finding = Finding::new(
            "policy.unexpected",
            severity,
            format!(
                "unexpected listener: {} on {} port {}",
                listener.owner_name(),
                listener.protocol.name(),
                listener.port
            ),
        )
        .on(listener);
        match fits.iter().find(|(_, f)| *f == Fit::Port) {
            Some(&(index, _)) => {
                used[index] = true;
                let entry = &policy.listeners[index];
                finding = finding
                    .evidence(format!(
                        "the policy expects {}; found {found_text} ({})",
                        expectation(entry),
                        scope.phrase()
                    ))
                    .fix(format!(
                        "if this is intended, update the policy entry for {} port {}; otherwise stop it: berth kill {}",
                        listener.protocol.name(),
                        listener.port,
                        listener.port
                    ));
            }
            None => {
                finding = finding
                    .evidence(format!(
                        "no policy entry for {} port {}; found {found_text} ({})",
                        listener.protocol.name(),
                        listener.port,
                        scope.phrase()
                    ))
                    .fix(format!(
                        "if this is intended, add it to the policy (berth audit --write-policy shows the entry); otherwise: berth kill {}",
                        listener.port
                    ));
            }
        }
        found.push(finding);
    }
    outcome.findings.retain(|f| !policy.accepted.iter().any(|entry| accepts(entry, f)));
    for (entry, used) in policy.listeners.iter().zip(used) {
        if used {
            continue;
        }
        let protocol = entry.protocol.protocol().name();
        let place = match &entry.address {
            Some(addresses) if !addresses.is_empty() => {
                let shown: Vec<String> = addresses
                    .iter()
                    .map(|ip| match ip {
                        IpAddr::V6(v6) => format!("[{v6}]:{}", entry.port),
                        IpAddr::V4(v4) => format!("{v4}:{}", entry.port),
                    })
                    .collect();
                format!("{protocol} {}", super::list_words(&shown))
            }
            _ => format!("{protocol} port {}", entry.port),
        };
        let mut finding = Finding::new(
            "policy.missing",
            Severity::Low,
            format!("expected listener missing: {} on {place}", entry.process.as_deref().unwrap_or("a service")),
        )
        .evidence(format!("no socket the entry fits listens on {protocol} port {}", entry.port))
        .fix("start the service, or remove its entry from the policy");
        finding.protocol = Some(entry.protocol.protocol());
        finding.port = Some(entry.port);
        finding.addresses = entry.address.clone().unwrap_or_default();
        found.push(finding);
    }
    outcome.findings.extend(found);
}

/// The policy that accepts this machine as it is now: every listener as an
/// expected one, with the ids of today's findings about it in `allow` (one
/// line each, with its severity and title as a comment, so a reviewer can
/// read it and delete what should not stay), and the findings about no
/// listener as `[[accept]]` entries.
pub fn write(facts: &Facts, outcome: &Outcome) -> String {
    let mut text = format!(
        "# berth audit policy: the listeners this machine is expected to have, and the\n\
         # findings about them that are accepted. Written by `berth audit --write-policy`\n\
         # from what the audit found; run `berth audit --policy FILE` to flag only what is new.\n\
         # Review it: delete an `allow` line to be told about that finding again, a\n\
         # [[listener]] block to be told about that listener.\n\
         # Fields: port, protocol (tcp/udp), address (the bound addresses; omit for any),\n\
         # process (owner name; omit for any), scope (loopback, address or all: the widest\n\
         # bind allowed), allow (the check ids accepted for it).\n\
         version = {VERSION}\n"
    );
    let mut placed = vec![false; outcome.findings.len()];
    // One entry per identity; listeners with the same identity (worker
    // processes sharing a port) share it.
    let mut groups: Vec<Vec<&Listener>> = Vec::new();
    for listener in facts.listeners.iter().filter(|l| !is_client_udp(l, facts)) {
        let key = |l: &Listener| (l.protocol, l.port, l.addresses.clone(), l.owners.first().map(|o| o.name.clone()));
        match groups.iter_mut().find(|g| key(g[0]) == key(listener)) {
            Some(group) => group.push(listener),
            None => groups.push(vec![listener]),
        }
    }
    for group in &groups {
        let listener = group[0];
        text.push_str(&format!(
            "\n# {} on {} {}\n",
            comment(&listener.owner_name()),
            listener.protocol.name(),
            listener.places()
        ));
        text.push_str(&format!(
            "[[listener]]\nport = {}\nprotocol = \"{}\"\n",
            listener.port,
            listener.protocol.name()
        ));
        text.push_str(&format!("address = {}\n", toml_addresses(&listener.addresses)));
        if let Some(owner) = listener.owners.first() {
            text.push_str(&format!("process = {}\n", toml_string(&owner.name)));
        }
        text.push_str(&format!("scope = \"{}\"\n", ScopeName::of(&listener.scope).word()));
        // Findings come worst first: each id's line describes its worst one.
        let mut ids: Vec<(&'static str, &Finding, usize)> = Vec::new();
        for (index, finding) in outcome.findings.iter().enumerate() {
            if !group.iter().any(|l| about(finding, l)) {
                continue;
            }
            placed[index] = true;
            match ids.iter_mut().find(|(id, _, _)| *id == finding.id) {
                Some((_, _, more)) => *more += 1,
                None => ids.push((finding.id, finding, 0)),
            }
        }
        if ids.is_empty() {
            continue;
        }
        text.push_str("allow = [\n");
        for (id, finding, more) in ids {
            let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
            text.push_str(&format!(
                "    {},  # {}: {}{more}\n",
                toml_string(id),
                finding.severity.word(),
                comment(&finding.title)
            ));
        }
        text.push_str("]\n");
    }
    let mut accepted: Vec<String> = Vec::new();
    for (finding, _) in outcome.findings.iter().zip(&placed).filter(|(_, placed)| !**placed) {
        let mut entry = format!("[[accept]]\ncheck = {}\n", toml_string(finding.id));
        if let Some(protocol) = finding.protocol {
            entry.push_str(&format!("protocol = \"{}\"\n", protocol.name()));
        }
        if let Some(port) = finding.port {
            entry.push_str(&format!("port = {port}\n"));
        }
        if !finding.addresses.is_empty() {
            entry.push_str(&format!("address = {}\n", toml_addresses(&finding.addresses)));
        }
        if let Some(process) = &finding.process {
            entry.push_str(&format!("process = {}\n", toml_string(&process.name)));
        }
        if accepted.contains(&entry) {
            continue;
        }
        text.push_str(&format!("\n# {}: {}\n{entry}", finding.severity.word(), comment(&finding.title)));
        accepted.push(entry);
    }
    text
}

/// Text from outside (a title, a process name) as one TOML comment line:
/// no control characters, at most 160 characters.
fn comment(text: &str) -> String {
    super::clip(text, 160)
}

/// `["127.0.0.1", "::1"]`.
fn toml_addresses(addresses: &[IpAddr]) -> String {
    let quoted: Vec<String> = addresses.iter().map(|ip| format!("\"{ip}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_with_defaults() {
        let policy = parse("[[listener]]\nport = 22\nprocess = \"sshd\"\n\n[[listener]]\nport = 53\nprotocol = \"udp\"\nscope = \"loopback\"\n").unwrap();
        assert_eq!(policy.listeners.len(), 2);
        assert_eq!(policy.listeners[0].protocol, ProtocolName::Tcp);
        assert_eq!(policy.listeners[0].scope, ScopeName::All);
        assert_eq!(policy.listeners[1].scope, ScopeName::Loopback);
    }

    #[test]
    fn errors_name_the_line() {
        let error = parse("[[listener]]\nport = 22\nscope = \"everywhere\"\n").unwrap_err();
        assert!(error.starts_with("line 3:"), "{error}");
        let error = parse("[[listener]]\nport = 70000\n").unwrap_err();
        assert!(error.starts_with("line 2:"), "{error}");
        let error = parse("[[listener]]\nport = 22\ncolour = 1\n").unwrap_err();
        assert!(error.starts_with("line 3:"), "{error}");
        let error = parse("[[listener]\nport = 22\n").unwrap_err();
        assert!(error.starts_with("line 1:"), "{error}");
        assert!(parse("[[listener]]\nport = 22\nallow = [\"no.such\"]\n").unwrap_err().contains("no.such"));
    }

    #[test]
    fn versions_and_accept_entries_parse() {
        let policy = parse("version = 2\n[[listener]]\nport = 6379\naddress = [\"127.0.0.1\", \"::1\"]\nallow = [\n  \"noauth.redis\", # medium\n]\n\n[[accept]]\ncheck = \"reach.route-localnet\"\n").unwrap();
        assert!(!policy.implicit_exposure());
        assert_eq!(policy.listeners[0].address.as_deref().map(<[IpAddr]>::len), Some(2));
        assert_eq!(policy.accepted[0].check, "reach.route-localnet");
        // Old policies (no version) keep silencing exposure.
        assert!(parse("[[listener]]\nport = 22\n").unwrap().implicit_exposure());
        let error = parse("version = 3\n").unwrap_err();
        assert!(error.contains("--write-policy"), "{error}");
        assert!(parse("[[accept]]\ncheck = \"no.such\"\n").unwrap_err().contains("no.such"));
        assert!(parse("[[listener]]\nport = 22\naddress = [\"localhost\"]\n").unwrap_err().starts_with("line 3:"));
    }

    fn listener(port: u16, addresses: &[&str], pid: u32, name: &str) -> Listener {
        let addresses: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
        Listener {
            protocol: Protocol::Tcp,
            port,
            scope: if addresses.iter().all(IpAddr::is_loopback) { BindScope::Loopback } else { BindScope::All },
            takes_ipv4: true,
            takes_ipv6: false,
            addresses,
            owners: vec![super::super::ProcessRef {
                pid,
                name: name.into(),
                user: None,
                uid: 0,
                command: String::new(),
                container: None,
                systemd_unit: None,
            }],
            socket_uid: 0,
            owner_status: crate::analysis::unseen::OwnerStatus::Unknown,
        }
    }

    #[test]
    fn the_identity_is_protocol_port_addresses_and_owner_name() {
        let entry = |text: &str| parse(text).unwrap().listeners.remove(0);
        let redis = listener(6379, &["127.0.0.1"], 10, "redis-server");
        let exact = entry("[[listener]]\nport = 6379\naddress = [\"127.0.0.1\"]\nprocess = \"redis-server\"\n");
        assert_eq!(fit(&exact, &redis), Fit::Full);
        // Restarted: another pid, the same identity.
        assert_eq!(fit(&exact, &listener(6379, &["127.0.0.1"], 99, "redis-server")), Fit::Full);
        assert_eq!(fit(&exact, &listener(6379, &["0.0.0.0"], 10, "redis-server")), Fit::Port);
        assert_eq!(fit(&exact, &listener(6379, &["127.0.0.1"], 10, "nc")), Fit::Port);
        assert_eq!(fit(&exact, &listener(6380, &["127.0.0.1"], 10, "redis-server")), Fit::None);

        let finding = Finding::new("noauth.redis", Severity::Medium, "open").on(&redis);
        assert!(about(&finding, &redis));
        assert!(!about(&finding, &listener(6379, &["::1"], 11, "redis-server")));
        let accept = |text: &str| parse(text).unwrap().accepted.remove(0);
        assert!(accepts(
            &accept("[[accept]]\ncheck = \"noauth.redis\"\nprotocol = \"tcp\"\nport = 6379\naddress = [\"127.0.0.1\"]\nprocess = \"redis-server\"\n"),
            &finding
        ));
        assert!(!accepts(&accept("[[accept]]\ncheck = \"noauth.redis\"\n"), &finding));
        assert!(accepts(
            &accept("[[accept]]\ncheck = \"reach.route-localnet\"\n"),
            &Finding::new("reach.route-localnet", Severity::High, "t")
        ));
    }

    #[test]
    fn comments_are_one_line() {
        assert_eq!(comment("a\nb\u{1b}[31m"), "a b [31m");
    }

    #[test]
    fn written_policy_strings_round_trip() {
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
