//! The process's open-file limit (`RLIMIT_NOFILE`).
//!
//! Every feed poll, webhook delivery, SMTP session, database file and
//! endpoint connection holds a file descriptor. The default soft limit
//! (1024) is low for a daemon that also serves an HTTP endpoint: when
//! hostile clients held the endpoint's connections, polls failed with "Too
//! many open files" and SMTP delivery stopped. The daemon raises the soft
//! limit as far as the hard limit allows (systemd's default hard limit is
//! 524288), and the endpoint caps its connections below what is left after
//! a reserve for polls and deliveries ([`endpoint_share`]).

/// The soft limit storywatch asks for; more buys nothing.
pub const WANTED: u64 = 65_536;

/// Descriptors kept for everything but the endpoint: the database, logs,
/// notifiers, and per poll in flight a feed connection and an article
/// connection.
pub fn reserve(concurrency: usize) -> u64 {
    256 + 4 * concurrency as u64
}

/// The soft and hard limits now.
pub fn current() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other effects.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    // rlim_t is narrower than u64 on some targets
    #[allow(clippy::unnecessary_cast)]
    (rc == 0).then_some((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Raises the soft limit towards [`WANTED`], within the hard limit. Returns
/// the soft limit in force afterwards.
pub fn raise() -> Option<u64> {
    let (soft, hard) = current()?;
    let target = WANTED.min(hard);
    if soft >= target {
        return Some(soft);
    }
    let lim = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we own; raising the soft limit up
    // to the hard limit is always permitted.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc == 0 {
        Some(target)
    } else {
        Some(soft)
    }
}

/// How many endpoint connections fit beside the reserve, at most `cap`
/// and at least a handful (health checks must always get through).
pub fn endpoint_share(soft_limit: u64, concurrency: usize, cap: usize) -> usize {
    let free = soft_limit.saturating_sub(reserve(concurrency));
    (free.min(cap as u64) as usize).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_what_the_reserve_leaves() {
        assert_eq!(endpoint_share(65_536, 32, 1024), 1024);
        assert_eq!(endpoint_share(1024, 32, 1024), 1024 - 256 - 128);
        assert_eq!(endpoint_share(1024, 1024, 1024), 16, "never none");
    }

    #[test]
    fn raising_never_lowers_and_stays_within_the_hard_limit() {
        let (before, hard) = current().unwrap();
        let after = raise().unwrap();
        assert!(after >= before && after <= hard);
        assert_eq!(current().unwrap().0, after);
    }
}
