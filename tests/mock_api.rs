//! `berth mock` against real clients: the OpenAPI Initiative's example
//! specs answered operation by operation and checked by an independent
//! validator (Python's jsonschema, tests/fixtures/mock/oracle.py), request
//! validation, Prefer and seeds, latency and every fault kind, hot reload
//! under load, the journal, proxy and record, hostile requests and bad
//! input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::http::{connect, read_response, request, send_raw, Response};
use crate::common::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mock")
}

fn oai(name: &str) -> String {
    fixtures().join("oai").join(name).display().to_string()
}

/// A python3 with jsonschema and yaml (Debian's, or the one on PATH), or a skip.
fn oracle_python() -> String {
    for python in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(python)
            .args(["-c", "import jsonschema, yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python.to_string();
        }
    }
    skip("needs python3 with jsonschema and yaml (apt-get install python3-jsonschema python3-yaml)")
}

fn oracle(python: &str, args: &[&str], input: &str) -> (bool, String) {
    let dir = ScratchDir::new("mock-oracle");
    dir.write("answers.jsonl", input);
    let mut command = Command::new(python);
    command.arg(fixtures().join("oracle.py")).args(args);
    command
        .stdin(std::fs::File::open(dir.path.join("answers.jsonl")).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = run_within(command, "the oracle", Duration::from_secs(120));
    let text = format!("{}{}", output.stdout, output.stderr);
    (output.code == 0, text)
}

fn json(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap().to_string()).collect()
}

fn send(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(port, &bytes).unwrap_or_else(|| panic!("no answer to {method} {path}"))
}

/// Every operation of every OAI example, default and generated answers:
/// each status is documented and each body valid, by jsonschema.
fn oai_examples_answer_every_operation_as_documented() {
    let python = oracle_python();
    let specs = [
        "v3.0/petstore.yaml",
        "v3.0/petstore-expanded.yaml",
        "v3.0/api-with-examples.yaml",
        "v3.0/link-example.yaml",
        "v3.0/callback-example.yaml",
        "v3.0/uspto.yaml",
        "v3.1/non-oauth-scopes.yaml",
        "v2.0/petstore.yaml",
        "v2.0/petstore-expanded.yaml",
        "v2.0/api-with-examples.yaml",
        "v2.0/uber.yaml",
        "v2.0/petstore-separate/spec/swagger.yaml",
    ];
    let mut answers = String::new();
    let mut count = 0;
    for spec in specs {
        let path = oai(spec);
        let (ok, listing) = oracle(&python, &["--list", &path], "");
        assert!(ok, "{listing}");
        for extra in [&[][..], &["--dynamic", "--seed", "1"], &["--dynamic", "--seed", "2"]] {
            let mut args = vec![path.as_str(), "--no-validate", "-q"];
            args.extend_from_slice(extra);
            let mock = ServeChild::mock(&args);
            for line in listing.lines().filter(|l| l.starts_with('{')) {
                let operation: Value = serde_json::from_str(line).unwrap();
                let method = operation["method"].as_str().unwrap().to_ascii_uppercase();
                let url = operation["url"].as_str().unwrap();
                let response = send(mock.port, &method, url, &[("Accept", "application/json, */*;q=0.5")], b"");
                assert!(response.status < 500, "{spec} {method} {url}: {} {}", response.status, response.text());
                let record = serde_json::json!({
                    "spec": path, "method": operation["method"], "path": operation["path"],
                    "status": response.status, "content_type": response.header("Content-Type"),
                    "body": response.text(),
                });
                answers.push_str(&record.to_string());
                answers.push('\n');
                count += 1;
            }
            drop(mock);
        }
    }
    assert!(count > 100, "{count} answers");
    let (ok, report) = oracle(&python, &[], &answers);
    assert!(ok, "the oracle refused some answers:\n{report}");
}

