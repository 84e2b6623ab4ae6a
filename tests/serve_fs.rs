//! `berth serve` against a hostile file system: a local user who can write
//! into the served directory swaps directories for links, files for FIFOs,
//! rewrites files behind the cache's back, and asks for more files than
//! inotify should watch. Real sockets, a real `berth serve` child, real
//! renames racing real requests.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::http::*;
use crate::common::*;

/// What the file outside the served directory holds; never to be served.
const CANARY: &str = "CANARY-OUTSIDE-THE-ROOT-7f3a";
/// What the file of the same name inside holds (same length as CANARY, so
/// a size check cannot tell them apart).
const INSIDE: &str = "inside-the-root-is-fine-0000";

// ---------------------------------------------------------------- helpers

/// A kept-alive connection sending one GET at a time.
struct Client {
    reader: BufReader<TcpStream>,
    port: u16,
}

impl Client {
    fn new(port: u16) -> Client {
        Client { reader: BufReader::new(connect(port)), port }
    }

    fn get(&mut self, path: &str) -> Response {
        self.get_with(path, &[])
    }

    fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", self.port);
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        self.reader.get_mut().write_all(raw.as_bytes()).expect("send a request");
        read_response(&mut self.reader, false).unwrap_or_else(|| panic!("the server closed on GET {path}"))
    }
}

/// Exchanges the names `a` and `b` in `dir` in one atomic rename
/// (renameat2 RENAME_EXCHANGE), whatever each of them is.
fn exchange(dir: &Path, a: &str, b: &str) {
    use std::os::unix::ffi::OsStrExt;
    let path = |name: &str| std::ffi::CString::new(dir.join(name).as_os_str().as_bytes()).expect("a path");
    let (a, b) = (path(a), path(b));
    // SAFETY: renameat2 of two NUL-terminated absolute paths.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    assert_eq!(rc, 0, "RENAME_EXCHANGE in {}: {}", dir.display(), std::io::Error::last_os_error());
}

/// A thread exchanging two names as fast as it can until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Swapper {
    fn start(dir: &Path, a: &'static str, b: &'static str) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, swaps, dir) = (stop.clone(), swaps.clone(), dir.to_path_buf());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    exchange(&dir, a, b);
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Swapper { stop, swaps, thread: Some(thread) }
    }

    fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path");
    // SAFETY: mkfifo of a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).map(|m| m.file_type().is_symlink()).unwrap_or(false)
}

/// The inotify watches process `pid` holds: the "inotify wd:..." lines of
/// the fdinfo of each of its inotify descriptors.
fn inotify_watches(pid: u32) -> usize {
    let mut count = 0;
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the server's descriptors").flatten() {
        let is_inotify = std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == "anon_inode:inotify");
        if is_inotify {
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()))
                .expect("fdinfo");
            count += info.lines().filter(|line| line.starts_with("inotify")).count();
        }
    }
    count
}

/// Runs `configure` on the command with a seccomp filter that makes
/// openat2(2) fail with `errno`, as some container runtimes do, so that
/// berth has to resolve paths without it.
fn without_openat2(command: &mut Command, errno: u32) {
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xc000_003e;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xc000_00b7;
    let statement = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let filter = [
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4), // seccomp_data.arch
        jump(AUDIT_ARCH, 0, 3),
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0), // seccomp_data.nr
        jump(libc::SYS_openat2 as u32, 0, 1),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | errno),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the hook makes two prctl calls (async-signal-safe) on memory
    // the closure owns.
    unsafe {
        command.pre_exec(move || {
            let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program as *const _) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `berth serve DIR ARGS` (with openat2 forbidden when `errno` is given).
fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)], errno: Option<u32>) -> ServeChild {
    serve_with(dir, args, env, errno, |_| {})
}

