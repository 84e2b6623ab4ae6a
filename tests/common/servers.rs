//! Servers the tests start and talk to: `berth serve` children.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::poll_until;

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
        use std::io::BufRead;
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .env_remove("BERTH_SOURCE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        configure(&mut command);
        let mut child = command.spawn().expect("cannot start berth serve");
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr piped");
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(pipe);
            let mut line = String::new();
            // Ends when berth exits and the pipe closes.
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                collected.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
                line.clear();
            }
        });
        let mut server = ServeChild { child, url: String::new(), port: 0, stderr };
        let started = Instant::now();
        for _ in 0..1000 {
            let text = server.stderr();
            if let Some(line) = text.lines().find(|l| l.starts_with("berth: serving ")) {
                let url = line.rsplit(' ').next().expect("a URL").to_string();
                let port = url.trim_end_matches('/').rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
                server.url = url;
                server.port = port;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("berth serve {args:?} exited ({status}) before serving:\n{text}");
            }
            assert!(started.elapsed() < Duration::from_secs(15), "berth serve {args:?} printed no URL:\n{text}");
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("berth serve {args:?} printed no URL:\n{}", server.stderr());
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
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        // Child::kill signals the pid of this (unreaped) child; wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
