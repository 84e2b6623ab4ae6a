//! `berth serve`: real HTTP requests over real sockets to a real `berth
//! serve` child on a port the kernel picked. Features first, then hostile
//! requests that must all fail safe, then bad input on the command line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::http::*;
use crate::common::*;

// ---------------------------------------------------------------- features

fn prints_where_it_serves() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    assert!(server.url.ends_with('/'), "{}", server.url);
    let first = server.stderr().lines().next().unwrap_or_default().to_string();
    let real = std::fs::canonicalize(&dir.path).expect("canonical path");
    assert_eq!(first, format!("berth: serving {} on {}", real.display(), server.url));
}

fn index_html_and_content_types() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    let home = get(server.port, "/");
    assert_eq!(home.status, 200);
    assert!(home.text().contains("home page"));
    assert_eq!(home.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(home.header("X-Content-Type-Options"), Some("nosniff"));
    for (path, expected) in [
        ("/hello.txt", "text/plain; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/logo.svg", "image/svg+xml; charset=utf-8"),
        ("/image.png", "image/png"),
        ("/README", "text/plain; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
    ] {
        let response = get(server.port, path);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("Content-Type"), Some(expected), "{path}");
        let on_disk = std::fs::read(dir.path.join(&path[1..])).expect("read fixture");
        assert_eq!(response.body, on_disk, "{path}");
        assert_eq!(response.header("Content-Length"), Some(on_disk.len().to_string().as_str()), "{path}");
    }
}

fn head_has_the_headers_and_no_body() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    let full = get(server.port, "/hello.txt");
    // Read the HEAD response raw: nothing may follow the head.
    let mut stream = connect(server.port);
    let raw = format!("HEAD /hello.txt HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", server.port);
    stream.write_all(raw.as_bytes()).expect("send");
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read until close");
    let text = String::from_utf8(all).expect("ASCII");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "HEAD sent a body: {text:?}");
    assert!(text.contains(&format!("Content-Length: {}\r\n", full.body.len())), "{text}");
    assert!(text.contains(&format!("ETag: {}\r\n", full.header("ETag").expect("ETag"))), "{text}");
}

fn listing_as_html_and_json() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    let page = get(server.port, "/docs/");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("Content-Type"), Some("text/html; charset=utf-8"));
    let html = page.text();
    assert!(html.contains("<a href=\"guide.txt\">guide.txt</a>"), "{html}");
    assert!(html.contains("<a href=\"a%20b.txt\">a b.txt</a>"), "{html}");
    assert!(html.contains("<a href=\"%3Ctag%3E.txt\">&lt;tag&gt;.txt</a>"), "{html}");
    assert!(html.contains("<a href=\"nested/\">nested/</a>"), "{html}");
    assert!(!html.contains("<tag>"), "names are escaped: {html}");
    assert!(!html.contains(".hidden-note"), "hidden names are left out: {html}");
    assert!(page.header("Content-Security-Policy").is_some_and(|v| v.contains("default-src 'none'")));

    let json = get_with(server.port, "/docs/", &[("Accept", "application/json")]);
    assert_eq!(json.status, 200);
    assert_eq!(json.header("Content-Type"), Some("application/json"));
    let value: serde_json::Value = serde_json::from_slice(&json.body).expect("a JSON listing");
    assert_eq!(value["path"], "/docs/");
    let entries = value["entries"].as_array().expect("entries");
    let names: Vec<&str> = entries.iter().map(|e| e["name"].as_str().expect("a name")).collect();
    assert_eq!(names, ["nested", "<tag>.txt", "a b.txt", "guide.txt"], "directories first, then by name");
    let guide = entries.iter().find(|e| e["name"] == "guide.txt").expect("guide.txt");
    assert_eq!(guide["type"], "file");
    assert_eq!(guide["size"], 10);
    assert!(guide["modified"].as_str().is_some_and(|m| m.ends_with('Z')), "{guide}");
    assert_eq!(entries[0]["type"], "dir");

    // A directory without its slash is redirected, query kept.
    let redirect = get(server.port, "/docs?x=1");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("Location"), Some("/docs/?x=1"));

    // The root has index.html, so it is served instead of a listing.
    assert!(get(server.port, "/").text().contains("home page"));
}

fn spa_falls_back_to_index_html() {
    let _serial = serial();
    let dir = sample_site();
    let plain = serve(&dir, &[]);
    assert_eq!(get(plain.port, "/app/route/42").status, 404);
    drop(plain);
    let spa = serve(&dir, &["--spa"]);
    let fallback = get(spa.port, "/app/route/42");
    assert_eq!(fallback.status, 200);
    assert!(fallback.text().contains("home page"));
    assert_eq!(fallback.header("Content-Type"), Some("text/html; charset=utf-8"));
    // Real files are still themselves.
    assert_eq!(get(spa.port, "/hello.txt").text(), "hello, world\n");
}

