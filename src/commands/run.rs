//! `berth run --port auto -- CMD`: start a program on a free port.
//!
//! berth picks the port, binds and listens on it, then *becomes* the
//! program (execve), so the program's signals and exit status are simply
//! its own. The program's arguments are OsStrings from argv to execve, so
//! bytes that are not UTF-8 pass through unchanged; the one change berth
//! makes is `{port}` → the port number, in each argument ([`with_port`]),
//! so that `berth run -- python3 -m http.server {port}` works without a
//! shell. Two ways to hand the port over:
//! - default: `PORT` in the environment. berth's socket is close-on-exec,
//!   so it holds the port until the very execve; the program then binds it
//!   itself. The window left is the program's start-up time, during which
//!   another program binding that same port would win. Nothing else can
//!   close it for a program that binds by itself.
//! - `--socket`: the listening socket itself as fd 3, announced by systemd's
//!   socket-activation variables (LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES),
//!   for programs that accept it (sd_listen_fds, Python socket.fromfd, the
//!   Rust listenfd crate, Go's activation package...). No window at all.

use crate::stderr::say;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::analysis::free::candidates;
use crate::cli::values::RunPort;
use crate::cli::{GlobalArgs, RunArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::servers::listener::{tcp_listener, ListenSpec};
use berth_inventory::{self as inventory, Protocol};

/// fd number of the first passed socket under systemd's protocol (SD_LISTEN_FDS_START).
const LISTEN_FDS_START: i32 = 3;

pub fn run(args: &RunArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let address = args.bind;
    let program =
        args.command.first().ok_or_else(|| Error::Usage("no program given: berth run -- CMD ARGS...".into()))?;

    let listener = match args.port {
        RunPort::Auto => bind_free_port(args, global)?,
        // The one listener setup: loopback unless --expose, and a taken
        // port answered with its holder and a free alternative.
        RunPort::Number(port) => tcp_listener(&ListenSpec { bind: Some(address), port, expose: args.expose })?,
    };
    let port = listener.local_addr().map_err(|e| Error::System(format!("cannot read the bound port: {e}")))?.port();

    let mut command = Command::new(with_port(program, port));
    command.args(args.command[1..].iter().map(|arg| with_port(arg, port))).env(&args.env_name, port.to_string());
    if args.socket {
        let fd = listener.as_raw_fd();
        command
            .env("LISTEN_FDS", "1")
            // After execve the program has berth's pid.
            .env("LISTEN_PID", std::process::id().to_string())
            .env("LISTEN_FDNAMES", &args.fd_name);
        // SAFETY: runs just before execve in this same process (exec does not
        // fork), using only dup2 and fcntl, which are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if fd == LISTEN_FDS_START {
                    // Already in place: only drop close-on-exec.
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, LISTEN_FDS_START) < 0 {
                    // dup2 leaves the new descriptor without close-on-exec.
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        // A stale activation environment from berth's own parent must not
        // make the program look for a socket that is not there.
        command.env_remove("LISTEN_FDS").env_remove("LISTEN_PID").env_remove("LISTEN_FDNAMES");
    }
    say!(
        "berth: running {} with {}={port}{}",
        shown(program),
        args.env_name,
        if args.socket { format!(" and the socket on {address}:{port} as fd 3") } else { String::new() }
    );

    // exec only returns on failure; the listener (close-on-exec) goes with us.
    let error = command.exec();
    let (code, why) = match error.kind() {
        io::ErrorKind::NotFound => (127, "no such program (is it on PATH?)".to_string()),
        io::ErrorKind::PermissionDenied => (126, "permission denied (is it executable?)".to_string()),
        _ => (126, error.to_string()),
    };
    say!("berth: cannot run '{}': {why}", shown(program));
    std::process::exit(code);
}

/// The program's name as berth's messages show it: escaped, and shortened
/// when over-long, as every error line shows what the user typed.
fn shown(program: &OsStr) -> String {
    let text = program.to_string_lossy();
    crate::printable::printable(&crate::printable::shortened(&text)).into_owned()
}

/// `arg` with every `{port}` replaced by the port's digits; every other byte
/// as it was (non-UTF-8 included).
fn with_port(arg: &OsStr, port: u16) -> OsString {
    const MARK: &[u8] = b"{port}";
    let digits = port.to_string();
    let mut out = Vec::with_capacity(arg.len());
    let mut rest = arg.as_bytes();
    while let Some(at) = rest.windows(MARK.len()).position(|w| w == MARK) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(digits.as_bytes());
        rest = &rest[at + MARK.len()..];
    }
    out.extend_from_slice(rest);
    OsString::from_vec(out)
}

/// Picks a free port the way `berth free` does and listens on it.
fn bind_free_port(args: &RunArgs, global: &GlobalArgs) -> Result<std::net::TcpListener, Error> {
    let (address, expose) = (args.bind, args.expose);
    let snapshot = inventory::collect(&args.free_port_query(global))?;
    let pool = candidates(None, &snapshot.port_ranges);
    let (ports, _) = crate::actions::bind::find_free(&pool, 8, &[Protocol::Tcp], &[address], &snapshot);
    let mut last_error = None;
    for port in ports {
        // Between the check and this bind another program may have taken
        // it; then the next candidate. An error that is not about the port
        // (exposure without --expose) comes back for every candidate and is
        // what the user sees.
        match tcp_listener(&ListenSpec { bind: Some(address), port, expose }) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        Error::System(format!(
            "no free port found on {address} in the dynamic range outside the ephemeral range; try --port NUMBER"
        ))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_substituted_byte_for_byte() {
        let arg = OsStr::from_bytes(b"\xff{port}:{port}{por}");
        assert_eq!(with_port(arg, 8080).as_bytes(), b"\xff8080:8080{por}");
        assert_eq!(with_port(OsStr::new("plain"), 1).as_bytes(), b"plain");
    }
}
