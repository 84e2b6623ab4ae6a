//! Static files: validators (ETag, Last-Modified), conditional requests,
//! single ranges, gzip/brotli, and a per-thread cache.
//!
//! The cache is what makes small files fast: for each file berth keeps the
//! parts of the response head that do not change between requests, and for
//! files up to [`SMALL_FILE`] the content and its compressed forms. A hit is
//! served without touching the file system while inotify reports no change
//! ([`super::freshness`]); otherwise the path is opened again beneath the root
//! ([`Root::open_beneath`]) and the descriptor's fstat(2) compared with the
//! entry's: device, inode, size, and modification and change times to the
//! nanosecond. The change time (ctime) is what catches a rewrite that keeps
//! the size and puts the old mtime back (`cp -p`, `tar -x`, `rsync -t
//! --inplace`): nobody can set it. Entries only come from files opened
//! through [`Root::open_beneath`], and a hit needs the safe open to lead to
//! that same version of that same inode, so the cache cannot be used to
//! reach a file the safe open would refuse; no path is ever stat'ed.
//! Larger files go from the page cache to the socket with sendfile(2),
//! without passing through berth.
//!
//! Each worker thread has its own cache (no locks on the hot path); the
//! compressed forms of large files are shared (`BigCompressed`), as
//! compressing them is the expensive part.

use std::cell::{Cell, OnceCell, RefCell};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::freshness::{self, Watches};
use super::path::Root;
use crate::servers::http::request::{trim, Encodings, Method, Request};
use crate::servers::http::response::{Body, Head, Reply};

/// Files up to this size are kept in memory and written from there; larger
/// ones are sent with sendfile(2).
pub const SMALL_FILE: u64 = 64 * 1024;
/// Memory for cached file contents, per worker thread.
const CACHE_BUDGET: usize = 32 << 20;
/// Smaller bodies are not worth compressing.
const COMPRESS_MIN: u64 = 256;
/// Larger files are always sent as they are (compressing them would hold a
/// worker too long).
const COMPRESS_MAX: u64 = 8 << 20;
/// Memory for compressed forms of files above [`SMALL_FILE`], shared.
const BIG_COMPRESSED_BUDGET: usize = 64 << 20;

/// What fstat(2) says about an open file, as far as serving it goes. Two
/// are equal only if they describe the same version of the same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileInfo {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    /// The inode change time: set by the kernel on every write and
    /// metadata change, and, unlike mtime, impossible to set back.
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    File,
    Dir,
    /// FIFOs, sockets, devices: never served.
    Other,
}

impl FileInfo {
    pub fn from_stat(st: &libc::stat) -> FileInfo {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            _ => Kind::Other,
        };
        FileInfo {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec,
            ctime: st.st_ctime,
            ctime_nsec: st.st_ctime_nsec,
            kind,
        }
    }

    pub fn modified(&self) -> SystemTime {
        if self.mtime >= 0 {
            UNIX_EPOCH + Duration::new(self.mtime as u64, self.mtime_nsec.clamp(0, 999_999_999) as u32)
        } else {
            UNIX_EPOCH
        }
    }
}

/// What fstat(2) of an open file says, as far as serving it goes.
pub fn stat_file(file: &File) -> io::Result<FileInfo> {
    fstat(file).map(|st| FileInfo::from_stat(&st))
}

/// fstat(2) of a descriptor: the server's one way to ask what an open
/// file, directory or link is.
pub fn fstat(fd: impl AsFd) -> io::Result<libc::stat> {
    // SAFETY: fstat writes into a zeroed stat we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_fd().as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Coding {
    fn suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => "-gz",
            Coding::Br => "-br",
        }
    }
}

/// The response-head parts of one version of one file, computed once.
#[derive(Debug)]
pub struct Meta {
    pub info: FileInfo,
    pub compressible: bool,
    /// The ETag of the identity form, quoted: "inode-mtime-ctime-size" in
    /// hex (times in nanoseconds), so that a rewrite that keeps size and
    /// mtime still gets a new tag.
    etag: String,
    last_modified: String,
    /// "Content-Type: ...\r\n".
    type_line: Vec<u8>,
    /// Last-Modified, Accept-Ranges, Cache-Control, nosniff and (for
    /// compressible types) Vary, as header lines.
    validator_lines: Vec<u8>,
}

