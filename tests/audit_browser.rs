//! `berth audit`'s browser checks (DNS rebinding, CORS, Private Network
//! Access, WebSocket origins) against real servers on loopback:
//!
//! - a deliberately vulnerable HTTP server written here on python3's
//!   http.server, whose every weakness is a command-line switch, so that
//!   each finding has a variant that raises it and one that does not;
//! - `berth serve` (a Host allow-list and no CORS): nothing to find;
//! - nginx with a Host allow-list (a default_server that answers 421 or
//!   closes with 444) and with a catch-all server answering any Host.
//!
//! Each test starts its servers on ports read back (python) or picked free
//! at run time (nginx), runs `berth audit --json --fail-on none` once, and
//! reads the findings of its own ports. Servers are stopped by pid on drop.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// The system's python3 (not a per-user shim).
const PYTHON: &str = "/usr/bin/python3";

/// Every finding id this check owns.
const BROWSER_IDS: [&str; 5] = [
    "http.dns-rebinding",
    "http.cors-any-origin",
    "http.cors-reflected",
    "http.private-network",
    "http.websocket-origin",
];

/// The test HTTP server. Switches (all off by default: a safe server):
/// - `host=any|403|421|webpack`: what a foreign Host gets (`any`: the page,
///   `webpack`: 200 "Invalid Host header" as webpack-dev-server answered);
///   loopback names always get the page. Default `403`.
/// - `cors=none|any|reflect|null`: Access-Control-Allow-Origin `*`, the
///   request's Origin, or `null` only for `Origin: null`.
/// - `credentials`: Access-Control-Allow-Credentials: true with it.
/// - `pna`: Access-Control-Allow-Private-Network: true on preflights.
/// - `ws=none|any|checked`, `ws-path=/ws`: complete WebSocket handshakes on
///   that path for any Origin, or only for loopback origins (else 403).
/// - `tls=CERT,KEY`: HTTPS with that certificate and key (PEM files).
/// - `page=FILE`: `/` is that HTML file (the "attacker" page of the browser test).
///
/// It prints its port, and exits when its parent (the test) is gone.
const SERVER: &str = r#"
import base64, hashlib, os, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

opts = {}
for arg in sys.argv[1:]:
    key, _, value = arg.partition("=")
    opts[key] = value or "1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def host_is_loopback(self):
        host = self.headers.get("Host", "")
        name = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
        return name in LOOPBACK

    def cors(self):
        origin = self.headers.get("Origin")
        mode = opts.get("cors", "none")
        if origin is None:
            return
        if mode == "any":
            self.send_header("Access-Control-Allow-Origin", "*")
        elif mode == "reflect" or (mode == "null" and origin == "null"):
            self.send_header("Access-Control-Allow-Origin", origin)
        else:
            return
        if "credentials" in opts:
            self.send_header("Access-Control-Allow-Credentials", "true")

    def reply(self, status, body, extra=()):
        data = body.encode()
        self.send_response(status)
        if not any(key == "Content-Type" for key, _ in extra):
            self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for key, value in extra:
            self.send_header(key, value)
        self.cors()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def foreign_host_refused(self):
        mode = opts.get("host", "403")
        if self.host_is_loopback() or mode == "any":
            return False
        if mode == "webpack":
            self.reply(200, "Invalid Host header")
        else:
            self.reply(int(mode), "this server answers only localhost\n")
        return True

    def do_GET(self):
        if self.foreign_host_refused():
            return
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if "page" in opts:
            with open(opts["page"]) as page:
                return self.reply(200, page.read(), [("Content-Type", "text/html")])
        self.reply(200, "secret local data\n")

    def do_HEAD(self):
        self.do_GET()

    def websocket(self):
        mode = opts.get("ws", "none")
        if mode == "none" or self.path != opts.get("ws-path", "/"):
            return self.reply(404, "no WebSocket here\n")
        origin = self.headers.get("Origin", "")
        if mode == "checked" and not origin.startswith(("http://127.0.0.1:", "http://localhost:")):
            return self.reply(403, "origin not allowed\n")
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True

    def do_OPTIONS(self):
        if self.foreign_host_refused():
            return
        extra = [("Allow", "GET, HEAD, OPTIONS")]
        if self.headers.get("Access-Control-Request-Method"):
            extra.append(("Access-Control-Allow-Methods", "GET"))
        if "pna" in opts and self.headers.get("Access-Control-Request-Private-Network") == "true":
            extra.append(("Access-Control-Allow-Private-Network", "true"))
        self.reply(204, "", extra)

