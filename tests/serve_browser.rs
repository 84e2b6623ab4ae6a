//! `berth serve` seen by a real browser: headless Chromium loads a page
//! (its script must run, which needs the right Content-Type under nosniff),
//! a directory listing, and a token-protected page (the cookie set by
//! ?token= must carry the page's own requests). The DOM Chromium dumps is
//! checked. Without /usr/bin/chromium the tests say so and pass.

use crate::common::*;

fn site() -> ScratchDir {
    let dir = ScratchDir::new("browser");
    dir.write(
        "index.html",
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>berth test page</title>\
         <link rel=\"stylesheet\" href=\"style.css\"></head>\
         <body><h1 id=\"title\">Hello from berth</h1><script src=\"app.js\"></script></body></html>\n",
    );
    dir.write("style.css", "h1 { color: rgb(1, 2, 3); }\n");
    dir.write(
        "app.js",
        "const p = document.createElement('p');\n\
         p.id = 'js';\n\
         p.textContent = 'script ran: ' + (6 * 7) + ', title colour ' + getComputedStyle(document.getElementById('title')).color;\n\
         document.body.appendChild(p);\n",
    );
    dir.write("files/report.txt", "a report\n");
    dir.write("files/with space.txt", "spaced\n");
    dir.write("files/sub/inner.txt", "inner\n");
    dir.write("files/.secret", "hidden\n");
    dir
}

fn a_page_with_its_script_and_style() {
    let _serial = serial();
    require_chromium();
    let dir = site();
    let server = serve(&dir, &[]);
    let dom = dump_dom(&server.url, &[]);
    assert!(dom.contains("<h1 id=\"title\">Hello from berth</h1>"), "{dom}");
    assert!(
        dom.contains("<p id=\"js\">script ran: 42, title colour rgb(1, 2, 3)</p>"),
        "the script ran and the stylesheet applied:\n{dom}"
    );
    let log = server.stderr();
    for path in ["GET / 200", "GET /app.js 200", "GET /style.css 200"] {
        assert!(log.contains(path), "{path} in the log:\n{log}");
    }
}

fn a_directory_listing() {
    let _serial = serial();
    require_chromium();
    let dir = site();
    let server = serve(&dir, &["--quiet"]);
    let dom = dump_dom(&format!("{}files/", server.url), &[]);
    assert!(dom.contains("<title>Index of /files/</title>"), "{dom}");
    assert!(dom.contains("<table id=\"listing\">"), "{dom}");
    assert!(dom.contains("<a href=\"sub/\">sub/</a>"), "{dom}");
    assert!(dom.contains("<a href=\"report.txt\">report.txt</a>"), "{dom}");
    assert!(dom.contains("<a href=\"with%20space.txt\">with space.txt</a>"), "{dom}");
    assert!(dom.contains("<a href=\"../\">../</a>"), "{dom}");
    assert!(!dom.contains(".secret"), "hidden files are not listed:\n{dom}");
    // Directories come first.
    let sub = dom.find("sub/</a>").expect("sub");
    let report = dom.find("report.txt</a>").expect("report");
    assert!(sub < report, "{dom}");
}

fn a_token_link_lets_the_browser_in() {
    let _serial = serial();
    require_chromium();
    let dir = site();
    let server = serve(&dir, &["--token"]);
    let log = server.stderr();
    let link = log
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("?token=")))
        .unwrap_or_else(|| panic!("no token link:\n{log}"))
        .to_string();
    // Without the token: refused.
    let refused = dump_dom(&server.url, &[]);
    assert!(refused.contains("needs its token"), "{refused}");
    assert!(!refused.contains("Hello from berth"), "{refused}");
    // With it: the page, and its script (fetched with the cookie).
    let dom = dump_dom(&link, &[]);
    assert!(dom.contains("<p id=\"js\">script ran: 42"), "{dom}");
    let log = server.stderr();
    assert!(log.contains("GET /app.js 200"), "{log}");
    assert!(
        !log.lines().skip(2).any(|l| l.contains(link.rsplit('=').next().unwrap_or("?"))),
        "token in the log:\n{log}"
    );
}

tests![a_page_with_its_script_and_style, a_directory_listing, a_token_link_lets_the_browser_in,];