impl Meta {
    /// `name` is the file name, for the type; `sample` the start of the
    /// content, to recognise text files without an extension.
    pub fn new(info: FileInfo, name: &str, sample: &[u8]) -> Meta {
        let content_type = content_type(name, sample);
        let compressible = is_compressible(&content_type);
        let nanos = |secs: i64, nsec: i64| secs.wrapping_mul(1_000_000_000).wrapping_add(nsec) as u64;
        let etag = format!(
            "\"{:x}-{:x}-{:x}-{:x}\"",
            info.ino,
            nanos(info.mtime, info.mtime_nsec),
            nanos(info.ctime, info.ctime_nsec),
            info.size
        );
        let last_modified = httpdate::fmt_http_date(info.modified());
        let type_line = format!("Content-Type: {content_type}\r\n").into_bytes();
        let mut validator_lines = format!(
            "Last-Modified: {last_modified}\r\nAccept-Ranges: bytes\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
        )
        .into_bytes();
        if compressible {
            validator_lines.extend_from_slice(b"Vary: Accept-Encoding\r\n");
        }
        Meta { info, compressible, etag, last_modified, type_line, validator_lines }
    }

    fn write_etag(&self, head: &mut Head<'_>, coding: Coding) {
        if coding == Coding::Identity {
            head.header("ETag", self.etag.as_bytes());
        } else {
            let mut tagged = Vec::with_capacity(self.etag.len() + 3);
            tagged.extend_from_slice(&self.etag.as_bytes()[..self.etag.len() - 1]);
            tagged.extend_from_slice(coding.suffix().as_bytes());
            tagged.push(b'"');
            head.header("ETag", &tagged);
        }
    }

    /// Does an entity tag from the client (quotes included, W/ allowed)
    /// name this file's form `coding`?
    fn tag_matches(&self, tag: &[u8], coding: Coding) -> bool {
        let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
        let own = self.etag.as_bytes();
        let suffix = coding.suffix().as_bytes();
        tag.len() == own.len() + suffix.len()
            && tag[..own.len() - 1] == own[..own.len() - 1]
            && &tag[own.len() - 1..tag.len() - 1] == suffix
            && tag.last() == Some(&b'"')
    }
}

/// A cached file: its head parts and, when small, its content.
#[derive(Debug)]
pub struct Cached {
    pub meta: Meta,
    /// The content, for files up to [`SMALL_FILE`].
    body: Option<Bytes>,
    gzip: OnceCell<Option<Bytes>>,
    br: OnceCell<Option<Bytes>>,
    /// The inotify watches on the file and its directories; None: not
    /// watched, so checked on every request.
    watches: Option<Watches>,
    /// The watch generation and time of the last check that the file is
    /// unchanged; None: check it next time.
    checked: Cell<Option<(u64, Instant)>>,
}

impl Cached {
    /// The content is in memory (a small file).
    pub fn in_memory(&self) -> bool {
        self.body.is_some()
    }

    /// Bytes charged to the cache budget (the content, room for its
    /// compressed forms, and the head parts).
    fn cost(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.len() * 2) + 512
    }
}

struct Cache {
    entries: FxHashMap<Box<str>, Rc<Cached>>,
    bytes: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache { entries: FxHashMap::default(), bytes: 0 });
}

/// The cached entry for `relative` if it can be trusted without a check:
/// nothing watched has changed since it was last checked (`generation` is
/// the current [`freshness::generation`]), recently.
pub fn lookup_unchanged(relative: &str, generation: Option<u64>) -> Option<Rc<Cached>> {
    let generation = generation?;
    CACHE.with(|cache| {
        let cache = cache.borrow();
        let entry = cache.entries.get(relative)?;
        let (checked, at) = entry.checked.get()?;
        let fresh = entry.watches.is_some()
            && checked == generation
            && at.elapsed() < Duration::from_millis(freshness::TRUST_MS);
        fresh.then(|| entry.clone())
    })
}

/// The cached entry for `relative`, if it is still the file `info` (the
/// fstat of a descriptor just opened beneath the root) describes;
/// `generation` is the watch generation read before that open.
pub fn lookup(relative: &str, info: &FileInfo, generation: Option<u64>) -> Option<Rc<Cached>> {
    CACHE.with(|cache| {
        let cache = cache.borrow();
        let entry = cache.entries.get(relative)?;
        if entry.meta.info != *info {
            return None;
        }
        entry.checked.set(generation.map(|g| (g, Instant::now())));
        Some(entry.clone())
    })
}

