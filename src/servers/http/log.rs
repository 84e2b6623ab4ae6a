//! The request log: one line per request on stderr (unless `--quiet`),
//! safe to show on a terminal, with the server's secret masked.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use super::request::percent_decoded;

/// The start of a request's log line: time, client, method and target.
/// The target is shown safe for a terminal (see [`crate::printable::printable`])
/// and, when the server takes a token, with every token masked (see
/// [`redacted_target`]); at most [`LOG_TARGET_MAX`] bytes of it are kept.
pub(super) fn start_log_line(line: &mut String, peer: SocketAddr, method: &str, target: &str, secret: Option<&str>) {
    use std::fmt::Write as _;
    line.clear();
    let _ = write!(line, "{} {peer} {method} ", clock_time());
    // Masked before it is cut, so that a cut cannot leave part of a secret.
    let target = match secret {
        Some(secret) => redacted_target(target, secret),
        None => Cow::Borrowed(target),
    };
    let target =
        if target.len() > LOG_TARGET_MAX { &target[..floor_char_boundary(&target, LOG_TARGET_MAX)] } else { &target };
    crate::printable::push_printable(line, target);
}

/// Most bytes of a request target the log shows.
const LOG_TARGET_MAX: usize = 300;

/// `target` with the value of every `token` query parameter replaced by
/// `***`, and any other appearance of the token itself too.
///
/// The query is split into `key=value` pairs at `&` and at `;` (which some
/// servers take as a separator too), and a pair is masked when its key is
/// `token` once percent-decoded (`%74oken`), however many pairs there are
/// and whatever comes before them (`?a=token=b&token=SECRET`). The server's
/// own token is then masked wherever else it appears, so that text the
/// pairs do not cover (a `#fragment`, a second `?`, the path) cannot carry
/// it into the log either. Request headers, Authorization among them, are
/// never logged.
fn redacted_target<'t>(target: &'t str, secret: &str) -> Cow<'t, str> {
    let masked = match target.split_once('?') {
        Some((path, query))
            if query.split(['&', ';']).any(|pair| pair.split_once('=').is_some_and(|(key, _)| is_token_key(key))) =>
        {
            let mut out = String::with_capacity(target.len());
            out.push_str(path);
            out.push('?');
            let mut rest = query;
            loop {
                let end = rest.find(['&', ';']).unwrap_or(rest.len());
                let pair = &rest[..end];
                match pair.split_once('=') {
                    Some((key, _)) if is_token_key(key) => {
                        out.push_str(key);
                        out.push_str("=***");
                    }
                    _ => out.push_str(pair),
                }
                if end == rest.len() {
                    break;
                }
                out.push_str(&rest[end..=end]);
                rest = &rest[end + 1..];
            }
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(target),
    };
    if secret.is_empty() || !masked.contains(secret) {
        return masked;
    }
    Cow::Owned(masked.replace(secret, "***"))
}

/// Whether a query key is `token`, once percent-decoded (`%74oken`,
/// `to%6Ben`); a malformed escape is a plain `%`, as a browser reads it.
fn is_token_key(key: &str) -> bool {
    percent_decoded(key.as_bytes()).map(|byte| byte.unwrap_or(b'%')).eq(b"token".iter().copied())
}

pub(super) fn finish_log_line(line: &mut String, status: u16, bytes: u64, took: Duration, note: Option<&str>) {
    use std::fmt::Write as _;
    let _ = write!(line, " {status} {bytes} {:.1}ms", took.as_secs_f64() * 1000.0);
    if let Some(note) = note {
        let _ = write!(line, " ({note})");
    }
    line.push('\n');
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Local time of day, HH:MM:SS.
fn clock_time() -> String {
    // SAFETY: time and localtime_r fill values we own.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "--:--:--".into();
        }
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_masked() {
        let s = "SECRET";
        for (target, expected) in [
            ("/a.txt", "/a.txt"),
            ("/a.txt?x=1", "/a.txt?x=1"),
            ("/?token=SECRET", "/?token=***"),
            ("/?a=token=b&token=SECRET", "/?a=token=b&token=***"),
            ("/?token=S1&token=S2", "/?token=***&token=***"),
            ("/?%74oken=S&to%6Ben=T&%74%6F%6B%65%6E=U", "/?%74oken=***&to%6Ben=***&%74%6F%6B%65%6E=***"),
            ("/?a=1;token=S;b=2", "/?a=1;token=***;b=2"),
            ("/?a=1#token=SECRET", "/?a=1#token=***"),
            ("/?a=b?token=SECRET&c", "/?a=b?token=***&c"),
            ("/SECRET/x", "/***/x"),
            ("/?tokens=1&xtoken=2&token", "/?tokens=1&xtoken=2&token"),
            ("/?%=1&%7=2&token%=3", "/?%=1&%7=2&token%=3"),
        ] {
            assert_eq!(redacted_target(target, s), expected, "{target}");
        }
        assert!(matches!(redacted_target("/plain?x=1", s), Cow::Borrowed(_)));
    }

    #[test]
    fn log_lines_are_masked_cut_and_escaped() {
        let peer: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let mut line = String::new();
        let long = format!("/?{}&token=SECRET", "a".repeat(295));
        start_log_line(&mut line, peer, "GET", &long, Some("SECRET"));
        assert!(!line.contains("SECR"), "{line}");
        start_log_line(&mut line, peer, "GET", "/x\u{9b}2J\u{202e}y", None);
        assert!(line.ends_with(" GET /x\\u{9b}2J\\u{202e}y"), "{line}");
    }
}