fn ranges() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    let digits = "0123456789".repeat(100);
    let part = get_with(server.port, "/digits.txt", &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), "0123456789");
    assert_eq!(part.header("Content-Range"), Some("bytes 10-19/1000"));
    assert_eq!(part.header("Content-Length"), Some("10"));
    assert_eq!(part.header("Accept-Ranges"), Some("bytes"));

    let suffix = get_with(server.port, "/digits.txt", &[("Range", "bytes=-5")]);
    assert_eq!((suffix.status, suffix.text().as_str()), (206, "56789"));
    assert_eq!(suffix.header("Content-Range"), Some("bytes 995-999/1000"));
    let open_end = get_with(server.port, "/digits.txt", &[("Range", "bytes=998-")]);
    assert_eq!((open_end.status, open_end.text().as_str()), (206, "89"));
    let clipped = get_with(server.port, "/digits.txt", &[("Range", "bytes=990-5000")]);
    assert_eq!(clipped.header("Content-Range"), Some("bytes 990-999/1000"));

    let past_end = get_with(server.port, "/digits.txt", &[("Range", "bytes=5000-")]);
    assert_eq!(past_end.status, 416);
    assert_eq!(past_end.header("Content-Range"), Some("bytes */1000"));
    assert!(past_end.body.is_empty());

    // Ranges berth does not take are ignored: the whole file.
    for ignored in ["bytes=9-1", "bytes=0-1,5-6", "lines=1-2", "bytes=x-y"] {
        let whole = get_with(server.port, "/digits.txt", &[("Range", ignored)]);
        assert_eq!(whole.status, 200, "{ignored}");
        assert_eq!(whole.text(), digits, "{ignored}");
    }

    // If-Range with a stale validator: the whole file.
    let stale = get_with(server.port, "/digits.txt", &[("Range", "bytes=0-0"), ("If-Range", "\"stale\"")]);
    assert_eq!(stale.status, 200);
    let etag = get(server.port, "/digits.txt").header("ETag").expect("ETag").to_string();
    let current = get_with(server.port, "/digits.txt", &[("Range", "bytes=0-0"), ("If-Range", &etag)]);
    assert_eq!((current.status, current.text().as_str()), (206, "0"));
}

fn ranges_of_a_large_file() {
    let _serial = serial();
    let dir = sample_site();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    dir.write("big.bin", &big);
    let server = serve(&dir, &[]);
    let whole = get(server.port, "/big.bin");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, big, "sent with sendfile, byte for byte");
    let part = get_with(server.port, "/big.bin", &[("Range", "bytes=100000-100099")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &big[100_000..100_100]);
    assert_eq!(part.header("Content-Range"), Some("bytes 100000-100099/300000"));
}

fn etags_and_not_modified() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    let first = get(server.port, "/hello.txt");
    let etag = first.header("ETag").expect("an ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let last_modified = first.header("Last-Modified").expect("Last-Modified").to_string();
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");

    let same = get_with(server.port, "/hello.txt", &[("If-None-Match", &etag)]);
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    assert_eq!(same.header("ETag"), Some(etag.as_str()));
    let listed = get_with(server.port, "/hello.txt", &[("If-None-Match", &format!("\"other\", W/{etag}"))]);
    assert_eq!(listed.status, 304, "weak comparison, any tag in the list");
    let other = get_with(server.port, "/hello.txt", &[("If-None-Match", "\"other\"")]);
    assert_eq!(other.status, 200);

    let since = get_with(server.port, "/hello.txt", &[("If-Modified-Since", &last_modified)]);
    assert_eq!(since.status, 304);
    let long_ago = get_with(server.port, "/hello.txt", &[("If-Modified-Since", "Thu, 01 Jan 1998 00:00:00 GMT")]);
    assert_eq!(long_ago.status, 200);
    // If-None-Match wins over If-Modified-Since.
    let both =
        get_with(server.port, "/hello.txt", &[("If-None-Match", "\"other\""), ("If-Modified-Since", &last_modified)]);
    assert_eq!(both.status, 200);

    // An edit is served at once, with a new ETag.
    std::fs::write(dir.path.join("hello.txt"), "changed content\n").expect("edit");
    let edited = get_with(server.port, "/hello.txt", &[("If-None-Match", &etag)]);
    assert_eq!(edited.status, 200);
    assert_eq!(edited.text(), "changed content\n");
    assert_ne!(edited.header("ETag"), Some(etag.as_str()));
    // And a replacement by rename (as editors save).
    dir.write("hello.tmp", "renamed into place\n");
    std::fs::rename(dir.path.join("hello.tmp"), dir.path.join("hello.txt")).expect("rename");
    assert_eq!(get(server.port, "/hello.txt").text(), "renamed into place\n");
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).expect("valid gzip");
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096).read_to_end(&mut out).expect("valid brotli");
    out
}