/// As [`serve`], with `configure` given the command last (more `pre_exec`
/// hooks: they run in order, after the seccomp filter's).
fn serve_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    errno: Option<u32>,
    configure: impl FnOnce(&mut Command),
) -> ServeChild {
    let mut all = vec![dir.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    let server = ServeChild::start_with(&all, env, |command| {
        if let Some(errno) = errno {
            without_openat2(command, errno);
        }
        configure(command);
    });
    if errno.is_some() {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
        assert!(status.lines().any(|l| l == "Seccomp:\t2"), "the filter is not in place:\n{status}");
    }
    server
}

/// A served directory `www` whose `sub` holds secret.txt, and beside it
/// `sub.alt`, a link to a directory outside `www` holding a secret.txt of
/// its own (the canary). Exchanging the two names turns `sub` into the link.
fn swap_site() -> (ScratchDir, PathBuf) {
    let scratch = ScratchDir::new("fs-swap");
    scratch.write("outside/secret.txt", CANARY);
    scratch.write("outside/big.bin", CANARY.repeat(4096));
    scratch.write("www/sub/secret.txt", INSIDE);
    scratch.write("www/sub/big.bin", INSIDE.repeat(4096));
    let www = scratch.path.join("www");
    std::os::unix::fs::symlink(scratch.path.join("outside"), www.join("sub.alt")).expect("symlink");
    (scratch, www)
}

/// While a thread exchanges `www/sub` (a directory) and `www/sub.alt` (a
/// link to a directory outside with the same file names), two clients ask
/// for sub/secret.txt and sub/big.bin: at least 10,000 swaps and 10,000
/// requests, or 30 s. Nothing from outside may ever be served, then or
/// from the cache afterwards.
fn race_a_swapped_directory(args: &[&str], errno: Option<u32>) {
    let (_scratch, www) = swap_site();
    let server = serve(&www, args, &[], errno);
    // Cached before the race starts.
    let mut warm = Client::new(server.port);
    assert_eq!(warm.get("/sub/secret.txt").text(), INSIDE);
    let swapper = Swapper::start(&www, "sub", "sub.alt");
    let requests = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    let swaps = swapper.swaps.clone();
    let clients: Vec<JoinHandle<Result<(), String>>> = (0..2)
        .map(|n| {
            let (requests, served, swaps, port) = (requests.clone(), served.clone(), swaps.clone(), server.port);
            std::thread::spawn(move || {
                let mut client = Client::new(port);
                let path = if n == 0 { "/sub/secret.txt" } else { "/sub/big.bin" };
                while (requests.load(Ordering::Relaxed) < 10_000 || swaps.load(Ordering::Relaxed) < 10_000)
                    && started.elapsed() < limit
                {
                    let response = client.get(path);
                    let done = requests.fetch_add(1, Ordering::Relaxed) + 1;
                    if response.text().contains(CANARY) {
                        return Err(format!(
                            "{path}: request {done}, after {} swaps, served the file outside the root",
                            swaps.load(Ordering::Relaxed)
                        ));
                    }
                    match response.status {
                        200 => {
                            if !response.text().starts_with(INSIDE) {
                                return Err(format!("{path}: 200 with {:?}", response.text()));
                            }
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        403 | 404 => {}
                        other => return Err(format!("{path}: status {other}")),
                    }
                }
                Ok(())
            })
        })
        .collect();
    let results: Vec<Result<(), String>> =
        clients.into_iter().map(|c| c.join().unwrap_or_else(|_| Err("a client panicked".into()))).collect();
    let total_swaps = swapper.swaps();
    drop(swapper);
    for result in results {
        if let Err(why) = result {
            panic!("{args:?} (openat2 errno {errno:?}): {why}");
        }
    }
    let total = requests.load(Ordering::Relaxed);
    assert!(
        (total >= 10_000 && total_swaps >= 10_000) || started.elapsed() >= limit,
        "{total} requests, {total_swaps} swaps"
    );
    assert!(served.load(Ordering::Relaxed) > 0, "the inside file was never served during the race");
    // Afterwards, with `sub` the link: refused, however often asked (the
    // cache holds nothing from outside). Then the directory again: served.
    if !is_symlink(&www.join("sub")) {
        exchange(&www, "sub", "sub.alt");
    }
    let mut client = Client::new(server.port);
    for _ in 0..20 {
        for path in ["/sub/secret.txt", "/sub/big.bin"] {
            let response = client.get(path);
            assert_eq!(response.status, 403, "{args:?}: {path} through the link");
            assert!(!response.text().contains(CANARY));
        }
    }
    exchange(&www, "sub", "sub.alt");
    assert_eq!(client.get("/sub/secret.txt").text(), INSIDE);
    assert_eq!(client.get("/sub/big.bin").text(), INSIDE.repeat(4096));
}

// ---------------------------------------------------------------- 1. opening races

fn a_directory_swapped_for_a_link_never_serves_outside() {
    let _serial = serial();
    race_a_swapped_directory(&["--quiet"], None);
    race_a_swapped_directory(&["--quiet", "--follow-symlinks"], None);
}

/// A seccomp filter that answers EPERM to openat2 (as container runtimes
/// do) makes berth resolve one name at a time: as safe under the same race.
fn without_openat2_the_walk_is_as_safe() {
    let _serial = serial();
    race_a_swapped_directory(&["--quiet"], Some(libc::EPERM as u32));
    race_a_swapped_directory(&["--quiet", "--follow-symlinks"], Some(libc::EPERM as u32));
    // ENOSYS (an old kernel, or another filter) too; and links behave as
    // with openat2: none without --follow-symlinks, inside ones with it.
    let (scratch, www) = swap_site();
    scratch.write("www/public.txt", "public\n");
    std::os::unix::fs::symlink("public.txt", www.join("relative.txt")).expect("symlink");
    std::os::unix::fs::symlink(www.join("public.txt"), www.join("absolute.txt")).expect("symlink");
    for errno in [libc::EPERM as u32, libc::ENOSYS as u32] {
        let plain = serve(&www, &["--quiet"], &[], Some(errno));
        let mut client = Client::new(plain.port);
        assert_eq!(client.get("/public.txt").text(), "public\n");
        assert_eq!(client.get("/relative.txt").status, 403);
        assert_eq!(client.get("/sub.alt/secret.txt").status, 403);
        drop(plain);
        let follow = serve(&www, &["--quiet", "--follow-symlinks"], &[], Some(errno));
        let mut client = Client::new(follow.port);
        assert_eq!(client.get("/relative.txt").text(), "public\n");
        assert_eq!(client.get("/absolute.txt").text(), "public\n");
        let out = client.get("/sub.alt/secret.txt");
        assert_eq!(out.status, 403);
        assert!(!out.text().contains(CANARY));
    }
}

/// A file served (and cached, small and large) through a directory that is
/// then swapped for a link to outside is refused at once, not served from
/// the cache, and served again once the directory is back.
fn a_cached_file_is_not_served_through_a_swapped_link() {
    let _serial = serial();
    for args in [&["--quiet"][..], &["--quiet", "--follow-symlinks"]] {
        let (_scratch, www) = swap_site();
        let server = serve(&www, args, &[], None);
        let mut client = Client::new(server.port);
        for _ in 0..3 {
            assert_eq!(client.get("/sub/secret.txt").text(), INSIDE);
            assert_eq!(client.get("/sub/big.bin").text(), INSIDE.repeat(4096));
        }
        exchange(&www, "sub", "sub.alt");
        for path in ["/sub/secret.txt", "/sub/big.bin"] {
            let response = client.get(path);
            assert_eq!(response.status, 403, "{args:?} {path}: {}", response.text());
            assert!(!response.text().contains(CANARY), "{args:?} {path}");
            assert!(!response.text().contains(INSIDE), "{args:?} {path}: served from the cache");
        }
        exchange(&www, "sub", "sub.alt");
        assert_eq!(client.get("/sub/secret.txt").text(), INSIDE);
    }
}

/// Listings describe a link by what berth would serve for it: nothing
/// without --follow-symlinks, and never the size or type of a file outside.
fn listings_say_nothing_about_files_outside() {
    let _serial = serial();
    let scratch = ScratchDir::new("fs-listing");
    scratch.write("secret.txt", CANARY);
    scratch.write("www/public.txt", "public\n");
    let www = scratch.path.join("www");
    std::os::unix::fs::symlink("public.txt", www.join("inside-link.txt")).expect("symlink");
    std::os::unix::fs::symlink(scratch.path.join("secret.txt"), www.join("escape.txt")).expect("symlink");
    let entry = |listing: &serde_json::Value, name: &str| {
        listing["entries"].as_array().expect("entries").iter().find(|e| e["name"] == name).cloned().expect(name)
    };
    for (args, inside_type) in [(&["--quiet"][..], "other"), (&["--quiet", "--follow-symlinks"], "file")] {
        let server = serve(&www, args, &[], None);
        let mut client = Client::new(server.port);
        let listing: serde_json::Value =
            serde_json::from_slice(&client.get_with("/", &[("Accept", "application/json")]).body).expect("JSON");
        let inside = entry(&listing, "inside-link.txt");
        assert_eq!(inside["type"], inside_type, "{args:?}: {inside}");
        assert_eq!(inside["symlink"], true);
        let escape = entry(&listing, "escape.txt");
        assert_eq!(escape["type"], "other", "{args:?}: {escape}");
        assert_eq!(escape["size"], 0, "{args:?}: {escape}");
        assert_eq!(escape["symlink"], true);
    }
}

// ---------------------------------------------------------------- 2. FIFOs

/// While a thread exchanges a regular file and a FIFO (which nobody ever
/// opens for writing), four clients keep asking for the file: every request
/// is answered (200 or 403), and other requests keep being answered. Then,
/// with the FIFO in place, eight requests at once for it are all refused.
fn a_fifo_swapped_in_for_a_file_does_not_stall_the_server() {
    let _serial = serial();
    let dir = ScratchDir::new("fs-fifo");
    dir.write("f.txt", "a regular file\n");
    dir.write("hello.txt", "hello\n");
    mkfifo(&dir.path.join("f.fifo"));
    let server = serve(&dir.path, &["--quiet"], &[("BERTH_SERVE_WORKERS", "2")], None);
    let swapper = Swapper::start(&dir.path, "f.txt", "f.fifo");
    let requests = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let limit = Duration::from_secs(20);
    let clients: Vec<JoinHandle<()>> = (0..4)
        .map(|_| {
            let (requests, swaps, port) = (requests.clone(), swapper.swaps.clone(), server.port);
            std::thread::spawn(move || {
                let mut client = Client::new(port);
                while (requests.load(Ordering::Relaxed) < 4_000 || swaps.load(Ordering::Relaxed) < 10_000)
                    && started.elapsed() < limit
                {
                    // read_response gives up after IO_TIMEOUT (a stalled worker).
                    let response = client.get("/f.txt");
                    assert!(matches!(response.status, 200 | 403), "status {}", response.status);
                    if response.status == 200 {
                        assert_eq!(response.text(), "a regular file\n");
                    }
                    requests.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Meanwhile, other requests on new connections are answered promptly.
    let mut others = 0;
    while clients.iter().any(|c| !c.is_finished()) && started.elapsed() < limit + IO_TIMEOUT {
        let asked = Instant::now();
        assert_eq!(get(server.port, "/hello.txt").text(), "hello\n");
        assert!(asked.elapsed() < IO_TIMEOUT, "a request took {:?}", asked.elapsed());
        others += 1;
    }
    let swaps = swapper.swaps();
    drop(swapper);
    for client in clients {
        if client.join().is_err() {
            panic!("a request for the file stalled or failed (after {swaps} swaps, {others} other requests)");
        }
    }
    assert!(others > 0);
    // The FIFO in place, no writer: eight concurrent requests, all refused.
    if !std::fs::symlink_metadata(dir.path.join("f.txt")).expect("f.txt").file_type().is_fifo() {
        exchange(&dir.path, "f.txt", "f.fifo");
    }
    let asked = Instant::now();
    let port = server.port;
    let fifo_requests: Vec<JoinHandle<u16>> =
        (0..8).map(|_| std::thread::spawn(move || get(port, "/f.txt").status)).collect();
    for request in fifo_requests {
        assert_eq!(request.join().expect("a FIFO request stalled"), 403);
    }
    assert!(asked.elapsed() < IO_TIMEOUT);
    assert_eq!(get(server.port, "/hello.txt").text(), "hello\n");
}

// ---------------------------------------------------------------- 8. inotify watches

/// More distinct files than berth watches: the watches stay at the cap,
/// files beyond it are still served fresh (checked on every request), and
/// watches of deleted files are given back for new ones.
fn inotify_watches_stay_at_the_cap() {
    let _serial = serial();
    let cap = berth::test_support::MAX_WATCHES;
    let files = cap + 500;
    let dir = ScratchDir::new("fs-watches");
    let name = |i: usize| format!("f{i:05}.txt");
    for i in 0..files {
        std::fs::write(dir.path.join(name(i)), format!("file {i}\n")).expect("write");
    }
    let server = serve(&dir.path, &["--quiet"], &[], None);
    let mut client = Client::new(server.port);
    for i in 0..files {
        assert_eq!(client.get(&format!("/{}", name(i))).text(), format!("file {i}\n"));
    }
    let watches = inotify_watches(server.pid());
    assert!(watches <= cap, "{watches} inotify watches for {files} files, more than the cap of {cap}");
    assert!(watches >= cap / 2, "only {watches} watches: the cache should watch up to the cap");

    // Fresh content, watched (the first files) or not (the last ones).
    for i in [0, files - 1] {
        std::fs::write(dir.path.join(name(i)), format!("rewritten {i}\n")).expect("rewrite");
        assert_eq!(client.get(&format!("/{}", name(i))).text(), format!("rewritten {i}\n"));
    }
    // A same-size rewrite with the mtime put back, of a file past the cap
    // (no inotify to notice): the change time still tells.
    let last = dir.path.join(name(files - 2));
    rewrite_keeping_mtime(&last, format!("FILE {}\n", files - 2).as_bytes());
    assert_eq!(client.get(&format!("/{}", name(files - 2))).text(), format!("FILE {}\n", files - 2));

    // Deleted files give their watches back; new files get them.
    for i in 0..1000 {
        std::fs::remove_file(dir.path.join(name(i))).expect("remove");
    }
    let after_delete = inotify_watches(server.pid());
    for i in 0..500 {
        let fresh = dir.path.join(format!("new{i:05}.txt"));
        std::fs::write(&fresh, format!("new {i}\n")).expect("write");
        assert_eq!(client.get(&format!("/new{i:05}.txt")).text(), format!("new {i}\n"));
    }
    let after_new = inotify_watches(server.pid());
    assert!(after_new <= cap, "{after_new} watches, more than the cap of {cap}");
    assert!(after_new >= after_delete + 400, "new files were not watched: {after_delete} → {after_new} watches");
}

// ---------------------------------------------------------------- 9. rewrites that keep the mtime

/// Rewrites `path` in place with `content` (the same size as before) and
/// puts its modification time back, as `cp -p`, `tar -x` or `rsync -t
/// --inplace` do.
fn rewrite_keeping_mtime(path: &Path, content: &[u8]) {
    let before = std::fs::metadata(path).expect("stat");
    assert_eq!(before.len(), content.len() as u64, "a same-size rewrite");
    let mtime = before.modified().expect("mtime");
    std::fs::write(path, content).expect("rewrite");
    let file = std::fs::OpenOptions::new().write(true).open(path).expect("open");
    file.set_times(std::fs::FileTimes::new().set_modified(mtime)).expect("utimensat");
    let after = std::fs::metadata(path).expect("stat");
    assert_eq!(after.modified().expect("mtime"), mtime, "the mtime was put back");
    assert_eq!(after.len(), before.len());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(after.ino(), before.ino(), "rewritten in place");
    assert_ne!((after.ctime(), after.ctime_nsec()), (before.ctime(), before.ctime_nsec()), "the ctime moved");
}

fn a_same_size_rewrite_that_keeps_the_mtime_is_served_fresh() {
    let _serial = serial();
    let dir = ScratchDir::new("fs-rewrite");
    dir.write("small.txt", "version 1\n");
    dir.write("big.txt", "version 1\n".repeat(10_000));
    let server = serve(&dir.path, &["--quiet"], &[], None);
    let mut client = Client::new(server.port);
    for (name, old, new) in [
        ("small.txt", "version 1\n".to_string(), "version 2\n".to_string()),
        ("big.txt", "version 1\n".repeat(10_000), "version 2\n".repeat(10_000)),
    ] {
        let path = format!("/{name}");
        let first = client.get(&path);
        assert_eq!(first.text(), old);
        let etag = first.header("ETag").expect("an ETag").to_string();
        assert_eq!(client.get(&path).text(), old, "cached");
        rewrite_keeping_mtime(&dir.path.join(name), new.as_bytes());
        let fresh = client.get(&path);
        assert_eq!(fresh.text(), new, "{name}: served stale after a same-size rewrite that kept the mtime");
        assert_ne!(fresh.header("ETag"), Some(etag.as_str()), "{name}: the ETag must change with the content");
        // A browser revalidating with the old tag gets the new content.
        let revalidated = client.get_with(&path, &[("If-None-Match", &etag)]);
        assert_eq!(revalidated.status, 200, "{name}");
        assert_eq!(revalidated.text(), new);
    }
}

// ---------------------------------------------------------------- deep paths

/// The most segments a request path may have (documented in docs/serve.md);
/// a longer path gets 414 before the file system is touched.
const MAX_SEGMENTS: usize = 256;

/// `/d/d/…/d/f.txt` with `levels` directories.
fn deep_path(levels: usize) -> String {
    "/d".repeat(levels) + "/f.txt"
}

fn c_name(name: &str) -> std::ffi::CString {
    std::ffi::CString::new(name).expect("a name")
}

/// openat(2) of a directory `name` beneath `dir`, as an owned descriptor.
fn open_dir_at(dir: std::os::fd::RawFd, name: &std::ffi::CStr) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: openat of a NUL-terminated name; the descriptor is owned below.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, ours.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// A chain of directories `d/d/…/d`, `depth` levels deep under `base`, with
/// a file `f.txt` ("level N\n") at each level listed in `files`. Made one
/// level at a time from a descriptor (mkdirat, openat), since its whole
/// path is longer than PATH_MAX, and removed the same way on drop (so that
/// neither the test nor its clean-up needs a descriptor per level).
struct DeepTree {
    base: PathBuf,
    depth: usize,
}

impl DeepTree {
    fn new(base: &Path, depth: usize, files: &[usize]) -> DeepTree {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let base_name = std::ffi::CString::new(base.as_os_str().as_bytes()).expect("a path");
        let mut dir = open_dir_at(libc::AT_FDCWD, &base_name).expect("open the base");
        let d = c_name("d");
        for level in 0..=depth {
            if files.contains(&level) {
                let content = format!("level {level}\n");
                // SAFETY: openat/write/close on descriptors we own.
                unsafe {
                    let fd = libc::openat(
                        dir.as_raw_fd(),
                        c_name("f.txt").as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                        0o644,
                    );
                    assert!(fd >= 0, "create f.txt at level {level}: {}", std::io::Error::last_os_error());
                    assert_eq!(libc::write(fd, content.as_ptr().cast(), content.len()), content.len() as isize);
                    libc::close(fd);
                }
            }
            if level == depth {
                break;
            }
            // SAFETY: mkdirat of a NUL-terminated name beneath our descriptor.
            let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), d.as_ptr(), 0o755) };
            assert_eq!(rc, 0, "mkdir at level {level}: {}", std::io::Error::last_os_error());
            dir = open_dir_at(dir.as_raw_fd(), &d).expect("open the new level");
        }
        DeepTree { base: base.to_path_buf(), depth }
    }
}

impl Drop for DeepTree {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let Ok(base) = std::ffi::CString::new(self.base.as_os_str().as_bytes()) else { return };
        let Ok(mut dir) = open_dir_at(libc::AT_FDCWD, &base) else { return };
        let (d, f, up) = (c_name("d"), c_name("f.txt"), c_name(".."));
        let mut level = 0;
        while level < self.depth {
            match open_dir_at(dir.as_raw_fd(), &d) {
                Ok(child) => dir = child,
                Err(_) => break,
            }
            level += 1;
        }
        loop {
            // SAFETY: unlinkat of NUL-terminated names beneath our descriptors.
            unsafe { libc::unlinkat(dir.as_raw_fd(), f.as_ptr(), 0) };
            if level == 0 {
                break;
            }
            let Ok(parent) = open_dir_at(dir.as_raw_fd(), &up) else { break };
            dir = parent;
            // SAFETY: as above.
            unsafe { libc::unlinkat(dir.as_raw_fd(), d.as_ptr(), libc::AT_REMOVEDIR) };
            level -= 1;
        }
    }
}

/// Sets RLIMIT_NOFILE (soft and hard) of the child to `limit`.
fn with_open_file_limit(command: &mut Command, limit: u64) {
    // SAFETY: the hook makes one setrlimit call (async-signal-safe).
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A 3,000-level directory chain, with and without openat2: two clients
/// keep asking for files 2,000 and 3,000 levels down (past the documented
/// limit of 256 segments) while another asks for a file at the top. Every
/// deep request is refused (414) at once and every other request answered
/// within a second: no walk or watch proportional to the depth, or to its
/// square, holds up a worker. A file exactly at the limit is served and
/// watched no deeper than a fixed depth (a few watches, not one per level).
fn a_deep_path_does_not_stall_the_server() {
    let _serial = serial();
    let scratch = ScratchDir::new("fs-deep");
    scratch.write("hello.txt", "hello\n");
    let at_limit = MAX_SEGMENTS - 1; // directories, then f.txt
    let _tree = DeepTree::new(&scratch.path, 3000, &[at_limit, 2000, 3000]);
    let second = Duration::from_secs(1);
    for errno in [Some(libc::EPERM as u32), None] {
        let server = serve(&scratch.path, &["--quiet"], &[("BERTH_SERVE_WORKERS", "2")], errno);
        let port = server.port;
        let started = Instant::now();
        let deep: Vec<JoinHandle<Vec<(u16, Duration)>>> = [2000, 3000]
            .into_iter()
            .map(|levels| {
                std::thread::spawn(move || {
                    let mut client = Client::new(port);
                    (0..20)
                        .map(|_| {
                            let asked = Instant::now();
                            let status = client.get(&deep_path(levels)).status;
                            (status, asked.elapsed())
                        })
                        .collect()
                })
            })
            .collect();
        let (mut slowest, mut others) = (Duration::ZERO, 0);
        while deep.iter().any(|c| !c.is_finished()) && started.elapsed() < Duration::from_secs(30) {
            let asked = Instant::now();
            assert_eq!(get(port, "/hello.txt").text(), "hello\n");
            slowest = slowest.max(asked.elapsed());
            others += 1;
        }
        let answers: Vec<Vec<(u16, Duration)>> = deep
            .into_iter()
            .map(|c| c.join().unwrap_or_else(|_| panic!("openat2 errno {errno:?}: a deep request stalled")))
            .collect();
        assert!(
            slowest < second,
            "openat2 errno {errno:?}: a normal request took {slowest:?} while deep ones were asked ({others} requests)"
        );
        for (levels, answers) in [2000, 3000].into_iter().zip(answers) {
            for (status, took) in answers {
                assert_eq!(status, 414, "openat2 errno {errno:?}: {levels} levels");
                assert!(took < second, "openat2 errno {errno:?}: {levels} levels took {took:?}");
            }
        }
        let mut client = Client::new(port);
        for _ in 0..3 {
            assert_eq!(client.get(&deep_path(at_limit)).text(), format!("level {at_limit}\n"));
        }
        assert_eq!(client.get(&(deep_path(at_limit) + "/x")).status, 414, "one segment over the limit");
        let watches = inotify_watches(server.pid());
        assert!(watches < 64, "openat2 errno {errno:?}: {watches} inotify watches for one deep file");
    }
}

/// With as few as 256 descriptors allowed (soft and hard limit), a file and
/// a listing at the deepest level a request may name are served, with and
/// without openat2: a walk holds a bounded number of descriptors, not one
/// per level (which gave 500, EMFILE).
fn a_deep_path_needs_few_descriptors() {
    let _serial = serial();
    let scratch = ScratchDir::new("fs-deep-fds");
    let at_limit = MAX_SEGMENTS - 1;
    let _tree = DeepTree::new(&scratch.path, at_limit, &[at_limit]);
    for errno in [Some(libc::EPERM as u32), None] {
        let server = serve_with(&scratch.path, &["--quiet"], &[], errno, |c| with_open_file_limit(c, 256));
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).expect("limits");
        let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files");
        assert_eq!(line.split_whitespace().nth(3), Some("256"), "{line}");
        let mut client = Client::new(server.port);
        for _ in 0..3 {
            let response = client.get(&deep_path(at_limit));
            assert_eq!(response.status, 200, "openat2 errno {errno:?}: {}", response.text());
            assert_eq!(response.text(), format!("level {at_limit}\n"));
        }
        let dir = "/d".repeat(at_limit) + "/";
        let listing = client.get_with(&dir, &[("Accept", "application/json")]);
        assert_eq!(listing.status, 200, "openat2 errno {errno:?}: {}", listing.text());
        let listing: serde_json::Value = serde_json::from_slice(&listing.body).expect("JSON");
        assert_eq!(listing["entries"][0]["name"], "f.txt", "{listing}");
    }
}

// ---------------------------------------------------------------- serving /

/// `berth serve / --follow-symlinks` follows absolute links (every one is
/// inside "/"). Served with --token (the whole file system, for the few
/// seconds the test runs, only to whoever holds the token) on loopback; the
/// links and files are the test's scratch files.
fn serving_the_root_directory_follows_absolute_links() {
    let _serial = serial();
    let scratch = ScratchDir::new("fs-slash");
    let real = std::fs::canonicalize(&scratch.path).expect("the scratch dir's real path");
    let relative = real.to_str().expect("a UTF-8 path").trim_start_matches('/').to_string();
    if relative.split('/').any(|segment| segment.starts_with('.')) {
        skip(format!("the temporary directory {} has a hidden segment (404 without --hidden)", real.display()));
    }
    scratch.write("file.txt", "the file\n");
    scratch.write("sub/inner.txt", "inner\n");
    std::os::unix::fs::symlink(real.join("file.txt"), real.join("absolute.txt")).expect("symlink");
    std::os::unix::fs::symlink(real.join("sub"), real.join("absolute-dir")).expect("symlink");
    std::os::unix::fs::symlink("file.txt", real.join("relative.txt")).expect("symlink");
    for errno in [None, Some(libc::EPERM as u32)] {
        let server = serve(Path::new("/"), &["--quiet", "--follow-symlinks", "--token"], &[], errno);
        assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
        let token = token_from_log(&server.stderr());
        let bearer = format!("Bearer {token}");
        let mut client = Client::new(server.port);
        for (name, content) in [
            ("file.txt", "the file\n"),
            ("relative.txt", "the file\n"),
            ("absolute.txt", "the file\n"),
            ("absolute-dir/inner.txt", "inner\n"),
        ] {
            let response = client.get_with(&format!("/{relative}/{name}"), &[("Authorization", &bearer)]);
            assert_eq!(response.status, 200, "openat2 errno {errno:?}: {name}: {}", response.text());
            assert_eq!(response.text(), content, "{name}");
        }
        assert_eq!(client.get(&format!("/{relative}/file.txt")).status, 401, "the token is required");
    }
}

// ---------------------------------------------------------------- without /proc

/// Makes the child's mounts private (a mount namespace of its own) and
/// detaches /proc there; the rest of the machine keeps its /proc.
fn without_proc(command: &mut Command) {
    // SAFETY: the hook makes three system calls (async-signal-safe) on
    // static strings.
    unsafe {
        command.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// In a mount namespace without /proc, listings are still made (from the
/// directory's descriptor) and files still served fresh after a change
/// (not watched then: checked by descriptor), with and without openat2.
fn listings_and_fresh_files_without_proc() {
    let _serial = serial();
    require_root("a mount namespace without /proc");
    let scratch = ScratchDir::new("fs-noproc");
    scratch.write("a.txt", "version 1\n");
    scratch.write("sub/b.txt", "bee\n");
    scratch.write(".hidden", "hidden\n");
    std::os::unix::fs::symlink("a.txt", scratch.path.join("link.txt")).expect("symlink");
    for errno in [None, Some(libc::EPERM as u32)] {
        let server = serve_with(&scratch.path, &["--quiet", "--follow-symlinks"], &[], errno, without_proc);
        let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", server.pid())).expect("mountinfo");
        assert!(
            !mounts.lines().any(|l| l.split_whitespace().nth(4) == Some("/proc")),
            "/proc is still mounted for the server:\n{mounts}"
        );
        let mut client = Client::new(server.port);
        let listing = client.get_with("/", &[("Accept", "application/json")]);
        assert_eq!(listing.status, 200, "openat2 errno {errno:?}: {}", listing.text());
        let listing: serde_json::Value = serde_json::from_slice(&listing.body).expect("JSON");
        let entries: Vec<(String, String, u64, bool)> = listing["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                let text = |key: &str| e[key].as_str().expect(key).to_string();
                (
                    text("name"),
                    text("type"),
                    e["size"].as_u64().expect("size"),
                    e["symlink"].as_bool().expect("symlink"),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("sub".to_string(), "dir".to_string(), 0, false),
                ("a.txt".to_string(), "file".to_string(), 10, false),
                ("link.txt".to_string(), "file".to_string(), 10, true),
            ],
            "openat2 errno {errno:?}"
        );
        assert!(client.get("/sub/").text().contains("b.txt"), "the HTML listing");
        assert_eq!(client.get("/a.txt").text(), "version 1\n");
        std::fs::write(scratch.path.join("a.txt"), "version 2 (longer)\n").expect("rewrite");
        assert_eq!(client.get("/a.txt").text(), "version 2 (longer)\n", "openat2 errno {errno:?}: stale");
        std::fs::write(scratch.path.join("a.txt"), "version 1\n").expect("rewrite");
    }
}

tests![
    a_directory_swapped_for_a_link_never_serves_outside,
    without_openat2_the_walk_is_as_safe,
    a_cached_file_is_not_served_through_a_swapped_link,
    listings_say_nothing_about_files_outside,
    a_fifo_swapped_in_for_a_file_does_not_stall_the_server,
    inotify_watches_stay_at_the_cap,
    a_same_size_rewrite_that_keeps_the_mtime_is_served_fresh,
    a_deep_path_does_not_stall_the_server,
    a_deep_path_needs_few_descriptors,
    serving_the_root_directory_follows_absolute_links,
    listings_and_fresh_files_without_proc,
];
