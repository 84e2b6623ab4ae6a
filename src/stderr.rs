//! berth's messages on stderr (notes, warnings, progress of servers).
//!
//! `eprintln!` panics when stderr cannot be written (a reader that went
//! away, a full disk): in a server that is one request log line ending the
//! process, or a startup warning killing `serve` because a wrapper closed
//! the pipe it read the "serving" line from. Every message goes through
//! [`say!`] instead, which drops what cannot be written: the exit code, not
//! stderr, is what reports failure. `#![deny(clippy::print_stderr)]` in
//! lib.rs keeps `eprintln!` out.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to stderr, ignoring a stderr that cannot be written.
pub(crate) fn write_line(line: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// `eprintln!` that never panics: see the module doc.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stderr::write_line(format_args!($($arg)*))
    };
}
pub(crate) use say;
