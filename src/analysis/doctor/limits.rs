//! File descriptor limits: every socket is a descriptor, so a server that
//! hits its limit stops accepting ("Too many open files", EMFILE), and a
//! machine at fs.file-max refuses new files to everyone (ENFILE).

use super::{percent, Check, Status};
use berth_inventory::system::SystemFacts;

fn limit_words(value: u64) -> String {
    if value == u64::MAX {
        "unlimited".into()
    } else {
        value.to_string()
    }
}

/// RLIMIT_NOFILE of berth, which it inherited from the shell: what
/// programs started from that shell get too. 1024 is the usual soft default.
pub fn nofile(system: &SystemFacts) -> Check {
    const ID: &str = "limits.nofile";
    let limits = &system.limits;
    let (Some(soft), Some(hard)) = (limits.soft, limits.hard) else {
        return Check::new(ID, Status::Skipped, "getrlimit(RLIMIT_NOFILE) failed");
    };
    let words = format!(
        "open files per process: soft {}, hard {} (this shell's limit, inherited by what it starts)",
        limit_words(soft),
        limit_words(hard)
    );
    let raise = if soft < hard {
        format!(
            "ulimit -n {} in the shell (up to the hard limit), or LimitNOFILE= in a systemd unit",
            limit_words(hard)
        )
    } else {
        "raise the hard limit in /etc/security/limits.conf or with LimitNOFILE= in a systemd unit".to_string()
    };
    let status = match soft {
        0..=255 => Status::Fail,
        256..=1023 => Status::Warn,
        _ => Status::Ok,
    };
    let check = Check::new(ID, status, words);
    if status == Status::Ok {
        return check;
    }
    check
        .detail("a server holding more sockets than the soft limit fails with 'Too many open files' (EMFILE)")
        .fix(raise)
}

/// System-wide open files against fs.file-max; fs.nr_open caps what any
/// RLIMIT_NOFILE may be raised to.
pub fn system_files(system: &SystemFacts) -> Check {
    const ID: &str = "limits.system";
    let limits = &system.limits;
    let (Some(open), Some(max)) = (limits.file_open, limits.file_max) else {
        return Check::new(ID, Status::Skipped, "cannot read /proc/sys/fs/file-nr or file-max");
    };
    let share = percent(open as usize, max.min(usize::MAX as u64) as usize);
    let nr_open = limits.nr_open.map(|n| format!(", nr_open {n}")).unwrap_or_default();
    let words = format!("system-wide: {open} files open of fs.file-max {max} ({share:.1}%){nr_open}");
    let status = if share > 90.0 {
        Status::Fail
    } else if share > 75.0 {
        Status::Warn
    } else {
        Status::Ok
    };
    let check = Check::new(ID, status, words);
    if status == Status::Ok {
        return check;
    }
    check
        .detail("at fs.file-max every process gets 'Too many open files in system' (ENFILE)")
        .fix("sysctl -w fs.file-max=N (and find the process holding so many: berth ls -a)")
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::system;
    use super::*;

    #[test]
    fn limits() {
        let mut s = system();
        assert_eq!(nofile(&s).status, Status::Ok);
        s.limits.soft = Some(512);
        let c = nofile(&s);
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().contains("ulimit -n 524288"));
        s.limits.soft = Some(100);
        assert_eq!(nofile(&s).status, Status::Fail);
        assert_eq!(system_files(&s).status, Status::Ok);
        s.limits.file_open = Some(95);
        s.limits.file_max = Some(100);
        assert_eq!(system_files(&s).status, Status::Fail);
        s.limits.hard = Some(u64::MAX);
        assert!(nofile(&s).summary.contains("hard unlimited"));
    }
}
