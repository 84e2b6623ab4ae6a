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
//!    `%2e`, which is just a file name that does not exist. A path of more
//!    than [`MAX_SEGMENTS`] segments is refused too, so that no request
//!    costs a lookup per level of an arbitrarily deep tree.
//! 2. [`Root::open_beneath`] opens that relative path beneath the root's
//!    directory descriptor in one step: openat2(2) with `RESOLVE_BENEATH`
//!    (and `RESOLVE_NO_SYMLINKS` unless `--follow-symlinks`), so the kernel
//!    itself refuses whatever leads outside the root, with no race between
//!    a check and the open. Where openat2 is missing (kernels before 5.6, or
//!    a seccomp filter), `Root::open_walk` resolves one name at a time
//!    from the root's descriptor with `O_NOFOLLOW`, which is as race-free.
//!    Either way, what was opened is then checked from its descriptor
//!    (fstat): only regular files and directories are served.
//!
//! Symbolic links: without `--follow-symlinks` none is followed (403), not
//! even one that points inside the root, so that a user who can write into
//! the directory cannot make a name lead anywhere else. With it, links are
//! followed while the resolution stays beneath the root; nothing outside the
//! root is ever served.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::files::{fstat, stat_file, FileInfo, Kind};
use crate::servers::http::request::percent_decoded;

/// Why a request path was refused before touching the file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Malformed or hostile (400); the text says what was wrong.
    Bad(&'static str),
    /// A hidden file or directory (a segment starting with a dot) while
    /// `--hidden` is off: answered 404, as if it did not exist.
    Hidden,
    /// More than [`MAX_SEGMENTS`] segments (414).
    TooDeep,
}

/// The most segments (names between slashes) a request path may have, and
/// the deepest a resolution goes below the root. A 16 KiB request head
/// could name a file 8,000 directories down; no site needs that, and each
/// level costs a lookup (and, without openat2, a step of the walk), so a
/// deeper path is refused (414) before anything is opened.
pub const MAX_SEGMENTS: usize = 256;

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
    for byte in percent_decoded(raw) {
        bytes.push(byte.map_err(|_| PathError::Bad("malformed percent-escape in the path"))?);
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
    let mut segments = 0;
    for segment in text.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return Err(PathError::Bad("'..' in the path")),
            _ => {}
        }
        segments += 1;
        if segments > MAX_SEGMENTS {
            return Err(PathError::TooDeep);
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
    /// A symbolic link, and links are not followed without
    /// `--follow-symlinks` (403).
    Symlink,
    /// It leads outside the served directory (403), even with
    /// `--follow-symlinks`.
    Outside,
    /// A FIFO, socket or device: only regular files and directories are
    /// served (403).
    NotRegular,
    /// The file system refused (403).
    Denied,
    /// Anything else (500; the request log says "read error").
    Other,
}

impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        match error.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ENAMETOOLONG) => OpenError::NotFound,
            Some(libc::EXDEV) => OpenError::Outside,
            Some(libc::ELOOP) => OpenError::Symlink,
            // open(2) of a socket file.
            Some(libc::ENXIO) => OpenError::NotRegular,
            Some(libc::EACCES) | Some(libc::EPERM) => OpenError::Denied,
            _ => OpenError::Other,
        }
    }
}

/// A path opened beneath the root, and what its descriptor says it is: a
/// regular file or a directory, never anything else.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub info: FileInfo,
}

/// How paths are resolved beneath the root; decided once, when the root is
/// opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolver {
    /// openat2(2) with `RESOLVE_BENEATH`: the kernel resolves the whole path
    /// and refuses what leaves the root.
    Openat2,
    /// openat2 is missing (kernels before 5.6) or forbidden (a seccomp
    /// filter answering ENOSYS or EPERM): `Root::open_walk`.
    Walk,
}

