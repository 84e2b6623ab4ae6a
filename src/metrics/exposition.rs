//! The two text formats Prometheus reads, chosen by the scraper's Accept
//! header: OpenMetrics 1.0 (what prometheus-client writes, and what
//! Prometheus asks for first) and the classic text format 0.0.4 (what
//! node_exporter's textfile collector, older scrapers and curl get).
//!
//! The classic text is derived from the OpenMetrics text rather than
//! encoded twice: the samples are identical, and only three things differ
//! for the series berth exports: a counter's `# TYPE`/`# HELP` name
//! carries its `_total` suffix, `# UNIT` lines do not exist, and there is
//! no `# EOF`.

use bytes::Bytes;

/// Which format a scraper gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Prometheus,
}

impl Format {
    /// OpenMetrics when the Accept header names it with a non-zero
    /// quality, as Prometheus's does; the classic text otherwise.
    pub fn negotiate(accept: Option<&[u8]>) -> Format {
        let Some(accept) = accept.and_then(|a| std::str::from_utf8(a).ok()) else { return Format::Prometheus };
        let wants = accept.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let kind = parts.next().unwrap_or("");
            let refused = parts
                .any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
            kind.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
        if wants {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    pub fn content_type(self) -> &'static [u8] {
        match self {
            Format::OpenMetrics => b"application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => b"text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// One collection, shared by every scraper that asked while it was being
/// made; the classic text is derived once, by the first that wants it.
#[derive(Debug)]
pub struct Exposition {
    openmetrics: Bytes,
    prometheus: std::sync::OnceLock<Bytes>,
}

impl Exposition {
    pub fn from_openmetrics(text: String) -> Exposition {
        Exposition { openmetrics: Bytes::from(text), prometheus: std::sync::OnceLock::new() }
    }

    pub fn body(&self, format: Format) -> Bytes {
        match format {
            Format::OpenMetrics => self.openmetrics.clone(),
            Format::Prometheus => self
                .prometheus
                .get_or_init(|| {
                    // The OpenMetrics text was made from a String.
                    let text = std::str::from_utf8(&self.openmetrics).unwrap_or_default();
                    Bytes::from(classic_text(text))
                })
                .clone(),
        }
    }
}

/// The classic text format of an OpenMetrics text (see the module doc).
/// Only comment lines change; the samples between them (nearly all of
/// the text) are copied a run at a time.
pub fn classic_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut rest = openmetrics;
    while !rest.is_empty() {
        if !rest.starts_with('#') {
            // Samples up to the next comment line.
            let end = rest.find("\n#").map_or(rest.len(), |at| at + 1);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let end = rest.find('\n').map_or(rest.len(), |at| at + 1);
        let line = rest[..end].trim_end_matches('\n');
        rest = &rest[end..];
        comment_line(line, &mut out);
    }
    out
}

/// One `#` line of the OpenMetrics text, as the classic format has it.
fn comment_line(line: &str, out: &mut String) {
    if line == "# EOF" || line.starts_with("# UNIT ") {
        return;
    }
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        if let Some(name) = rest.strip_suffix(" counter") {
            debug_assert!(COUNTERS.contains(&name), "counter {name} is missing from COUNTERS");
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push_str("_total counter\n");
            return;
        }
        if let Some(name) = rest.strip_suffix(" unknown") {
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push_str(" untyped\n");
            return;
        }
    }
    if let Some(rest) = line.strip_prefix("# HELP ") {
        let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
        // HELP comes before TYPE: a counter's is told by its name.
        if COUNTERS.contains(&name) {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push_str("_total ");
            out.push_str(help);
            out.push('\n');
            return;
        }
    }
    out.push_str(line);
    out.push('\n');
}

/// The counters berth registers (without `_total`, as registered): their
/// HELP lines come before their TYPE line, so they are named here.
const COUNTERS: [&str; 3] = ["berth_port_received_bytes", "berth_port_sent_bytes", "berth_close_messages_dropped"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept() {
        let prometheus_2 = b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus_2)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some(b"text/plain")), Format::Prometheus);
        assert_eq!(Format::negotiate(Some(b"*/*")), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some(b"application/openmetrics-text; q=0")), Format::Prometheus);
        assert_eq!(Format::negotiate(Some(b"\xff")), Format::Prometheus);
    }

    #[test]
    fn classic_text_renames_counters_and_drops_eof() {
        let om = "# HELP berth_port_sent_bytes Bytes sent.\n# TYPE berth_port_sent_bytes counter\nberth_port_sent_bytes_total{port=\"80\"} 5\n# HELP berth_listeners Listeners.\n# TYPE berth_listeners gauge\nberth_listeners{scope=\"all\"} 1\n# EOF\n";
        let classic = classic_text(om);
        assert_eq!(
            classic,
            "# HELP berth_port_sent_bytes_total Bytes sent.\n# TYPE berth_port_sent_bytes_total counter\nberth_port_sent_bytes_total{port=\"80\"} 5\n# HELP berth_listeners Listeners.\n# TYPE berth_listeners gauge\nberth_listeners{scope=\"all\"} 1\n"
        );
    }
}
