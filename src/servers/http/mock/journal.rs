//! The request journal: what each request was and which answer the mock
//! chose, kept for `GET /__berth/requests` (the last [`KEPT`] requests, so
//! that a test can assert what its client sent) and, with `--journal
//! FILE`, appended to a JSON Lines file by a thread of its own, so that
//! the event loop never waits on the disk.
//!
//! The schema (docs/mock.md, "The journal"):
//! `{"time","peer","method","path","query","headers":[[name,value]...],
//!   "body","body_base64","body_truncated","status","operation","route",
//!   "response","errors":[{"pointer","detail"}],"fault","delay_ms"}`.

use crate::stderr::say;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

/// Requests `GET /__berth/requests` can show.
pub const KEPT: usize = 1000;

/// Body bytes kept per request.
pub const BODY_KEPT: usize = 64 * 1024;

/// One request and its answer.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: SystemTime,
    pub peer: String,
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    pub query: Option<String>,
    /// Every header field, in order: [name, value].
    pub headers: Vec<(String, String)>,
    /// The body as text when it is UTF-8...
    pub body: Option<String>,
    /// ...else base64.
    pub body_base64: Option<String>,
    /// Only the first [`BODY_KEPT`] bytes are kept.
    pub body_truncated: bool,
    /// 0: no answer (a reset or empty-reply fault).
    pub status: u16,
    /// The operationId, when the spec gives one.
    pub operation: Option<String>,
    /// "GET /pets/{petId}": the operation's method and template.
    pub route: Option<String>,
    /// How the answer was made: "example", "example:NAME", "generated",
    /// "literal" (a routes file), "proxy", "invalid", "unauthorized",
    /// "not-found", "method-not-allowed", "not-acceptable", "fault".
    pub response: String,
    pub errors: Vec<Problem>,
    /// The injected fault: "status 500", "reset", "empty", "stall".
    pub fault: Option<String>,
    pub delay_ms: Option<f64>,
}

/// One failing part of a request: where (a JSON pointer into
/// `{path, query, header, cookie, body}`) and what.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub detail: String,
}

fn rfc3339_millis<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*time))
}

/// The journal of one mock server.
pub struct Journal {
    recent: Mutex<VecDeque<Arc<Entry>>>,
    file: Option<mpsc::Sender<Arc<Entry>>>,
}

impl Journal {
    /// With `file`, entries are appended to it (created if missing).
    pub fn open(file: Option<&Path>) -> Result<Journal, String> {
        let file = match file {
            None => None,
            Some(path) => {
                let out = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                    format!(
                        "cannot open the journal {}: {e}; check the directory exists and is writable",
                        path.display()
                    )
                })?;
                let (sender, receiver) = mpsc::channel();
                let shown = path.display().to_string();
                std::thread::Builder::new()
                    .name("berth-journal".into())
                    .spawn(move || write_lines(out, receiver, &shown))
                    .map_err(|e| format!("cannot start the journal's thread: {e}"))?;
                Some(sender)
            }
        };
        Ok(Journal { recent: Mutex::new(VecDeque::with_capacity(KEPT)), file })
    }

    pub fn record(&self, entry: Entry) {
        let entry = Arc::new(entry);
        if let Some(file) = &self.file {
            let _ = file.send(entry.clone());
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// The kept entries, oldest first, that pass `keep`.
    pub fn recent(&self, keep: impl Fn(&Entry) -> bool) -> Vec<Arc<Entry>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().filter(|entry| keep(entry)).cloned().collect()
    }

    pub fn clear(&self) {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The file's writer: one line per entry, flushed whenever no more are
/// waiting (so a burst is one write, and a quiet server's file is whole).
fn write_lines(file: File, entries: mpsc::Receiver<Arc<Entry>>, shown: &str) {
    let mut out = BufWriter::new(file);
    let mut failed = false;
    while let Ok(mut entry) = entries.recv() {
        loop {
            let written = serde_json::to_writer(&mut out, &*entry).map_err(std::io::Error::other);
            if let Err(error) = written.and_then(|()| out.write_all(b"\n")) {
                if !failed {
                    say!("berth: warning: cannot write the journal {shown}: {error}; requests go on being served");
                    failed = true;
                }
            }
            match entries.try_recv() {
                Ok(next) => entry = next,
                Err(_) => break,
            }
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(path: &str) -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH,
            peer: "127.0.0.1:1".into(),
            method: "GET".into(),
            path: path.into(),
            query: None,
            headers: vec![("Host".into(), "localhost".into())],
            body: None,
            body_base64: None,
            body_truncated: false,
            status: 200,
            operation: None,
            route: None,
            response: "example".into(),
            errors: vec![],
            fault: None,
            delay_ms: None,
        }
    }

    #[test]
    fn the_journal_keeps_the_last_requests_and_writes_every_one() {
        let dir = std::env::temp_dir().join(format!("berth-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.jsonl");
        let _ = std::fs::remove_file(&path);
        let journal = Journal::open(Some(&path)).unwrap();
        for n in 0..KEPT + 5 {
            journal.record(entry(&format!("/{n}")));
        }
        let recent = journal.recent(|_| true);
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].path, "/5");
        assert_eq!(journal.recent(|e| e.path == "/7").len(), 1);
        let lines = (0..200)
            .find_map(|_| {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.lines().count() == KEPT + 5 {
                    return Some(text);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                None
            })
            .expect("every entry written");
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["path"], "/0");
        assert_eq!(first["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(first["headers"][0][0], "Host");
        journal.clear();
        assert!(journal.recent(|_| true).is_empty());
        assert!(Journal::open(Some(&dir.join("missing/x.jsonl"))).err().unwrap().contains("cannot open the journal"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
