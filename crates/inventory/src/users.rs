//! uid -> user name, through the C library (so NSS sources such as LDAP
//! count), cached per uid for one snapshot.

use std::collections::HashMap;
use std::ffi::CStr;

#[derive(Default)]
pub(crate) struct UserNames {
    cache: HashMap<u32, Option<String>>,
}

impl UserNames {
    pub(crate) fn name_of(&mut self, uid: u32) -> Option<String> {
        self.cache.entry(uid).or_insert_with(|| lookup(uid)).clone()
    }
}

fn lookup(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: passwd is plain data; getpwuid_r fills it with pointers into
    // `buffer`, which outlives their use below.
    unsafe {
        let mut passwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut passwd, buffer.as_mut_ptr(), buffer.len(), &mut result);
        if rc != 0 || result.is_null() || passwd.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(passwd.pw_name).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_named() {
        assert_eq!(super::lookup(0).as_deref(), Some("root"));
    }
}
