//! JSON output: a top-level array is written one element per line, so it is
//! valid JSON for programs and still greppable for people.
//!
//! Strings are escaped as JSON requires, and also every character that
//! [`crate::printable::must_escape`] keeps off a terminal (C1 controls, bidi and other
//! format characters, U+2028/9) is written as `\uXXXX`: the JSON means the
//! same to a program, and `berth ls --json` in a terminal cannot reorder or
//! drive it.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

pub fn write_array<T: Serialize>(out: &mut impl Write, items: impl IntoIterator<Item = T>) -> io::Result<()> {
    out.write_all(b"[")?;
    let mut first = true;
    for item in items {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Safe(CompactFormatter));
        item.serialize(&mut serializer).map_err(io_error)?;
    }
    out.write_all(if first { b"]\n" } else { b"\n]\n" })
}

/// A JSON array written as its elements come, one per line as
/// [`write_array`] writes them: for answers too long to hold in memory
/// (`berth history events` over days of a busy machine).
pub struct ArrayWriter {
    first: bool,
}

impl ArrayWriter {
    /// Writes the opening bracket.
    pub fn start(out: &mut impl Write) -> io::Result<ArrayWriter> {
        out.write_all(b"[")?;
        Ok(ArrayWriter { first: true })
    }

    pub fn push<T: Serialize>(&mut self, out: &mut impl Write, item: &T) -> io::Result<()> {
        out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Safe(CompactFormatter));
        item.serialize(&mut serializer).map_err(io_error)
    }

    /// Writes the closing bracket.
    pub fn finish(self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(if self.first { b"]\n" } else { b"\n]\n" })
    }
}

pub fn write_value<T: Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Safe(PrettyFormatter::new()));
    value.serialize(&mut serializer).map_err(io_error)?;
    out.write_all(b"\n")
}

/// serde_json's error as an I/O error of the same kind, so that a write
/// that failed (a broken pipe, a full disk) is still seen as one.
fn io_error(error: serde_json::Error) -> io::Error {
    io::Error::new(error.io_error_kind().unwrap_or(io::ErrorKind::Other), error)
}

/// A formatter that writes what `F` writes, with the characters a terminal
/// must not see in strings escaped as `\uXXXX` (serde_json itself escapes
/// only `"`, `\` and C0 controls).
struct Safe<F>(F);

/// Writes `fragment` (a piece of a string that serde_json left unescaped),
/// escaping [`crate::printable::must_escape`] characters as `\uXXXX` (surrogate pairs
/// above U+FFFF).
fn write_safe_fragment<W: ?Sized + Write>(writer: &mut W, fragment: &str) -> io::Result<()> {
    if fragment.is_ascii() || !fragment.chars().any(crate::printable::must_escape) {
        return writer.write_all(fragment.as_bytes());
    }
    let mut start = 0;
    for (at, c) in fragment.char_indices() {
        if !crate::printable::must_escape(c) {
            continue;
        }
        writer.write_all(&fragment.as_bytes()[start..at])?;
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            write!(writer, "\\u{unit:04x}")?;
        }
        start = at + c.len_utf8();
    }
    writer.write_all(&fragment.as_bytes()[start..])
}

macro_rules! delegate {
    ($($name:ident),* $(,)?) => {
        $(
            fn $name<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
                self.0.$name(writer)
            }
        )*
    };
}

impl<F: Formatter> Formatter for Safe<F> {
    delegate!(begin_array, end_array, begin_object, end_object, end_array_value, end_object_value, begin_object_value);

    fn begin_array_value<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        write_safe_fragment(writer, fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_characters_are_escaped_and_the_json_means_the_same() {
        let value = serde_json::json!({"name": "ev\u{202e}il\u{9b}2J\u{2028}é日\u{e0041}", "list": [1, "a\nb"]});
        let mut out = Vec::new();
        write_value(&mut out, &value).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""ev\u202eil\u009b2J\u2028é日\udb40\udc41""#), "{text}");
        assert!(text.contains("\n  \"list\": [\n"), "still pretty: {text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);

        let mut out = Vec::new();
        write_array(&mut out, [&value]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[\n{") && text.contains(r"ev\u202eil"), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap()[0], value);
    }
}
