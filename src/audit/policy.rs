//! The policy file: the listeners a machine is expected to have.
//!
//! ```toml
//! [[listener]]
//! port = 22
//! protocol = "tcp"          # tcp or udp; default tcp
//! process = "sshd"          # the owner's name; omit to accept any
//! scope = "all"             # loopback, address or all: the widest bind expected
//! allow = ["noauth.redis"]  # further check ids to silence for it (optional)
//! ```
//!
//! A listener that matches an entry is expected: its exposure findings (and
//! the ids in `allow`) are silenced. A listener that matches none is a
//! `policy.unexpected` finding, which names the nearest entry when there
//! is one (same port, other process or wider scope). An entry no listener
//! matches is `policy.missing`. Bound UDP sockets on ports of the kernel's
//! ephemeral range are clients' sockets, not services, and are left out.

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

/// A parsed policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Expected>,
}

/// One expected listener.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub port: u16,
    #[serde(default = "tcp")]
    pub protocol: ProtocolName,
    pub process: Option<String>,
    #[serde(default = "any_scope")]
    pub scope: ScopeName,
    #[serde(default)]
    pub allow: Vec<String>,
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
    for (n, entry) in policy.listeners.iter().enumerate() {
        if entry.port == 0 {
            return Err(format!("listener #{}: port 0 is not a listener's port; use 1-65535", n + 1));
        }
        if let Some(unknown) = entry.allow.iter().find(|id| !super::catalogue().any(|c| c.id == id.as_str())) {
            return Err(format!(
                "listener #{} (port {}): allow names '{unknown}', which is not a check id (see berth audit --json ids)",
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
    /// Same protocol and port, an expected process, within the scope.
    Full,
    /// Same protocol and port, but another process or a wider scope.
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
    if process_ok && ScopeName::of(&listener.scope) <= entry.scope {
        Fit::Full
    } else {
        Fit::Port
    }
}

/// Silences expected findings and adds policy findings.
pub fn apply(policy: &Policy, facts: &Facts, outcome: &mut Outcome) {
    let mut used = vec![false; policy.listeners.len()];
    for listener in &facts.listeners {
        if is_client_udp(listener, facts) {
            continue;
        }
        let fits: Vec<(usize, Fit)> = policy.listeners.iter().enumerate().map(|(i, e)| (i, fit(e, listener))).collect();
        if let Some(&(index, _)) = fits.iter().find(|(_, f)| *f == Fit::Full) {
            used[index] = true;
            let entry = &policy.listeners[index];
            outcome.findings.retain(|f| {
                let about_it = f.protocol == Some(listener.protocol)
                    && f.port == Some(listener.port)
                    && f.addresses == listener.addresses;
                let silenced = f.id.starts_with("exposure.") || entry.allow.iter().any(|id| id == f.id);
                !(about_it && silenced)
            });
            continue;
        }
        let scope = ScopeName::of(&listener.scope);
        let severity = if scope == ScopeName::Loopback { Severity::Low } else { Severity::Medium };
        let found = format!("{} {}", listener.owner_name(), scope.phrase());
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
                let expected =
                    format!("{} {}", entry.process.as_deref().unwrap_or("any process"), entry.scope.phrase());
                finding = finding
                    .evidence(format!("the policy expects {expected}; found {found} ({})", listener.places()))
                    .fix(format!(
                        "if this is intended, update the policy entry for {} port {}; otherwise stop it: berth kill {}",
                        listener.protocol.name(),
                        listener.port,
                        listener.port
                    ));
            }
            None => {
                finding = finding
                    .evidence(format!("no policy entry for {} port {}; found {found} ({})", listener.protocol.name(), listener.port, listener.places()))
                    .fix(format!(
                        "if this is intended, add it to the policy (berth audit --write-policy shows the entry); otherwise: berth kill {}",
                        listener.port
                    ));
            }
        }
        outcome.findings.push(finding);
    }
    for (entry, used) in policy.listeners.iter().zip(used) {
        if used {
            continue;
        }
        let protocol = entry.protocol.protocol().name();
        let mut finding = Finding::new(
            "policy.missing",
            Severity::Low,
            format!(
                "expected listener missing: {} on {protocol} port {}",
                entry.process.as_deref().unwrap_or("a service"),
                entry.port
            ),
        )
        .evidence(format!("no socket listens on {protocol} port {}", entry.port))
        .fix("start the service, or remove its entry from the policy");
        finding.protocol = Some(entry.protocol.protocol());
        finding.port = Some(entry.port);
        outcome.findings.push(finding);
    }
}

/// The current listeners as a policy, to edit and keep.
pub fn write(facts: &Facts) -> String {
    let mut text = String::from(
        "# berth audit policy: the listeners this machine is expected to have.\n\
         # Written by `berth audit --write-policy`; edit it, then run `berth audit --policy FILE`.\n\
         # Fields: port, protocol (tcp/udp), process (owner name; omit for any),\n\
         # scope (loopback, address or all: the widest bind allowed), allow (check ids to silence).\n",
    );
    let mut seen = Vec::new();
    for listener in &facts.listeners {
        if is_client_udp(listener, facts) {
            continue;
        }
        let key = (listener.protocol, listener.port, listener.owners.first().map(|o| o.name.clone()));
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        text.push_str(&format!(
            "\n[[listener]]\nport = {}\nprotocol = \"{}\"\n",
            listener.port,
            listener.protocol.name()
        ));
        if let Some(owner) = listener.owners.first() {
            text.push_str(&format!("process = {}\n", toml_string(&owner.name)));
        }
        text.push_str(&format!("scope = \"{}\"\n", ScopeName::of(&listener.scope).word()));
    }
    text
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
    fn written_policy_strings_round_trip() {
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