/// Flags of the descriptors berth reads from. `O_NONBLOCK` so that a FIFO
/// (or a device) swapped in for a file cannot block the worker in open(2);
/// it is cleared again on regular files once fstat says that is what they are.
const READ_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
/// A directory only to name it (inotify watches) or to pass through it (the
/// walk): no read permission needed.
const DIR_PATH_FLAGS: libc::c_int = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
/// Most symbolic links one resolution follows, as the kernel's own limit.
const MAX_LINKS: u32 = 40;

/// The served directory: its real path and a descriptor every lookup
/// starts from (renaming or replacing the directory later does not move
/// what is served).
#[derive(Debug)]
pub struct Root {
    pub path: PathBuf,
    fd: OwnedFd,
    follow_symlinks: bool,
    resolver: Resolver,
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
        // Asked once, here, whether openat2 works at all, so that an EPERM
        // later means what it says about that one file (an LSM, fanotify)
        // instead of switching every request over for good.
        let resolver = match openat2(fd.as_raw_fd(), c".", DIR_PATH_FLAGS, libc::RESOLVE_BENEATH) {
            Ok(_) => Resolver::Openat2,
            Err(_) => Resolver::Walk,
        };
        Ok(Root { path, fd, follow_symlinks, resolver })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn follows_symlinks(&self) -> bool {
        self.follow_symlinks
    }

