//! ssh clients' forwards: what an ssh command line asks for (-L, -R, -D,
//! -g and their `-o` forms) and the reach.ssh-forward findings. A forward
//! opens a listener on behalf of another host, and with -g or a wide bind
//! address anyone who reaches it gets through.

use super::sensitive_port;
use crate::audit::{Check, CheckInfo, Facts, Finding, Machine, ProcessRef, Severity};
use berth_inventory::Protocol;

/// `reach.ssh-forward`: one finding per listener an ssh client opened.
pub struct SshForward;

impl Check for SshForward {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "reach.ssh-forward",
            summary: "an ssh process forwards a port (-L, -R, -D), possibly on all interfaces",
            default_severity: Severity::Low,
        }]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        findings(machine.facts)
    }
}

/// One forward of an ssh client's command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// 'L' (local), 'R' (remote) or 'D' (dynamic, SOCKS).
    pub kind: char,
    /// The bind address as written (None: by GatewayPorts; "" or "*": all).
    pub bind: Option<String>,
    /// The listening port (None: a Unix socket).
    pub port: Option<u16>,
    /// Where the forward leads, `host:port` (None for -D).
    pub destination: Option<(String, Option<u16>)>,
    /// The spec as written.
    pub spec: String,
}

/// What an ssh client's command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshCommand {
    pub forwards: Vec<Forward>,
    /// -g, or -o GatewayPorts=yes: forwards without a bind address listen on all interfaces.
    pub gateway_ports: bool,
    /// The destination host as written.
    pub host: Option<String>,
}

