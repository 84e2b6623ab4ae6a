//! Servers the tests start and talk to: `berth serve` children (on a
//! sample site), other berth servers that announce their address on stderr
//! (`echo`, `listen`), and in-process stand-ins on a thread.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::children::KillOnDrop;
use super::{poll_until, ScratchDir};

/// A site with a bit of everything.
pub fn sample_site() -> ScratchDir {
    let dir = ScratchDir::new("serve");
    dir.write("index.html", "<!doctype html><title>home</title><h1>home page</h1>\n");
    dir.write("hello.txt", "hello, world\n");
    dir.write("style.css", "body { color: red; }\n".repeat(40));
    dir.write("app.js", "console.log('berth');\n".repeat(40));
    dir.write("data.json", format!("[{}]", vec!["{\"a\": 1}"; 60].join(",")));
    dir.write("logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>\n");
    dir.write("image.png", b"\x89PNG\r\n\x1a\n0000");
    dir.write("README", "plain text without an extension\n");
    dir.write("digits.txt", "0123456789".repeat(100));
    dir.write(".env", "SECRET_TOKEN=hidden-value\n");
    dir.write("docs/guide.txt", "the guide\n");
    dir.write("docs/a b.txt", "a file with a space\n");
    dir.write("docs/<tag>.txt", "angle brackets\n");
    dir.write("docs/.hidden-note", "hidden note\n");
    dir.write("docs/nested/deep.txt", "deep\n");
    dir
}

/// `berth serve DIR ARGS` on a fresh port.
pub fn serve(dir: &ScratchDir, args: &[&str]) -> ServeChild {
    serve_env(dir, args, &[])
}

/// As [`serve`], with extra environment `env`.
pub fn serve_env(dir: &ScratchDir, args: &[&str], env: &[(&str, &str)]) -> ServeChild {
    let mut all = vec![dir.path.to_str().expect("a UTF-8 temp path")];
    all.extend_from_slice(args);
    ServeChild::start(&all, env)
}

/// A running `berth serve` child, started with `--port 0`; its URL is read
/// from the "serving ... on http://..." line on stderr. Its stderr keeps
/// being collected; the child is killed by its pid and reaped on drop.
pub struct ServeChild {
    child: std::process::Child,
    pub url: String,
    pub port: u16,
    stderr: std::sync::Arc<Mutex<String>>,
}

