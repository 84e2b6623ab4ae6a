//! nftables: `nft -j list ruleset` parsed into the model.

use serde_json::Value;

use super::iptables::iptables_target;
use super::*;

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
