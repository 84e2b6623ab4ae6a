//! Safe path resolution: from a request target to a file that is inside
//! the served directory, or a refusal.
//!
//! Two layers, so that one mistake is not enough to leak a file:
//!
//! 1. [`decode`] turns the request path into a relative path with plain
//!    segments. It decodes percent-escapes exactly once and refuses, instead
//!    of normalising, anything a browser would never send: `..` segments (in
//!    any encoding: `%2e%2e`, `..%2f`), backslashes, NUL and other control
//!    bytes, and bytes that are not UTF-8 (which covers overlong forms such
//!    as `%c0%ae`). A double-encoded `%252e` decodes to the literal name
//!    `%2e`, which is just a file name that does not exist.
//! 2. [`Root::open_beneath`] opens that relative path with openat2(2) and
//!    `RESOLVE_BENEATH`, so the kernel itself refuses any symbolic link (or
//!    anything else) that leads outside the root, with no race between a
//!    check and the open. Where openat2 is missing (kernels before 5.6, or a
//!    seccomp filter), the fallback resolves the real path and checks it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Why a request path was refused before touching the file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Malformed or hostile (400); the text says what was wrong.
    Bad(&'static str),
    /// A hidden file or directory (a segment starting with a dot) while
    /// `--hidden` is off: answered 404, as if it did not exist.
    Hidden,
}

/// Decodes the path part of an origin-form request target (`/a/b%20c`,
/// query already removed) into `out` as a relative path (`a/b c`), with
/// empty and `.` segments dropped. Returns whether the path ended with `/`.
///
/// `out` is reused between requests to avoid an allocation per request.
pub fn decode(path: &str, hidden_allowed: bool, out: &mut String) -> Result<bool, PathError> {
    out.clear();
    let raw = path.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(PathError::Bad("the request target must be a path starting with /"));
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hi = raw.get(i + 1).and_then(|&c| hex_value(c));
            let lo = raw.get(i + 2).and_then(|&c| hex_value(c));
            match (hi, lo) {
                (Some(hi), Some(lo)) => bytes.push(hi << 4 | lo),
                _ => return Err(PathError::Bad("malformed percent-escape in the path")),
            }
            i += 3;
        } else {
            bytes.push(b);
            i += 1;
        }
    }
    if bytes.contains(&0) {
        return Err(PathError::Bad("NUL byte in the path"));
    }
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(PathError::Bad("control character in the path"));
    }
    if bytes.contains(&b'\\') {
        return Err(PathError::Bad("backslash in the path"));
    }
    let text = String::from_utf8(bytes).map_err(|_| PathError::Bad("the path is not valid UTF-8"))?;
    let trailing_slash = text.ends_with('/');
    for segment in text.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return Err(PathError::Bad("'..' in the path")),
            _ => {}
        }
        if segment.starts_with('.') && !hidden_allowed {
            return Err(PathError::Hidden);
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(segment);
    }
    Ok(trailing_slash)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a file name for use in a link (everything but
/// unreserved characters), so that names with spaces, `#`, `?` or `%`
/// link to themselves.
pub fn encode_segment(name: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Why a decoded path could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Nothing there (404).
    NotFound,
    /// It leads outside the served directory through a symbolic link (403).
    Outside,
    /// The file system refused (403).
    Denied,
    /// Anything else (500).
    Other(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        match error.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ENAMETOOLONG) => OpenError::NotFound,
            Some(libc::EXDEV) | Some(libc::ELOOP) => OpenError::Outside,
            Some(libc::EACCES) | Some(libc::EPERM) => OpenError::Denied,
            _ => OpenError::Other(error),
        }
    }
}

/// The served directory: its real path and a descriptor every lookup
/// starts from (renaming or replacing the directory later does not move
/// what is served).
#[derive(Debug)]
pub struct Root {
    pub path: PathBuf,
    fd: OwnedFd,
    follow_symlinks: bool,
}

