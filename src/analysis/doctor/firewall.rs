//! Firewall rules that drop or reject loopback traffic, or traffic to one
//! port. Each chain's rules are walked in order against a probe packet
//! (loopback, or from another host), so that an earlier `iif lo accept`
//! shadows later drops; conditions berth does not model make a rule "may
//! match", reported as such instead of guessed. The walk itself is shared
//! with `audit` (see [`crate::analysis::firewall_walk`]).

use super::{plural, Check, Status};
use crate::analysis::firewall_walk::{blocking as findings, Block as Finding, Hit, Probe};
use berth_inventory::firewall::{Firewall, ToolOutcome, Unreadable, Verdict};
use berth_inventory::target::PortTarget;

/// Why the rules could not be read: skipped, with the reason.
fn unreadable(id: &'static str, firewall: &Firewall) -> Option<Check> {
    Some(match firewall.unreadable()? {
        Unreadable::NeedsPrivilege { tool, message } => {
            Check::new(id, Status::Skipped, "reading firewall rules needs root (CAP_NET_ADMIN): not checked")
                .detail(format!("{tool}: {message}"))
                .fix("sudo berth doctor")
        }
        Unreadable::Absent => {
            Check::new(id, Status::Skipped, "nft and iptables-save are not installed: firewall rules not checked")
        }
        Unreadable::Failed(reasons) => {
            Check::new(id, Status::Skipped, format!("cannot read firewall rules: {}", reasons.join("; ")))
        }
    })
}

/// "nft (12 rules), iptables-save (0 rules)".
fn sources(firewall: &Firewall) -> String {
    let read: Vec<String> = firewall
        .tools
        .iter()
        .filter_map(|t| match t.outcome {
            ToolOutcome::Read(n) => Some(format!("{} ({})", t.tool, plural(n, "rule", "rules"))),
            _ => None,
        })
        .collect();
    read.join(", ")
}

fn effect(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Reject => "rejects",
        _ => "drops",
    }
}

/// Rules and policies that drop or reject traffic on lo: every local
/// client of every local service goes through them.
pub fn loopback(firewall: &Firewall) -> Check {
    const ID: &str = "firewall.loopback";
    if let Some(check) = unreadable(ID, firewall) {
        return check;
    }
    let probe = Probe { loopback: true, port: None, protocol: None, ..Probe::default() };
    let found = findings(firewall, probe);
    // Sure hits on lo itself or on everything; "may" ones only when they name lo.
    let serious: Vec<&Finding> = found
        .iter()
        .filter(|f| {
            (f.hit == Hit::Yes && (f.explicit_loopback || !f.restricted))
                || (f.hit == Hit::Maybe && f.explicit_loopback)
        })
        .collect();
    let port_rules: Vec<&Finding> =
        found.iter().filter(|f| f.hit == Hit::Yes && !f.explicit_loopback && f.restricted).collect();
    let read_from = sources(firewall);
    if serious.is_empty() && port_rules.is_empty() {
        return Check::new(ID, Status::Ok, format!("no rule drops or rejects loopback traffic (read {read_from})"));
    }
    if serious.is_empty() {
        let texts: Vec<&str> = port_rules.iter().map(|f| f.text.as_str()).collect();
        return Check::new(
            ID,
            Status::Info,
            format!(
                "{} on every interface, lo included: {}",
                plural(texts.len(), "rule blocks ports", "rules block ports"),
                texts[0]
            ),
        )
        .detail(texts.join("; "));
    }
    let sure = serious.iter().any(|f| f.hit == Hit::Yes);
    let texts: Vec<String> = serious
        .iter()
        .map(|f| if f.hit == Hit::Maybe { format!("{} (may match)", f.text) } else { f.text.clone() })
        .collect();
    Check::new(
        ID,
        if sure { Status::Warn } else { Status::Info },
        format!("{} or reject traffic on lo: {}", plural(texts.len(), "rule drops", "rules drop"), texts[0]),
    )
    .detail(texts.join("; "))
    .fix(format!("remove the rule, or accept loopback before it: {}", serious[0].accept_first))
}

