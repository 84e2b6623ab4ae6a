//! The one way berth makes text that came from outside safe to print.
//!
//! Process names and command lines, banners, certificate names, HTTP
//! headers and request targets, file names, user names: anything berth did
//! not write itself may hold characters that act on a terminal instead of
//! showing. [`printable`] (for text) and [`printable_bytes`] (for bytes off
//! the wire) show those characters escaped, and JSON output escapes the same
//! set as `\uXXXX` (see [`super::json`]). Everything else — letters of every
//! script, emoji, punctuation — is shown as itself.
//!
//! What is escaped ([`must_escape`]):
//!
//! - control characters (general category Cc): C0 (U+0000–U+001F, with
//!   ESC, which starts escape sequences), DEL, and C1 (U+0080–U+009F,
//!   among them U+009B, a one-character CSI);
//! - format characters (general category Cf): the bidirectional overrides,
//!   embeddings and isolates that reorder what follows them (U+202A–U+202E,
//!   U+2066–U+2069, U+200E/F, U+061C), zero-width characters (U+200B–U+200D,
//!   U+2060, U+FEFF), the soft hyphen, tags (U+E0001, U+E0020–U+E007F) and
//!   the rest of the set;
//! - the line and paragraph separators U+2028 and U+2029 (Zl, Zp), which
//!   some terminals and most log viewers break lines at.
//!
//! An escaped character is written the way Rust writes it: `\n`, `\r`,
//! `\t`, or `\u{1b}`, `\u{202e}`; a byte that is not part of valid UTF-8 as
//! `\xNN`.

use std::borrow::Cow;
use std::fmt::Write;

/// General category Cf (Format), as inclusive ranges of code points.
///
/// From Unicode's DerivedGeneralCategory.txt (the `; Cf` lines), Unicode
/// 15.0 to 17.0, which agree: 21 ranges, 170 code points. (Unicode 14.0
/// differs only in ending the Egyptian hieroglyph format controls at
/// U+13438; the unit test below checks the count.) Sorted, for the binary
/// search in [`is_format`].
const FORMAT: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),   // SOFT HYPHEN
    (0x0600, 0x0605),   // ARABIC NUMBER SIGN..ARABIC NUMBER MARK ABOVE
    (0x061C, 0x061C),   // ARABIC LETTER MARK
    (0x06DD, 0x06DD),   // ARABIC END OF AYAH
    (0x070F, 0x070F),   // SYRIAC ABBREVIATION MARK
    (0x0890, 0x0891),   // ARABIC POUND MARK ABOVE..ARABIC PIASTRE MARK ABOVE
    (0x08E2, 0x08E2),   // ARABIC DISPUTED END OF AYAH
    (0x180E, 0x180E),   // MONGOLIAN VOWEL SEPARATOR
    (0x200B, 0x200F),   // ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),   // LEFT-TO-RIGHT EMBEDDING..RIGHT-TO-LEFT OVERRIDE
    (0x2060, 0x2064),   // WORD JOINER..INVISIBLE PLUS
    (0x2066, 0x206F),   // LEFT-TO-RIGHT ISOLATE..NOMINAL DIGIT SHAPES
    (0xFEFF, 0xFEFF),   // ZERO WIDTH NO-BREAK SPACE (byte order mark)
    (0xFFF9, 0xFFFB),   // INTERLINEAR ANNOTATION ANCHOR..TERMINATOR
    (0x110BD, 0x110BD), // KAITHI NUMBER SIGN
    (0x110CD, 0x110CD), // KAITHI NUMBER SIGN ABOVE
    (0x13430, 0x1343F), // EGYPTIAN HIEROGLYPH VERTICAL JOINER..END WALLED ENCLOSURE
    (0x1BCA0, 0x1BCA3), // SHORTHAND FORMAT LETTER OVERLAP..UP STEP
    (0x1D173, 0x1D17A), // MUSICAL SYMBOL BEGIN BEAM..END PHRASE
    (0xE0001, 0xE0001), // LANGUAGE TAG
    (0xE0020, 0xE007F), // TAG SPACE..CANCEL TAG
];