/// Forgets the entry for `relative` (the path no longer opens), so that its
/// watches are given back.
pub fn forget(relative: &str) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(old) = cache.entries.remove(relative) {
            cache.bytes = cache.bytes.saturating_sub(old.cost());
        }
    });
}

/// Reads an opened file (whose fstat is `info`) into a cache entry, keeps
/// it, and returns it. `root` is the served directory, for the watches.
pub fn load(root: &Root, relative: &str, file: &File, info: FileInfo) -> io::Result<Rc<Cached>> {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    // Watch first, then read: a change after this point bumps the generation.
    let watches = freshness::watch(root, relative, file);
    let generation = freshness::generation();
    let (meta, body) = if info.size <= SMALL_FILE {
        let mut content = Vec::with_capacity(info.size as usize);
        file.take(SMALL_FILE + 1).read_to_end(&mut content)?;
        let info = FileInfo { size: content.len() as u64, ..info };
        (Meta::new(info, name, &content), Some(Bytes::from(content)))
    } else {
        let mut sample = [0u8; 512];
        let n = file.read_at(&mut sample, 0)?;
        (Meta::new(info, name, &sample[..n]), None)
    };
    // A file that changed while being read is served as read, but checked
    // on the next request (which then reloads it).
    let unchanged = stat_file(file).ok() == Some(meta.info);
    // The watches were added after the caller's open: a swap of a directory
    // on the path in between queued no event (nothing watched it yet), so
    // the path is resolved once more, now under watch. Only when it still
    // leads to this file may the entry be trusted without a check;
    // otherwise the next request opens the path again.
    let still_this_file =
        || root.open_beneath(relative).is_ok_and(|opened| opened.info.dev == info.dev && opened.info.ino == info.ino);
    let checked =
        generation.filter(|_| unchanged && watches.is_some() && still_this_file()).map(|g| (g, Instant::now()));
    let entry = Cached { meta, body, gzip: OnceCell::new(), br: OnceCell::new(), watches, checked: Cell::new(checked) };
    let entry = Rc::new(entry);
    let cost = entry.cost();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.bytes + cost > CACHE_BUDGET {
            // Simple and bounded: start over. Hot files come back at once.
            cache.entries.clear();
            cache.bytes = 0;
        }
        if let Some(old) = cache.entries.insert(relative.into(), entry.clone()) {
            cache.bytes = cache.bytes.saturating_sub(old.cost());
        }
        cache.bytes += cost;
    });
    Ok(entry)
}

/// The source of a response body: the cached content, or the open file.
pub enum Source {
    Memory,
    Disk(File),
}

/// Answers a GET or HEAD for a file: 200, 206, 304 or 416, with the
/// content coding the client accepts when the type is worth compressing.
/// `extra` holds header lines the caller adds to every response (CORS,
/// Set-Cookie, Connection).
pub fn respond(head_buf: &mut Vec<u8>, request: &Request<'_>, entry: &Cached, source: Source, extra: &[u8]) -> Reply {
    let meta = &entry.meta;
    let size = entry.body.as_ref().map_or(meta.info.size, |b| b.len() as u64);
    let (coding, encoded) = choose_coding(request, entry, &source, size);

    if not_modified(request, meta, coding) {
        let mut head = Head::start(head_buf, 304);
        meta.write_etag(&mut head, coding);
        head.raw(&meta.validator_lines).raw(extra).finish();
        return Reply { status: 304, body: Body::Empty, close: false, note: None };
    }

    let range = if coding == Coding::Identity && if_range_allows(request, meta) {
        request.range.map_or(RangeSpec::Full, |r| parse_range(r, size))
    } else {
        RangeSpec::Full
    };
    if range == RangeSpec::Unsatisfiable {
        let mut head = Head::start(head_buf, 416);
        head.header("Content-Range", format!("bytes */{size}").as_bytes()).number("Content-Length", 0);
        head.raw(&meta.validator_lines).raw(extra).finish();
        return Reply { status: 416, body: Body::Empty, close: false, note: Some("range not satisfiable") };
    }
    let (status, start, len) = match range {
        RangeSpec::Part(start, end) => (206, start, end - start + 1),
        _ => (200, 0, encoded.as_ref().map_or(size, |e| e.len() as u64)),
    };

    let mut head = Head::start(head_buf, status);
    head.number("Content-Length", len);
    if status == 206 {
        head.content_range(start, start + len - 1, size);
    }
    match coding {
        Coding::Gzip => head.header("Content-Encoding", b"gzip"),
        Coding::Br => head.header("Content-Encoding", b"br"),
        Coding::Identity => &mut head,
    };
    meta.write_etag(&mut head, coding);
    head.raw(&meta.type_line).raw(&meta.validator_lines).raw(extra).finish();

    let body = if request.method() == Method::Head {
        Body::Empty
    } else if let Some(encoded) = encoded {
        Body::Bytes(encoded)
    } else {
        match (source, &entry.body) {
            (Source::Memory, Some(content)) => Body::Bytes(content.slice(start as usize..(start + len) as usize)),
            (Source::Disk(file), _) => Body::File { file, offset: start, len },
            (Source::Memory, None) => Body::Empty,
        }
    };
    Reply { status, body, close: false, note: None }
}

