//! `berth ca` against the real stores and real clients: in a private mount
//! namespace (so the machine's own store is untouched), `berth ca install`
//! makes curl, Python's urllib and requests, Node's fetch and headless
//! Chromium trust `berth proxy`; `berth ca uninstall` makes each fail
//! again and leaves the stores as they were. The name constraints hold in
//! OpenSSL, rustls and Chromium; bad input gets clear errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::harness::find_program;
use crate::common::*;

/// A HOME of the test's own, with the CA under its XDG data directory.
struct Home {
    dir: ScratchDir,
}

impl Home {
    fn new(tag: &str) -> Home {
        let dir = ScratchDir::new(tag);
        std::fs::create_dir_all(dir.path.join("home")).unwrap();
        Home { dir }
    }
    fn home(&self) -> PathBuf {
        self.dir.path.join("home")
    }
    fn data(&self) -> PathBuf {
        self.home().join(".local/share")
    }
    fn ca(&self) -> PathBuf {
        self.data().join("berth/ca")
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), self.home().display().to_string()),
            ("XDG_DATA_HOME".into(), self.data().display().to_string()),
        ]
    }
    fn berth(&self, args: &[&str]) -> Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_berth_with(args, &env, None)
    }
}

/// A server on a thread of the test, on 127.0.0.1 port 0, handing each
/// connection to `handle` on a thread of its own, until dropped (and at
/// most `limit`).
struct ThreadServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadServer {
    fn start(limit: Duration, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> ThreadServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = Arc::new(handle);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !stopping.load(Ordering::Relaxed) && started.elapsed() < limit {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let handle = handle.clone();
                        std::thread::spawn(move || handle(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ThreadServer { port, stop, thread: Some(thread) }
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A backend answering every request with `body` (HTTP/1.1, one request a
/// connection).
fn backend(body: &'static str) -> ThreadServer {
    ThreadServer::start(Duration::from_secs(300), move |stream| answer(stream, body))
}

/// Reads a request head (bounded), then writes a 200 with `body`.
fn respond<S: Read + Write>(stream: &mut S, body: &str) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).is_ok()
}

fn answer(mut stream: TcpStream, body: &str) {
    respond(&mut stream, body);
}

/// `berth proxy BACKEND --port 0 -q` with the home's CA.
fn proxy(home: &Home, backend: u16, extra: &[&str]) -> ServeChild {
    let port = backend.to_string();
    let mut args = vec![port.as_str(), "-q"];
    args.extend_from_slice(extra);
    let env = home.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServeChild::launch("proxy", "berth: proxying ", &args, &env, |_| {})
}

/// The clients' verdicts, as the namespace script prints them: one
/// `NAME ok` or `NAME fail` line each.
fn verdicts(output: &str, stage: &str) -> Vec<(String, bool)> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{stage} ")))
        .filter_map(|l| l.split_once(' ').map(|(name, v)| (name.to_string(), v == "ok")))
        .collect()
}

/// The whole round in a private mount namespace: the system store's
/// directories are bind-mounted copies, so update-ca-certificates and its
/// Java hook change only the copies. Clients run before install (all
/// fail), after install (all pass; requests and Node with `berth ca env`),
/// and after uninstall (all fail again).
fn trust_reaches_every_client_and_goes_with_uninstall() {
    let _serial = serial();
    require_root("a private mount namespace for the system store");
    require_program("unshare", "util-linux");
    require_program("update-ca-certificates", "ca-certificates");
    require_program("certutil", "libnss3-tools");
    require_program("curl", "curl");
    require_program("node", "nodejs");
    require_chromium();
    let python = "/usr/bin/python3";
    let has_requests = Command::new(python).args(["-c", "import requests"]).status().is_ok_and(|s| s.success());
    if !has_requests {
        skip("needs Python requests (apt-get install python3-requests)");
    }
    let home = Home::new("ca-trust");
    let backend = backend("<html><body><p id=marker>berth-trusted-page</p></body></html>");
    let proxy = proxy(&home, backend.port, &[]);
    let url = format!("https://localhost:{}/", proxy.port);
    let script = home.dir.write(
        "round.sh",
        format!(
            r#"set -u
for d in /etc/ssl/certs /usr/local/share/ca-certificates; do
  copy=$(mktemp -d); cp -a "$d/." "$copy/"; mount --bind "$copy" "$d"
done
berth={berth}
url={url}
snapshot() {{
  find /etc/ssl/certs /usr/local/share/ca-certificates -printf '%p %y %l\n' | sort
  sha256sum /etc/ssl/certs/ca-certificates.crt
  if command -v keytool >/dev/null; then keytool -J-Duser.language=en -list -cacerts -storepass changeit 2>/dev/null | grep fingerprint | sort; fi
  find "$HOME" -path "$XDG_DATA_HOME/berth" -prune -o -print | sort
}}
clients() {{
  stage=$1
  if curl -sS --max-time 10 "$url" | grep -q berth-trusted-page; then echo "$stage curl ok"; else echo "$stage curl fail"; fi
  if {python} -c "import urllib.request,sys; sys.exit(0 if b'berth-trusted-page' in urllib.request.urlopen('$url', timeout=10).read() else 1)" 2>/dev/null; then echo "$stage urllib ok"; else echo "$stage urllib fail"; fi
  if ( [ "$stage" = installed ] && eval "$($berth ca env)"; {python} -c "import requests,sys; sys.exit(0 if 'berth-trusted-page' in requests.get('$url', timeout=10).text else 1)" ) 2>/dev/null; then echo "$stage requests ok"; else echo "$stage requests fail"; fi
  if ( [ "$stage" = installed ] && eval "$($berth ca env)"; node -e "fetch('$url').then(r=>r.text()).then(t=>process.exit(t.includes('berth-trusted-page')?0:1)).catch(()=>process.exit(1))" ) 2>/dev/null; then echo "$stage node ok"; else echo "$stage node fail"; fi
  profile=$(mktemp -d)
  if timeout 60 {chromium} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir="$profile" --dump-dom "$url" 2>/dev/null | grep -q berth-trusted-page; then echo "$stage chromium ok"; else echo "$stage chromium fail"; fi
  rm -rf "$profile"
}}
# The copies made consistent with their sources first (a machine's store
# may hold a file its sources would make a link, say), so that the
# comparison below sees only what berth changed.
update-ca-certificates >/dev/null 2>&1
clients before
echo ==snapshot-before; snapshot; echo ==end
$berth ca install --yes; echo "install rc=$?"
$berth ca status --json > "$HOME/../status.json"; echo "status rc=$?"
clients installed
$berth ca uninstall --yes; echo "uninstall rc=$?"
clients after
echo ==snapshot-after; snapshot; echo ==end
"#,
            berth = env!("CARGO_BIN_EXE_berth"),
            url = url,
            python = python,
            chromium = CHROMIUM,
        ),
    );
    let _ = script;
    let mut command = Command::new("unshare");
    command.args(["-m", "--propagation", "private", "bash", &home.dir.path.join("round.sh").display().to_string()]);
    for (key, value) in home.env() {
        command.env(key, value);
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = run_within(command, "the trust round", Duration::from_secs(300));
    let all = format!("{}\n{}", out.stdout, out.stderr);
    for (name, ok) in verdicts(&out.stdout, "before") {
        assert!(!ok, "{name} trusted the proxy before berth ca install:\n{all}");
    }
    let installed = verdicts(&out.stdout, "installed");
    assert_eq!(installed.len(), 5, "{all}");
    for (name, ok) in &installed {
        assert!(ok, "{name} did not trust the proxy after berth ca install:\n{all}");
    }
    for (name, ok) in verdicts(&out.stdout, "after") {
        assert!(!ok, "{name} still trusted the proxy after berth ca uninstall:\n{all}");
    }
    assert!(out.stdout.contains("install rc=0") && out.stdout.contains("uninstall rc=0"), "{all}");
    let section = |name: &str| {
        let start = out.stdout.find(&format!("=={name}\n")).unwrap_or_else(|| panic!("no {name}: {all}"));
        let rest = &out.stdout[start..];
        rest[..rest.find("==end").expect("an end")].split_once('\n').unwrap().1.to_string()
    };
    let (before, after) = (section("snapshot-before"), section("snapshot-after"));
    if before != after {
        let (before_lines, after_lines): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        let only_before: Vec<&&str> = before_lines.iter().filter(|l| !after_lines.contains(l)).collect();
        let only_after: Vec<&&str> = after_lines.iter().filter(|l| !before_lines.contains(l)).collect();
        panic!(
            "the stores differ after uninstall ({} lines before, {} after): gone {only_before:?}, left {only_after:?}",
            before_lines.len(),
            after_lines.len()
        );
    }
    let status = std::fs::read_to_string(home.dir.path.join("status.json")).expect("status.json");
    let status: serde_json::Value = serde_json::from_str(&status).expect("status is JSON");
    let trusted: Vec<&str> = status["stores"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "trusted")
        .map(|s| s["store"].as_str().unwrap())
        .collect();
    assert!(trusted.contains(&"system") && trusted.contains(&"nss"), "{status}");
    if find_program("keytool").is_some() {
        assert!(trusted.contains(&"java"), "Java's cacerts trusts it too: {status}");
    }
    assert!(!home.ca().exists(), "the CA's keys are deleted by uninstall");
    drop(proxy);
}

/// A leaf for names outside the constraints, signed with berth's own
/// intermediate key (what a thief could do), is refused by OpenSSL, by
/// rustls and by Chromium; a loopback leaf from the same key is accepted
/// by all three.
fn name_constraints_hold_in_openssl_rustls_and_chromium() {
    let _serial = serial();
    require_program("openssl", "openssl");
    let home = Home::new("ca-constraints");
    let made = home.berth(&["ca", "env"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let ca = home.ca();
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(ca.join("intermediate-key.pem")).unwrap()).unwrap();
    let intermediate_pem = std::fs::read_to_string(ca.join("intermediate.pem")).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&intermediate_pem, key).unwrap();
    let leaf = |names: Vec<String>| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert, key)
    };
    let (evil, evil_key) = leaf(vec!["example.com".into()]);
    // Names in certificates only, never connected to: example.com is the
    // documentation domain, 192.0.2.1 the documentation range (RFC 5737);
    // Chromium below reaches example.com at 127.0.0.1 by its resolver rules.
    let (evil_ip, _) = leaf(vec!["192.0.2.1".into()]);
    let (good, good_key) = leaf(vec!["localhost".into()]);
    let root = ca.join("root.pem");
    let verify = |cert: &rcgen::Certificate, extra: &[&str]| {
        let file = home.dir.write("leaf.pem", cert.pem());
        let mut command = Command::new("openssl");
        command.args(["verify", "-CAfile"]).arg(&root).arg("-untrusted").arg(ca.join("intermediate.pem"));
        command.args(extra).arg(&file);
        let out = command.output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, said) = verify(&evil, &[]);
    assert!(!ok && said.contains("permitted subtree violation"), "openssl accepted example.com: {said}");
    let (ok, said) = verify(&evil_ip, &[]);
    assert!(!ok, "openssl accepted 192.0.2.1: {said}");
    let (ok, said) = verify(&good, &["-verify_hostname", "localhost"]);
    assert!(ok, "openssl refused localhost: {said}");

    // rustls, with the root as its only trust anchor.
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    let root_der = rustls::pki_types::CertificateDer::from_pem_file(&root).unwrap();
    let intermediate_der = rustls::pki_types::CertificateDer::from_pem_slice(intermediate_pem.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root_der).unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots.into(),
        rustls::crypto::ring::default_provider().into(),
    )
    .build()
    .unwrap();
    let check = |cert: &rcgen::Certificate, name: &str| {
        verifier.verify_server_cert(
            cert.der(),
            std::slice::from_ref(&intermediate_der),
            &rustls::pki_types::ServerName::try_from(name.to_string()).unwrap(),
            &[],
            rustls::pki_types::UnixTime::now(),
        )
    };
    let refused = check(&evil, "example.com").expect_err("rustls accepted example.com");
    assert!(format!("{refused:?}").contains("NameConstraint") || format!("{refused}").contains("name"), "{refused:?}");
    check(&good, "localhost").expect("rustls accepts localhost");

    // Chromium, with the root in its NSS database, against a TLS server
    // presenting each leaf; example.com is mapped to 127.0.0.1.
    require_chromium();
    let certutil = require_program("certutil", "libnss3-tools");
    let chrome_home = ScratchDir::new("ca-chromium-home");
    let nssdb = chrome_home.path.join(".pki/nssdb");
    std::fs::create_dir_all(&nssdb).unwrap();
    let db = format!("sql:{}", nssdb.display());
    let status = Command::new(&certutil).args(["-N", "-d", &db, "--empty-password"]).status().unwrap();
    assert!(status.success());
    let status = Command::new(&certutil)
        .args(["-A", "-d", &db, "-t", "C,,", "-n", "berth test root", "-i"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    for (cert, key, host, should_load) in
        [(&good, &good_key, "localhost", true), (&evil, &evil_key, "example.com", false)]
    {
        let server = tls_site(vec![cert.der().clone(), intermediate_der.clone()], key);
        let url = format!("https://{host}:{}/", server.port);
        let dom = dump_dom_at_home(&url, &["--host-resolver-rules=MAP example.com 127.0.0.1"], &chrome_home.path);
        assert_eq!(dom.contains("tls-site-marker"), should_load, "Chromium on {url}: {dom}");
    }
}

/// A TLS server presenting `chain`, answering each request with a marker.
fn tls_site(chain: Vec<rustls::pki_types::CertificateDer<'static>>, key: &rcgen::KeyPair) -> ThreadServer {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    ThreadServer::start(Duration::from_secs(120), move |stream| {
        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { return };
        let mut tls = rustls::StreamOwned::new(connection, stream);
        if respond(&mut tls, "<p>tls-site-marker</p>") {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    })
}

/// `berth ca cert` writes a chain that verifies for each name and a key
/// only the user can read; `berth ca env` prints lines a shell evaluates,
/// pointing at files that exist (the bundle holding the system's roots and
/// berth's); status without install says not trusted.
fn cert_env_and_status_without_install() {
    let _serial = serial();
    require_program("openssl", "openssl");
    let home = Home::new("ca-cert-env");
    let out_dir = ScratchDir::new("ca-cert-out");
    let cert = out_dir.path.join("localhost+2.pem");
    let key = out_dir.path.join("localhost+2-key.pem");
    let made = home.berth(&[
        "ca",
        "cert",
        "localhost",
        "127.0.0.1",
        "::1",
        "--cert-file",
        cert.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(made.stderr.contains("made a new CA"), "{}", made.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let ca = home.ca();
    for (flag, name) in [("-verify_hostname", "localhost"), ("-verify_ip", "127.0.0.1"), ("-verify_ip", "::1")] {
        let out = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(ca.join("root.pem"))
            .arg("-untrusted")
            .arg(ca.join("intermediate.pem"))
            .args([flag, name])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let env = home.berth(&["ca", "env"]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    let script = format!("{}\nprintf '%s\\n' \"$NODE_EXTRA_CA_CERTS\" \"$REQUESTS_CA_BUNDLE\" \"$SSL_CERT_FILE\" \"$CURL_CA_BUNDLE\" \"$DENO_CERT\"", env.stdout);
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let values: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert_eq!(values.len(), 5, "{}", env.stdout);
    assert_eq!(values[0], ca.join("root.pem").display().to_string());
    assert_eq!(values[1], ca.join("bundle.pem").display().to_string());
    let bundle = std::fs::read_to_string(&values[1]).unwrap();
    let root = std::fs::read_to_string(ca.join("root.pem")).unwrap();
    assert!(bundle.ends_with(&root), "the bundle ends with the root");
    if let Ok(system) = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt") {
        assert!(bundle.starts_with(system.trim_end()), "the bundle starts with the system's roots");
    }
    let fish = home.berth(&["ca", "env", "--shell", "fish"]);
    assert!(fish.stdout.lines().all(|l| l.starts_with("set -gx ")), "{}", fish.stdout);
    let status = home.berth(&["ca", "status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["ca"]["permitted"], serde_json::json!(["localhost", "127.0.0.0/8", "::1/128"]));
    assert_eq!(status["ca"]["fingerprint_sha256"].as_str().unwrap().len(), 64);
    assert!(status["stores"].as_array().unwrap().iter().all(|s| s["outcome"] != "trusted"), "{status}");
}

/// The proxy's leaf is renewed before it expires, without a restart: a
/// second handshake after the renewal gets a new serial number, and both
/// verify for localhost.
fn the_proxys_certificate_is_renewed() {
    let _serial = serial();
    require_program("openssl", "openssl");
    let home = Home::new("ca-renew");
    let backend = backend("renewed");
    let proxy = proxy(&home, backend.port, &["--leaf-lifetime", "3s"]);
    let serial_now = || {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", proxy.port),
                "-servername",
                "localhost",
                "-verify_return_error",
                "-CAfile",
            ])
            .arg(home.ca().join("root.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        drop(child.stdin.take());
        let mut text = String::new();
        child.stdout.take().unwrap().read_to_string(&mut text).unwrap();
        let _ = child.wait();
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
        let start = text.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
        let end = text.find("-----END CERTIFICATE-----").expect("its end") + 25;
        text[start..end].to_string()
    };
    let first = serial_now();
    assert!(proxy.wait_for_stderr("renewed the certificate", Duration::from_secs(10)), "{}", proxy.stderr());
    let second = serial_now();
    assert_ne!(first, second, "the certificate changed after the renewal");
}

/// Bad input: names outside the constraints, malformed names, a damaged or
/// unreadable CA, nothing to uninstall: clear errors, the exit codes the
/// help gives, and nothing made or changed.
fn bad_input_is_refused_clearly() {
    let _serial = serial();
    let home = Home::new("ca-bad");
    let out = home.berth(&["ca", "status"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no berth CA"), "{}", out.stderr);
    let out = home.berth(&["ca", "uninstall", "--yes"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = home.berth(&["ca", "install", "--name", "bad name", "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("bad name"), "{}", out.stderr);
    assert!(!home.ca().exists(), "a refused install makes no CA");
    let out = home.berth(&["ca", "cert", "example.com"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("example.com") && out.stderr.contains("--name example.com"), "{}", out.stderr);
    // Never a device or a link replaced by a key (as root, /dev/null).
    let null_before = std::fs::metadata("/dev/null").unwrap();
    let out = home.berth(&["ca", "cert", "localhost", "--cert-file", "/dev/null", "--key-file", "/dev/null"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    let null_after = std::fs::metadata("/dev/null").unwrap();
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    assert!(null_after.file_type().is_char_device());
    assert_eq!(null_before.permissions().mode(), null_after.permissions().mode());
    let link = home.dir.path.join("link.pem");
    std::os::unix::fs::symlink(home.dir.path.join("elsewhere"), &link).unwrap();
    let out = home.berth(&["ca", "cert", "localhost", "--cert-file", link.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!home.dir.path.join("elsewhere").exists(), "nothing written through the link");
    let out = home.berth(&["ca", "cert", "no_such host"]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // A damaged key: every command names the file and says what to do.
    let key = home.ca().join("intermediate-key.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n").unwrap();
    let cert_file = home.dir.path.join("c.pem").display().to_string();
    let cert_args = ["ca", "cert", "localhost", "--cert-file", cert_file.as_str(), "--key-file", cert_file.as_str()];
    for args in [&["ca", "status"][..], &cert_args, &["proxy", "1", "--port", "0"], &["ca", "install", "--yes"]] {
        let out = home.berth(args);
        assert_eq!(out.code, 4, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("intermediate-key.pem") && out.stderr.contains("damaged"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    assert!(!home.home().join(".pki").exists(), "an install that failed touched no store");
    // Unreadable: a directory where the key should be (root reads any file).
    std::fs::remove_file(&key).unwrap();
    std::fs::create_dir(&key).unwrap();
    let out = home.berth(&["ca", "status"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("cannot read") && out.stderr.contains("intermediate-key.pem"), "{}", out.stderr);

    // A proxy name the CA does not allow, a name given to an existing CA.
    let fresh = Home::new("ca-bad-name");
    let out = fresh.berth(&["proxy", "3000", "--port", "0", "--name", "myapp.example"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("myapp.example"), "{}", out.stderr);
    let out = fresh.berth(&["ca", "install", "--name", "other.test", "--yes", "--store", "nss"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("fixed when it is made"), "{}", out.stderr);
}

/// `--store nss` needs no root: the root goes into Chromium's database
/// (made, as none exists) and into every Firefox profile's (there before),
/// each listed; uninstall takes it out of both, removes the database berth
/// made and leaves the profile's, with what else it held.
fn nss_databases_of_chromium_and_firefox_profiles() {
    let _serial = serial();
    let certutil = require_program("certutil", "libnss3-tools");
    let home = Home::new("ca-nss");
    let profile = home.home().join(".mozilla/firefox/abcd1234.default-release");
    std::fs::create_dir_all(&profile).unwrap();
    let db = format!("sql:{}", profile.display());
    let made = Command::new(&certutil).args(["-N", "-d", &db, "--empty-password"]).status().unwrap();
    assert!(made.success());
    // Something of the user's own in the profile, which must stay.
    let theirs = home
        .dir
        .write("theirs.pem", rcgen::generate_simple_self_signed(vec!["theirs.test".into()]).unwrap().cert.pem());
    let added = Command::new(&certutil)
        .args(["-A", "-d", &db, "-t", "C,,", "-n", "theirs", "-i"])
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(added.success());
    let install = home.berth(&["ca", "install", "--store", "nss", "--yes", "--json"]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    let report: serde_json::Value = serde_json::from_str(&install.stdout).unwrap();
    let places: Vec<String> =
        report["stores"].as_array().unwrap().iter().map(|s| format!("{} {}", s["outcome"], s["place"])).collect();
    assert_eq!(places.len(), 2, "{places:?}");
    assert!(places.iter().any(|p| p.contains("installed") && p.contains(".pki/nssdb")), "{places:?}");
    assert!(places.iter().any(|p| p.contains("installed") && p.contains("abcd1234")), "{places:?}");
    let listed = |db: &str| {
        String::from_utf8_lossy(&Command::new(&certutil).args(["-L", "-d", db]).output().unwrap().stdout).into_owned()
    };
    assert!(listed(&db).contains("berth local CA"), "{}", listed(&db));
    let again = home.berth(&["ca", "install", "--store", "nss", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already trusted"), "{}", again.stdout);
    let uninstall = home.berth(&["ca", "uninstall", "--store", "nss", "--yes"]);
    assert_eq!(uninstall.code, 0, "{}", uninstall.stderr);
    assert!(!home.home().join(".pki").exists(), "the database berth made is gone: {}", uninstall.stdout);
    let left = listed(&db);
    assert!(!left.contains("berth local CA") && left.contains("theirs"), "{left}");
    assert!(home.ca().exists(), "--store keeps the keys");
}

tests![
    trust_reaches_every_client_and_goes_with_uninstall,
    nss_databases_of_chromium_and_firefox_profiles,
    name_constraints_hold_in_openssl_rustls_and_chromium,
    cert_env_and_status_without_install,
    the_proxys_certificate_is_renewed,
    bad_input_is_refused_clearly,
];
