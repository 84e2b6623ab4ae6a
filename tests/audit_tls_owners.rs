//! `berth audit`'s TLS checks (tls.plaintext, tls.expired, tls.untrusted)
//! and odd-owner checks (owner.deleted-executable, owner.split-loopback,
//! owner.root-http), against real servers on loopback: nginx with
//! certificates made here (expired, self-signed, issued by a local CA),
//! python3's http.server (answering 401 Basic, or 200 as root or nobody),
//! a copy of the python3 binary that is then deleted or replaced.
//! Ports are picked at run time; every child is killed by its pid on drop.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// The system's python3 (not a per-user shim, so that nobody can run it too).
const PYTHON: &str = "/usr/bin/python3";
const NOBODY: (u32, u32) = (65534, 65534);

/// An HTTP server on python3's http.server. argv: MODE ADDRESSES PORT, where
/// MODE is "ok" (200 with a JSON body, no authentication) or "401" (401
/// with `WWW-Authenticate: Basic`), ADDRESSES a comma-separated list (one
/// server per address, all in this process), PORT 0 for any. It prints
/// the port once every address listens.
const HTTP_SERVER: &str = r#"
import http.server, socket, socketserver, sys, threading
mode, binds, port = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if mode == "401":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="berth test"')
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass

servers = []
for bind in binds:
    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        daemon_threads = True
        def server_bind(self):
            # No reverse DNS lookup of the address (HTTPServer does getfqdn).
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = "test", self.server_address[1]
    server = Server((bind, port), Handler)
    port = server.server_address[1]
    servers.append(server)
print(port, flush=True)
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
"#;

/// Starts `program` (a python3) running [`HTTP_SERVER`], optionally as
/// another uid/gid, and waits (at most 10 s) for the port it prints.
fn http_server(program: &Path, mode: &str, binds: &str, port: u16, as_user: Option<(u32, u32)>) -> (KillOnDrop, u16) {
    let mut command = Command::new(program);
    command
        .args(["-u", "-c", HTTP_SERVER, mode, binds, &port.to_string()])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = as_user {
        // As root, std also drops the supplementary groups (setgroups) first.
        command.uid(uid).gid(gid);
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let proc = KillOnDrop(child);
    let line = first_line(stdout, Duration::from_secs(10)).unwrap_or_default();
    match line.trim().parse::<u16>() {
        Ok(port) => (proc, port),
        Err(_) => {
            drop(proc);
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            panic!("{} {mode} {binds} printed no port ({line:?}):\n{text}", program.display());
        }
    }
}

/// The findings with this id on this port.
fn found<'a>(findings: &'a [Value], id: &str, port: u16) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["id"] == id && f["port"] == port).collect()
}

/// The one finding with this id on this port (panics with the list otherwise).
fn one<'a>(findings: &'a [Value], id: &str, port: u16) -> &'a Value {
    let matching = found(findings, id, port);
    assert_eq!(matching.len(), 1, "expected one {id} on port {port}, got:\n{}", dump(findings));
    matching[0]
}

fn none(findings: &[Value], id: &str, port: u16) {
    let matching = found(findings, id, port);
    assert!(matching.is_empty(), "expected no {id} on port {port}, got:\n{}", dump(&findings_on(findings, port)));
}

fn findings_on(findings: &[Value], port: u16) -> Vec<Value> {
    findings.iter().filter(|f| f["port"] == port).cloned().collect()
}

// ---------------------------------------------------------------- TLS

/// PEM certificate and key of a certificate made by rcgen.
struct Pem {
    cert: String,
    key: String,
}

/// Certificate parameters for localhost and 127.0.0.1, valid between the
/// two dates (year, month, day).
fn leaf_params(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> rcgen::CertificateParams {
    use rcgen::{date_time_ymd, CertificateParams, DistinguishedName, DnType};
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(to.0, to.1, to.2);
    params
}

fn self_signed(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> Pem {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = leaf_params(name, from, to).self_signed(&key).expect("self-signed certificate");
    Pem { cert: cert.pem(), key: key.serialize_pem() }
}

/// A local CA (as mkcert makes one) and a certificate it issued: (CA PEM, leaf).
fn local_ca_and_leaf() -> (String, Pem) {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "mkcert berth-test@localhost");
    dn.push(DnType::OrganizationName, "mkcert development CA");
    ca_params.distinguished_name = dn;
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("leaf key");
    let leaf = leaf_params("berth local-CA test", (2024, 1, 1), (2035, 1, 1)).signed_by(&key, &issuer).expect("leaf");
    (ca_cert.pem(), Pem { cert: leaf.pem(), key: key.serialize_pem() })
}

/// One nginx (a single process, master_process off) serving TLS on
/// 127.0.0.1 with one server block per certificate. Returns it and the ports.
fn nginx_tls(dir: &ScratchDir, certificates: &[(&str, &Pem)]) -> (KillOnDrop, Vec<u16>) {
    let root = dir.path.display().to_string();
    let mut servers = String::new();
    let mut ports = Vec::new();
    for (name, pem) in certificates {
        let port = free_port();
        dir.write(&format!("{name}.crt"), &pem.cert);
        dir.write(&format!("{name}.key"), &pem.key);
        servers.push_str(&format!(
            "  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {root}/{name}.crt;\n    ssl_certificate_key {root}/{name}.key;\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n"
        ));
        ports.push(port);
    }
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
         fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n{servers}}}\n"
    );
    let config_path = dir.write("nginx.conf", config);
    let child = Command::new(require_program("nginx", "nginx"))
        .args(["-p", &root, "-e", &format!("{root}/error.log"), "-c"])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start nginx (Debian package nginx)");
    let mut proc = KillOnDrop(child);
    for &port in &ports {
        let up = poll_until(Duration::from_secs(10), || {
            if let Ok(Some(status)) = proc.0.try_wait() {
                let log = std::fs::read_to_string(dir.path.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}):\n{log}");
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "nginx does not listen on 127.0.0.1:{port}");
    }
    (proc, ports)
}