    /// Opens `relative` (from [`decode`]; empty for the root itself) for
    /// reading, resolved beneath the root's descriptor in one step that
    /// nothing can get between, and checks with fstat(2) of the descriptor
    /// that it is a regular file or a directory.
    ///
    /// Without `--follow-symlinks` no symbolic link is followed at all; with
    /// it, only while the resolution stays beneath the root. A FIFO opens
    /// without blocking (`O_NONBLOCK`) and is refused.
    pub fn open_beneath(&self, relative: &str) -> Result<Opened, OpenError> {
        let fd = self.resolve(relative, READ_FLAGS)?;
        let file = File::from(fd);
        let info = stat_file(&file).map_err(|_| OpenError::Other)?;
        match info.kind {
            Kind::File => {
                // Reads and sendfile on a regular file do not look at
                // O_NONBLOCK on Linux's local file systems; cleared anyway
                // so that no file system (FUSE, network ones) can answer
                // EAGAIN to a body already promised.
                // SAFETY: F_SETFL on our own descriptor; 0 keeps the access mode.
                if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) } != 0 {
                    return Err(OpenError::Other);
                }
                Ok(Opened { file, info })
            }
            Kind::Dir => Ok(Opened { file, info }),
            Kind::Other => Err(OpenError::NotRegular),
        }
    }

    fn resolve(&self, relative: &str, flags: libc::c_int) -> Result<OwnedFd, OpenError> {
        if self.resolver == Resolver::Walk {
            return self.open_walk(relative, flags);
        }
        let name = if relative.is_empty() { "." } else { relative };
        let c_name = CString::new(name).map_err(|_| OpenError::NotFound)?;
        let resolve = if self.follow_symlinks {
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS
        } else {
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS
        };
        // EAGAIN: the kernel saw a rename while resolving `..` inside a link
        // and asks to try again.
        for _ in 0..8 {
            match openat2(self.raw_fd(), &c_name, flags, resolve) {
                Ok(fd) => return Ok(fd),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => continue,
                    // Not there after all (seccomp installed later): the walk
                    // is as safe, only slower.
                    Some(libc::ENOSYS) => return self.open_walk(relative, flags),
                    // An absolute link, or one that climbs out with `..`:
                    // RESOLVE_BENEATH refuses both. The walk follows an
                    // absolute link that names a place inside the root and
                    // refuses the rest, with no second lookup of any name.
                    Some(libc::EXDEV) if self.follow_symlinks => return self.open_walk(relative, flags),
                    // With links followed, ELOOP is a loop, not a link.
                    Some(libc::ELOOP) if self.follow_symlinks => return Err(OpenError::NotFound),
                    _ => return Err(e.into()),
                },
            }
        }
        self.open_walk(relative, flags)
    }

    /// Resolves `relative` one name at a time, each with openat(2) and
    /// `O_NOFOLLOW` from a descriptor already known to be beneath the root,
    /// starting at the root's own: no path is ever looked up again from `/`
    /// or from the root's name, so swapping a directory for a link between
    /// two steps only changes what the next step sees, and that step
    /// refuses a link (or, with `--follow-symlinks`, reads it through its
    /// own descriptor and resolves its target the same way). `..` in a
    /// link's target goes back to the directory that was actually passed
    /// through, and never above the root; an absolute target is followed
    /// only if it names a place inside the root's real path, and then from
    /// the root's descriptor.
    ///
    /// Bounded whatever the path and its links (see [`Walk`]): a few
    /// descriptors open at once, never one per level, no directory deeper
    /// than [`MAX_SEGMENTS`] below the root, at most [`MAX_WALK_STEPS`]
    /// lookups.
    ///
    /// The resolver where openat2 is missing, and for absolute links with
    /// `--follow-symlinks`.
    fn open_walk(&self, relative: &str, flags: libc::c_int) -> Result<OwnedFd, OpenError> {
        // Names still to resolve, the next one last.
        let mut pending: Vec<Vec<u8>> = Vec::new();
        push_components(&mut pending, relative.as_bytes());
        if pending.is_empty() {
            pending.push(b".".to_vec());
        }
        let mut walk = Walk::new(self.raw_fd());
        let mut budget = MAX_LINKS;
        while let Some(name) = pending.pop() {
            let last = pending.is_empty();
            walk.step()?;
            if name == b".." {
                walk.up()?;
                if last {
                    pending.push(b".".to_vec());
                }
                continue;
            }
            let c_name = CString::new(name).map_err(|_| OpenError::NotFound)?;
            let want = if last { flags } else { DIR_PATH_FLAGS };
            let error = match openat(walk.dir(), &c_name, want | libc::O_NOFOLLOW) {
                Ok(fd) if last => return Ok(fd),
                Ok(fd) => {
                    walk.down(c_name, fd)?;
                    continue;
                }
                Err(e) => e,
            };
            // ELOOP (a link where O_NOFOLLOW forbids one) or ENOTDIR (a link,
            // or a file, where a directory was needed): look at the name
            // itself, through a descriptor of its own.
            let errno = error.raw_os_error();
            if !matches!(errno, Some(libc::ELOOP) | Some(libc::ENOTDIR)) {
                return Err(error.into());
            }
            walk.step()?;
            let Ok(link) = openat(walk.dir(), &c_name, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) else {
                return Err(error.into());
            };
            let mode = fstat(&link).map_err(|_| OpenError::Other)?.st_mode;
            let swapped = match mode & libc::S_IFMT {
                libc::S_IFLNK => false,
                // It was a link a moment ago and is not now: look again.
                _ if errno == Some(libc::ELOOP) => true,
                libc::S_IFDIR => true,
                _ => return Err(error.into()),
            };
            if !swapped && !self.follow_symlinks {
                return Err(OpenError::Symlink);
            }
            budget = budget.checked_sub(1).ok_or(OpenError::NotFound)?;
            if swapped {
                pending.push(c_name.into_bytes());
                continue;
            }
            // The target of the very link just opened (readlinkat with an
            // empty name reads the link a descriptor refers to).
            let target = read_link(&link).map_err(OpenError::from)?;
            if target.first() == Some(&b'/') {
                let rest = beneath(self.path.as_os_str().as_bytes(), &target).ok_or(OpenError::Outside)?;
                walk.restart();
                push_components(&mut pending, rest);
            } else {
                push_components(&mut pending, &target);
            }
            // Each name left costs a step at least: give up now rather
            // than after thousands of lookups.
            if pending.len() > walk.steps {
                return Err(OpenError::NotFound);
            }
            if pending.is_empty() {
                pending.push(b".".to_vec());
            }
        }
        Err(OpenError::NotFound)
    }

    /// The directories on the way to `relative` below the root (for
    /// `a/b/c.txt`: `a`, then `a/b`), each as an `O_PATH` descriptor that
    /// names it (for inotify) without reading it, each opened from its
    /// parent's descriptor with `O_NOFOLLOW`: one lookup per level, not a
    /// resolution from the root per level. With `--follow-symlinks`, a level
    /// that is a link is resolved beneath the root as
    /// [`open_beneath`](Self::open_beneath) resolves it.
    pub fn open_dirs_along(&self, relative: &str) -> Result<Vec<OwnedFd>, OpenError> {
        let mut dirs: Vec<OwnedFd> = Vec::new();
        let Some((parents, _)) = relative.rsplit_once('/') else { return Ok(dirs) };
        let mut end = 0;
        for name in parents.split('/') {
            end += name.len();
            let at = dirs.last().map_or(self.raw_fd(), |d| d.as_raw_fd());
            let c_name = CString::new(name).map_err(|_| OpenError::NotFound)?;
            let dir = match openat(at, &c_name, DIR_PATH_FLAGS | libc::O_NOFOLLOW) {
                Ok(dir) => dir,
                Err(e)
                    if self.follow_symlinks && matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) =>
                {
                    self.resolve(&parents[..end], DIR_PATH_FLAGS)?
                }
                Err(e) => return Err(e.into()),
            };
            dirs.push(dir);
            end += 1;
        }
        Ok(dirs)
    }
}