/// A spec across files ($ref with ../, ~1 escapes) and recursive schemas:
/// served, generated bodies valid, finite.
fn multi_file_and_recursive_specs_are_served() {
    let python = oracle_python();
    let spec = fixtures().join("multi/main.yaml").display().to_string();
    let mock = ServeChild::mock(&[&spec, "--dynamic", "-q"]);
    let mut answers = String::new();
    for (path, url) in [("/trees/{id}", "/trees/1"), ("/people", "/people"), ("/errors", "/errors")] {
        for _ in 0..20 {
            let response = request(mock.port, "GET", url, &[]);
            assert_eq!(response.status, 200, "{url}: {}", response.text());
            assert!(response.body.len() < 1 << 20, "a recursive answer is bounded");
            let record = serde_json::json!({"spec": spec, "method": "get", "path": path, "status": 200,
                "content_type": response.header("Content-Type"), "body": response.text()});
            answers.push_str(&format!("{record}\n"));
        }
    }
    let (ok, report) = oracle(&python, &[], &answers);
    assert!(ok, "{report}");
    let unknown = request(mock.port, "GET", "/nowhere", &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("Content-Type"), Some("application/problem+json"));
}

/// Bad requests get the right status and every failing pointer.
fn requests_are_validated_with_pointers() {
    let spec = fixtures().join("validation.yaml").display().to_string();
    let mock = ServeChild::mock(&[&spec, "-q"]);
    let port = mock.port;
    let key = ("X-Api-Key", "secret");
    let ok = send(
        port,
        "POST",
        "/pets?dry=true",
        &[key, ("Content-Type", "application/json")],
        br#"{"name":"Rex","status":"sold"}"#,
    );
    assert_eq!(ok.status, 201, "{}", ok.text());
    let bad_body = send(
        port,
        "POST",
        "/pets",
        &[key, ("Content-Type", "application/json")],
        br#"{"status":"lost","tags":[1],"age":-1}"#,
    );
    assert_eq!(bad_body.status, 422, "{}", bad_body.text());
    assert_eq!(bad_body.header("Content-Type"), Some("application/problem+json"));
    assert_eq!(pointers(&json(&bad_body)), ["/body/name", "/body/status", "/body/tags/0", "/body/age"]);
    let malformed = send(port, "POST", "/pets", &[key, ("Content-Type", "application/json")], b"{nope");
    assert_eq!(malformed.status, 400);
    assert_eq!(pointers(&json(&malformed)), ["/body"]);
    let wrong_type = send(port, "POST", "/pets", &[key, ("Content-Type", "text/csv")], b"a,b");
    assert_eq!(wrong_type.status, 415);
    let no_key = send(port, "POST", "/pets", &[("Content-Type", "application/json")], br#"{"name":"Rex"}"#);
    assert_eq!(no_key.status, 401);
    assert_eq!(pointers(&json(&no_key)), ["/header/X-Api-Key"]);
    let params = request(port, "GET", "/pets/abc?limit=500", &[]);
    assert_eq!(params.status, 400, "{}", params.text());
    assert_eq!(pointers(&json(&params)), ["/path/petId", "/query/limit", "/header/X-Trace"]);
    let form =
        send(port, "POST", "/pets/7/photo", &[("Content-Type", "application/x-www-form-urlencoded")], b"size=big");
    assert_eq!(form.status, 422, "{}", form.text());
    assert_eq!(pointers(&json(&form)), ["/body/caption", "/body/size"]);
    let good = request(port, "GET", "/pets/7?limit=5", &[("X-Trace", "t1")]);
    assert_eq!(good.status, 200, "{}", good.text());
    drop(mock);
    let lax = ServeChild::mock(&[&spec, "-q", "--no-validate"]);
    assert_eq!(request(lax.port, "GET", "/pets/abc?limit=500", &[]).status, 200);
}

/// Prefer picks codes and examples; seeds repeat; unknown ones are told.
fn prefer_and_seeds_choose_answers() {
    let spec = fixtures().join("validation.yaml").display().to_string();
    let mock = ServeChild::mock(&[&spec, "-q"]);
    let trace = ("X-Trace", "t");
    let cat = request(mock.port, "GET", "/pets/1", &[trace, ("Prefer", "example=cat")]);
    assert_eq!(json(&cat)["name"], "Tom");
    let default = request(mock.port, "GET", "/pets/1", &[trace]);
    assert_eq!(json(&default)["name"], "Rex", "the first named example by default");
    let missing = request(mock.port, "GET", "/pets/1", &[trace, ("Prefer", "code=404")]);
    assert_eq!(missing.status, 404);
    let undocumented = request(mock.port, "GET", "/pets/1", &[trace, ("Prefer", "code=418")]);
    assert_eq!(undocumented.status, 400);
    assert!(json(&undocumented)["detail"].as_str().unwrap().contains("documented: 200, 404"));
    let no_example = request(mock.port, "GET", "/pets/1", &[trace, ("Prefer", "example=cow")]);
    assert_eq!(no_example.status, 400);
    let xml = request(mock.port, "GET", "/pets/1", &[trace, ("Accept", "application/xml")]);
    assert_eq!(xml.status, 406);
    drop(mock);
    let bodies = |seed: &str| {
        let mock = ServeChild::mock(&[&spec, "-q", "--dynamic", "--seed", seed]);
        let bodies: Vec<Vec<u8>> =
            (1..=5).map(|n| request(mock.port, "GET", &format!("/pets/{n}"), &[trace]).body).collect();
        bodies
    };
    let (first, again, other) = (bodies("7"), bodies("7"), bodies("8"));
    assert_eq!(first, again, "the same seed, the same answers");
    assert_ne!(first, other, "another seed, other answers");
    assert!(first.windows(2).any(|w| w[0] != w[1]), "different requests, different answers");
}

/// Pauses are taken; each kind of fault is what a client sees.
fn delays_and_faults_reach_real_clients() {
    let spec = fixtures().join("validation.yaml").display().to_string();
    let slow = ServeChild::mock(&[&spec, "-q", "--delay", "200ms"]);
    let started = Instant::now();
    assert_eq!(request(slow.port, "GET", "/pets/1", &[("X-Trace", "t")]).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    drop(slow);
    let get = b"GET /pets/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trace: t\r\n\r\n";
    let status = ServeChild::mock(&[&spec, "-q", "--fail", "100%:503"]);
    assert_eq!(send_raw(status.port, get).unwrap().status, 503);
    drop(status);
    let reset = ServeChild::mock(&[&spec, "-q", "--fail", "100%:reset"]);
    let mut stream = connect(reset.port);
    stream.write_all(get).unwrap();
    let mut buffer = [0u8; 64];
    let read = stream.read(&mut buffer);
    assert!(matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset), "{read:?}");
    drop(reset);
    let empty = ServeChild::mock(&[&spec, "-q", "--fail", "100%:empty"]);
    let mut stream = connect(empty.port);
    stream.write_all(get).unwrap();
    assert_eq!(stream.read(&mut buffer).unwrap(), 0, "closed without a byte");
    drop(empty);
    let stall = ServeChild::mock(&[&spec, "-q", "--fail", "100%:stall"]);
    let mut stream = connect(stall.port);
    stream.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    stream.write_all(get).unwrap();
    let mut received = Vec::new();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(_) => break,
        }
        assert!(received.len() < 1 << 20);
    }
    let text = String::from_utf8_lossy(&received);
    let (head, body) = text.split_once("\r\n\r\n").expect("the head came");
    let length: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
    assert!(body.len() < length, "the body stops short: {} of {length}", body.len());
    drop(stall);
    // An operation's own x-berth-fail beats the global rule.
    let own = ServeChild::mock(&[&spec, "-q"]);
    assert_eq!(request(own.port, "GET", "/flaky", &[]).status, 502);
}

