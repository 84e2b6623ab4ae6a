//! Giving up root after binding: a server started with `sudo` (to bind a
//! port below 1024, say) serves as the user who ran sudo, so that whatever
//! reaches it (every local user; a web page through the browser's
//! weaknesses) drives an unprivileged process, and it serves only what that
//! user may read.

use std::ffi::CString;

/// The user a root process started by sudo goes back to: SUDO_UID and
/// SUDO_GID (and SUDO_USER, for the supplementary groups).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SudoUser {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
}

/// Who runs berth, as far as dropping privileges goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Not root: nothing to give up.
    User,
    /// Root, started by sudo for this user: drop to them after binding.
    Sudo(SudoUser),
    /// Root with no sudo user to go back to (a root login, or sudo from root).
    Root,
}

/// Reads the effective uid and the SUDO_* variables.
pub fn current() -> Privilege {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Privilege::User;
    }
    let number = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u32>().ok());
    match (number("SUDO_UID"), number("SUDO_GID")) {
        (Some(uid), Some(gid)) if uid != 0 => {
            Privilege::Sudo(SudoUser { uid, gid, name: std::env::var("SUDO_USER").ok().filter(|n| !n.is_empty()) })
        }
        _ => Privilege::Root,
    }
}

/// Becomes `user` for good: supplementary groups (the user's, from
/// SUDO_USER, or only their group), then the group, then the user, real,
/// effective and saved alike; then checks that root cannot be regained.
/// Call it before any thread starts, right after binding.
pub fn drop_to(user: &SudoUser) -> Result<(), String> {
    let fail = |step: &str| format!("cannot drop root's privileges ({step}): {}", std::io::Error::last_os_error());
    // SAFETY: plain system calls on integers and a NUL-terminated name.
    unsafe {
        let groups_set = match user.name.as_deref().and_then(|n| CString::new(n).ok()) {
            Some(name) => libc::initgroups(name.as_ptr(), user.gid) == 0,
            None => false,
        };
        if !groups_set && libc::setgroups(1, &user.gid) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setresgid(user.gid, user.gid, user.gid) != 0 {
            return Err(fail("setresgid"));
        }
        if libc::setresuid(user.uid, user.uid, user.uid) != 0 {
            return Err(fail("setresuid"));
        }
        if libc::setuid(0) == 0 || libc::geteuid() != user.uid || libc::getegid() != user.gid {
            return Err("cannot drop root's privileges: root could be regained".into());
        }
    }
    Ok(())
}
