//! Rendering: tables for people, JSON for programs. Render prints what
//! analysis returns and knows nothing of the kernel.

pub mod audit;
pub mod ca;
pub mod doctor;
pub mod history;
pub mod json;
pub mod kill;
pub mod ls;
pub mod probe;
pub mod scan;
pub mod style;
pub mod table;
pub mod watch;
pub mod watch_json;
pub mod who;

/// "1 finding", "3 findings": the one helper for counts in words, shared
/// with analysis (which builds doctor's sentences with it).
pub use crate::analysis::plural;

/// "5m ago", "3h ago", "2d ago": how long before `now` a Unix time was
/// (both in seconds; `now` is the snapshot's time, not the clock's).
pub fn age(unix_seconds: u64, now: u64) -> String {
    let seconds = now.saturating_sub(unix_seconds);
    match seconds {
        0..=59 => format!("{seconds}s ago"),
        60..=3599 => format!("{}m ago", seconds / 60),
        3600..=86_399 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// "loopback", "all (v4+v6)", "all (v6)", "eth0": a bind scope in a word or two.
pub fn scope_label(scope: &str, interface: Option<&str>, covers_ipv4: bool, covers_ipv6: bool) -> String {
    match scope {
        "loopback" => "loopback".into(),
        "all" => match (covers_ipv4, covers_ipv6) {
            (true, true) => "all (v4+v6)".into(),
            (false, true) => "all (v6)".into(),
            _ => "all".into(),
        },
        _ => interface.unwrap_or("address").to_string(),
    }
}

/// The COMMAND column's text for a process: its command line (its name
/// when the command line is empty, as for kernel threads), and the shorter
/// form a narrow terminal gets before anything is cut: the program's name
/// for a long path in argv[0] (`/home/a/.nvm/versions/node/v22/bin/node
/// server.js` → `node server.js`), as `ss -p` and `top` name a process.
/// An argv[0] with spaces is a title the program set
/// (`nginx: master process /usr/sbin/nginx`) and is left as it is.
pub fn command_text(cmdline: &[String], name: impl FnOnce() -> String) -> (String, Option<String>) {
    let Some((program, args)) = cmdline.split_first() else {
        return (name(), None);
    };
    let full = cmdline.join(" ");
    let base = program.rsplit('/').next().unwrap_or(program);
    let compact = (program.contains('/') && !program.contains(char::is_whitespace) && !base.is_empty())
        .then(|| std::iter::once(base).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" "));
    (full, compact)
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests {
    use super::command_text;

    fn words(cmdline: &[&str]) -> (String, Option<String>) {
        let cmdline: Vec<String> = cmdline.iter().map(|s| s.to_string()).collect();
        command_text(&cmdline, || "comm".into())
    }

    #[test]
    fn a_long_program_path_gives_way_to_its_name() {
        let (full, compact) = words(&["/home/a/.nvm/versions/node/v22.11.0/bin/node", "server.js"]);
        assert_eq!(full, "/home/a/.nvm/versions/node/v22.11.0/bin/node server.js");
        assert_eq!(compact.as_deref(), Some("node server.js"));
        // A title the program set is not a path; a bare name needs nothing.
        assert_eq!(words(&["nginx: master process /usr/sbin/nginx"]).1, None);
        assert_eq!(words(&["python3", "-m", "http.server"]).1, None);
        assert_eq!(words(&[]), ("comm".to_string(), None));
    }
}
