//! `berth audit` as a command: output formats (JSON, SARIF, text), exit
//! codes from --fail-on, the policy file (write, apply, malformed), probing
//! limits (a hung service, the budget, --no-probe) and bad input. The checks
//! themselves have their own test files (audit_browser, audit_noauth,
//! audit_reach, audit_tls_owners).

use std::net::TcpListener;

use crate::common::*;
use serde_json::Value;

fn on_port(findings: &[Value], port: u16) -> Vec<&Value> {
    findings.iter().filter(|f| f["port"] == port).collect()
}

fn ids_on(findings: &[Value], port: u16) -> Vec<String> {
    on_port(findings, port).iter().map(|f| f["id"].as_str().unwrap_or_default().to_string()).collect()
}

fn severity_rank(word: &str) -> usize {
    ["info", "low", "medium", "high", "critical"].iter().position(|w| *w == word).expect("a known severity")
}

/// A policy file in a scratch dir.
fn policy_file(dir: &ScratchDir, text: &str) -> String {
    dir.write("policy.toml", text).to_string_lossy().into_owned()
}

fn json_findings_name_id_port_address_and_process() {
    let _serial = serial();
    let (_listener, port) = listener_v4();
    let dir = ScratchDir::new("audit-json");
    // An empty policy expects nothing: our listener is unexpected.
    let policy = policy_file(&dir, "# nothing expected\n");
    let (findings, _) = audit_json(&["--policy", &policy]);
    let ours = on_port(&findings, port);
    let finding = ours.iter().find(|f| f["id"] == "policy.unexpected").expect("policy.unexpected for our listener");
    assert_eq!(finding["severity"], "low", "a loopback listener: {finding}");
    assert_eq!(finding["protocol"], "tcp");
    assert_eq!(finding["addresses"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(finding["process"]["pid"], our_pid());
    assert!(!finding["fix"].as_str().unwrap_or_default().is_empty());
    assert!(!finding["evidence"].as_array().expect("evidence array").is_empty());
    for field in ["id", "severity", "title", "protocol", "port", "addresses", "process", "evidence", "fix"] {
        assert!(finding.get(field).is_some(), "field {field} missing: {finding}");
    }
    // The documented schema lists exactly these fields.
    let mut keys = keys_of(finding);
    keys.sort();
    assert_eq!(keys, documented_fields("## `berth audit --json`"));
}

fn written_policy_silences_what_it_expects_and_flags_the_rest() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-policy");
    let (expected, expected_port) = listener_v4();
    let path = dir.path.join("written.toml").to_string_lossy().into_owned();
    let (code, _, stderr) = run_berth(&["audit", "--write-policy", &path], &[]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&path).expect("the policy was written");
    assert!(text.contains(&format!("port = {expected_port}\n")), "{text}");

    // A listener opened after the policy was written is unexpected; the one
    // it lists is not.
    let (_new, new_port) = listener_v4();
    let (findings, _) = audit_json(&["--policy", &path]);
    assert!(!ids_on(&findings, expected_port).contains(&"policy.unexpected".to_string()));
    assert!(!ids_on(&findings, expected_port).contains(&"policy.missing".to_string()), "it is there");
    assert!(ids_on(&findings, new_port).contains(&"policy.unexpected".to_string()), "{findings:?}");

    // Once the expected listener is gone, it is missing.
    drop(expected);
    let (findings, _) = audit_json(&["--policy", &path]);
    let missing = on_port(&findings, expected_port);
    assert!(missing.iter().any(|f| f["id"] == "policy.missing"), "{missing:?}");
}

fn policy_flags_a_wider_scope_or_another_process_than_expected() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-scope");
    let wide = TcpListener::bind("0.0.0.0:0").expect("bind 0.0.0.0:0");
    let wide_port = wide.local_addr().expect("addr").port();
    let (_narrow, narrow_port) = listener_v4();
    let policy = policy_file(
        &dir,
        &format!(
            "[[listener]]\nport = {wide_port}\nscope = \"loopback\"\n\n[[listener]]\nport = {narrow_port}\nprocess = \"no-such-daemon\"\n"
        ),
    );
    let (findings, _) = audit_json(&["--policy", &policy]);
    let wide_finding = on_port(&findings, wide_port)
        .into_iter()
        .find(|f| f["id"] == "policy.unexpected")
        .expect("wider scope flagged");
    assert_eq!(wide_finding["severity"], "medium", "beyond loopback: {wide_finding}");
    assert!(wide_finding["evidence"][0].as_str().unwrap_or_default().contains("expects any process on loopback"));
    let narrow_finding = on_port(&findings, narrow_port)
        .into_iter()
        .find(|f| f["id"] == "policy.unexpected")
        .expect("another process flagged");
    assert!(narrow_finding["evidence"][0].as_str().unwrap_or_default().contains("no-such-daemon"));

    // A policy that allows the wide scope silences it, exposure included.
    let policy = policy_file(&dir, &format!("[[listener]]\nport = {wide_port}\nscope = \"all\"\n"));
    let (findings, _) = audit_json(&["--policy", &policy]);
    let left: Vec<String> = ids_on(&findings, wide_port)
        .into_iter()
        .filter(|id| id.starts_with("policy.") || id.starts_with("exposure."))
        .collect();
    assert!(left.is_empty(), "expected listener still reported: {left:?}");
}