fn gzip_and_brotli() {
    let _serial = serial();
    let dir = sample_site();
    let big_css = "a { color: blue; }\n".repeat(10_000);
    dir.write("big.css", &big_css);
    let server = serve(&dir, &[]);
    let css = std::fs::read(dir.path.join("style.css")).expect("fixture");

    let gz = get_with(server.port, "/style.css", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gz.header("Vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < css.len());
    assert_eq!(gunzip(&gz.body), css);

    let br = get_with(server.port, "/style.css", &[("Accept-Encoding", "gzip, deflate, br")]);
    assert_eq!(br.header("Content-Encoding"), Some("br"));
    assert_eq!(unbrotli(&br.body), css);
    assert_ne!(br.header("ETag"), gz.header("ETag"), "each coding has its own ETag");
    let again = get_with(
        server.port,
        "/style.css",
        &[("Accept-Encoding", "br"), ("If-None-Match", br.header("ETag").unwrap())],
    );
    assert_eq!(again.status, 304);

    let plain = get(server.port, "/style.css");
    assert!(!plain.has_header("Content-Encoding"));
    assert_eq!(plain.body, css);
    assert_eq!(plain.header("Vary"), Some("Accept-Encoding"));

    // Refused with q=0, not worth it for tiny files, never for PNG.
    let refused = get_with(server.port, "/style.css", &[("Accept-Encoding", "gzip;q=0")]);
    assert!(!refused.has_header("Content-Encoding"));
    assert!(!get_with(server.port, "/hello.txt", &[("Accept-Encoding", "gzip")]).has_header("Content-Encoding"));
    assert!(!get_with(server.port, "/image.png", &[("Accept-Encoding", "gzip, br")]).has_header("Content-Encoding"));
    // A range is served from the file as it is.
    let range = get_with(server.port, "/style.css", &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-3")]);
    assert_eq!(range.status, 206);
    assert!(!range.has_header("Content-Encoding"));
    assert_eq!(range.text(), "body");

    // A file above the in-memory size: compressed too.
    let big = get_with(server.port, "/big.css", &[("Accept-Encoding", "br")]);
    assert_eq!(big.header("Content-Encoding"), Some("br"));
    assert_eq!(unbrotli(&big.body), big_css.as_bytes());
    let big_gz = get_with(server.port, "/big.css", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gunzip(&big_gz.body), big_css.as_bytes());

    // Listings too.
    let listing = get_with(server.port, "/docs/", &[("Accept-Encoding", "gzip")]);
    assert_eq!(listing.header("Content-Encoding"), Some("gzip"));
    assert!(String::from_utf8(gunzip(&listing.body)).expect("UTF-8").contains("guide.txt"));
}

fn a_log_line_per_request_unless_quiet() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &[]);
    assert_eq!(get(server.port, "/hello.txt").status, 200);
    assert_eq!(get(server.port, "/missing.txt").status, 404);
    // A line is written once its exchange is over (after the response is
    // sent, with the time that took, as nginx logs), and the two requests
    // may be served by different workers: lines come in the order the
    // exchanges end, which nothing promises to be the order they began.
    // So each line is waited for, never inferred from another.
    for needle in ["GET /hello.txt 200", "GET /missing.txt 404"] {
        assert!(server.wait_for_stderr(needle, Duration::from_secs(5)), "no '{needle}':\n{}", server.stderr());
    }
    let log = server.stderr();
    let line = log.lines().find(|l| l.contains("GET /hello.txt 200")).unwrap_or_else(|| panic!("no log line:\n{log}"));
    assert!(line.contains("127.0.0.1:"), "the client's address: {line}");
    assert!(line.ends_with("ms"), "the time taken: {line}");
    drop(server);

    let quiet = serve(&dir, &["--quiet"]);
    assert_eq!(get(quiet.port, "/hello.txt").status, 200);
    std::thread::sleep(Duration::from_millis(200));
    let log = quiet.stderr();
    // (As root, berth serve also warns that it serves as root.)
    let lines = log.lines().filter(|l| !l.starts_with("berth: warning: serving as root")).count();
    assert_eq!(lines, 1, "only the serving line:\n{log}");
}

fn keep_alive_and_pipelining() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--quiet"]);
    let mut stream = connect(server.port);
    let one = format!("GET /hello.txt HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", server.port);
    for _ in 0..3 {
        stream.write_all(one.as_bytes()).expect("send");
        let response = read_response(&mut stream, false).expect("a response on the same connection");
        assert_eq!(response.text(), "hello, world\n");
    }
    // Two requests in one write: two responses, in order.
    let two = "GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /digits.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-2\r\n\r\n";
    stream.write_all(two.as_bytes()).expect("send");
    assert_eq!(read_response(&mut stream, false).expect("first").text(), "hello, world\n");
    assert_eq!(read_response(&mut stream, false).expect("second").text(), "012");
    // HTTP/1.0 closes unless asked to keep alive.
    let mut old = connect(server.port);
    old.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n").expect("send");
    assert_eq!(read_response(&mut old, false).expect("a response").status, 200);
    assert!(read_response(&mut old, false).is_none(), "closed after an HTTP/1.0 response");
}

