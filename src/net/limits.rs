//! Descriptor limits: raising the soft RLIMIT_NOFILE (scan, serve), and how
//! many sockets a scan may hold open at once.
//!
//! Every attempt in flight is an open descriptor. The soft RLIMIT_NOFILE is
//! often 1024 while the hard limit is far higher, so berth raises the soft
//! limit toward the hard one (any process may), and then keeps its attempts
//! well under whatever soft limit it ended up with: the rest of the program
//! (stdio, the inventory's netlink socket and /proc directories, the
//! progress thread) needs descriptors too. Running out anyway (EMFILE, from
//! descriptors other threads or libraries opened) is handled by the scanner
//! by waiting for attempts to finish, never by failing.

/// Descriptors kept free for everything that is not an attempt.
const RESERVE: u64 = 32;

/// The most attempts berth keeps in flight by default, however high the
/// limit: beyond a few thousand the kernel's work per attempt dominates,
/// and a remote host's connection tracking suffers.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// Raises the soft RLIMIT_NOFILE toward the hard limit (capped at `want`)
/// and returns the soft limit in force afterwards.
pub fn raise_fd_limit(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit fill and read a struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        let target = want.min(limit.rlim_max);
        if limit.rlim_cur < target {
            let raised = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return target;
            }
        }
        limit.rlim_cur
    }
}

/// The attempts to keep in flight under a soft limit of `soft`: at most
/// half of what is left after the reserve (so that sockets closing and
/// opening, and other threads, always have room), at least 1.
pub fn in_flight_budget(soft: u64, asked: Option<usize>) -> usize {
    let room = soft.saturating_sub(RESERVE) / 2;
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    match asked {
        Some(n) => n.clamp(1, room),
        None => room.min(DEFAULT_MAX_IN_FLIGHT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stays_under_the_limit() {
        assert_eq!(in_flight_budget(64, None), 16);
        assert_eq!(in_flight_budget(10, None), 1);
        assert_eq!(in_flight_budget(1024, None), 496);
        assert_eq!(in_flight_budget(1_048_576, None), DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(in_flight_budget(1024, Some(10_000)), 496);
        assert_eq!(in_flight_budget(1024, Some(0)), 1);
        assert_eq!(in_flight_budget(1024, Some(100)), 100);
    }
}