fn expired_self_signed_and_local_ca_certificates() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-tls");
    let expired = self_signed("berth expired test", (2020, 1, 1), (2021, 1, 1));
    let fresh = self_signed("berth self-signed test", (2024, 1, 1), (2035, 1, 1));
    let (ca_pem, issued) = local_ca_and_leaf();
    let (_nginx, ports) = nginx_tls(&dir, &[("expired", &expired), ("issued", &issued), ("fresh", &fresh)]);
    let (expired_port, issued_port, fresh_port) = (ports[0], ports[1], ports[2]);

    // mkcert's CA where CAROOT points; an empty home and data dir otherwise.
    let caroot = dir.path.join("caroot");
    std::fs::create_dir_all(&caroot).expect("caroot");
    std::fs::write(caroot.join("rootCA.pem"), &ca_pem).expect("rootCA.pem");
    let empty = dir.path.join("empty-home");
    std::fs::create_dir_all(&empty).expect("empty home");
    let (caroot, empty) = (caroot.display().to_string(), empty.display().to_string());
    let isolated = |caroot: &str, data: &str| -> Vec<Value> {
        audit_json_env(&[], &[("CAROOT", caroot), ("HOME", &empty), ("XDG_DATA_HOME", data), ("SUDO_USER", "")]).0
    };

    let findings = isolated(&caroot, &empty);
    let finding = one(&findings, "tls.expired", expired_port);
    assert_eq!(finding["severity"], "medium", "loopback only: {finding}");
    assert_eq!(finding["addresses"], serde_json::json!(["127.0.0.1"]));
    let untrusted = one(&findings, "tls.untrusted", expired_port);
    assert_eq!(untrusted["severity"], "low", "{untrusted}");

    none(&findings, "tls.untrusted", issued_port);
    none(&findings, "tls.expired", issued_port);

    assert_eq!(one(&findings, "tls.untrusted", fresh_port)["severity"], "low");
    none(&findings, "tls.expired", fresh_port);
    for port in ports.iter().copied() {
        none(&findings, "tls.plaintext", port);
    }

    // Without the local CA, its certificate is untrusted like any other.
    let findings = isolated("", &empty);
    let finding = one(&findings, "tls.untrusted", issued_port);
    assert!(
        finding["evidence"].as_array().expect("evidence").iter().any(|e| e.as_str().unwrap_or("").contains("local CA")),
        "{finding}"
    );

    // berth's own CA location under XDG_DATA_HOME counts as local too.
    let data = dir.path.join("data");
    dir.write("data/berth/ca/ca.pem", &ca_pem);
    let findings = isolated("", &data.display().to_string());
    none(&findings, "tls.untrusted", issued_port);
    one(&findings, "tls.untrusted", fresh_port);
}

fn password_asked_over_plain_http_beyond_loopback() {
    let _serial = serial();
    let python = Path::new(PYTHON);
    // Both bound at run-time ports: 0.0.0.0 (reachable from the network) and 127.0.0.1.
    let (_wide, wide_port) = http_server(python, "401", "0.0.0.0", 0, None);
    let (_narrow, narrow_port) = http_server(python, "401", "127.0.0.1", 0, None);
    let (_open, open_port) = http_server(python, "ok", "0.0.0.0", 0, None);
    let findings = audit_json(&[]).0;
    let finding = one(&findings, "tls.plaintext", wide_port);
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert!(finding["evidence"].to_string().contains("Basic realm"), "{finding}");
    none(&findings, "tls.plaintext", narrow_port);
    none(&findings, "tls.plaintext", open_port);
}

// ---------------------------------------------------------------- owners

/// A copy of the system's python3 binary in `dir`, named `name`.
fn python_copy(dir: &ScratchDir, name: &str) -> PathBuf {
    let path = dir.path.join(name);
    std::fs::copy(PYTHON, &path).unwrap_or_else(|e| panic!("copy {PYTHON}: {e}"));
    path
}