# Ports berth's catalog takes for binary protocols are avoided (bounded).
for _ in range(20):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if server.server_address[1] not in (33060,):
        break
    server.server_close()
server.daemon_threads = True
if "tls" in opts:
    import ssl
    cert, key = opts["tls"].split(",")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
parent = os.getppid()

def watch_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)

threading.Thread(target=watch_parent, daemon=True).start()
server.serve_forever()
"#;

/// Starts the test server with `switches`; returns it and its port.
fn server(dir: &ScratchDir, switches: &[&str]) -> (KillOnDrop, u16) {
    let script = dir.path.join("browser_test_server.py");
    if !script.exists() {
        dir.write("browser_test_server.py", SERVER);
    }
    let mut child = Command::new(PYTHON)
        .arg(&script)
        .args(switches)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start python3");
    let stdout = child.stdout.take().expect("stdout piped");
    let running = KillOnDrop(child);
    let line = first_line(stdout, Duration::from_secs(10)).expect("the test server printed no port in 10 s");
    let port = line.trim().parse().unwrap_or_else(|_| panic!("the test server printed {line:?}, not a port"));
    (running, port)
}

/// The browser findings on `port`: (id, severity), sorted.
fn browser_findings(findings: &[Value], port: u16) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = findings
        .iter()
        .filter(|f| f["port"].as_u64() == Some(u64::from(port)))
        .filter_map(|f| Some((f["id"].as_str()?.to_string(), f["severity"].as_str()?.to_string())))
        .filter(|(id, _)| BROWSER_IDS.contains(&id.as_str()))
        .collect();
    found.sort();
    found
}

/// The severity of finding `id` on `port`, if raised.
fn severity(findings: &[Value], port: u16, id: &str) -> Option<String> {
    browser_findings(findings, port).into_iter().find(|(i, _)| i == id).map(|(_, s)| s)
}

fn dump(findings: &[Value], port: u16) -> String {
    findings
        .iter()
        .filter(|f| f["port"].as_u64() == Some(u64::from(port)))
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The probes ran in this audit: the control server (answering any Host) was found.
fn assert_control(findings: &[Value], control: u16) {
    if control == 0 {
        return;
    }
    assert_eq!(
        severity(findings, control, "http.dns-rebinding").as_deref(),
        Some("high"),
        "the control server on port {control} was not probed:\n{}",
        dump(findings, control)
    );
}

/// A server answering any Host, as a control for tests that expect nothing
/// (None when python3 is missing).
fn control_server() -> (Option<(KillOnDrop, ScratchDir)>, u16) {
    if !Path::new(PYTHON).exists() {
        return (None, 0);
    }
    let dir = ScratchDir::new("audit-browser-control");
    let (running, port) = server(&dir, &["host=any"]);
    (Some((running, dir)), port)
}

// ---------------------------------------------------------------- python servers

fn a_vulnerable_server_raises_every_browser_finding() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let dir = ScratchDir::new("audit-browser-all");
    let (_reflect, reflect) = server(&dir, &["host=any", "cors=reflect", "credentials", "pna", "ws=any", "ws-path=/"]);
    let (_any, any) = server(&dir, &["host=any", "cors=any"]);
    let findings = audit_json(&[]).0;
    let s = |id: &str| (id.to_string(), "high".to_string());
    assert_eq!(
        browser_findings(&findings, reflect),
        vec![s("http.cors-reflected"), s("http.dns-rebinding"), s("http.private-network"), s("http.websocket-origin")],
        "{}",
        dump(&findings, reflect)
    );
    assert_eq!(
        browser_findings(&findings, any),
        vec![("http.cors-any-origin".into(), "medium".into()), s("http.dns-rebinding")],
        "{}",
        dump(&findings, any)
    );
    // The evidence names what was seen.
    let rebinding = findings
        .iter()
        .find(|f| f["port"].as_u64() == Some(u64::from(reflect)) && f["id"] == "http.dns-rebinding")
        .expect("the rebinding finding");
    let evidence = rebinding["evidence"].to_string();
    assert!(evidence.contains("rebind-check.berth.invalid"), "{evidence}");
}