fn malformed_policy_is_exit_2_with_the_line_and_no_finding_is_lost() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-bad-policy");
    let (_listener, port) = listener_v4();
    let (plain, _) = audit_json(&["--no-probe"]);
    let policy = policy_file(&dir, "[[listener]]\nport = 22\nscope = \"everywhere\"\n");
    let (code, stdout, stderr) =
        run_berth(&["audit", "--json", "--no-probe", "--fail-on", "none", "--policy", &policy], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("policy.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Every finding is still printed, unfiltered.
    let findings = parse_array(&stdout, &["audit with a bad policy"]);
    assert_eq!(ids_on(&findings, port), ids_on(&plain, port));
    let ids = |list: &[Value]| {
        let mut ids: Vec<String> = list.iter().map(|f| f["id"].to_string()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    assert_eq!(ids(&findings), ids(&plain));

    // A missing file: the same, naming the file.
    let missing = dir.path.join("absent.toml").to_string_lossy().into_owned();
    let (code, stdout, stderr) = run_berth(&["audit", "--json", "--no-probe", "--policy", &missing], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("absent.toml") && stderr.contains("No such file"), "{stderr}");
    assert!(stderr.contains("berth audit --write-policy"), "says how to make one: {stderr}");
    parse_array(&stdout, &["audit with a missing policy"]);

    // Bad entries: port 0, an unknown check id, an unknown key.
    for (text, needle) in [
        ("[[listener]]\nport = 0\n", "port 0"),
        ("[[listener]]\nport = 80\nallow = [\"no.such.check\"]\n", "no.such.check"),
        ("[[listener]]\nport = 80\ncolour = \"red\"\n", "line 3"),
        ("[[listener]]\nport = \"eighty\"\n", "line 2"),
    ] {
        let policy = policy_file(&dir, text);
        let (code, _, stderr) = run_berth(&["audit", "--json", "--no-probe", "--policy", &policy], &[]);
        assert_eq!(code, 2, "{text}: {stderr}");
        assert!(stderr.contains(needle), "{text}: {stderr}");
    }
}

fn fail_on_sets_the_exit_code() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-fail-on");
    let (_listener, _port) = listener_v4();
    let policy = policy_file(&dir, "");
    let (code, stdout, stderr) =
        run_berth(&["audit", "--json", "--no-probe", "--policy", &policy, "--fail-on", "info"], &[]);
    assert_eq!(code, 1, "our unexpected listener is a finding at or above info: {stderr}");
    let findings = parse_array(&stdout, &["audit --fail-on info"]);
    let worst =
        findings.iter().map(|f| severity_rank(f["severity"].as_str().unwrap_or("info"))).max().expect("findings");
    // For every threshold, exit 1 exactly when something at or above it was found.
    for (rank, level) in ["info", "low", "medium", "high", "critical"].iter().enumerate() {
        let (code, _, stderr) =
            run_berth(&["audit", "--json", "--no-probe", "--policy", &policy, "--fail-on", level], &[]);
        assert_eq!(code, if worst >= rank { 1 } else { 0 }, "--fail-on {level}: {stderr}");
    }
    let (code, _, _) = run_berth(&["audit", "--no-probe", "--policy", &policy, "--fail-on", "none"], &[]);
    assert_eq!(code, 0);
}

fn min_severity_hides_lesser_findings_but_not_the_exit_code() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-min");
    let (_listener, port) = listener_v4();
    let policy = policy_file(&dir, "");
    let (code, stdout, _) = run_berth(
        &["audit", "--json", "--no-probe", "--policy", &policy, "--min-severity", "medium", "--fail-on", "low"],
        &[],
    );
    let findings = parse_array(&stdout, &["audit --min-severity medium"]);
    assert!(findings.iter().all(|f| severity_rank(f["severity"].as_str().unwrap_or("info")) >= 2), "{findings:?}");
    assert!(ids_on(&findings, port).is_empty(), "our low finding is hidden");
    assert_eq!(code, 1, "but it still counts for --fail-on low");
}

fn sarif_has_a_rule_per_check_and_a_result_per_finding() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-sarif");
    let (_listener, port) = listener_v4();
    let policy = policy_file(&dir, "");
    let (code, stdout, stderr) =
        run_berth(&["audit", "--sarif", "--no-probe", "--policy", &policy, "--fail-on", "none"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let log: Value = serde_json::from_str(&stdout).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "berth");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    for id in ["exposure.listener", "http.dns-rebinding", "noauth.redis", "policy.unexpected", "tls.expired"] {
        assert!(rules.iter().any(|r| r["id"] == id), "rule {id} missing");
    }
    let results = run["results"].as_array().expect("results");
    let ours = results.iter().find(|r| r["properties"]["port"] == port).expect("a result for our listener");
    assert_eq!(ours["ruleId"], "policy.unexpected");
    assert_eq!(ours["level"], "note");
    let index = ours["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(rules[index]["id"], "policy.unexpected");
    assert!(ours["message"]["text"].as_str().unwrap_or_default().contains("fix:"));
    assert!(ours["locations"][0]["logicalLocations"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .ends_with(&format!(":{port}")));
    // --no-probe is reported as a notification, not hidden.
    let notes = run["invocations"][0]["toolExecutionNotifications"].as_array().expect("notifications");
    assert!(notes.iter().any(|n| n["message"]["text"].as_str().unwrap_or_default().contains("--no-probe")));
}

fn text_report_groups_by_severity_with_fixes() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-text");
    let (_listener, port) = listener_v4();
    let policy = policy_file(&dir, "");
    let (code, stdout, stderr) = run_berth(&["audit", "--no-probe", "--policy", &policy, "--fail-on", "none"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("berth audit: "), "{stdout}");
    assert!(stdout.contains("\nLOW ("), "{stdout}");
    assert!(stdout.contains(&format!("127.0.0.1:{port}  unexpected listener")), "{stdout}");
    assert!(stdout.contains("      fix: "), "{stdout}");
    assert!(stdout.contains("NOT CHECKED") && stdout.contains("--no-probe"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no colour in a pipe");
}

fn a_hung_service_does_not_stall_the_audit_and_the_budget_is_reported() {
    let _serial = serial();
    // Accepts (the kernel completes the handshake) but never answers.
    let (_hung, hung_port) = listener_v4();
    let started = std::time::Instant::now();
    let (_, stderr) = audit_json(&["--timeout", "1"]);
    // Generous: one service timeout plus the rest of the audit, not N of them.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    // It was probed within its own timeout, not left out for want of time.
    assert!(!stderr.contains("probing budget"), "{stderr}");
    assert!(!stderr.contains(&hung_port.to_string()), "{stderr}");

    // A budget too small to reach every service (more of them than worker
    // threads): the rest are reported, not dropped.
    let many: Vec<(TcpListener, u16)> = (0..100).map(|_| listener_v4()).collect();
    let (_, stderr) = audit_json(&["--budget", "0.001"]);
    drop(many);
    assert!(stderr.contains("berth: note: probe not fully checked: the probing budget"), "{stderr}");
    assert!(stderr.contains("--budget"), "{stderr}");
}

fn no_probe_contacts_no_service() {
    let _serial = serial();
    let listener = listener_v4();
    let (findings, stderr) = audit_json(&["--no-probe"]);
    assert!(stderr.contains("--no-probe"), "{stderr}");
    assert!(findings.iter().all(|f| {
        let id = f["id"].as_str().unwrap_or_default();
        !(id.starts_with("http.") || id.starts_with("noauth.") || id.starts_with("tls."))
    }));
    // Nothing connected to our listener: no connection waits in its queue.
    listener.0.set_nonblocking(true).expect("nonblocking");
    assert!(listener.0.accept().is_err(), "--no-probe connected to a service");
}

fn bad_flags_are_usage_errors() {
    let _serial = serial();
    for (args, needle) in [
        (vec!["audit", "--fail-on", "severe"], "--fail-on"),
        (vec!["audit", "--min-severity", "loud"], "--min-severity"),
        (vec!["audit", "--min-severity", "none"], "--min-severity"),
        (vec!["audit", "--timeout", "0"], "--timeout"),
        (vec!["audit", "--budget=-1"], "--budget"),
        (vec!["audit", "--timeout", "soon"], "soon"),
        (vec!["audit", "--json", "--sarif"], "--sarif"),
    ] {
        let (code, stdout, stderr) = run_berth(&args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(!stderr.contains("panicked"));
    }
    // An unwritable policy destination is a write error (6), said in one line.
    let (code, _, stderr) = run_berth(&["audit", "--write-policy", "/nonexistent-dir/p.toml"], &[]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("cannot write the policy"), "{stderr}");
}

/// Local services can be hostile too: one that drips its answer a byte at a
/// time, one that sends a megabyte of headers, one that lies about its
/// chunk sizes, one that answers binary junk, and one that puts terminal
/// escape sequences in its headers and body. The audit must finish within
/// its limits, never panic, and never copy a control character to the
/// terminal.
fn hostile_services_cannot_stall_crash_or_inject_into_the_report() {
    let _serial = serial();
    const HOSTILE: &str = r#"
import socket, sys, threading, time
mode = sys.argv[1]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
def answer(c):
    try:
        c.settimeout(5)
        try: c.recv(65536)
        except Exception: pass
        if mode == "drip":
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(100):
                c.sendall(b"X"); time.sleep(0.1)
        elif mode == "headers":
            c.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Junk: " + b"a" * (1 << 20) + b"\r\n\r\n")
        elif mode == "chunks":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\nzz\r\n")
        elif mode == "binary":
            c.sendall(bytes(range(256)) * 64)
        elif mode == "ansi":
            body = b"\x1b[2J\x1b[31mowned\x07"
            c.sendall(b"HTTP/1.1 200 OK\r\nServer: \x1b[31mEVIL\x1b[0m\r\nAccess-Control-Allow-Origin: https://attacker.example\x1b[0m\r\n"
                      + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        c.close()
    except Exception:
        pass
deadline = time.time() + 60
while time.time() < deadline:
    c, _ = s.accept()
    threading.Thread(target=answer, args=(c,), daemon=True).start()
"#;
    let mut servers = Vec::new();
    let mut ports = Vec::new();
    for mode in ["drip", "headers", "chunks", "binary", "ansi"] {
        let mut child = std::process::Command::new("python3")
            .args(["-c", HOSTILE, mode])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a hostile server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout piped");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("its port");
        ports.push(line.trim().parse::<u16>().expect("a port number"));
        servers.push(KillOnDrop(child));
    }
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run_berth(&["audit", "--fail-on", "none", "--timeout", "2"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // One service timeout (in parallel), not one per hostile service.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(!stdout.contains('\x1b') && !stdout.contains('\x07'), "control characters reached the report:\n{stdout}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    let (code, stdout, stderr) = run_berth(&["audit", "--json", "--fail-on", "none", "--timeout", "2"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let findings = parse_array(&stdout, &["audit --json with hostile services"]);
    // The escape-sequence server still gets judged: it answers any Host.
    let ansi = ports[4];
    assert!(ids_on(&findings, ansi).contains(&"http.dns-rebinding".to_string()), "{findings:?}");
    drop(servers);
}

tests![
    json_findings_name_id_port_address_and_process,
    written_policy_silences_what_it_expects_and_flags_the_rest,
    policy_flags_a_wider_scope_or_another_process_than_expected,
    malformed_policy_is_exit_2_with_the_line_and_no_finding_is_lost,
    fail_on_sets_the_exit_code,
    min_severity_hides_lesser_findings_but_not_the_exit_code,
    sarif_has_a_rule_per_check_and_a_result_per_finding,
    text_report_groups_by_severity_with_fixes,
    a_hung_service_does_not_stall_the_audit_and_the_budget_is_reported,
    no_probe_contacts_no_service,
    bad_flags_are_usage_errors,
    hostile_services_cannot_stall_crash_or_inject_into_the_report,
];