impl Root {
    /// Opens `dir`, which must be a readable directory.
    pub fn open(dir: &Path, follow_symlinks: bool) -> io::Result<Root> {
        let path = std::fs::canonicalize(dir)?;
        let c_path =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a plain open of a NUL-terminated path; the descriptor is owned below.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Searching (x) is needed to open anything inside; root passes anyway.
        // SAFETY: faccessat on our descriptor with an empty relative path ".".
        let rc = unsafe { libc::faccessat(fd.as_raw_fd(), c".".as_ptr(), libc::R_OK | libc::X_OK, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Root { path, fd, follow_symlinks })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Opens `relative` (from [`decode`]; empty for the root itself) for
    /// reading, refusing anything that resolves outside the root unless
    /// `--follow-symlinks` was given.
    pub fn open_beneath(&self, relative: &str) -> Result<File, OpenError> {
        let name = if relative.is_empty() { "." } else { relative };
        let c_name = CString::new(name).map_err(|_| OpenError::NotFound)?;
        if !OPENAT2_MISSING.load(Ordering::Relaxed) {
            let resolve = if self.follow_symlinks {
                libc::RESOLVE_NO_MAGICLINKS
            } else {
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS
            };
            match openat2(self.raw_fd(), &c_name, resolve) {
                Ok(file) => return Ok(file),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                    // No openat2 here (old kernel or a seccomp filter): use
                    // the fallback from now on.
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                }
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    // RESOLVE_BENEATH also refuses absolute symbolic links
                    // that point back inside the root: check the real path.
                    return self.open_checked(relative);
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.open_checked(relative)
    }

    /// The fallback: resolve every link, check the result is inside the
    /// root, then open it without following a final link.
    fn open_checked(&self, relative: &str) -> Result<File, OpenError> {
        let real = std::fs::canonicalize(self.path.join(relative))?;
        if !self.follow_symlinks && !real.starts_with(&self.path) {
            return Err(OpenError::Outside);
        }
        let c_real = CString::new(real.as_os_str().as_bytes()).map_err(|_| OpenError::NotFound)?;
        // SAFETY: a plain open of a NUL-terminated path; the descriptor is owned below.
        let fd = unsafe { libc::open(c_real.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
        if fd < 0 {
            return Err(io::Error::last_os_error().into());
        }
        // SAFETY: fd was just opened and is ours.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

fn openat2(dir: RawFd, name: &CString, resolve: u64) -> io::Result<File> {
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: openat2 reads `how` (of the size given) and the NUL-terminated name.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor, now ours.
    Ok(unsafe { File::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> (String, bool) {
        let mut out = String::new();
        let slash = decode(path, false, &mut out).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        (out, slash)
    }

    fn bad(path: &str) -> PathError {
        let mut out = String::new();
        decode(path, false, &mut out).expect_err(path)
    }

    #[test]
    fn plain_paths() {
        assert_eq!(ok("/"), (String::new(), true));
        assert_eq!(ok("/a/b.txt"), ("a/b.txt".into(), false));
        assert_eq!(ok("//a/./b/"), ("a/b".into(), true));
        assert_eq!(ok("/a%20b"), ("a b".into(), false));
        assert_eq!(ok("/%252e%252e/x"), ("%2e%2e/x".into(), false));
        assert_eq!(ok("/caf%C3%A9"), ("café".into(), false));
    }

    #[test]
    fn hostile_paths() {
        for path in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2fx",
            "/..%2fx",
            "/a/%2e%2e",
            "/%c0%ae%c0%ae/x",
            "/..\\x",
            "/a%5c..%5cx",
            "/a%00b",
            "/a%0ab",
            "/%zz",
            "/%2",
            "http://host/x",
            "*",
            "",
        ] {
            assert!(matches!(bad(path), PathError::Bad(_)), "{path}");
        }
    }

    #[test]
    fn hidden_segments() {
        assert_eq!(bad("/.git/config"), PathError::Hidden);
        assert_eq!(bad("/a/.env"), PathError::Hidden);
        assert_eq!(bad("/%2egit"), PathError::Hidden);
        let mut out = String::new();
        assert!(decode("/.env", true, &mut out).is_ok());
        assert_eq!(out, ".env");
    }

    #[test]
    fn encoding_links() {
        let mut out = String::new();
        encode_segment("a b#?%/é", &mut out);
        assert_eq!(out, "a%20b%23%3F%25%2F%C3%A9");
    }
}