fn a_safe_server_raises_none() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let dir = ScratchDir::new("audit-browser-safe");
    // Defaults: 403 to foreign Host names, no CORS, no PNA, no WebSocket.
    let (_safe, safe) = server(&dir, &[]);
    let (_checked, checked) = server(&dir, &["host=421", "ws=checked", "ws-path=/ws"]);
    let (_control, control) = server(&dir, &["host=any"]);
    let findings = audit_json(&[]).0;
    assert_control(&findings, control);
    for port in [safe, checked] {
        assert_eq!(browser_findings(&findings, port), vec![], "{}", dump(&findings, port));
    }
}

fn dns_rebinding_raised_and_not() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let dir = ScratchDir::new("audit-browser-rebinding");
    let (_open, open) = server(&dir, &["host=any"]);
    let (_webpack, webpack) = server(&dir, &["host=webpack"]);
    let (_refuses, refuses) = server(&dir, &["host=403"]);
    let (_misdirected, misdirected) = server(&dir, &["host=421"]);
    let findings = audit_json(&[]).0;
    assert_eq!(severity(&findings, open, "http.dns-rebinding").as_deref(), Some("high"), "{}", dump(&findings, open));
    for port in [webpack, refuses, misdirected] {
        assert_eq!(severity(&findings, port, "http.dns-rebinding"), None, "{}", dump(&findings, port));
    }
}

fn cors_any_origin_and_reflected_raised_and_not() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let dir = ScratchDir::new("audit-browser-cors");
    let (_any, any) = server(&dir, &["cors=any", "credentials"]);
    let (_reflect, reflect) = server(&dir, &["cors=reflect"]);
    let (_credentialed, credentialed) = server(&dir, &["cors=reflect", "credentials"]);
    let (_null, null) = server(&dir, &["cors=null", "credentials"]);
    let (_none, none) = server(&dir, &["cors=none"]);
    let findings = audit_json(&[]).0;
    // `*` with credentials: browsers refuse credentialed reads with `*`, so still medium.
    assert_eq!(severity(&findings, any, "http.cors-any-origin").as_deref(), Some("medium"), "{}", dump(&findings, any));
    assert_eq!(severity(&findings, any, "http.cors-reflected"), None, "{}", dump(&findings, any));
    assert_eq!(severity(&findings, reflect, "http.cors-reflected").as_deref(), Some("medium"));
    assert_eq!(severity(&findings, reflect, "http.cors-any-origin"), None);
    assert_eq!(severity(&findings, credentialed, "http.cors-reflected").as_deref(), Some("high"));
    assert_eq!(severity(&findings, null, "http.cors-reflected").as_deref(), Some("high"), "{}", dump(&findings, null));
    for id in ["http.cors-any-origin", "http.cors-reflected"] {
        assert_eq!(severity(&findings, none, id), None, "{}", dump(&findings, none));
    }
}