/// Edits of a referenced file are served; a broken spec keeps the last
/// good version; the fix is picked up; no request fails meanwhile.
fn hot_reload_never_fails_a_request() {
    let dir = ScratchDir::new("mock-reload");
    let spec = |path: &str| {
        format!(
            "openapi: 3.0.0\ninfo: {{title: reload, version: '1'}}\npaths:\n  {path}:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{$ref: 'schemas/thing.yaml#/Thing'}}\n"
        )
    };
    dir.write("main.yaml", spec("/thing"));
    dir.write("schemas/thing.yaml", "Thing:\n  type: object\n  example: {version: 1}\n");
    let main = dir.path.join("main.yaml").display().to_string();
    let mock = ServeChild::mock(&[&main, "-q"]);
    let port = mock.port;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..5000 {
            if stopped.try_recv().is_ok() {
                break;
            }
            let mut stream = connect(port);
            stream.write_all(b"GET /thing HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            let response = read_response(&mut stream, false).expect("an answer during reload");
            assert_eq!(response.status, 200, "{}", response.text());
            let body: Value = serde_json::from_slice(&response.body).unwrap();
            seen.push(body["version"].as_i64().unwrap());
            std::thread::sleep(Duration::from_millis(2));
        }
        seen
    });
    let wait_for =
        |needle: &str| assert!(mock.wait_for_stderr(needle, Duration::from_secs(10)), "{needle}: {}", mock.stderr());
    std::thread::sleep(Duration::from_millis(300));
    dir.write("schemas/thing.yaml", "Thing:\n  type: object\n  example: {version: 2}\n");
    wait_for("berth: reloaded");
    dir.write("main.yaml", "openapi: 3.0.0\npaths: [\n");
    wait_for("reload failed, still serving the last good version");
    std::thread::sleep(Duration::from_millis(300));
    dir.write("main.yaml", spec("/thing").replace("version: '1'", "version: '2'"));
    let reloads = || mock.stderr().matches("berth: reloaded").count();
    assert!(poll_until(Duration::from_secs(10), || (reloads() >= 2).then_some(())).is_some(), "{}", mock.stderr());
    std::thread::sleep(Duration::from_millis(200));
    stop.send(()).unwrap();
    let seen = client.join().expect("no request failed");
    assert!(seen.contains(&1) && seen.contains(&2), "both versions served: {:?}", &seen[..seen.len().min(20)]);
    let first_two = seen.iter().position(|&v| v == 2).unwrap();
    assert!(seen[first_two..].iter().all(|&v| v == 2), "never back to the old version");
}