/// How many directory descriptors a walk keeps: those of the innermost
/// levels it went down through, for `..` in a link's target.
const WALK_WINDOW: usize = 8;
/// Most lookups (openat calls, `..` included) one walk makes: a path at
/// [`MAX_SEGMENTS`] and a few links take a few hundred; a chain of links
/// of thousands of names each is given up on (404) within milliseconds.
const MAX_WALK_STEPS: usize = 4096;

/// Where a walk is: the names of the directories it went down through
/// below the root (innermost last), and descriptors of the innermost
/// [`WALK_WINDOW`] of them; above those, the root's own. A `..` past the
/// descriptors kept goes down again from the root by the same names, each
/// with `O_NOFOLLOW`, so what it reaches is beneath the root whatever was
/// renamed meanwhile, and a walk never holds a descriptor per level.
struct Walk {
    root: RawFd,
    names: Vec<CString>,
    window: std::collections::VecDeque<OwnedFd>,
    /// Lookups left.
    steps: usize,
}

impl Walk {
    fn new(root: RawFd) -> Walk {
        Walk { root, names: Vec::new(), window: std::collections::VecDeque::new(), steps: MAX_WALK_STEPS }
    }

    /// The directory the walk is in.
    fn dir(&self) -> RawFd {
        self.window.back().map_or(self.root, |d| d.as_raw_fd())
    }

    fn step(&mut self) -> Result<(), OpenError> {
        self.steps = self.steps.checked_sub(1).ok_or(OpenError::NotFound)?;
        Ok(())
    }

    /// Into `name`, just opened (`dir`) from the current directory.
    fn down(&mut self, name: CString, dir: OwnedFd) -> Result<(), OpenError> {
        if self.names.len() >= MAX_SEGMENTS {
            return Err(OpenError::NotFound);
        }
        self.names.push(name);
        self.window.push_back(dir);
        if self.window.len() > WALK_WINDOW {
            self.window.pop_front();
        }
        Ok(())
    }

    /// `..`: back to the directory passed through before this one, never
    /// above the root.
    fn up(&mut self) -> Result<(), OpenError> {
        if self.names.pop().is_none() {
            return Err(OpenError::Outside);
        }
        self.window.pop_back();
        if self.window.is_empty() && !self.names.is_empty() {
            for name in std::mem::take(&mut self.names) {
                self.step()?;
                let dir = openat(self.dir(), &name, DIR_PATH_FLAGS | libc::O_NOFOLLOW)?;
                self.down(name, dir)?;
            }
        }
        Ok(())
    }