fn private_network_raised_and_not() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let dir = ScratchDir::new("audit-browser-pna");
    let (_alone, alone) = server(&dir, &["pna"]);
    let (_with_cors, with_cors) = server(&dir, &["pna", "cors=any"]);
    let (_without, without) = server(&dir, &["cors=any"]);
    let findings = audit_json(&[]).0;
    assert_eq!(
        severity(&findings, alone, "http.private-network").as_deref(),
        Some("medium"),
        "{}",
        dump(&findings, alone)
    );
    assert_eq!(severity(&findings, with_cors, "http.private-network").as_deref(), Some("high"));
    assert_eq!(severity(&findings, without, "http.private-network"), None, "{}", dump(&findings, without));
}

fn websocket_origin_raised_and_not() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let dir = ScratchDir::new("audit-browser-ws");
    let (_open, open) = server(&dir, &["ws=any", "ws-path=/ws"]);
    let (_socketio, socketio) = server(&dir, &["ws=any", "ws-path=/socket.io/?EIO=4&transport=websocket"]);
    let (_checked, checked) = server(&dir, &["ws=checked", "ws-path=/ws"]);
    let findings = audit_json(&[]).0;
    for port in [open, socketio] {
        assert_eq!(
            severity(&findings, port, "http.websocket-origin").as_deref(),
            Some("high"),
            "{}",
            dump(&findings, port)
        );
    }
    let evidence = findings
        .iter()
        .find(|f| f["port"].as_u64() == Some(u64::from(open)) && f["id"] == "http.websocket-origin")
        .map(|f| f["evidence"].to_string())
        .unwrap_or_default();
    assert!(evidence.contains("GET /ws") && evidence.contains("matches the key"), "{evidence}");
    assert_eq!(severity(&findings, checked, "http.websocket-origin"), None, "{}", dump(&findings, checked));
}

fn over_tls_rebinding_and_cors_count_the_same() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    let openssl = require_program("openssl", "openssl");
    let dir = ScratchDir::new("audit-browser-tls");
    let (cert, key) = (dir.path.join("cert.pem"), dir.path.join("key.pem"));
    let status = Command::new(&openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run openssl");
    assert!(status.success(), "openssl req failed");
    let tls = format!("tls={},{}", cert.display(), key.display());
    let (_open, open) = server(&dir, &["host=any", "cors=reflect", "credentials", &tls]);
    let (_refuses, refuses) = server(&dir, &["host=421", &tls]);
    let findings = audit_json(&[]).0;
    // High over TLS too (the issue's floor); the evidence names the certificate check.
    assert_eq!(severity(&findings, open, "http.dns-rebinding").as_deref(), Some("high"), "{}", dump(&findings, open));
    let rebinding = findings.iter().find(|f| f["port"] == open && f["id"] == "http.dns-rebinding").expect("found");
    assert!(rebinding["evidence"].to_string().contains("refuses the certificate"), "{rebinding}");
    assert_eq!(severity(&findings, open, "http.cors-reflected").as_deref(), Some("high"), "{}", dump(&findings, open));
    assert_eq!(browser_findings(&findings, refuses), vec![], "{}", dump(&findings, refuses));
}

// ---------------------------------------------------------------- berth serve

fn site(tag: &str) -> ScratchDir {
    let dir = ScratchDir::new(tag);
    dir.write("index.html", "<!doctype html><title>site</title><p>hello</p>\n");
    dir
}

fn berth_serve_raises_none() {
    let _serial = serial();
    let dir = site("audit-browser-serve");
    let path = dir.path.to_string_lossy().into_owned();
    let serve = ServeChild::start(&[&path], &[]);
    let control = control_server();
    let findings = audit_json(&[]).0;
    assert_control(&findings, control.1);
    assert_eq!(browser_findings(&findings, serve.port), vec![], "{}", dump(&findings, serve.port));
}