/// What clients sent is in /__berth/requests and in --journal FILE.
fn the_journal_shows_what_clients_sent() {
    let dir = ScratchDir::new("mock-journal");
    let file = dir.path.join("journal.jsonl");
    let spec = fixtures().join("validation.yaml").display().to_string();
    let mock = ServeChild::mock(&[&spec, "-q", "--journal", file.to_str().unwrap()]);
    let body = br#"{"name":"Rex"}"#;
    send(mock.port, "POST", "/pets?dry=true", &[("X-Api-Key", "k"), ("Content-Type", "application/json")], body);
    request(mock.port, "GET", "/pets/abc", &[]);
    let journal = json(&request(mock.port, "GET", "/__berth/requests?method=POST", &[]));
    let entries = journal["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{journal}");
    let entry = &entries[0];
    assert_eq!(entry["path"], "/pets");
    assert_eq!(entry["query"], "dry=true");
    assert_eq!(entry["body"], r#"{"name":"Rex"}"#);
    assert_eq!(entry["status"], 201);
    assert_eq!(entry["operation"], "createPet");
    assert_eq!(entry["route"], "POST /pets");
    assert!(entry["headers"].as_array().unwrap().iter().any(|h| h[0] == "X-Api-Key" && h[1] == "k"));
    let invalid = json(&request(mock.port, "GET", "/__berth/requests?path=/pets/abc", &[]));
    assert_eq!(invalid["requests"][0]["response"], "invalid");
    assert_eq!(invalid["requests"][0]["errors"][0]["pointer"], "/path/petId");
    assert_eq!(request(mock.port, "DELETE", "/__berth/requests", &[]).status, 204);
    let cleared = json(&request(mock.port, "GET", "/__berth/requests", &[]));
    assert!(cleared["requests"].as_array().unwrap().is_empty(), "cleared (reading the journal is not journaled)");
    let lines = poll_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        (text.lines().count() >= 2).then_some(text)
    })
    .expect("the journal file has every request");
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["method"], "POST");
    assert_eq!(first["body"], r#"{"name":"Rex"}"#);
}