/// Picks the content coding and returns the encoded body for it.
fn choose_coding(request: &Request<'_>, entry: &Cached, source: &Source, size: u64) -> (Coding, Option<Bytes>) {
    let accepts = request.accept_encoding;
    let meta = &entry.meta;
    if request.range.is_some()
        || !meta.compressible
        || !(COMPRESS_MIN..=COMPRESS_MAX).contains(&size)
        || accepts == Encodings::default()
    {
        return (Coding::Identity, None);
    }
    let wanted = if accepts.br { Coding::Br } else { Coding::Gzip };
    let encoded = match (&entry.body, source) {
        (Some(content), _) => {
            let cell = if wanted == Coding::Br { &entry.br } else { &entry.gzip };
            cell.get_or_init(|| compress(content, wanted)).clone()
        }
        (None, Source::Disk(file)) => BigCompressed::get(meta, file, wanted),
        (None, Source::Memory) => None,
    };
    match encoded {
        Some(encoded) => (wanted, Some(encoded)),
        None => (Coding::Identity, None),
    }
}

/// gzip or brotli; None when it does not make the body smaller.
pub fn compress(content: &[u8], coding: Coding) -> Option<Bytes> {
    let mut out = Vec::with_capacity(content.len() / 3 + 64);
    match coding {
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
            encoder.write_all(content).ok()?;
            out = encoder.finish().ok()?;
        }
        Coding::Br => {
            // Quality 5 is as small as gzip -9 and several times faster
            // than brotli's default 11, which would stall a worker on big files.
            let quality = if content.len() as u64 <= SMALL_FILE { 6 } else { 5 };
            let mut encoder = brotli::CompressorWriter::new(out, 16 * 1024, quality, 22);
            encoder.write_all(content).ok()?;
            out = encoder.into_inner();
        }
        Coding::Identity => return None,
    }
    (out.len() + 32 < content.len()).then(|| Bytes::from(out))
}

/// One version of one file (all of its [`FileInfo`]) in one coding.
type VersionKey = (FileInfo, Coding);

/// Compressed forms of files above [`SMALL_FILE`], shared by the workers.
struct BigCompressed {
    entries: FxHashMap<VersionKey, Option<Bytes>>,
    bytes: usize,
}

impl BigCompressed {
    fn get(meta: &Meta, file: &File, coding: Coding) -> Option<Bytes> {
        static SHARED: OnceLock<Mutex<BigCompressed>> = OnceLock::new();
        let shared = SHARED.get_or_init(|| Mutex::new(BigCompressed { entries: FxHashMap::default(), bytes: 0 }));
        let info = meta.info;
        let key = (info, coding);
        if let Some(found) = shared.lock().unwrap_or_else(|p| p.into_inner()).entries.get(&key) {
            return found.clone();
        }
        // Compressed without holding the lock; two workers may both do it once.
        let mut content = Vec::with_capacity(info.size as usize);
        file.take(COMPRESS_MAX + 1).read_to_end(&mut content).ok()?;
        if content.len() as u64 != info.size {
            return None;
        }
        let encoded = compress(&content, coding);
        let mut cache = shared.lock().unwrap_or_else(|p| p.into_inner());
        let cost = encoded.as_ref().map_or(0, Bytes::len) + 64;
        if cache.bytes + cost > BIG_COMPRESSED_BUDGET {
            cache.entries.clear();
            cache.bytes = 0;
        }
        cache.bytes += cost;
        cache.entries.insert(key, encoded.clone());
        encoded
    }
}