fn methods_and_bodies() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--quiet"]);
    let post = request(server.port, "POST", "/hello.txt", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD, OPTIONS"));
    let delete = request(server.port, "DELETE", "/hello.txt", &[]);
    assert_eq!(delete.status, 405);
    assert!(dir.path.join("hello.txt").exists());
    // A request with a body is answered and the connection closed, so the
    // body is never read as a request.
    let mut stream = connect(server.port);
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 44\r\n\r\nGET /.env HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let first = read_response(&mut stream, false).expect("a response");
    assert_eq!(first.header("Connection"), Some("close"));
    assert!(read_response(&mut stream, false).is_none(), "the smuggled request is not answered");
}

fn basic_auth() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--auth", "alice:s3cret"]);
    let none = get(server.port, "/hello.txt");
    assert_eq!(none.status, 401);
    assert_eq!(none.header("WWW-Authenticate"), Some("Basic realm=\"berth\", charset=\"UTF-8\""));
    assert!(!none.text().contains("hello, world"));
    // alice:wrong, alic:s3cret
    for wrong in ["Basic YWxpY2U6d3Jvbmc=", "Basic YWxpYzpzM2NyZXQ=", "Bearer YWxpY2U6czNjcmV0", "Basic !!!"] {
        assert_eq!(get_with(server.port, "/hello.txt", &[("Authorization", wrong)]).status, 401, "{wrong}");
    }
    let right = get_with(server.port, "/hello.txt", &[("Authorization", "Basic YWxpY2U6czNjcmV0")]);
    assert_eq!(right.status, 200);
    assert_eq!(right.text(), "hello, world\n");
    // Listings too.
    assert_eq!(get(server.port, "/docs/").status, 401);
}