fn deleted_and_replaced_executables() {
    let _serial = serial();
    let dir = ScratchDir::new("audit-exe");
    let kept = python_copy(&dir, "python-kept");
    let deleted = python_copy(&dir, "python-deleted");
    let replaced = python_copy(&dir, "python-replaced");
    let (kept_proc, kept_port) = http_server(&kept, "ok", "127.0.0.1", 0, None);
    let (deleted_proc, deleted_port) = http_server(&deleted, "ok", "127.0.0.1", 0, None);
    let (replaced_proc, replaced_port) = http_server(&replaced, "ok", "127.0.0.1", 0, None);

    std::fs::remove_file(&deleted).expect("delete the running copy");
    // Replaced as package managers do: a new file renamed over the old one.
    let new_file = dir.write("python-replaced.new", b"#!/bin/sh\necho not the program that runs\n");
    std::fs::rename(&new_file, &replaced).expect("rename over the running copy");

    let findings = audit_json(&[]).0;
    none(&findings, "owner.deleted-executable", kept_port);
    let finding = one(&findings, "owner.deleted-executable", deleted_port);
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_eq!(finding["process"]["pid"], deleted_proc.pid());
    let finding = one(&findings, "owner.deleted-executable", replaced_port);
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_eq!(finding["process"]["pid"], replaced_proc.pid());
    assert!(finding["title"].as_str().unwrap_or("").contains("replaced"), "{finding}");
    drop(kept_proc);
}

fn split_loopback_holders() {
    let _serial = serial();
    let python = Path::new(PYTHON);
    // Two processes: 127.0.0.1:P in one, [::1]:P in the other.
    let (_v4, split_port) = http_server(python, "ok", "127.0.0.1", 0, None);
    let (_v6, port) = http_server(python, "ok", "::1", split_port, None);
    assert_eq!(port, split_port);
    // One process holding both.
    let (_both, both_port) = http_server(python, "ok", "127.0.0.1,::1", 0, None);
    // As root: the other side owned by another user.
    let other_user = if is_root() {
        let (v4, port) = http_server(python, "ok", "127.0.0.1", 0, None);
        let (v6, _) = http_server(python, "ok", "::1", port, Some(NOBODY));
        Some((v4, v6, port))
    } else {
        println!("not root: the split between two users (high) is not tested");
        None
    };

    let findings = audit_json(&[]).0;
    let finding = one(&findings, "owner.split-loopback", split_port);
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_eq!(finding["addresses"], serde_json::json!(["127.0.0.1", "::1"]));
    none(&findings, "owner.split-loopback", both_port);
    if let Some((_, _, port)) = &other_user {
        assert_eq!(one(&findings, "owner.split-loopback", *port)["severity"], "high");
    }
}

fn root_serving_unauthenticated_http() {
    let _serial = serial();
    require_root("run a server as root and another as nobody");
    let python = Path::new(PYTHON);
    let (root_proc, root_port) = http_server(python, "ok", "127.0.0.1", 0, None);
    let (_nobody, nobody_port) = http_server(python, "ok", "127.0.0.1", 0, Some(NOBODY));
    let (_locked, locked_port) = http_server(python, "401", "127.0.0.1", 0, None);
    let (_wide, wide_port) = http_server(python, "ok", "0.0.0.0", 0, None);
    let findings = audit_json(&[]).0;
    assert_eq!(one(&findings, "owner.root-http", wide_port)["severity"], "high", "beyond loopback");
    let finding = one(&findings, "owner.root-http", root_port);
    assert_eq!(finding["severity"], "medium", "loopback only: {finding}");
    assert_eq!(finding["process"]["pid"], root_proc.pid());
    assert_eq!(finding["process"]["uid"], 0);
    none(&findings, "owner.root-http", nobody_port);
    none(&findings, "owner.root-http", locked_port);
}

fn without_root_the_unreadable_owners_are_noted() {
    let _serial = serial();
    require_root("run berth as nobody while root's processes listen");
    // A listener of root's that nobody cannot attribute.
    let (_root_server, port) = http_server(Path::new(PYTHON), "ok", "127.0.0.1", 0, None);
    let args = ["audit", "--json", "--fail-on", "none"];
    let out = run_berth_with(&args, &[], Some(NOBODY));
    assert_eq!(out.code, 0, "berth {args:?} as nobody exited {}\nstderr: {}", out.code, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let findings = parse_array(&out.stdout, &args);
    none(&findings, "owner.root-http", port);
    let notes: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("berth: note:")).collect();
    for check in ["owner.deleted-executable", "owner.root-http"] {
        assert!(
            notes.iter().any(|l| l.contains(check) && l.contains("sudo berth audit")),
            "no note for {check} on stderr:\n{}",
            out.stderr
        );
    }
}

tests![
    expired_self_signed_and_local_ca_certificates,
    password_asked_over_plain_http_beyond_loopback,
    deleted_and_replaced_executables,
    split_loopback_holders,
    root_serving_unauthenticated_http,
    without_root_the_unreadable_owners_are_noted,
];