/// If-None-Match (any listed tag, weak comparison), else If-Modified-Since.
fn not_modified(request: &Request<'_>, meta: &Meta, coding: Coding) -> bool {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return false;
    }
    if let Some(tags) = request.if_none_match {
        let tags = trim(tags);
        if tags == b"*" {
            return true;
        }
        return tags.split(|&b| b == b',').map(trim).any(|tag| meta.tag_matches(tag, coding));
    }
    if let Some(since) = request.if_modified_since.and_then(parse_date) {
        return meta.info.mtime <= since;
    }
    false
}

/// If-Range: the range applies only if the client's validator is still
/// current (a strong ETag, or exactly the Last-Modified date).
fn if_range_allows(request: &Request<'_>, meta: &Meta) -> bool {
    let Some(value) = request.if_range else { return true };
    let value = trim(value);
    if value.starts_with(b"W/") {
        return false;
    }
    if value.starts_with(b"\"") {
        return value == meta.etag.as_bytes();
    }
    value == meta.last_modified.as_bytes()
}

fn parse_date(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(trim(value)).ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// A Range header, resolved against the size of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// No usable range: send everything (also for syntax berth ignores,
    /// such as several ranges, as RFC 9110 allows).
    Full,
    /// From..=to, both inside the body.
    Part(u64, u64),
    /// A valid range that lies wholly past the end: 416.
    Unsatisfiable,
}

/// `bytes=START-END`, `bytes=START-`, `bytes=-SUFFIX`; one range only.
pub fn parse_range(value: &[u8], size: u64) -> RangeSpec {
    let Ok(text) = std::str::from_utf8(trim(value)) else { return RangeSpec::Full };
    let Some((unit, spec)) = text.split_once('=') else { return RangeSpec::Full };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeSpec::Full };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if size == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Part(size.saturating_sub(n), size - 1),
            None => RangeSpec::Full,
        },
        (start, "") => match number(start) {
            Some(start) if start < size => RangeSpec::Part(start, size - 1),
            Some(_) => RangeSpec::Unsatisfiable,
            None => RangeSpec::Full,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    RangeSpec::Unsatisfiable
                } else {
                    RangeSpec::Part(start, end.min(size - 1))
                }
            }
            _ => RangeSpec::Full,
        },
    }
}

/// The Content-Type for a file name, with `charset=utf-8` for text. Files
/// without a known extension are text/plain when their start is UTF-8
/// text without NUL bytes (README, LICENSE, Makefile), otherwise
/// application/octet-stream.
pub fn content_type(name: &str, sample: &[u8]) -> String {
    let guessed = if name.contains('.') { mime_guess::from_path(name).first_raw() } else { None };
    match guessed {
        Some("application/javascript") | Some("application/x-javascript") => "text/javascript; charset=utf-8".into(),
        Some(t) if t.starts_with("text/") || t == "image/svg+xml" => format!("{t}; charset=utf-8"),
        Some(t) => t.into(),
        None if looks_like_text(sample) => "text/plain; charset=utf-8".into(),
        None => "application/octet-stream".into(),
    }
}

fn looks_like_text(sample: &[u8]) -> bool {
    if sample.is_empty() || sample.contains(&0) {
        return false;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        // A multi-byte character cut off by the end of the sample is fine.
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > sample.len(),
    }
}