/// Unknown routes go to the upstream; a recording is served back.
fn proxy_and_record_round_trip() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_port = upstream.local_addr().unwrap().port();
    let server = ServerThread::start(upstream, 20, |mut stream| {
        let head = crate::common::http::read_request_head(&mut stream);
        let text = String::from_utf8_lossy(&head);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
        let body = format!("{{\"from\":\"upstream\",\"path\":\"{path}\"}}");
        let status = if path == "/missing" { "404 Not Found" } else { "200 OK" };
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Upstream: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes());
    });
    let dir = ScratchDir::new("mock-record");
    let spec = fixtures().join("validation.yaml").display().to_string();
    let url = format!("http://127.0.0.1:{upstream_port}");
    let fill = ServeChild::mock(&[&spec, "-q", "--proxy", &url]);
    let proxied = request(fill.port, "GET", "/not/in/spec", &[]);
    assert_eq!(proxied.status, 200);
    assert_eq!(proxied.header("X-Upstream"), Some("yes"));
    assert_eq!(json(&proxied)["path"], "/not/in/spec");
    assert_eq!(request(fill.port, "GET", "/pets/1", &[("X-Trace", "t")]).header("X-Upstream"), None, "known: mocked");
    drop(fill);
    let recording = dir.path.join("recorded.toml");
    let recorder = ServeChild::mock(&["--proxy", &url, "--record", recording.to_str().unwrap(), "-q"]);
    let a = request(recorder.port, "GET", "/a", &[]);
    let missing = request(recorder.port, "GET", "/missing", &[]);
    assert_eq!(missing.status, 404);
    drop(recorder);
    assert!(server.accepted() >= 3);
    let replay = ServeChild::mock(&[recording.to_str().unwrap(), "-q"]);
    let again = request(replay.port, "GET", "/a", &[]);
    assert_eq!((again.status, again.body.clone()), (a.status, a.body.clone()));
    assert_eq!(again.header("X-Upstream"), Some("yes"));
    assert_eq!(request(replay.port, "GET", "/missing", &[]).status, 404);
}

/// Hostile and unusual requests: big bodies, chunked ones, 100-continue,
/// foreign Host headers, CORS only when asked.
fn hostile_requests_are_handled() {
    let spec = fixtures().join("validation.yaml").display().to_string();
    let mock = ServeChild::mock(&[&spec, "-q", "--cors", "http://app.localhost:3000"]);
    let port = mock.port;
    let mut stream = connect(port);
    let head = format!("POST /pets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n", 20 << 20);
    stream.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 413);
    let chunked = b"POST /pets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: k\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"nam\r\n9\r\ne\":\"Rex\"}\r\n0\r\n\r\n";
    assert_eq!(send_raw(port, chunked).unwrap().status, 201);
    let bad_chunks = b"POST /pets HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(send_raw(port, bad_chunks).unwrap().status, 400);
    let mut stream = connect(port);
    let body = br#"{"name":"Rex"}"#;
    let head = format!(
        "POST /pets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: k\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body).unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 201);
    // Keep-alive after a body read: the next request on the same connection.
    let mut stream = connect(port);
    let two = format!(
        "POST /pets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: k\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}GET /pets/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trace: t\r\n\r\n",
        body.len(),
        String::from_utf8_lossy(body)
    );
    stream.write_all(two.as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).unwrap().status, 201);
    assert_eq!(read_response(&mut stream, false).unwrap().status, 200);
    let rebinding = send_raw(port, b"GET /pets/1 HTTP/1.1\r\nHost: evil.example\r\nX-Trace: t\r\n\r\n").unwrap();
    assert_eq!(rebinding.status, 421, "DNS rebinding: a foreign Host is refused");
    let allowed = request(port, "GET", "/pets/1", &[("Origin", "http://app.localhost:3000"), ("X-Trace", "t")]);
    assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some("http://app.localhost:3000"));
    let other = request(port, "GET", "/pets/1", &[("Origin", "http://evil.example"), ("X-Trace", "t")]);
    assert_eq!(other.header("Access-Control-Allow-Origin"), None);
    let preflight = request(
        port,
        "OPTIONS",
        "/pets",
        &[("Origin", "http://app.localhost:3000"), ("Access-Control-Request-Method", "POST")],
    );
    assert_eq!(preflight.status, 204);
    drop(mock);
    let plain = ServeChild::mock(&[&spec, "-q"]);
    let response = request(plain.port, "GET", "/pets/1", &[("Origin", "http://app.localhost:3000"), ("X-Trace", "t")]);
    assert!(!response.has_header("Access-Control-Allow-Origin"), "no CORS without --cors");
}