/// Splits a forward spec on ':' (or '/', the IPv6-friendly form), keeping
/// `[v6]` addresses whole.
fn spec_fields(spec: &str) -> Vec<String> {
    let separator = if spec.contains(':') && !spec.starts_with('/') { ':' } else { '/' };
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut bracket = false;
    for c in spec.chars() {
        match c {
            '[' if current.is_empty() => bracket = true,
            ']' if bracket => bracket = false,
            c if c == separator && !bracket => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

/// `[bind:]port:host:hostport`, `[bind:]port:socket`, `[bind:]port` (-D, -R dynamic).
pub fn parse_forward(kind: char, spec: &str) -> Option<Forward> {
    let fields = spec_fields(spec);
    let number = |s: &str| s.parse::<u16>().ok();
    let (bind, port, destination) = match (kind, fields.as_slice()) {
        ('D', [port]) | ('R', [port]) => (None, number(port), None),
        ('D', [bind, port]) | ('R', [bind, port]) if number(port).is_some() => (Some(bind.clone()), number(port), None),
        (_, [port, rest]) => (None, number(port), Some((rest.clone(), None))),
        (_, [a, b, c]) if number(a).is_some() => (None, number(a), Some((b.clone(), number(c)))),
        (_, [bind, port, socket]) => (Some(bind.clone()), number(port), Some((socket.clone(), None))),
        (_, [bind, port, host, hostport]) => (Some(bind.clone()), number(port), Some((host.clone(), number(hostport)))),
        _ => return None,
    };
    Some(Forward { kind, bind, port, destination, spec: spec.to_string() })
}

/// Parses an ssh client's command line (as joined with spaces): -L, -R,
/// -D, -g, and the `-o` forms (LocalForward, RemoteForward, DynamicForward,
/// GatewayPorts), with options before or after the host.
pub fn parse_ssh(command: &str) -> SshCommand {
    const WITH_ARGUMENT: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let mut parsed = SshCommand::default();
    let mut index = 0;
    let option = |parsed: &mut SshCommand, letter: char, value: &str, words: &[&str], index: &mut usize| {
        match letter {
            'L' | 'R' | 'D' => parsed.forwards.extend(parse_forward(letter, value)),
            'o' => {
                // `-o Key=Value`, `-o Key Value` (quotes lost when joined).
                let (key, mut rest) = match value.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), vec![v.trim().to_string()]),
                    None => (value.trim().to_string(), Vec::new()),
                };
                let wanted = match key.to_ascii_lowercase().as_str() {
                    "localforward" | "remoteforward" => 2,
                    "dynamicforward" | "gatewayports" => 1,
                    _ => 0,
                };
                while rest.iter().map(|r| r.split_whitespace().count()).sum::<usize>() < wanted && *index < words.len()
                {
                    rest.push(words[*index].to_string());
                    *index += 1;
                }
                let rest: Vec<String> = rest.join(" ").split_whitespace().map(str::to_string).collect();
                match (key.to_ascii_lowercase().as_str(), rest.as_slice()) {
                    ("gatewayports", [value]) => parsed.gateway_ports = value.eq_ignore_ascii_case("yes"),
                    ("dynamicforward", [spec]) => parsed.forwards.extend(parse_forward('D', spec)),
                    ("localforward" | "remoteforward", [listen, target]) => {
                        let kind = if key.eq_ignore_ascii_case("localforward") { 'L' } else { 'R' };
                        parsed.forwards.extend(parse_forward(kind, &format!("{listen}:{target}")));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    };
    let mut operands = 0;
    // Bounded: every turn consumes at least one word.
    while index < words.len() {
        let word = words[index];
        index += 1;
        if word == "--" {
            break;
        }
        let Some(letters) = word.strip_prefix('-').filter(|l| !l.is_empty()) else {
            operands += 1;
            if operands == 1 {
                parsed.host = Some(word.to_string());
                continue;
            }
            // The remote command: the rest are its arguments.
            break;
        };
        for (at, letter) in letters.char_indices() {
            if letter == 'g' {
                parsed.gateway_ports = true;
            } else if WITH_ARGUMENT.contains(letter) {
                let attached = &letters[at + letter.len_utf8()..];
                let value = if attached.is_empty() {
                    let value = words.get(index).copied().unwrap_or("");
                    index += 1;
                    value.to_string()
                } else {
                    attached.to_string()
                };
                option(&mut parsed, letter, &value, &words, &mut index);
                break;
            }
        }
    }
    parsed
}

fn is_ssh_client(owner: &ProcessRef) -> bool {
    let argv0 = owner.command.split_whitespace().next().unwrap_or("");
    owner.name == "ssh" || argv0.rsplit('/').next() == Some("ssh")
}

/// The reach.ssh-forward findings.
fn findings(facts: &Facts) -> Vec<Finding> {
    let mut found = Vec::new();
    for listener in &facts.listeners {
        let Some(owner) = listener.owners.iter().find(|o| is_ssh_client(o)) else { continue };
        let command = parse_ssh(&owner.command);
        let forward = command.forwards.iter().find(|f| matches!(f.kind, 'L' | 'D') && f.port == Some(listener.port));
        let host = command.host.clone().unwrap_or_else(|| "the server".into());
        let (what, destination_port) = match forward {
            Some(f) if f.kind == 'D' => (format!("a SOCKS proxy (-D {}) through {host}", f.spec), None),
            Some(f) => {
                let to = f
                    .destination
                    .as_ref()
                    .map(|(h, p)| p.map(|p| format!("{h}:{p}")).unwrap_or_else(|| h.clone()))
                    .unwrap_or_default();
                (format!("{to} through {host} (-L {})", f.spec), f.destination.as_ref().and_then(|(_, p)| *p))
            }
            None => (format!("a forward through {host} (from ssh_config or added at run time)"), None),
        };
        let wide = !listener.loopback_only();
        let dest_known = destination_port.and_then(|p| sensitive_port(Protocol::Tcp, p));
        let severity = match (wide, dest_known) {
            (false, _) => Severity::Info,
            (true, Some(_)) => Severity::High,
            (true, None) => Severity::Medium,
        };
        let title = if wide {
            format!("ssh forwards port {} on all interfaces to {what}: any host that reaches it gets in", listener.port)
        } else {
            format!("ssh forwards port {} on loopback to {what}", listener.port)
        };
        let mut finding = Finding::new("reach.ssh-forward", severity, title)
            .on(listener)
            .evidence(format!("ssh command line: {}", owner.command))
            .evidence(format!("listening on {}", listener.places()));
        if command.gateway_ports {
            finding =
                finding.evidence("-g / GatewayPorts yes: forwards without a bind address listen on all interfaces");
        }
        if let Some(f) = forward.filter(|f| f.bind.is_some()) {
            finding = finding.evidence(format!("bind address: '{}'", f.bind.clone().unwrap_or_default()));
        }
        if let Some(known) = dest_known {
            finding = finding.evidence(format!("the destination port is {}'s", known.name));
        }
        let remote: Vec<String> =
            command.forwards.iter().filter(|f| f.kind == 'R').map(|f| format!("-R {}", f.spec)).collect();
        if !remote.is_empty() {
            finding = finding.evidence(format!("also forwards from the server back here: {}", remote.join(", ")));
        }
        let fix = match forward {
            Some(f) if wide && f.kind == 'D' => format!("bind it to loopback: -D 127.0.0.1:{}", listener.port),
            Some(f) if wide => {
                let rest = f.spec.rsplitn(3, ':').collect::<Vec<_>>();
                let tail = if rest.len() == 3 { format!("{}:{}", rest[1], rest[0]) } else { "HOST:PORT".into() };
                format!("bind it to loopback: -L 127.0.0.1:{}:{tail} (and drop -g / GatewayPorts yes)", listener.port)
            }
            _ if wide => "bind the forward to 127.0.0.1 (and drop -g / GatewayPorts yes)".to_string(),
            _ => "none needed while it stays on loopback; stop the ssh process when the forward is no longer used"
                .to_string(),
        };
        found.push(finding.fix(fix));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_forwards_are_parsed() {
        let c = parse_ssh("ssh -N -o StrictHostKeyChecking=no -i /k -p 2222 -L 0.0.0.0:8080:127.0.0.1:6379 root@h");
        assert_eq!(c.host.as_deref(), Some("root@h"));
        assert_eq!(c.forwards.len(), 1);
        let f = &c.forwards[0];
        assert_eq!((f.kind, f.bind.as_deref(), f.port), ('L', Some("0.0.0.0"), Some(8080)));
        assert_eq!(f.destination, Some(("127.0.0.1".into(), Some(6379))));
        assert!(!c.gateway_ports);

        let c = parse_ssh("/usr/bin/ssh -gNL8080:db:5432 -D [::1]:1080 h -R 9000:localhost:22 uptime -L 1:a:2");
        assert!(c.gateway_ports);
        assert_eq!(c.forwards.len(), 3, "{c:?}");
        assert_eq!(c.forwards[0].port, Some(8080));
        assert_eq!(c.forwards[0].bind, None);
        assert_eq!(
            (c.forwards[1].kind, c.forwards[1].bind.as_deref(), c.forwards[1].port),
            ('D', Some("::1"), Some(1080))
        );
        assert_eq!(c.forwards[2].kind, 'R');

        let c = parse_ssh("ssh -o GatewayPorts=yes -o LocalForward 7000 127.0.0.1:7001 -oDynamicForward=*:1081 h");
        assert!(c.gateway_ports);
        assert_eq!(c.forwards[0].port, Some(7000));
        assert_eq!(c.forwards[0].destination, Some(("127.0.0.1".into(), Some(7001))));
        assert_eq!((c.forwards[1].bind.as_deref(), c.forwards[1].port), (Some("*"), Some(1081)));
        assert!(parse_ssh("ssh host ls -L 1:a:2").forwards.is_empty(), "after the command, words are its arguments");
        assert_eq!(parse_forward('L', "/tmp/s:h:80").map(|f| f.port), Some(None));
    }
}
