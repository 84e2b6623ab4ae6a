//! Directory listings: an HTML page for browsers, JSON for scripts
//! (`Accept: application/json`). Hidden names are left out unless
//! `--hidden`; every name is escaped for HTML and percent-encoded in links.
//!
//! A listing costs a stat per name, a sort and a page: for a directory of
//! 100,000 names, a second or more of CPU. So it is never built on the
//! event loop, where it would hold up every other request of that worker:
//! the router hands the core a [`Job`] (as a
//! [`Blocking`](crate::servers::http::Blocking) job), which the core runs
//! on tokio's blocking threads, a bounded number at a time.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, RawFd};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;

use super::files::{self, Coding, FileInfo, Kind};
use super::path::{encode_segment, Root};
use crate::servers::http::response::escape_html;

/// A listing to build: everything it needs, owned, so that it can run on
/// another thread while the connection waits.
#[derive(Debug)]
pub struct Job {
    /// The directory, opened safely beneath the root.
    pub dir: File,
    /// The root, for following links with `--follow-symlinks` (every open
    /// stays beneath it).
    pub root: Arc<Root>,
    /// Its decoded path relative to the root.
    pub relative: String,
    /// List names starting with a dot (`--hidden`).
    pub hidden: bool,
    /// JSON rather than HTML.
    pub json: bool,
    /// The coding the client accepts that berth prefers.
    pub coding: Coding,
}

/// A built listing: the body, and what the head says of it.
#[derive(Debug)]
pub struct Built {
    pub body: Bytes,
    pub content_type: &'static [u8],
    /// `br` or `gzip` when the body is compressed.
    pub encoding: Option<&'static [u8]>,
}

impl Job {
    /// Reads the directory and makes the page (compressed when that pays).
    /// Blocking and CPU-heavy for a big directory: run it off the event loop.
    pub fn build(&self) -> io::Result<Built> {
        let entries = read(&self.dir, self.hidden, &self.root, &self.relative)?;
        let (text, content_type): (String, &'static [u8]) = if self.json {
            (json(&self.relative, &entries), b"application/json")
        } else {
            (html(&self.relative, &entries), b"text/html; charset=utf-8")
        };
        drop(entries);
        let encoded = if text.len() >= 256 { files::compress(text.as_bytes(), self.coding) } else { None };
        Ok(match encoded {
            Some(body) => {
                let encoding: &'static [u8] = if self.coding == Coding::Br { b"br" } else { b"gzip" };
                Built { body, content_type, encoding: Some(encoding) }
            }
            None => Built { body: Bytes::from(text), content_type, encoding: None },
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Dir,
    File,
    /// A FIFO, socket or device, or a link berth does not follow.
    Other,
}

/// One name in a directory.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Bytes (0 for directories).
    pub size: u64,
    /// RFC 3339, UTC.
    #[serde(serialize_with = "rfc3339")]
    pub modified: Option<SystemTime>,
    /// The name is a symbolic link (kind and size are its target's when
    /// `--follow-symlinks` reaches one inside the root).
    pub symlink: bool,
}

fn rfc3339<S: serde::Serializer>(time: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(t) => serializer.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string()),
        None => serializer.serialize_none(),
    }
}