fn token_auth() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--token"]);
    let log = server.stderr();
    let token = &token_from_log(&log);
    assert!(token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert_eq!(log.matches(token).count(), 2, "printed once (in the URL and the header hint):\n{log}");

    let none = get(server.port, "/hello.txt");
    assert_eq!(none.status, 401);
    assert!(none.header("WWW-Authenticate").is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(get_with(server.port, "/hello.txt", &[("Authorization", "Bearer wrong")]).status, 401);
    assert_eq!(get(server.port, "/hello.txt?token=wrong").status, 401);

    let bearer = get_with(server.port, "/hello.txt", &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(bearer.status, 200);
    assert!(!bearer.has_header("Set-Cookie"));

    let query = get(server.port, &format!("/hello.txt?token={token}"));
    assert_eq!(query.status, 200);
    let cookie = query.header("Set-Cookie").expect("a cookie for the browser").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value");
    assert_eq!(pair, format!("berth_token_{}={token}", server.port));
    let with_cookie = get_with(server.port, "/docs/", &[("Cookie", &format!("other=1; {pair}"))]);
    assert_eq!(with_cookie.status, 200);

    // The log never shows the token.
    assert!(server.wait_for_stderr("token=***", Duration::from_secs(5)));
    assert_eq!(server.stderr().matches(token).count(), 2, "{}", server.stderr());
}

fn cors_only_when_asked() {
    let _serial = serial();
    let dir = sample_site();
    let plain = serve(&dir, &["--quiet"]);
    let response = get_with(plain.port, "/hello.txt", &[("Origin", "http://localhost:3000")]);
    assert_eq!(response.status, 200);
    for header in ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"] {
        assert!(!response.has_header(header), "no {header} without --cors");
    }
    let preflight = request(
        plain.port,
        "OPTIONS",
        "/hello.txt",
        &[("Origin", "http://localhost:3000"), ("Access-Control-Request-Method", "GET")],
    );
    assert!(!preflight.has_header("Access-Control-Allow-Origin"));
    drop(plain);

    let cors = serve(&dir, &["--quiet", "--cors", "http://localhost:3000"]);
    let allowed = get_with(cors.port, "/hello.txt", &[("Origin", "http://localhost:3000")]);
    assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some("http://localhost:3000"));
    assert!(allowed.headers.iter().any(|(n, v)| n == "Vary" && v == "Origin"), "{:?}", allowed.headers);
    for other in ["http://localhost:3001", "http://evil.example", "null", "http://localhost:3000.evil.example"] {
        let refused = get_with(cors.port, "/hello.txt", &[("Origin", other)]);
        assert_eq!(refused.status, 200);
        assert!(!refused.has_header("Access-Control-Allow-Origin"), "{other}");
        assert!(refused.headers.iter().any(|(n, v)| n == "Vary" && v == "Origin"), "{other}");
    }
    let preflight = request(
        cors.port,
        "OPTIONS",
        "/hello.txt",
        &[
            ("Origin", "http://localhost:3000"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some("http://localhost:3000"));
    assert_eq!(preflight.header("Access-Control-Allow-Methods"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(preflight.header("Access-Control-Allow-Headers"), Some("range"));
}

fn hidden_files_only_with_hidden() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--quiet"]);
    for path in ["/.env", "/docs/.hidden-note", "/%2eenv", "/.git/config"] {
        let response = get(server.port, path);
        assert_eq!(response.status, 404, "{path}");
        assert!(!response.text().contains("hidden"), "{path}");
    }
    drop(server);
    let server = serve(&dir, &["--quiet", "--hidden"]);
    assert_eq!(get(server.port, "/.env").text(), "SECRET_TOKEN=hidden-value\n");
    let listing = get_with(server.port, "/docs/", &[("Accept", "application/json")]).text();
    assert!(listing.contains(".hidden-note"), "{listing}");
}

// ---------------------------------------------------------------- hostile requests

/// A served directory inside a parent that holds a secret next to it.
struct Fortress {
    parent: ScratchDir,
    root: std::path::PathBuf,
}

const SECRET: &str = "TOP-SECRET-0451";

fn fortress() -> Fortress {
    let parent = ScratchDir::new("fortress");
    parent.write("secret.txt", SECRET);
    parent.write("outside/secret.txt", SECRET);
    parent.write("www/index.html", "inside\n");
    parent.write("www/public.txt", "public\n");
    let root = parent.path.join("www");
    std::os::unix::fs::symlink(parent.path.join("secret.txt"), root.join("escape.txt")).expect("symlink");
    std::os::unix::fs::symlink(parent.path.join("outside"), root.join("escape-dir")).expect("symlink");
    std::os::unix::fs::symlink("public.txt", root.join("inside-link.txt")).expect("symlink");
    std::os::unix::fs::symlink(root.join("public.txt"), root.join("absolute-inside.txt")).expect("symlink");
    Fortress { parent, root }
}

fn serve_fortress(fortress: &Fortress, args: &[&str]) -> ServeChild {
    let mut all = vec![fortress.root.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    ServeChild::start(&all, &[])
}

/// Sends a raw request line; asserts the answer is a refusal (or a closed
/// connection) and never the secret.
fn assert_refused(port: u16, target: &[u8]) {
    let mut raw = b"GET ".to_vec();
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let shown = String::from_utf8_lossy(target);
    if let Some(response) = send_raw(port, &raw) {
        assert!(matches!(response.status, 400 | 403 | 404), "{shown}: status {}", response.status);
        assert!(!response.text().contains(SECRET), "{shown} leaked the secret");
    }
}

fn traversal_in_every_encoding() {
    let _serial = serial();
    let fortress = fortress();
    let server = serve_fortress(&fortress, &["--quiet"]);
    assert_eq!(get(server.port, "/public.txt").text(), "public\n");
    for target in [
        &b"/../secret.txt"[..],
        b"/../../../../../../etc/passwd",
        b"/%2e%2e/secret.txt",
        b"/%2E%2E/secret.txt",
        b"/%2e%2e%2fsecret.txt",
        b"/..%2fsecret.txt",
        b"/..%2Fsecret.txt",
        b"/.%2e/secret.txt",
        b"/public.txt/../../secret.txt",
        b"/%c0%ae%c0%ae/secret.txt",
        b"/%c0%ae%c0%ae%c0%afsecret.txt",
        b"/%e0%80%ae%e0%80%ae/secret.txt",
        b"/..\\secret.txt",
        b"/..%5csecret.txt",
        b"/%5c..%5csecret.txt",
        b"/%252e%252e/secret.txt",
        b"/%252e%252e%252fsecret.txt",
        b"http://localhost/../secret.txt",
        b"http://localhost/public.txt",
        b"//localhost/../secret.txt",
        b"*",
        b"/public.txt%00.html",
        b"/%00",
        b"/..%00/secret.txt",
        b"/%",
        b"/%zz",
        b"/\xc0\xae\xc0\xae/secret.txt",
        b"/.././secret.txt",
        b"/./../secret.txt",
        b"/escape.txt",
        b"/escape-dir/secret.txt",
        b"/escape-dir/",
        b"/escape-dir",
    ] {
        assert_refused(server.port, target);
    }
    // A raw NUL or control byte in the request line: malformed (400 or closed).
    for raw in [
        &b"GET /pub\0lic.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        b"GET /pub\x01lic.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ] {
        if let Some(response) = send_raw(server.port, raw) {
            assert_eq!(response.status, 400);
        }
    }
    // Still serving. Without --follow-symlinks no link is followed, not
    // even one that stays inside the root.
    assert_eq!(get(server.port, "/inside-link.txt").status, 403);
    assert_eq!(get(server.port, "/absolute-inside.txt").status, 403);
    assert_eq!(get(server.port, "/").text(), "inside\n");
}

fn symlinks_only_with_follow_symlinks_and_only_inside_dir() {
    let _serial = serial();
    let fortress = fortress();
    let server = serve_fortress(&fortress, &["--quiet"]);
    for path in ["/escape.txt", "/escape-dir/secret.txt", "/escape-dir/", "/inside-link.txt", "/absolute-inside.txt"] {
        let refused = get(server.port, path);
        assert_eq!(refused.status, 403, "{path}");
        assert!(refused.text().contains("symbolic link"), "{path}: {}", refused.text());
    }
    // Repeated requests (the cache) do not change the answer.
    assert_eq!(get(server.port, "/escape.txt").status, 403);
    drop(server);

    let follow = serve_fortress(&fortress, &["--quiet", "--follow-symlinks"]);
    // Links that stay inside DIR work, relative or absolute.
    assert_eq!(get(follow.port, "/inside-link.txt").text(), "public\n");
    assert_eq!(get(follow.port, "/absolute-inside.txt").text(), "public\n");
    // Links that lead out of DIR are refused even so.
    for path in ["/escape.txt", "/escape-dir/secret.txt", "/escape-dir/", "/escape-dir"] {
        let refused = get(follow.port, path);
        assert_eq!(refused.status, 403, "{path}");
        assert!(refused.text().contains("outside"), "{path}: {}", refused.text());
        assert!(!refused.text().contains(SECRET), "{path}");
    }
    // A link that was inside and is re-pointed outside is refused at once.
    std::fs::write(fortress.root.join("moving.txt"), "inside for now\n").expect("write");
    std::os::unix::fs::symlink("moving.txt", fortress.root.join("moving-link.txt")).expect("symlink");
    assert_eq!(get(follow.port, "/moving-link.txt").text(), "inside for now\n");
    std::fs::remove_file(fortress.root.join("moving-link.txt")).expect("unlink");
    std::os::unix::fs::symlink(fortress.parent.path.join("secret.txt"), fortress.root.join("moving-link.txt"))
        .expect("symlink");
    let moved = get(follow.port, "/moving-link.txt");
    assert_eq!(moved.status, 403);
    assert!(!moved.text().contains(SECRET));
    // Still no '..'.
    assert_refused(follow.port, b"/../secret.txt");
}

fn foreign_host_headers() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--quiet", "--allow-host", "myhost.lan"]);
    let host = |host: &str| {
        let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        send_raw(server.port, raw.as_bytes()).expect("a response")
    };
    for foreign in [
        "evil.example",
        "evil.example:62893",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "0.0.0.0",
        "203.0.113.3",
    ] {
        let response = host(foreign);
        assert_eq!(response.status, 421, "{foreign}");
        assert!(response.text().contains("DNS rebinding"), "{foreign}: explains why");
        assert!(!response.text().contains("hello, world"));
    }
    for allowed in [
        "localhost",
        "LOCALHOST:1234",
        "app.localhost",
        "127.0.0.1",
        "127.1.2.3:80",
        "[::1]",
        "[::1]:8080",
        "myhost.lan",
        "MyHost.LAN:8080",
    ] {
        assert_eq!(host(allowed).status, 200, "{allowed}");
    }
    // HTTP/1.1 without Host, or with two: 400.
    let missing = send_raw(server.port, b"GET /hello.txt HTTP/1.1\r\nConnection: close\r\n\r\n").expect("a response");
    assert_eq!(missing.status, 400);
    let two = send_raw(server.port, b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n")
        .expect("a response");
    assert_eq!(two.status, 400);
    // HTTP/1.0 may omit it.
    let old = send_raw(server.port, b"GET /hello.txt HTTP/1.0\r\n\r\n").expect("a response");
    assert_eq!(old.status, 200);
}

fn oversized_heads_are_refused() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--quiet"]);
    let huge = format!("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-Filler: {}\r\n\r\n", "a".repeat(64 * 1024));
    let mut stream = connect(server.port);
    // The server may stop reading (and close) before all of it is sent.
    let _ = stream.write_all(huge.as_bytes());
    // A 431, or a closed connection: both safe.
    if let Some(response) = read_response(&mut stream, false) {
        assert_eq!(response.status, 431);
    }
    let many: String = (0..200).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n{many}\r\n");
    if let Some(response) = send_raw(server.port, raw.as_bytes()) {
        assert_eq!(response.status, 431);
    }
    assert_eq!(get(server.port, "/hello.txt").status, 200, "still serving");
}

fn slow_heads_and_idle_connections_time_out() {
    let _serial = serial();
    let dir = sample_site();
    let env = [("BERTH_SERVE_HEADER_TIMEOUT_MS", "500"), ("BERTH_SERVE_IDLE_TIMEOUT_MS", "400")];
    let server = serve_env(&dir, &["--quiet"], &env);

    // A client trickling its head a byte at a time is cut off.
    let mut slow = connect(server.port);
    slow.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let started = Instant::now();
    let head = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: yes\r\n";
    let mut closed_after = None;
    let mut answer = Vec::new();
    for byte in head.iter().cycle().take(100) {
        if slow.write_all(&[*byte]).is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let closed_after = closed_after.expect("the trickling client was never cut off");
    assert!(closed_after < Duration::from_secs(3), "cut off after {closed_after:?}");
    if !answer.is_empty() {
        assert!(answer.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
    }

    // A kept-alive connection is closed after the idle timeout.
    let mut idle = connect(server.port);
    idle.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
    assert_eq!(read_response(&mut idle, false).expect("a response").status, 200);
    let waited = Instant::now();
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest); // returns at EOF, or after IO_TIMEOUT
    assert!(rest.is_empty());
    assert!(waited.elapsed() < Duration::from_secs(3), "idle connection open for {:?}", waited.elapsed());

    // A connection that never sends anything is closed too.
    let mut silent = connect(server.port);
    let waited = Instant::now();
    let _ = silent.read_to_end(&mut rest);
    assert!(waited.elapsed() < Duration::from_secs(3), "silent connection open for {:?}", waited.elapsed());
}

fn a_flood_of_idle_connections_does_not_lock_out_requests() {
    let _serial = serial();
    let dir = sample_site();
    let server = serve(&dir, &["--quiet", "--max-connections", "16"]);
    let idle: Vec<TcpStream> = (0..64).map(|_| connect(server.port)).collect();
    // Let the server accept them all.
    std::thread::sleep(Duration::from_millis(300));
    for round in 0..5 {
        let started = Instant::now();
        let response = get(server.port, "/hello.txt");
        assert_eq!(response.status, 200, "round {round}");
        assert!(started.elapsed() < Duration::from_secs(2), "round {round} took {:?}", started.elapsed());
    }
    // The oldest idle connections were closed to make room.
    let mut closed = 0;
    for mut stream in idle {
        stream.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert!(closed >= 48, "only {closed} of 64 idle connections were closed at a cap of 16");
}

fn stalled_readers_get_503_for_others_then_time_out() {
    let _serial = serial();
    let dir = sample_site();
    // Sparse: large to send, nothing on disk.
    let big = std::fs::File::create(dir.path.join("huge.bin")).expect("create");
    big.set_len(256 << 20).expect("set_len");
    let env = [("BERTH_SERVE_SEND_TIMEOUT_MS", "1000")];
    let server = serve_env(&dir, &["--quiet", "--max-connections", "2"], &env);
    // Two clients ask for the huge file and never read: both connections
    // stay busy writing once the socket buffers are full.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(server.port);
        stream.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
        stalled.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    let busy = send_raw(server.port, b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("an answer");
    assert_eq!(busy.status, 503, "every connection is busy writing");
    assert!(busy.text().contains("too many connections"));
    // The send timeout frees them; then requests are served again.
    let served = poll_until(Duration::from_secs(5), || {
        let response = send_raw(server.port, b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
        (response.status == 200).then_some(response)
    });
    assert!(served.is_some(), "stalled connections were never timed out");
    drop(stalled);
}

// ---------------------------------------------------------------- bad input

/// Exit `code`, one line on stderr starting with "berth:", no panic.
fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let (status, stdout, stderr) = run_berth(args, &[]);
    assert!(!stderr.contains("panicked"), "berth {args:?} panicked: {stderr}");
    assert_eq!(status, code, "berth {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "berth {args:?}: one line:\n{stderr}");
    assert!(stderr.starts_with("berth: "), "{stderr}");
    assert!(stderr.contains(needle), "berth {args:?}: expected {needle:?} in {stderr}");
}

fn bad_input_is_one_line_and_exit_2() {
    let _serial = serial();
    let dir = sample_site();
    let root = dir.path.to_str().expect("UTF-8");
    let missing = dir.path.join("no-such-dir");
    assert_fails(&["serve", missing.to_str().unwrap(), "--port", "0"], 2, "no such directory");
    let file = dir.path.join("hello.txt");
    assert_fails(&["serve", file.to_str().unwrap(), "--port", "0"], 2, "not a directory");
    assert_fails(&["serve", root, "--port", "0", "--auth", "alice"], 2, "USER:PASSWORD");
    assert_fails(&["serve", root, "--port", "0", "--auth", ":pw"], 2, "USER:PASSWORD");
    assert_fails(&["serve", root, "--port", "0", "--cors", "*"], 2, "exact origin");
    assert_fails(&["serve", root, "--port", "0", "--cors", "localhost:3000"], 2, "origin");
    assert_fails(&["serve", root, "--port", "0", "--max-connections", "0"], 2, "--max-connections");
    assert_fails(&["serve", root, "--port", "0", "--bind", "192.0.2.1"], 2, "--expose");
    assert_fails(&["serve", root, "--port", "0", "--auth", "a:b", "--token"], 2, "cannot be used");
    assert_fails(&["serve", root, "--port", "70000"], 2, "70000");
    let (status, _, stderr) = run_berth(&["serve", root, "--port", "0"], &[("BERTH_SERVE_HEADER_TIMEOUT_MS", "soon")]);
    assert_eq!(status, 2, "{stderr}");
}

fn a_taken_port_names_its_holder() {
    let _serial = serial();
    let dir = sample_site();
    let (listener, port) = listener_v4();
    let (status, _, stderr) = run_berth(&["serve", dir.path.to_str().unwrap(), "--port", &port.to_string()], &[]);
    drop(listener);
    assert_eq!(status, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("port {port} on 127.0.0.1 is in use by")), "{stderr}");
    assert!(stderr.contains("--port"), "suggests another port: {stderr}");
}

fn an_unreadable_dir_is_refused() {
    let _serial = serial();
    let dir = ScratchDir::new("unreadable");
    let locked = dir.path.join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    // ScratchDir is created 0755 under the temp dir, so another user can reach `locked`.
    let out = if is_root() {
        run_berth_with(&["serve", locked.to_str().unwrap(), "--port", "0"], &[], Some((65534, 65534)))
    } else {
        run_berth_with(&["serve", locked.to_str().unwrap(), "--port", "0"], &[], None)
    };
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
}

tests![
    prints_where_it_serves,
    index_html_and_content_types,
    head_has_the_headers_and_no_body,
    listing_as_html_and_json,
    spa_falls_back_to_index_html,
    ranges,
    ranges_of_a_large_file,
    etags_and_not_modified,
    gzip_and_brotli,
    a_log_line_per_request_unless_quiet,
    keep_alive_and_pipelining,
    methods_and_bodies,
    basic_auth,
    token_auth,
    cors_only_when_asked,
    hidden_files_only_with_hidden,
    traversal_in_every_encoding,
    symlinks_only_with_follow_symlinks_and_only_inside_dir,
    foreign_host_headers,
    oversized_heads_are_refused,
    slow_heads_and_idle_connections_time_out,
    a_flood_of_idle_connections_does_not_lock_out_requests,
    stalled_readers_get_503_for_others_then_time_out,
    bad_input_is_one_line_and_exit_2,
    a_taken_port_names_its_holder,
    an_unreadable_dir_is_refused,
];
