//! JSON output: a top-level array is written one element per line, so it is
//! valid JSON for programs and still greppable for people.

use std::io::{self, Write};

use serde::Serialize;

pub fn write_array<T: Serialize>(out: &mut impl Write, items: impl IntoIterator<Item = T>) -> io::Result<()> {
    out.write_all(b"[")?;
    let mut first = true;
    for item in items {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        serde_json::to_writer(&mut *out, &item).map_err(io::Error::other)?;
    }
    out.write_all(if first { b"]\n" } else { b"\n]\n" })
}

pub fn write_value<T: Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