/// The entries of an open directory (`relative` under `root`), directories
/// first, then by name. Names that are not UTF-8 are left out (berth could
/// not serve them).
///
/// The names are read from the directory's own descriptor and each is
/// lstat'ed beneath it (fstatat with `AT_SYMLINK_NOFOLLOW`): the very
/// directory that was opened safely beneath the root, with no path looked
/// up again and nothing needed from /proc.
///
/// A symbolic link is described by what berth would serve for it: without
/// `--follow-symlinks` nothing (`other`); with it, its target when the safe
/// open reaches one inside the root, else `other`. So a listing never says
/// anything about a file outside the root.
pub fn read(dir: &File, hidden: bool, root: &Root, relative: &str) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut stream = DirStream::open(dir)?;
    while let Some(c_name) = stream.next_name()? {
        let Ok(name) = c_name.to_str() else { continue };
        if name == "." || name == ".." || (name.starts_with('.') && !hidden) {
            continue;
        }
        let Ok(own) = lstat_at(stream.fd(), &c_name) else { continue };
        let symlink = own.st_mode & libc::S_IFMT == libc::S_IFLNK;
        let own = FileInfo::from_stat(&own);
        let (kind, size, modified) = if symlink {
            let target = if root.follows_symlinks() {
                let path = if relative.is_empty() { name.to_string() } else { format!("{relative}/{name}") };
                root.open_beneath(&path).ok().map(|opened| opened.info)
            } else {
                None
            };
            match target {
                Some(info) if info.kind == Kind::Dir => (EntryKind::Dir, 0, info.modified()),
                Some(info) => (EntryKind::File, info.size, info.modified()),
                None => (EntryKind::Other, 0, own.modified()),
            }
        } else {
            match own.kind {
                Kind::Dir => (EntryKind::Dir, 0, own.modified()),
                Kind::File => (EntryKind::File, own.size, own.modified()),
                Kind::Other => (EntryKind::Other, 0, own.modified()),
            }
        };
        entries.push(Entry { name: name.to_string(), kind, size, modified: Some(modified), symlink });
    }
    // Each name is lowercased once, not once per comparison.
    entries.sort_by_cached_key(|e| (e.kind != EntryKind::Dir, e.name.to_lowercase(), e.name.clone()));
    Ok(entries)
}

/// A directory being read (readdir(3) over a duplicate of its descriptor,
/// which closedir closes; the original stays open for its owner).
struct DirStream(std::ptr::NonNull<libc::DIR>);

impl DirStream {
    fn open(dir: &File) -> io::Result<DirStream> {
        let copy = dir.as_fd().try_clone_to_owned()?;
        // SAFETY: fdopendir takes the descriptor over when it succeeds.
        let stream = unsafe { libc::fdopendir(copy.as_raw_fd()) };
        let stream = std::ptr::NonNull::new(stream).ok_or_else(io::Error::last_os_error)?;
        let _ = copy.into_raw_fd(); // the stream owns it now
                                    // The copy shares its offset with `dir`: read from the start.
                                    // SAFETY: a stream fdopendir just returned.
        unsafe { libc::rewinddir(stream.as_ptr()) };
        Ok(DirStream(stream))
    }