/// Rules that drop or reject the port: on lo, connections hang (drop) or
/// are refused (reject); on other interfaces, only remote clients suffer.
pub fn port(target: &PortTarget, firewall: &Firewall) -> Check {
    const ID: &str = "port.firewall";
    if let Some(check) = unreadable(ID, firewall) {
        return check;
    }
    let port = target.port;
    // A rule that may match (unknown conditions) counts only when it names
    // the port or lo: `ct state invalid drop` concerns every port alike.
    let local: Vec<Finding> =
        findings(firewall, Probe { loopback: true, port: Some(port), protocol: target.protocol, ..Probe::default() })
            .into_iter()
            .filter(|f| f.hit == Hit::Yes || f.names_port || f.explicit_loopback || f.policy)
            .collect();
    if let Some(worst) = local.iter().map(|f| f.hit).max() {
        let texts: Vec<String> = local
            .iter()
            .map(|f| if f.hit == Hit::Maybe { format!("{} (may match)", f.text) } else { f.text.clone() })
            .collect();
        let first = &local[0];
        let consequence = match first.verdict {
            Verdict::Reject => "connections are refused or reset",
            _ => "connections hang until they time out",
        };
        let status = if worst == Hit::Yes { Status::Fail } else { Status::Warn };
        return Check::new(
            ID,
            status,
            format!(
                "the firewall {} traffic to port {port} on lo ({consequence}): {}",
                effect(&first.verdict),
                texts[0]
            ),
        )
        .detail(texts.join("; "))
        .fix(format!("remove the rule, or accept the port on lo before it: {}", first.accept_first));
    }
    let remote: Vec<Finding> =
        findings(firewall, Probe { loopback: false, port: Some(port), protocol: target.protocol, ..Probe::default() })
            .into_iter()
            .filter(|f| f.names_port)
            .collect();
    if let Some(first) = remote.first() {
        return Check::new(
            ID,
            Status::Info,
            format!("the firewall {} port {port} for other hosts, not on lo: {}", effect(&first.verdict), first.text),
        )
        .detail(remote.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("; "));
    }
    Check::new(ID, Status::Ok, format!("no rule drops or rejects port {port} (read {})", sources(firewall)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_inventory::firewall::ToolRead;

    fn target(text: &str) -> PortTarget {
        PortTarget::parse(text).unwrap()
    }

    #[test]
    fn a_drop_on_lo_for_one_port() {
        let fw = Firewall::from_iptables_save(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -p tcp -m tcp --dport 5556 -j DROP\nCOMMIT\n",
        );
        assert_eq!(port(&target("5556"), &fw).status, Status::Fail);
        assert_eq!(port(&target("tcp/5556"), &fw).status, Status::Fail);
        assert_eq!(port(&target("udp/5556"), &fw).status, Status::Ok);
        assert_eq!(port(&target("5557"), &fw).status, Status::Ok);
        let c = loopback(&fw);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.summary.contains("--dport 5556"), "{}", c.summary);
        assert_eq!(
            c.fix.as_deref(),
            Some("remove the rule, or accept loopback before it: iptables -t filter -I INPUT -i lo -j ACCEPT")
        );
        let c = port(&target("5556"), &fw);
        assert!(c.fix.unwrap().ends_with("iptables -t filter -I INPUT -i lo -p tcp --dport 5556 -j ACCEPT"));
    }

    #[test]
    fn an_earlier_lo_accept_shadows_drops() {
        let fw = Firewall::from_iptables_save(
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -p tcp --dport 5556 -j REJECT\nCOMMIT\n",
        );
        assert_eq!(loopback(&fw).status, Status::Ok);
        assert_eq!(port(&target("5556"), &fw).status, Status::Info, "only other hosts are rejected");
        let fw =
            Firewall::from_iptables_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        let c = loopback(&fw);
        assert_eq!(c.status, Status::Warn, "policy drop without a lo accept: {c:?}");
        assert!(c.summary.contains("policy drop"));
        assert_eq!(port(&target("8080"), &fw).status, Status::Fail);
        assert_eq!(port(&target("22"), &fw).status, Status::Ok);
    }

    #[test]
    fn unknown_conditions_and_other_interfaces() {
        let fw = Firewall::from_iptables_save(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\n\
             -A INPUT -d 127.0.0.0/8 ! -i lo -j DROP\n-A INPUT -i eth0 -p tcp --dport 9000 -j DROP\n\
             -A INPUT -i lo -m conntrack --ctstate NEW -p tcp --dport 7000 -j DROP\nCOMMIT\n",
        );
        assert_eq!(port(&target("9000"), &fw).status, Status::Info);
        assert_eq!(port(&target("7000"), &fw).status, Status::Warn, "may match");
        assert_eq!(port(&target("7001"), &fw).status, Status::Ok);
        assert_eq!(loopback(&fw).status, Status::Info, "only a may-match rule names lo");
    }

    #[test]
    fn unreadable_rules_are_skipped_with_why() {
        let fw = Firewall {
            tools: vec![ToolRead {
                tool: "nft",
                outcome: ToolOutcome::NeedsPrivilege("Operation not permitted".into()),
            }],
            ..Firewall::default()
        };
        let c = loopback(&fw);
        assert_eq!(c.status, Status::Skipped);
        assert!(c.summary.contains("needs root"));
        let fw = Firewall {
            tools: vec![
                ToolRead { tool: "nft", outcome: ToolOutcome::Absent },
                ToolRead { tool: "iptables-save", outcome: ToolOutcome::Absent },
            ],
            ..Firewall::default()
        };
        assert!(port(&target("80"), &fw).summary.contains("not installed"));
    }
}