fn berth_serve_with_an_exact_cors_origin_is_neither_any_nor_reflected() {
    // `berth serve --cors` takes exact origins only (it refuses `*` and
    // `null`), and echoes an Origin only when it is one of them.
    let _serial = serial();
    let dir = site("audit-browser-serve-cors");
    let path = dir.path.to_string_lossy().into_owned();
    let (code, _, stderr) = run_berth(&["serve", &path, "--cors", "*", "--port", "0"], &[]);
    assert_eq!(code, 2, "berth serve --cors '*' should be refused: {stderr}");
    let serve = ServeChild::start(&[&path, "--cors", "http://localhost:3000"], &[]);
    let control = control_server();
    let findings = audit_json(&[]).0;
    assert_control(&findings, control.1);
    assert_eq!(browser_findings(&findings, serve.port), vec![], "{}", dump(&findings, serve.port));
}

// ---------------------------------------------------------------- nginx

const NGINX: &str = "/usr/sbin/nginx";

/// nginx in the foreground, one process, everything under `dir`.
fn nginx(dir: &ScratchDir, tag: &str, servers: impl Fn(u16) -> String) -> (KillOnDrop, u16) {
    let root = dir.path.join("www");
    std::fs::create_dir_all(&root).expect("create the web root");
    std::fs::write(root.join("index.html"), "<!doctype html><p>local data</p>\n").expect("write index.html");
    // A port picked free can be taken before nginx binds it: a few tries.
    for _ in 0..5 {
        let port = free_port();
        let prefix = dir.path.join(format!("nginx-{tag}-{port}"));
        std::fs::create_dir_all(prefix.join("logs")).expect("create the nginx prefix");
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {prefix}/logs/error.log;\npid {prefix}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
               fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
               root {root};\n{servers}\n}}\n",
            prefix = prefix.display(),
            root = root.display(),
            servers = servers(port),
        );
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let mut child = Command::new(NGINX)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nginx");
        let started = Instant::now();
        let up = poll_until(Duration::from_secs(5), || {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(false);
            }
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| true)
        });
        if up == Some(true) {
            return (KillOnDrop(child), port);
        }
        let log = std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
        let _ = child.kill();
        let _ = child.wait();
        assert!(log.contains("Address already in use"), "nginx did not start ({:?}):\n{log}", started.elapsed());
    }
    panic!("nginx found no free port in 5 tries");
}

