//! The integration tests' harness: one test binary (`tests/tests.rs`, built
//! with `harness = false`) whose trials run under libtest-with, a
//! libtest-mimic that can mark a trial ignored *at run time*, with a reason.
//!
//! Why not the built-in harness: whether a test can run here is known only
//! when it runs (are we root? is redis-server installed? can this kernel
//! make a network namespace?). The built-in harness can only pass or fail
//! such a test, so a test that could not run used to print "skipped" and
//! count as a pass. Here a test calls [`skip`] (or one of the `require_*`
//! helpers) and cargo's summary shows it as
//! `test audit_reach::... ... ignored, needs root (network namespaces)`.
//!
//! Each test module ends with `tests![name, ...]`, which lists its
//! test functions; `tests/tests.rs` denies dead code, so a test function
//! left out of the list fails the build instead of silently never running.

use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use libtest_with::{Arguments, Failed, Trial, RUNTIME_IGNORE_PREFIX};

/// The panic payload of [`skip`]: the reason the test cannot run here.
struct Skip(String);

/// Ends the running test as *ignored*, with `reason` shown in the summary.
/// Callable from any helper the test calls (it unwinds like a panic, but the
/// harness reports it as a skip, and the panic hook stays silent).
pub fn skip(reason: impl Display) -> ! {
    std::panic::panic_any(Skip(reason.to_string()))
}

/// Skips unless running as root; `what` says what the test needs root for.
pub fn require_root(what: &str) {
    if !super::is_root() {
        skip(format!("needs root ({what})"));
    }
}

/// The path of `program` (an absolute path, or a name looked up on PATH and
/// in the sbin directories, where Debian puts daemons); skips, naming the
/// Debian package to install, when it is not there.
pub fn require_program(program: &str, package: &str) -> PathBuf {
    find_program(program).unwrap_or_else(|| skip(format!("needs {program} (apt-get install {package})")))
}

/// Where `program` is, if anywhere (see [`require_program`]).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.is_absolute() {
        return is_executable(path).then(|| path.to_path_buf());
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&search)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// One test: its name (`module::function`) and body.
pub struct Case {
    pub name: String,
    pub body: fn(),
}

/// A [`Case`] named after the module that lists it (`tests![...]`).
pub fn case(module_path: &str, function: &str, body: fn()) -> Case {
    let module = module_path.split_once("::").map_or(module_path, |(_, rest)| rest);
    Case { name: format!("{module}::{function}"), body }
}

/// Runs every case as libtest does (filters, `--list`, `--exact`,
/// `--test-threads`, ...) and exits with its code.
pub fn main(mut cases: Vec<Case>) -> std::process::ExitCode {
    quiet_skips();
    let (argv, filters) = split_filters(std::env::args().collect());
    let args = Arguments::from_iter(argv);
    // libtest-with takes one name filter; the built-in harness takes any
    // number (`cargo test serve:: kill::`), so several are applied here.
    if !filters.is_empty() {
        cases.retain(|case| {
            filters.iter().any(|f| if args.exact { case.name == *f } else { case.name.contains(f.as_str()) })
        });
    }
    let trials = cases.into_iter().map(|case| Trial::test(case.name, move || outcome(case.body))).collect();
    libtest_with::run(&args, trials).exit_code()
}

/// Splits the name filters off the command line when there is more than
/// one (with one, libtest-with applies it itself). A word is a filter
/// unless it is an option or the value of one that takes a value.
fn split_filters(argv: Vec<String>) -> (Vec<String>, Vec<String>) {
    const TAKES_VALUE: [&str; 6] = ["-Z", "--test-threads", "--logfile", "--skip", "--color", "--format"];
    let mut options = Vec::new();
    let mut filters = Vec::new();
    let mut words = argv.into_iter();
    options.extend(words.next()); // the program
    while let Some(word) = words.next() {
        if TAKES_VALUE.contains(&word.as_str()) {
            options.push(word);
            options.extend(words.next());
        } else if word.starts_with('-') {
            options.push(word);
        } else {
            filters.push(word);
        }
    }
    if filters.len() <= 1 {
        options.append(&mut filters);
    }
    (options, filters)
}

/// Runs one body: a return is a pass, a [`skip`] an ignore with its reason,
/// any other panic a failure carrying the panic's message.
fn outcome(body: fn()) -> Result<(), Failed> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(()) => Ok(()),
        Err(payload) => {
            if let Some(Skip(reason)) = payload.downcast_ref::<Skip>() {
                return Err(format!("{RUNTIME_IGNORE_PREFIX}{reason}").into());
            }
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            Err(format!("test panicked: {message}").into())
        }
    }
}

/// The default panic hook prints every panic; a [`skip`] is not one to the
/// reader, so it is left out (the summary line gives its reason).
fn quiet_skips() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<Skip>().is_none() {
            default(info);
        }
    }));
}
