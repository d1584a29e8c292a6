//! Soft resource limits as runlimit and runtool request them: the names runlimit accepts, and
//! the "soft = hard, clamp to hard, never touch hard" rule (runlimit(8), runtool(8) `-R`).

use platform::rlimit::Resource;

/// The eleven names runlimit's `-F`/`-E` accept, in the order limits are applied.
pub const RUNLIMIT_TABLE: [Resource; 11] = [
    Resource::As,
    Resource::Vmem,
    Resource::Core,
    Resource::Data,
    Resource::Fsize,
    Resource::Memlock,
    Resource::Nofile,
    Resource::Nproc,
    Resource::Rss,
    Resource::Stack,
    Resource::Cpu,
];

/// Position of `r` in [`RUNLIMIT_TABLE`].
pub fn slot(r: Resource) -> Option<usize> {
    RUNLIMIT_TABLE.iter().position(|&x| x == r)
}

/// A resource by runlimit-known name (`RLIMIT_LOCKS` etc. are unknown to runlimit).
pub fn runlimit_by_name(name: &[u8]) -> Option<Resource> {
    RUNLIMIT_TABLE
        .iter()
        .copied()
        .find(|r| r.name().as_bytes() == name)
}

/// The soft limit an explicit request gives: the value, or the hard limit if the value reaches
/// it (`true` = clamped).
pub fn clamp(value: u32, hard: u64) -> (u64, bool) {
    let v = value as u64;
    if v >= hard {
        (hard, true)
    } else {
        (v, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(runlimit_by_name(b"RLIMIT_NOFILE"), Some(Resource::Nofile));
        assert_eq!(runlimit_by_name(b"RLIMIT_LOCKS"), None);
        assert_eq!(slot(Resource::Cpu), Some(10));
    }

    #[test]
    fn clamping() {
        assert_eq!(clamp(5, 10), (5, false));
        assert_eq!(clamp(10, 10), (10, true));
        assert_eq!(
            clamp(u32::MAX, platform::rlimit::INFINITY),
            (u32::MAX as u64, false)
        );
    }
}