/// Types that shrink when compressed (text, scripts, data, SVG, wasm, fonts
/// that are not already compressed).
pub fn is_compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/wasm"
                | "application/x-ndjson"
                | "image/svg+xml"
                | "image/x-icon"
                | "image/vnd.microsoft.icon"
                | "image/bmp"
                | "font/ttf"
                | "font/otf"
                | "application/vnd.ms-fontobject"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), RangeSpec::Part(0, 9));
        assert_eq!(parse_range(b"bytes=90-", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), RangeSpec::Part(90, 99));
        assert_eq!(parse_range(b"bytes=-1000", 100), RangeSpec::Part(0, 99));
        assert_eq!(parse_range(b"bytes=50-1000", 100), RangeSpec::Part(50, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=200-300", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-", 0), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=9-1", 100), RangeSpec::Full);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), RangeSpec::Full);
        assert_eq!(parse_range(b"items=0-1", 100), RangeSpec::Full);
        assert_eq!(parse_range(b"bytes=a-b", 100), RangeSpec::Full);
        assert_eq!(parse_range(b"bytes=+1-2", 100), RangeSpec::Full);
    }

    #[test]
    fn types() {
        assert_eq!(content_type("index.html", b""), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js", b""), "text/javascript; charset=utf-8");
        assert_eq!(content_type("data.json", b""), "application/json");
        assert_eq!(content_type("logo.png", b""), "image/png");
        assert_eq!(content_type("README", b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(content_type("blob", b"\x00\x01"), "application/octet-stream");
        assert!(is_compressible("text/css; charset=utf-8"));
        assert!(is_compressible("application/json"));
        assert!(!is_compressible("image/png"));
        assert!(!is_compressible("application/zip"));
    }

    #[test]
    fn etags_per_coding() {
        let info = FileInfo {
            dev: 1,
            ino: 0xab,
            size: 0x10,
            mtime: 1,
            mtime_nsec: 0,
            ctime: 2,
            ctime_nsec: 0,
            kind: Kind::File,
        };
        let meta = Meta::new(info, "a.txt", b"");
        assert_eq!(meta.etag, "\"ab-3b9aca00-77359400-10\"");
        assert!(meta.tag_matches(b"\"ab-3b9aca00-77359400-10\"", Coding::Identity));
        assert!(meta.tag_matches(b"W/\"ab-3b9aca00-77359400-10\"", Coding::Identity));
        assert!(meta.tag_matches(b"\"ab-3b9aca00-77359400-10-br\"", Coding::Br));
        assert!(!meta.tag_matches(b"\"ab-3b9aca00-77359400-10-br\"", Coding::Gzip));
        assert!(!meta.tag_matches(b"\"ab-3b9aca00-77359400-10\"", Coding::Br));
        assert!(!meta.tag_matches(b"\"ab-3b9aca00-77359400-11\"", Coding::Identity));
        // A rewrite that puts the mtime back still changes the tag.
        let rewritten = Meta::new(FileInfo { ctime: 3, ..info }, "a.txt", b"");
        assert_ne!(rewritten.etag, meta.etag);
    }

    /// The cache's check (equal [`FileInfo`] from the descriptor) sees a
    /// same-size rewrite whose mtime was put back, with no inotify involved.
    #[test]
    fn a_same_size_rewrite_that_keeps_the_mtime_is_another_version() {
        let dir = super::super::path::tests::Scratch::new("rewrite");
        dir.write("a.txt", "version 1\n");
        let root = Root::open(&dir.0, false).expect("root");
        let first = root.open_beneath("a.txt").expect("open");
        load(&root, "a.txt", &first.file, first.info).expect("load");
        assert!(lookup("a.txt", &root.open_beneath("a.txt").expect("open").info, None).is_some(), "unchanged");

        let path = dir.0.join("a.txt");
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");
        std::fs::write(&path, "version 2\n").expect("rewrite");
        let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
        file.set_times(std::fs::FileTimes::new().set_modified(mtime)).expect("utimensat");

        let again = root.open_beneath("a.txt").expect("open");
        assert_eq!((again.info.ino, again.info.size), (first.info.ino, first.info.size));
        assert_eq!((again.info.mtime, again.info.mtime_nsec), (first.info.mtime, first.info.mtime_nsec));
        assert_ne!(again.info, first.info, "the change time differs");
        assert!(lookup("a.txt", &again.info, None).is_none(), "the cached version must not be served");
        let entry = load(&root, "a.txt", &again.file, again.info).expect("reload");
        assert_eq!(entry.body.as_deref(), Some(&b"version 2\n"[..]));
    }

    #[test]
    fn compression_helps_or_is_skipped() {
        let text = "hello world ".repeat(100);
        let gz = compress(text.as_bytes(), Coding::Gzip).expect("smaller");
        assert!(gz.len() < text.len());
        let br = compress(text.as_bytes(), Coding::Br).expect("smaller");
        assert!(br.len() < text.len());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..1000)
            .map(|_| {
                // xorshift64: incompressible enough.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        assert!(compress(&random, Coding::Gzip).is_none());
    }
}