/// Unusable input: exit 2, the file (and line, pointer) named, no panic;
/// a 50 MB spec loads within bounded memory; an alias bomb is refused.
fn bad_specs_are_refused_clearly() {
    let dir = ScratchDir::new("mock-bad");
    dir.write("ref.yaml", "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'missing.yaml#/X'}\n");
    dir.write("cycle.yaml", "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/A'}\ncomponents:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/A'}\n");
    dir.write("syntax.yaml", "openapi: 3.0.0\npaths: [1, 2\n  x: y\n");
    dir.write("other.yaml", "hello: world\n");
    dir.write("old.yaml", "openapi: 4.0.0\npaths: {}\n");
    dir.write("typo.toml", "[[route]]\npath = \"/x\"\nbodyy = \"hi\"\n");
    let mut bomb = String::from("openapi: 3.0.0\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        bomb.push_str(&format!("a{level}: &a{level} [{}]\n", vec![format!("*a{}", level - 1); 10].join(", ")));
    }
    dir.write("bomb.yaml", &bomb);
    for (file, expected) in [
        ("nothere.yaml", "cannot read"),
        ("ref.yaml", "ref.yaml:11: $ref to a missing file 'missing.yaml'"),
        ("cycle.yaml", "cycle of references"),
        ("syntax.yaml", "syntax.yaml:3: YAML syntax error"),
        ("other.yaml", "neither OpenAPI 3.x"),
        ("old.yaml", "OpenAPI 4.0.0 is not supported"),
        ("typo.toml", "typo.toml:3: unknown key 'bodyy'"),
        ("bomb.yaml", "alias bomb"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["mock", file, "--port", "0"])
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
    }
    for (args, expected) in [
        (&["mock", "ref.yaml", "--delay", "soon"][..], "invalid delay"),
        (&["mock", "ref.yaml", "--fail", "200%:500"], "between 0% and 100%"),
        (&["mock", "ref.yaml", "--port", "99999"], "invalid port"),
        (&["mock"], "SPEC"),
        (&["mock", "--proxy", "http://192.0.2.1:80"], "not a loopback address"),
        (&["mock", "--proxy", "https://127.0.0.1:1"], "give an http:// URL"),
    ] {
        let (code, _, stderr) = run_berth(args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // 50 MB (JSON, as the biggest real specs are): 20,000 paths.
    let filler = "x".repeat(2400);
    let mut paths = serde_json::Map::new();
    for n in 0..20_000 {
        let operation = serde_json::json!({"get": {"description": filler,
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema":
                {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}}}}}});
        paths.insert(format!("/items{n}/{{id}}"), operation);
    }
    let big =
        serde_json::json!({"openapi": "3.0.0", "info": {"title": "big", "version": "1"}, "paths": paths}).to_string();
    assert!(big.len() > 50 << 20, "{} bytes", big.len());
    dir.write("big.json", &big);
    let big_path = dir.path.join("big.json").display().to_string();
    let mock = ServeChild::mock(&[&big_path, "-q", "--no-reload"]);
    let response = request(mock.port, "GET", "/items19999/5", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    let status = std::fs::read_to_string(format!("/proc/{}/status", mock.pid())).unwrap();
    let peak_kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    assert!(peak_kib < 1 << 20, "peak memory {peak_kib} KiB for a 50 MB spec");
}

tests![
    oai_examples_answer_every_operation_as_documented,
    multi_file_and_recursive_specs_are_served,
    requests_are_validated_with_pointers,
    prefer_and_seeds_choose_answers,
    delays_and_faults_reach_real_clients,
    hot_reload_never_fails_a_request,
    the_journal_shows_what_clients_sent,
    proxy_and_record_round_trip,
    hostile_requests_are_handled,
    bad_specs_are_refused_clearly,
];