    /// Back at the root (an absolute link's target inside it).
    fn restart(&mut self) {
        self.names.clear();
        self.window.clear();
    }
}

/// What is left of the absolute link target `target` once the root's real
/// path `root` is taken off its front (empty: the root itself), when it
/// names a place inside the root; None when it leads elsewhere. A root of
/// `/` holds every absolute target.
fn beneath<'t>(root: &[u8], target: &'t [u8]) -> Option<&'t [u8]> {
    if root == b"/" {
        return target.strip_prefix(b"/");
    }
    target.strip_prefix(root).filter(|rest| rest.is_empty() || rest[0] == b'/')
}

/// Pushes the names of `path` onto `pending` so that the first is popped
/// first (empty and `.` names dropped; `..` kept for the walk).
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    let start = pending.len();
    pending.extend(path.split(|&b| b == b'/').filter(|n| !n.is_empty() && *n != b".").map(<[u8]>::to_vec));
    pending[start..].reverse();
}

fn openat(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: openat reads the NUL-terminated name; the descriptor is owned below.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor, now ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat2(dir: RawFd, name: &CStr, flags: libc::c_int, resolve: u64) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
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
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The target of the symbolic link `link` (an `O_PATH | O_NOFOLLOW` descriptor).
fn read_link(link: &OwnedFd) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: readlinkat writes at most buffer.len() bytes into our buffer.
    let n = unsafe { libc::readlinkat(link.as_raw_fd(), c"".as_ptr(), buffer.as_mut_ptr().cast(), buffer.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n >= buffer.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buffer.truncate(n);
    Ok(buffer)
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// A scratch directory for one test (its real path), removed on drop.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new(tag: &str) -> Scratch {
            static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("berth-unit-{}-{tag}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("scratch dir");
            Scratch(std::fs::canonicalize(&path).expect("canonical"))
        }

        pub(crate) fn write(&self, relative: &str, content: &str) {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, content).expect("write");
        }

        fn link(&self, target: impl AsRef<Path>, relative: &str) {
            std::os::unix::fs::symlink(target, self.0.join(relative)).expect("symlink");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read_walk(root: &Root, relative: &str) -> Result<String, OpenError> {
        let mut file = File::from(root.open_walk(relative, READ_FLAGS)?);
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).expect("read");
        Ok(text)
    }

    fn read_beneath(root: &Root, relative: &str) -> Result<String, OpenError> {
        let mut file = root.open_beneath(relative)?.file;
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).expect("read");
        Ok(text)
    }

    /// A served directory `www` next to a secret, with links of every kind.
    fn linked_site() -> Scratch {
        let dir = Scratch::new("links");
        dir.write("secret.txt", "SECRET");
        dir.write("outside/secret.txt", "SECRET");
        dir.write("www/public.txt", "public");
        dir.write("www/sub/deep.txt", "deep");
        let www = dir.0.join("www");
        dir.link("public.txt", "www/relative.txt");
        dir.link(www.join("public.txt"), "www/absolute-inside.txt");
        dir.link("sub/../public.txt", "www/dotdot-inside.txt");
        dir.link("sub", "www/sub-link");
        dir.link("../sub/deep.txt", "www/sub/up-and-down.txt");
        dir.link(dir.0.join("secret.txt"), "www/absolute-out.txt");
        dir.link("../secret.txt", "www/relative-out.txt");
        dir.link(dir.0.join("outside"), "www/out-dir");
        dir.link(www.join("sub/../../secret.txt"), "www/absolute-dotdot-out.txt");
        dir.link("loop-b", "www/loop-a");
        dir.link("loop-a", "www/loop-b");
        dir.link("/proc/self/root/etc/passwd", "www/magic.txt");
        dir
    }

    #[test]
    fn the_walk_follows_no_link_without_follow_symlinks() {
        let dir = linked_site();
        let root = Root::open(&dir.0.join("www"), false).expect("root");
        assert_eq!(read_walk(&root, "public.txt").expect("public"), "public");
        assert_eq!(read_walk(&root, "sub/deep.txt").expect("deep"), "deep");
        for path in
            ["relative.txt", "absolute-inside.txt", "sub-link/deep.txt", "absolute-out.txt", "out-dir/secret.txt"]
        {
            assert!(matches!(read_walk(&root, path), Err(OpenError::Symlink)), "{path}");
            assert!(matches!(read_beneath(&root, path), Err(OpenError::Symlink)), "{path}");
        }
        assert!(matches!(read_walk(&root, "missing.txt"), Err(OpenError::NotFound)));
        assert!(matches!(read_walk(&root, "public.txt/x"), Err(OpenError::NotFound)));
        assert!(matches!(read_walk(&root, "../secret.txt"), Err(OpenError::Outside)));
        // The root itself, and a directory as a directory.
        assert!(root.open_walk("", READ_FLAGS).is_ok());
        assert!(root.open_walk("sub", DIR_PATH_FLAGS).is_ok());
        assert!(matches!(root.open_walk("public.txt", DIR_PATH_FLAGS), Err(OpenError::NotFound)));
    }

    #[test]
    fn the_walk_and_openat2_follow_links_only_inside_the_root() {
        let dir = linked_site();
        let root = Root::open(&dir.0.join("www"), true).expect("root");
        for (path, content) in [
            ("relative.txt", "public"),
            ("absolute-inside.txt", "public"),
            ("dotdot-inside.txt", "public"),
            ("sub-link/deep.txt", "deep"),
            ("sub/up-and-down.txt", "deep"),
            ("sub-link/up-and-down.txt", "deep"),
        ] {
            assert_eq!(read_walk(&root, path).unwrap_or_else(|e| panic!("{path}: {e:?}")), content, "{path}");
            assert_eq!(read_beneath(&root, path).unwrap_or_else(|e| panic!("{path}: {e:?}")), content, "{path}");
        }
        for path in
            ["absolute-out.txt", "relative-out.txt", "out-dir/secret.txt", "absolute-dotdot-out.txt", "magic.txt"]
        {
            assert!(matches!(read_walk(&root, path), Err(OpenError::Outside)), "{path}: {:?}", read_walk(&root, path));
            assert!(
                matches!(read_beneath(&root, path), Err(OpenError::Outside)),
                "{path}: {:?}",
                read_beneath(&root, path)
            );
        }
        assert!(matches!(read_walk(&root, "loop-a"), Err(OpenError::NotFound)));
        assert!(matches!(read_beneath(&root, "loop-a"), Err(OpenError::NotFound)));
    }

    #[test]
    fn only_regular_files_and_directories_open_and_a_fifo_does_not_block() {
        let dir = Scratch::new("kinds");
        dir.write("file.txt", "x");
        let fifo = CString::new(dir.0.join("fifo").as_os_str().as_bytes()).expect("path");
        // SAFETY: mkfifo of a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        let _socket = std::os::unix::net::UnixListener::bind(dir.0.join("socket")).expect("a socket file");
        for follow in [false, true] {
            let root = Root::open(&dir.0, follow).expect("root");
            let opened = root.open_beneath("file.txt").expect("a file");
            assert_eq!(opened.info.kind, Kind::File);
            // SAFETY: F_GETFL on our descriptor.
            let flags = unsafe { libc::fcntl(opened.file.as_raw_fd(), libc::F_GETFL) };
            assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK is cleared on files");
            assert_eq!(root.open_beneath("").expect("the root").info.kind, Kind::Dir);
            // No writer: a blocking open would never return.
            assert!(matches!(root.open_beneath("fifo"), Err(OpenError::NotRegular)));
            assert!(matches!(root.open_beneath("socket"), Err(OpenError::NotRegular)));
        }
    }

    /// Exchanges the names `a` and `b` in `dir` atomically (one may be a
    /// directory, the other a link).
    fn exchange(dir: &Path, a: &str, b: &str) {
        let (a, b) = (CString::new(a).expect("name"), CString::new(b).expect("name"));
        let dir = CString::new(dir.as_os_str().as_bytes()).expect("path");
        // SAFETY: open and renameat2 of NUL-terminated paths; the descriptor is closed below.
        unsafe {
            let fd = libc::open(dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
            assert!(fd >= 0, "open");
            let rc = libc::renameat2(fd, a.as_ptr(), fd, b.as_ptr(), libc::RENAME_EXCHANGE);
            libc::close(fd);
            assert_eq!(rc, 0, "RENAME_EXCHANGE: {}", io::Error::last_os_error());
        }
    }

    /// While another thread swaps `www/sub` between a real directory and a
    /// link to a directory outside the root with the same file names, no
    /// resolver ever opens the outside file: at least 10,000 swaps and
    /// 20,000 opens per resolver, or 30 s.
    #[test]
    fn swapping_a_directory_for_a_link_never_leads_outside() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let dir = Scratch::new("race");
        dir.write("outside/secret.txt", "CANARY");
        dir.write("www/sub/secret.txt", "inside");
        dir.link(dir.0.join("outside"), "www/sub.alt");
        let www = dir.0.join("www");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let swaps = std::sync::Arc::new(AtomicU64::new(0));
        let attacker = {
            let (stop, swaps, www) = (stop.clone(), swaps.clone(), www.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    exchange(&www, "sub", "sub.alt");
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let started = std::time::Instant::now();
        let limit = std::time::Duration::from_secs(30);
        let mut served = 0;
        for follow in [false, true] {
            let root = Root::open(&www, follow).expect("root");
            let walk = |r: &Root| read_walk(r, "sub/secret.txt");
            let beneath = |r: &Root| read_beneath(r, "sub/secret.txt");
            for (name, open) in [("walk", &walk as &dyn Fn(&Root) -> _), ("openat2", &beneath)] {
                let first = swaps.load(Ordering::Relaxed);
                let mut opens = 0u64;
                while (opens < 20_000 || swaps.load(Ordering::Relaxed) - first < 10_000) && started.elapsed() < limit {
                    opens += 1;
                    match open(&root) {
                        Ok(text) => {
                            assert_eq!(text, "inside", "{name}, follow {follow}: read outside the root");
                            served += 1;
                        }
                        Err(OpenError::Symlink | OpenError::Outside | OpenError::NotFound) => {}
                        Err(e) => panic!("{name}, follow {follow}: {e:?}"),
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        attacker.join().expect("the attacker thread");
        assert!(served > 0, "the inside file was never served");
        assert!(swaps.load(Ordering::Relaxed) >= 10_000 || started.elapsed() >= limit);
    }

    #[test]
    fn paths_deeper_than_the_limit_are_refused() {
        let at_limit = "/a".repeat(MAX_SEGMENTS);
        assert_eq!(ok(&at_limit).0.len(), MAX_SEGMENTS * 2 - 1);
        assert_eq!(bad(&format!("{at_limit}/b")), PathError::TooDeep);
        // Empty and `.` segments are not segments.
        assert!(ok(&format!("{at_limit}//./")).1);
        assert_eq!(bad(&"/a".repeat(8000)), PathError::TooDeep);
    }

    #[test]
    fn absolute_targets_beneath_the_root() {
        assert_eq!(beneath(b"/srv/www", b"/srv/www/a/b"), Some(&b"/a/b"[..]));
        assert_eq!(beneath(b"/srv/www", b"/srv/www"), Some(&b""[..]));
        assert_eq!(beneath(b"/srv/www", b"/srv/www/"), Some(&b"/"[..]));
        assert_eq!(beneath(b"/srv/www", b"/srv/wwwx/a"), None);
        assert_eq!(beneath(b"/srv/www", b"/srv"), None);
        assert_eq!(beneath(b"/srv/www", b"/etc/passwd"), None);
        // A root of `/` holds every absolute target.
        assert_eq!(beneath(b"/", b"/etc/passwd"), Some(&b"etc/passwd"[..]));
        assert_eq!(beneath(b"/", b"/"), Some(&b""[..]));
        assert_eq!(beneath(b"/", b"//x"), Some(&b"/x"[..]));
    }

    /// A link 40 levels down whose target climbs 35 of them: the walk
    /// keeps descriptors of only the innermost few levels, goes down again
    /// from the root for the rest, and ends where openat2 does.
    #[test]
    fn the_walk_climbs_past_the_descriptors_it_keeps() {
        let dir = Scratch::new("climb");
        let level = |n: usize| "d/".repeat(n);
        dir.write(&format!("{}x.txt", level(5)), "level 5");
        dir.write(&format!("{}x.txt", level(40)), "level 40");
        dir.link(format!("{}x.txt", "../".repeat(35)), &format!("{}up.txt", level(40)));
        dir.link("../".repeat(41), &format!("{}out", level(40)));
        let root = Root::open(&dir.0, true).expect("root");
        let up = format!("{}up.txt", level(40));
        assert_eq!(read_walk(&root, &up).expect("walk"), "level 5");
        assert_eq!(read_beneath(&root, &up).expect("openat2"), "level 5");
        let out = format!("{}out/x", level(40));
        assert!(matches!(read_walk(&root, &out), Err(OpenError::Outside)));
        assert!(matches!(read_beneath(&root, &out), Err(OpenError::Outside)));
    }

    /// Links whose targets hold thousands of names: one is followed, a
    /// chain of them is given up on (404) after a bounded number of
    /// lookups, quickly.
    #[test]
    fn the_walk_gives_up_after_a_bounded_number_of_lookups() {
        let dir = Scratch::new("steps");
        dir.write("a/end.txt", "end");
        let detour = "a/..//".repeat(600); // 1,200 names, 3,600 bytes
        dir.link(format!("{detour}a/end.txt"), "one");
        for n in 0..8 {
            let next = if n == 7 { "a/end.txt".to_string() } else { format!("chain{}", n + 1) };
            dir.link(format!("{detour}{next}"), &format!("chain{n}"));
        }
        let root = Root::open(&dir.0, true).expect("root");
        assert_eq!(read_walk(&root, "one").expect("one long link"), "end");
        let started = std::time::Instant::now();
        assert!(matches!(read_walk(&root, "chain0"), Err(OpenError::NotFound)));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[test]
    fn directories_along_a_path_one_level_at_a_time() {
        let dir = linked_site();
        let www = dir.0.join("www");
        let ino = |fd: &OwnedFd| fstat(fd).expect("fstat").st_ino;
        let ino_of = |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("stat"));
        for follow in [false, true] {
            let root = Root::open(&www, follow).expect("root");
            assert!(root.open_dirs_along("public.txt").expect("top level").is_empty());
            let dirs = root.open_dirs_along("sub/deep.txt").expect("sub");
            assert_eq!(dirs.iter().map(ino).collect::<Vec<_>>(), [ino_of(&www.join("sub"))]);
            let through_link = root.open_dirs_along("sub-link/deep.txt");
            if follow {
                let dirs = through_link.expect("a link inside");
                assert_eq!(dirs.iter().map(ino).collect::<Vec<_>>(), [ino_of(&www.join("sub"))]);
                assert!(matches!(root.open_dirs_along("out-dir/secret.txt"), Err(OpenError::Outside)));
            } else {
                assert!(through_link.is_err(), "a link, not followed");
            }
        }
    }

    #[test]
    fn encoding_links() {
        let mut out = String::new();
        encode_segment("a b#?%/é", &mut out);
        assert_eq!(out, "a%20b%23%3F%25%2F%C3%A9");
    }
}