    fn fd(&self) -> RawFd {
        // SAFETY: an open stream.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next name (`.` and `..` included), None at the end.
    fn next_name(&mut self) -> io::Result<Option<CString>> {
        // SAFETY: readdir on our open stream; it sets errno only on error,
        // so errno is cleared first. The entry is valid until the next
        // readdir, and its name is copied out before that.
        unsafe {
            *libc::__errno_location() = 0;
            let entry = libc::readdir(self.0.as_ptr());
            if entry.is_null() {
                return match *libc::__errno_location() {
                    0 => Ok(None),
                    errno => Err(io::Error::from_raw_os_error(errno)),
                };
            }
            Ok(Some(CStr::from_ptr((*entry).d_name.as_ptr()).to_owned()))
        }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: closing our stream (and its descriptor) once.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

/// lstat of `name` beneath the directory `dir`: the name itself, a link
/// included, never what it points to.
fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: fstatat writes into a zeroed stat we own; the name is NUL-terminated.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

#[derive(Serialize)]
struct Listing<'a> {
    /// The URL path of the directory, ending with '/'.
    path: &'a str,
    entries: &'a [Entry],
}

/// `{"path": "/sub/", "entries": [...]}`; `relative` is the decoded path.
pub fn json(relative: &str, entries: &[Entry]) -> String {
    let path = url_path(relative);
    let mut text = serde_json::to_string_pretty(&Listing { path: &path, entries }).unwrap_or_default();
    text.push('\n');
    text
}

fn url_path(relative: &str) -> String {
    if relative.is_empty() {
        "/".to_string()
    } else {
        format!("/{relative}/")
    }
}

/// The HTML page. Links are relative to the directory, so the page works
/// behind a prefix too; the breadcrumb links each parent.
pub fn html(relative: &str, entries: &[Entry]) -> String {
    let mut page = String::with_capacity(2048 + entries.len() * 160);
    let mut title = String::new();
    escape_html(&url_path(relative), &mut title);
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    page.push_str("<title>Index of ");
    page.push_str(&title);
    page.push_str("</title>\n<style>\n");
    page.push_str(STYLE);
    page.push_str("</style>\n</head>\n<body>\n<h1>Index of <nav id=\"crumbs\"><a href=\"/\">/</a>");
    let mut href = String::from("/");
    for segment in relative.split('/').filter(|s| !s.is_empty()) {
        encode_segment(segment, &mut href);
        href.push('/');
        page.push_str("<a href=\"");
        page.push_str(&href);
        page.push_str("\">");
        escape_html(segment, &mut page);
        page.push_str("</a>/");
    }
    page.push_str("</nav></h1>\n<table id=\"listing\">\n<thead><tr><th>Name</th><th class=\"size\">Size</th><th>Modified</th></tr></thead>\n<tbody>\n");
    if !relative.is_empty() {
        page.push_str("<tr class=\"dir\" data-name=\"..\"><td><a href=\"../\">../</a></td><td class=\"size\"></td><td></td></tr>\n");
    }
    for entry in entries {
        let class = match entry.kind {
            EntryKind::Dir => "dir",
            EntryKind::File => "file",
            EntryKind::Other => "other",
        };
        page.push_str("<tr class=\"");
        page.push_str(class);
        page.push_str("\" data-name=\"");
        escape_html(&entry.name, &mut page);
        page.push_str("\"><td><a href=\"");
        encode_segment(&entry.name, &mut page);
        if entry.kind == EntryKind::Dir {
            page.push('/');
        }
        page.push_str("\">");
        escape_html(&entry.name, &mut page);
        if entry.kind == EntryKind::Dir {
            page.push('/');
        }
        page.push_str("</a>");
        if entry.symlink {
            page.push_str(" <span class=\"link\">symlink</span>");
        }
        page.push_str("</td><td class=\"size\">");
        if entry.kind == EntryKind::File {
            page.push_str(&human_size(entry.size));
        }
        page.push_str("</td><td>");
        if let Some(modified) = entry.modified {
            let stamp = humantime::format_rfc3339_seconds(modified).to_string();
            page.push_str(stamp.replace('T', " ").trim_end_matches('Z'));
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</tbody>\n</table>\n<footer>");
    page.push_str(&entries.len().to_string());
    page.push_str(if entries.len() == 1 { " entry" } else { " entries" });
    page.push_str(" &middot; berth serve &middot; times in UTC</footer>\n</body>\n</html>\n");
    page
}

const STYLE: &str = "\
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
h1 { font-size: 1.25rem; font-weight: 600; }
nav { display: inline; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.75rem; border-bottom: 1px solid #8883; }
td.size, th.size { text-align: right; font-variant-numeric: tabular-nums; }
tr.dir a { font-weight: 600; }
a { text-decoration: none; }
a:hover { text-decoration: underline; }
.link { font-size: 0.75rem; opacity: 0.6; }
footer { margin-top: 1rem; font-size: 0.8rem; opacity: 0.6; }
";

/// 1536 → "1.5 KiB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::super::path::tests::Scratch;
    use super::*;

    fn entry(name: &str, kind: EntryKind) -> Entry {
        Entry { name: name.into(), kind, size: 1536, modified: None, symlink: false }
    }

    #[test]
    fn page_escapes_and_encodes() {
        let entries = [entry("sub dir", EntryKind::Dir), entry("<b>&\".txt", EntryKind::File)];
        let page = html("a b", &entries);
        assert!(page.contains("<a href=\"sub%20dir/\">sub dir/</a>"), "{page}");
        assert!(page.contains("<a href=\"%3Cb%3E%26%22.txt\">&lt;b&gt;&amp;&quot;.txt</a>"), "{page}");
        assert!(page.contains("<a href=\"/a%20b/\">a b</a>/"), "{page}");
        assert!(page.contains("1.5 KiB"));
        assert!(!page.contains("<b>"));
    }

    #[test]
    fn json_listing() {
        let entries = [entry("x", EntryKind::File)];
        let value: serde_json::Value = serde_json::from_str(&json("", &entries)).unwrap();
        assert_eq!(value["path"], "/");
        assert_eq!(value["entries"][0]["name"], "x");
        assert_eq!(value["entries"][0]["type"], "file");
        assert_eq!(value["entries"][0]["size"], 1536);
    }

    /// What the listing said when it read the directory with std's
    /// read_dir and lstat (as it did through /proc/self/fd): the reader of
    /// the descriptor must say the same, name for name.
    fn reference(dir: &std::path::Path, hidden: bool) -> Vec<(String, EntryKind, u64, bool)> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|item| item.expect("an entry"))
            .filter_map(|item| {
                let name = item.file_name().into_string().ok()?;
                if name.starts_with('.') && !hidden {
                    return None;
                }
                let own = item.metadata().expect("lstat");
                let kind = if own.file_type().is_symlink() {
                    EntryKind::Other
                } else if own.is_dir() {
                    EntryKind::Dir
                } else if own.is_file() {
                    EntryKind::File
                } else {
                    EntryKind::Other
                };
                let size = if kind == EntryKind::File { own.len() } else { 0 };
                Some((name, kind, size, own.file_type().is_symlink()))
            })
            .collect();
        entries.sort_by_cached_key(|e| (e.1 != EntryKind::Dir, e.0.to_lowercase(), e.0.clone()));
        entries
    }

    #[test]
    fn the_directory_is_read_from_its_descriptor() {
        use std::os::unix::ffi::OsStrExt;
        let dir = Scratch::new("listing");
        dir.write("b.txt", "bee\n");
        dir.write("A.txt", "a longer file\n");
        dir.write("sub/inner.txt", "x");
        dir.write(".hidden", "h");
        dir.write(".hidden-dir/x", "h");
        std::fs::write(dir.0.join("caf\u{e9}.txt"), "").expect("a UTF-8 name");
        // A name that is not UTF-8 is left out.
        std::fs::write(dir.0.join(std::ffi::OsStr::from_bytes(b"bad-\xff")), "").expect("a non-UTF-8 name");
        std::os::unix::fs::symlink("b.txt", dir.0.join("link.txt")).expect("symlink");
        std::os::unix::fs::symlink("/", dir.0.join("slash")).expect("symlink");
        std::os::unix::fs::symlink("missing", dir.0.join("dangling")).expect("symlink");
        let fifo = CString::new(dir.0.join("fifo").as_os_str().as_bytes()).expect("path");
        // SAFETY: mkfifo of a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        // Before 1970: shown as the epoch (formatting an earlier time panics).
        let old = File::create(dir.0.join("old.txt")).expect("create");
        old.set_modified(std::time::UNIX_EPOCH - std::time::Duration::from_secs(86_400)).expect("utimensat");
        let root = Root::open(&dir.0, false).expect("root");
        for hidden in [false, true] {
            let listed = read(&root.open_beneath("").expect("the root").file, hidden, &root, "").expect("read");
            let got: Vec<_> = listed.iter().map(|e| (e.name.clone(), e.kind, e.size, e.symlink)).collect();
            assert_eq!(got, reference(&dir.0, hidden), "hidden {hidden}");
            assert!(got.iter().all(|e| e.0 != "." && e.0 != ".." && !e.0.starts_with("bad-")));
            assert_eq!(got.iter().any(|e| e.0 == ".hidden"), hidden);
            assert!(listed.iter().all(|e| e.modified.is_some()));
            assert!(json("", &listed).contains("\"old.txt\""));
            assert!(html("", &listed).contains("1970-01-01 00:00:00"));
        }
        let listed = read(&root.open_beneath("").expect("the root").file, false, &root, "").expect("read");
        let names: Vec<_> = listed.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["sub", "A.txt", "b.txt", "caf\u{e9}.txt", "dangling", "fifo", "link.txt", "old.txt", "slash"]
        );
        // Read twice from one descriptor: both times from the start.
        let opened = root.open_beneath("").expect("the root").file;
        let first = read(&opened, false, &root, "").expect("read").len();
        assert_eq!(read(&opened, false, &root, "").expect("read again").len(), first);
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1024 * 1024 * 3 / 2), "1.5 MiB");
    }
}