fn nginx_with_a_host_allow_list_is_not_rebindable_and_a_catch_all_is() {
    let _serial = serial();
    require_program(NGINX, "nginx");
    let dir = ScratchDir::new("audit-browser-nginx");
    // The real site answers only loopback names; everything else gets 421 ...
    let (_misdirected, misdirected) = nginx(&dir, "421", |port| {
        format!(
            "  server {{ listen 127.0.0.1:{port} default_server; return 421; }}\n\
               server {{ listen 127.0.0.1:{port}; server_name localhost 127.0.0.1; }}"
        )
    });
    // ... or a closed connection (nginx's 444).
    let (_closed, closed) = nginx(&dir, "444", |port| {
        format!(
            "  server {{ listen 127.0.0.1:{port} default_server; return 444; }}\n\
               server {{ listen 127.0.0.1:{port}; server_name localhost 127.0.0.1; }}"
        )
    });
    // Debian's default site: one server, `server_name _`, answers any Host.
    let (_open, open) =
        nginx(&dir, "any", |port| format!("  server {{ listen 127.0.0.1:{port} default_server; server_name _; }}"));
    let findings = audit_json(&[]).0;
    for port in [misdirected, closed] {
        assert_eq!(severity(&findings, port, "http.dns-rebinding"), None, "{}", dump(&findings, port));
    }
    assert_eq!(severity(&findings, open, "http.dns-rebinding").as_deref(), Some("high"), "{}", dump(&findings, open));
    let fix = findings
        .iter()
        .find(|f| f["port"].as_u64() == Some(u64::from(open)) && f["id"] == "http.dns-rebinding")
        .and_then(|f| f["fix"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(fix.contains("server_name") && fix.contains("default_server"), "{fix}");
    // nginx sends no CORS, PNA or WebSocket answers of its own.
    for port in [misdirected, closed, open] {
        assert!(
            browser_findings(&findings, port).iter().all(|(id, _)| id == "http.dns-rebinding"),
            "{}",
            dump(&findings, port)
        );
    }
}

// ---------------------------------------------------------------- Chromium

/// What the audit calls reflected CORS with credentials and DNS rebinding
/// is real in a browser: a page of another origin reads the vulnerable
/// server with credentials, and a page under a foreign name pointing at
/// 127.0.0.1 reads it too; the same pages get nothing from the safe server.
fn chromium_reads_what_the_audit_calls_readable() {
    let _serial = serial();
    require_program(PYTHON, "python3");
    require_chromium();
    let dir = ScratchDir::new("audit-browser-chromium-pages");
    let (_vulnerable, vulnerable) = server(&dir, &["host=any", "cors=reflect", "credentials"]);
    let (_safe, safe) = server(&dir, &[]);
    let findings = audit_json(&[]).0;
    assert_eq!(severity(&findings, vulnerable, "http.cors-reflected").as_deref(), Some("high"));
    assert_eq!(severity(&findings, vulnerable, "http.dns-rebinding").as_deref(), Some("high"));
    assert_eq!(browser_findings(&findings, safe), vec![]);

    // The attacker's page, on another origin (attacker.test, mapped to 127.0.0.1).
    let page = |target: u16| {
        format!(
            "<!doctype html><body><pre id=out>pending</pre><script>\n\
             var out = document.getElementById('out');\n\
             try {{\n\
               var x = new XMLHttpRequest();\n\
               x.open('GET', 'http://127.0.0.1:{target}/', false);\n\
               x.withCredentials = true;\n\
               x.send();\n\
               out.textContent = 'READ:' + x.responseText;\n\
             }} catch (e) {{ out.textContent = 'BLOCKED:' + e.name; }}\n\
             </script>\n"
        )
    };
    let attack_vulnerable = dir.write("attack-vulnerable.html", page(vulnerable));
    let attack_safe = dir.write("attack-safe.html", page(safe));
    let (_attacker_v, attacker_v) = server(&dir, &["host=any", &format!("page={}", attack_vulnerable.display())]);
    let (_attacker_s, attacker_s) = server(&dir, &["host=any", &format!("page={}", attack_safe.display())]);
    let rules_switch = "--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebind.test 127.0.0.1".to_string();

    let dom = dump_dom(&format!("http://attacker.test:{attacker_v}/"), &[&rules_switch]);
    assert!(dom.contains("READ:secret local data"), "the reflected-CORS server was not readable:\n{dom}");
    let dom = dump_dom(&format!("http://attacker.test:{attacker_s}/"), &[&rules_switch]);
    assert!(dom.contains("BLOCKED:") && !dom.contains("secret local data"), "the safe server was readable:\n{dom}");

    // DNS rebinding, after the rebind: the attacker's name points at 127.0.0.1.
    let dom = dump_dom(&format!("http://rebind.test:{vulnerable}/"), &[&rules_switch]);
    assert!(dom.contains("secret local data"), "the page under a foreign name did not get the data:\n{dom}");
    let dom = dump_dom(&format!("http://rebind.test:{safe}/"), &[&rules_switch]);
    assert!(!dom.contains("secret local data"), "the safe server answered a foreign name:\n{dom}");
}

tests![
    a_vulnerable_server_raises_every_browser_finding,
    a_safe_server_raises_none,
    dns_rebinding_raised_and_not,
    cors_any_origin_and_reflected_raised_and_not,
    private_network_raised_and_not,
    websocket_origin_raised_and_not,
    over_tls_rebinding_and_cors_count_the_same,
    berth_serve_raises_none,
    berth_serve_with_an_exact_cors_origin_is_neither_any_nor_reflected,
    nginx_with_a_host_allow_list_is_not_rebindable_and_a_catch_all_is,
    chromium_reads_what_the_audit_calls_readable,
];