/// A format character (general category Cf).
fn is_format(c: char) -> bool {
    let c = u32::from(c);
    if c < FORMAT[0].0 {
        return false;
    }
    FORMAT
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` must be shown escaped rather than printed: a control
/// character (Cc: C0, DEL, C1), a format character (Cf), or a line or
/// paragraph separator (U+2028, U+2029).
pub fn must_escape(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control() || c == '\u{2028}' || c == '\u{2029}' || is_format(c)
}

/// Whether every byte is printable ASCII (space to `~`): the common case,
/// checked without decoding.
fn plain_ascii(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| (0x20..0x7f).contains(&b))
}

/// Text from outside (command lines, names, headers, banners) made safe to
/// print: characters that would act on a terminal are shown escaped (see
/// the module documentation). Borrowed when nothing needed escaping.
pub fn printable(text: &str) -> Cow<'_, str> {
    if plain_ascii(text.as_bytes()) || !text.chars().any(must_escape) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    push_escaped(&mut safe, text);
    Cow::Owned(safe)
}

/// A path as [`printable`] shows it (a file name can hold anything).
pub fn printable_path(path: &std::path::Path) -> String {
    printable(&path.display().to_string()).into_owned()
}

/// Appends `text` to `out` as [`printable`] shows it, without an
/// allocation of its own.
pub fn push_printable(out: &mut String, text: &str) {
    if plain_ascii(text.as_bytes()) {
        out.push_str(text);
    } else {
        push_escaped(out, text);
    }
}

fn push_escaped(out: &mut String, text: &str) {
    // Writing to a String cannot fail.
    let _ = write_printable_bytes(out, text.as_bytes());
}

/// Bytes from outside (a banner, data read from a socket) as safe text:
/// valid UTF-8 is shown as [`printable`] shows text, and every byte that is
/// not part of valid UTF-8 as `\xNN`.
pub fn printable_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if plain_ascii(bytes) {
        // Printable ASCII is valid UTF-8.
        return Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default());
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return printable(text);
    }
    let mut safe = String::with_capacity(bytes.len() + 16);
    // Writing to a String cannot fail.
    let _ = write_printable_bytes(&mut safe, bytes);
    Cow::Owned(safe)
}

/// Writes `bytes` to `out` as [`printable_bytes`] shows them: the one
/// escaping routine ([`printable`] and [`push_printable`] come here too).
/// For data too large to copy into a String first (a logged megabyte of
/// echo traffic), `out` can be a small buffer written out whenever it
/// fills. The output is gathered in a small buffer of its own and handed
/// to `out` a few hundred bytes at a time, so `out` is not called per byte.
pub fn write_printable_bytes(out: &mut impl Write, bytes: &[u8]) -> std::fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Room for the longest piece, `\u{10ffff}` (10 bytes), past FLUSH_AT.
    const FLUSH_AT: usize = 500;
    let mut piece = [0u8; FLUSH_AT + 12];
    let mut len = 0;
    let mut at = 0;
    // Bounded: each round consumes at least one byte of `bytes`.
    while at < bytes.len() {
        let first = bytes[at];
        if (0x20..0x7f).contains(&first) {
            piece[len] = first;
            len += 1;
            at += 1;
        } else {
            // One UTF-8 sequence, if `first` starts a valid one (from_utf8
            // on exactly its bytes rules out overlong forms and surrogates).
            let width = match first {
                0x00..=0x7f => 1,
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => 0,
            };
            let character = match bytes.get(at..at + width) {
                Some(sequence) if width > 0 => std::str::from_utf8(sequence).ok().and_then(|s| s.chars().next()),
                _ => None,
            };
            match character {
                Some(c) if must_escape(c) => {
                    for e in c.escape_default() {
                        len += e.encode_utf8(&mut piece[len..]).len();
                    }
                    at += width;
                }
                Some(_) => {
                    piece[len..len + width].copy_from_slice(&bytes[at..at + width]);
                    len += width;
                    at += width;
                }
                None => {
                    piece[len..len + 4].copy_from_slice(&[
                        b'\\',
                        b'x',
                        DIGITS[usize::from(first >> 4)],
                        DIGITS[usize::from(first & 0xf)],
                    ]);
                    len += 4;
                    at += 1;
                }
            }
        }
        if len >= FLUSH_AT || at == bytes.len() {
            // Whole characters and ASCII only: valid UTF-8.
            out.write_str(std::str::from_utf8(&piece[..len]).map_err(|_| std::fmt::Error)?)?;
            len = 0;
        }
    }
    Ok(())
}

/// How many characters of an over-long input a message quotes.
const QUOTED_CHARS: usize = 60;

/// Inputs longer than this many bytes are shortened where a message quotes
/// them: a 100,000-character argument must not become a 100,000-character
/// error line.
const LONG_INPUT: usize = 200;

/// `text` itself, or, when it is longer than [`LONG_INPUT`] bytes, its
/// first 60 characters and its length: `aaaa… (100000 bytes)`.
pub fn shortened(text: &str) -> Cow<'_, str> {
    if text.len() <= LONG_INPUT {
        return Cow::Borrowed(text);
    }
    let head: String = text.chars().take(QUOTED_CHARS).collect();
    Cow::Owned(format!("{head}… ({} bytes)", text.len()))
}

/// A message with every over-long input in it [`shortened`]: first each of
/// `inputs` (what the user gave: the command line's arguments) wherever it
/// appears, then any remaining word longer than [`LONG_INPUT`] (a part of
/// an input a message quotes on its own, such as the host of HOST:PORT).
/// The one place every error line berth prints goes through, so no message
/// needs to shorten what it quotes itself.
pub fn shorten_inputs(message: &str, inputs: &[&str]) -> String {
    let mut long: Vec<&str> = inputs.iter().copied().filter(|input| input.len() > LONG_INPUT).collect();
    long.sort_by_key(|input| std::cmp::Reverse(input.len()));
    let mut out = message.to_string();
    for input in long {
        if out.contains(input) {
            out = out.replace(input, &shortened(input));
        }
    }
    if out.len() <= LONG_INPUT {
        return out;
    }
    let mut result = String::with_capacity(out.len().min(4096));
    for (i, word) in out.split(' ').enumerate() {
        if i > 0 {
            result.push(' ');
        }
        // Keep the quotes and punctuation around a long word whole.
        let inner = word.trim_matches(|c: char| matches!(c, '\'' | '"' | ',' | ';' | ':' | '(' | ')'));
        if inner.len() > LONG_INPUT {
            let start = word.find(inner).unwrap_or(0);
            result.push_str(&word[..start]);
            result.push_str(&shortened(inner));
            result.push_str(&word[start + inner.len()..]);
        } else {
            result.push_str(word);
        }
    }
    result
}

/// A word for a shell, for the commands berth suggests: as it is when it needs no quoting, else in single
/// quotes (`'[::1]:80'`), so a suggested command works as printed.
pub fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept() {
        assert!(matches!(printable("python3 -m http.server 8000"), Cow::Borrowed(_)));
        assert_eq!(printable("café 日本 — ok ✓ 🦀"), "café 日本 — ok ✓ 🦀");
        assert!(matches!(printable("café 日本"), Cow::Borrowed(_)));
        // Combining marks, non-breaking spaces and right-to-left letters are text.
        assert_eq!(printable("e\u{301} a\u{a0}b שלום"), "e\u{301} a\u{a0}b שלום");
    }

    #[test]
    fn c0_del_and_c1_controls_are_escaped() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable("a\rb\tc\0"), "a\\rb\\tc\\u{0}");
        assert_eq!(printable("evil\u{1b}[2J"), "evil\\u{1b}[2J");
        assert_eq!(printable("del\u{7f}"), "del\\u{7f}");
        assert_eq!(printable("csi\u{9b}2J"), "csi\\u{9b}2J");
        assert_eq!(printable("\u{80}\u{9f}"), "\\u{80}\\u{9f}");
    }

    #[test]
    fn format_characters_and_separators_are_escaped() {
        assert_eq!(printable("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
        assert_eq!(printable("a\u{2066}b\u{2069}"), "a\\u{2066}b\\u{2069}");
        assert_eq!(printable("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(printable("\u{feff}bom"), "\\u{feff}bom");
        assert_eq!(printable("line\u{2028}para\u{2029}"), "line\\u{2028}para\\u{2029}");
        assert_eq!(printable("\u{200e}\u{200f}\u{61c}\u{ad}"), "\\u{200e}\\u{200f}\\u{61c}\\u{ad}");
        assert_eq!(printable("tag\u{e0041}"), "tag\\u{e0041}");
    }

    #[test]
    fn the_format_table_is_sorted_and_has_the_unicode_count() {
        assert!(FORMAT.windows(2).all(|w| w[0].1 < w[1].0), "sorted, disjoint ranges");
        let count: u32 = FORMAT.iter().map(|(low, high)| high - low + 1).sum();
        assert_eq!(count, 170, "DerivedGeneralCategory: Cf total code points");
        for (low, high) in FORMAT {
            for c in [low, high] {
                assert!(must_escape(char::from_u32(c).unwrap()), "U+{c:04X}");
            }
        }
        for c in ['a', ' ', '~', 'é', '日', '\u{a0}', '\u{2027}', '\u{202f}', '\u{2065}', '\u{fffd}', '\u{1f980}'] {
            assert!(!must_escape(c), "{c:?} is text");
        }
    }

    #[test]
    fn bytes_invalid_utf8_as_hex() {
        assert_eq!(printable_bytes(b"220 ok\r\n"), "220 ok\\r\\n");
        assert_eq!(printable_bytes(b"a\xffb\xc2"), "a\\xffb\\xc2");
        assert_eq!(printable_bytes("日本\u{202e}".as_bytes()), "日本\\u{202e}");
        assert_eq!(printable_bytes(b"\xc2\x9b2J"), "\\u{9b}2J");
        assert!(matches!(printable_bytes(b"plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn push_form_matches() {
        let mut out = String::from("> ");
        push_printable(&mut out, "x\u{202e}y");
        push_printable(&mut out, " ok");
        assert_eq!(out, "> x\\u{202e}y ok");
    }

    /// The routine against its definition (UTF-8 decoded by std, each
    /// character escaped or not, each invalid byte as `\xNN`), on every
    /// kind of byte sequence: random bytes, and random picks of valid
    /// characters, controls, format characters and broken sequences.
    #[test]
    fn bytes_are_escaped_as_defined() {
        fn reference(bytes: &[u8]) -> String {
            let mut out = String::new();
            for chunk in bytes.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if must_escape(c) {
                        out.extend(c.escape_default());
                    } else {
                        out.push(c);
                    }
                }
                for byte in chunk.invalid() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            }
            out
        }
        let pieces: [&[u8]; 12] = [
            b"plain ",
            b"\n",
            b"\x1b[2J",
            "é".as_bytes(),
            "日本".as_bytes(),
            "🦀".as_bytes(),
            "\u{202e}".as_bytes(),
            "\u{9b}".as_bytes(),
            b"\xe2\x82",
            b"\xf0\x9f",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
        ];
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200 {
            let mut bytes = Vec::new();
            for _ in 0..(next() % 600) {
                if round % 2 == 0 {
                    bytes.push(next() as u8);
                } else {
                    bytes.extend_from_slice(pieces[(next() % 12) as usize]);
                }
            }
            let mut out = String::new();
            write_printable_bytes(&mut out, &bytes).unwrap();
            assert_eq!(out, reference(&bytes), "{bytes:?}");
            assert_eq!(printable_bytes(&bytes), reference(&bytes));
        }
    }

    #[test]
    fn long_inputs_are_shortened() {
        let long = "a".repeat(100_000);
        let message = format!("invalid port '{long}': a port is a number");
        let short = shorten_inputs(&message, &[&long]);
        assert_eq!(short, format!("invalid port '{}… (100000 bytes)': a port is a number", "a".repeat(60)));
        // A part of an input quoted alone, found as a long word.
        let part = format!("'{long}' is not an IP address");
        assert!(shorten_inputs(&part, &[]).len() < 120, "{}", &shorten_inputs(&part, &[])[..100]);
        assert_eq!(shorten_inputs("short 'x'", &["x"]), "short 'x'");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("3000"), "3000");
        assert_eq!(shell_word("tcp/127.0.0.1:80"), "tcp/127.0.0.1:80");
        assert_eq!(shell_word("[::1]:80"), "'[::1]:80'");
        assert_eq!(shell_word("a'b"), "'a'\\''b'");
    }
}