impl ServeChild {
    /// `berth serve ARGS --port 0` with extra environment `env`.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ServeChild {
        ServeChild::start_with(args, env, |_| {})
    }

    /// As [`ServeChild::start`], with `configure` given the command last
    /// (for a `pre_exec` hook, say).
    pub fn start_with(args: &[&str], env: &[(&str, &str)], configure: impl FnOnce(&mut Command)) -> ServeChild {
        ServeChild::launch("serve", "berth: serving ", args, env, configure)
    }

    /// `berth mock ARGS --port 0`, ready once it says where it mocks.
    pub fn mock(args: &[&str]) -> ServeChild {
        ServeChild::launch("mock", "berth: mocking ", args, &[], |_| {})
    }

    /// `berth SUBCOMMAND ARGS --port 0`, ready at the stderr line starting
    /// with `ready`, whose last word is the URL.
    pub fn launch(
        subcommand: &str,
        ready: &str,
        args: &[&str],
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut Command),
    ) -> ServeChild {
        ServeChild::launch_url(subcommand, ready, args, env, configure, |line| line.rsplit(' ').next())
    }

    /// As [`ServeChild::launch`], with `url_in` picking the URL out of the
    /// ready line (for a line such as "proxying URL to BACKEND", where the
    /// URL is not the last word).
    pub fn launch_url(
        subcommand: &str,
        ready: &str,
        args: &[&str],
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut Command),
        url_in: fn(&str) -> Option<&str>,
    ) -> ServeChild {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .arg(subcommand)
            .args(args)
            .args(["--port", "0"])
            .env_remove("BERTH_SOURCE")
            .env_remove("NO_COLOR")
            // Tests run with sudo would have serve drop to the sudo user:
            // a test that wants that says so in `env`.
            .env_remove("SUDO_UID")
            .env_remove("SUDO_GID")
            .env_remove("SUDO_USER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        configure(&mut command);
        let mut child = command.spawn().expect("cannot start berth");
        let stderr = super::children::collect_stderr(&mut child);
        let mut server = ServeChild { child, url: String::new(), port: 0, stderr };
        let started = Instant::now();
        for _ in 0..1000 {
            let text = server.stderr();
            if let Some(line) = text.lines().find(|l| l.starts_with(ready)) {
                let url = url_in(line).unwrap_or_else(|| panic!("no URL in {line:?}")).to_string();
                let port = url.trim_end_matches('/').rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
                server.url = url;
                server.port = port;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("berth {subcommand} {args:?} exited ({status}) before serving:\n{text}");
            }
            assert!(started.elapsed() < Duration::from_secs(15), "berth {subcommand} {args:?} printed no URL:\n{text}");
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("berth {subcommand} {args:?} printed no URL:\n{}", server.stderr());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything berth wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits (at most `timeout`) until stderr contains `needle`.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.stderr().contains(needle).then_some(())).is_some()
    }

    /// The child still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (at most `timeout`) for the child to end; its status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        poll_until(timeout, || self.child.try_wait().ok().flatten())
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        // Child::kill signals the pid of this (unreaped) child; wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `berth ARGS` and returns it with the first stderr line that
/// contains `marker` (where servers say what they listen on).
pub fn start_berth(args: &[&str], marker: &str) -> (KillOnDrop, String, BufReader<ChildStderr>) {
    start_berth_with(args, marker, Stdio::piped(), Stdio::piped())
}

/// As [`start_berth`], with the child's stdin and stdout given (a file, /dev/null).
pub fn start_berth_with(
    args: &[&str],
    marker: &str,
    stdin: Stdio,
    stdout: Stdio,
) -> (KillOnDrop, String, BufReader<ChildStderr>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.args(args).stdin(stdin).stdout(stdout);
    start_berth_command(command, marker)
}

/// As [`start_berth`], for a prepared command (berth behind `ip netns exec`,
/// say, which execs it: the child is berth itself). stderr is piped here.
pub fn start_berth_command(mut command: Command, marker: &str) -> (KillOnDrop, String, BufReader<ChildStderr>) {
    let mut child = command.stderr(Stdio::piped()).spawn().expect("start berth");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    for _ in 0..20 {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 || line.contains(marker) {
            break;
        }
    }
    assert!(line.contains(marker), "{command:?} said {line:?}");
    (KillOnDrop(child), line, stderr)
}

/// The port after `protocol ` in a line such as "echoing on tcp 127.0.0.1:P and udp 127.0.0.1:P".
pub fn port_in(line: &str, protocol: &str) -> u16 {
    let rest = line.split(&format!("{protocol} ")).nth(1).unwrap_or_else(|| panic!("no {protocol} in {line}"));
    let address = rest.split_whitespace().next().unwrap();
    address.rsplit(':').next().unwrap().trim_end_matches(')').parse().unwrap()
}

/// A server thread that accepts connections on `listener` until stopped
/// (at most `max` of them), handing each to `serve`. Stopped and joined on drop.
pub struct ServerThread {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

impl ServerThread {
    pub fn start(listener: TcpListener, max: usize, serve: impl Fn(TcpStream) + Send + 'static) -> ServerThread {
        ServerThread::start_for(listener, max, Duration::from_secs(30), serve)
    }

    /// As [`ServerThread::start`], accepting for at most `lifetime` (for
    /// tests longer than the usual 30 s).
    pub fn start_for(
        listener: TcpListener,
        max: usize,
        lifetime: Duration,
        serve: impl Fn(TcpStream) + Send + 'static,
    ) -> ServerThread {
        listener.set_nonblocking(true).expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            // Bounded: `max` connections, `lifetime`, or until stopped.
            while !stop2.load(Ordering::Relaxed) && accepted2.load(Ordering::Relaxed) < max {
                if started.elapsed() > lifetime {
                    break;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        accepted2.fetch_add(1, Ordering::Relaxed);
                        stream.set_nonblocking(false).expect("blocking stream");
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        serve(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ServerThread { stop, accepted, handle: Some(handle) }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
