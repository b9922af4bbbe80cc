//! Resource use of a unit's whole control group, summed over its processes via procfs, for
//! hosts where systemd's own accounting answers `[not set]` (the legacy/hybrid cgroup layout).
//! Everything is read under a root directory so tests can use a recorded tree.

use std::path::{Path, PathBuf};

use procfs::process::Stat;
use procfs::FromRead;

/// CPU time and resident memory of the processes in a control group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub cpu_ns: u64,
    pub rss_bytes: u64,
}

/// Where a unit's `cgroup.procs` may be: pure cgroup2, the hybrid layout's unified tree, and
/// the legacy named `systemd` hierarchy.
fn procs_files(root: &Path, control_group: &str) -> Vec<PathBuf> {
    let rel = control_group.trim_start_matches('/');
    [
        "sys/fs/cgroup",
        "sys/fs/cgroup/unified",
        "sys/fs/cgroup/systemd",
    ]
    .iter()
    .map(|base| root.join(base).join(rel).join("cgroup.procs"))
    .collect()
}

/// The pids listed in the first `cgroup.procs` found for the group; `None` when there is none.
pub fn pids(root: &Path, control_group: &str) -> Option<Vec<u32>> {
    if control_group.is_empty() || control_group.split('/').any(|c| c == "..") {
        return None;
    }
    procs_files(root, control_group).iter().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        Some(
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect(),
        )
    })
}

/// Sums CPU time (including reaped children, which ran in the same group) and resident memory
/// over the group's processes. A process that exits meanwhile is simply not counted.
pub fn usage(root: &Path, control_group: &str) -> Option<Usage> {
    let pids = pids(root, control_group)?;
    let ticks = procfs::ticks_per_second().max(1);
    let page = procfs::page_size();
    let mut total = Usage::default();
    for pid in pids {
        let path = root.join("proc").join(pid.to_string()).join("stat");
        let Ok(stat) = Stat::from_file(&path) else {
            continue;
        };
        let children = stat.cutime.max(0) as u64 + stat.cstime.max(0) as u64;
        let cpu_ticks = stat.utime + stat.stime + children;
        total.cpu_ns += cpu_ticks * 1_000_000_000 / ticks;
        total.rss_bytes += stat.rss * page;
    }
    Some(total)
}

/// `CLOCK_MONOTONIC` in microseconds: the clock of systemd's `*TimestampMonotonic` properties.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::fake::Scratch;

    fn stat_line(pid: u32, comm: &str, utime: u64, stime: u64, cutime: i64, rss: u64) -> String {
        format!(
            "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} {cutime} 0 20 0 1 0 \
             100 1000000 {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
    }

    fn tree(tag: &str) -> Scratch {
        Scratch::new(&format!("cgroup-{tag}"))
    }

    #[test]
    fn sums_over_the_hybrid_layout_group() {
        let root = tree("hybrid");
        let cg = root.join("sys/fs/cgroup/unified/system.slice/gala-gopher.service");
        std::fs::create_dir_all(&cg).unwrap();
        std::fs::write(cg.join("cgroup.procs"), "101\n102\n999\n").unwrap();
        for (pid, comm, u, s, c, rss) in [
            (101u32, "gala-gopher", 100u64, 50u64, 10i64, 1000u64),
            (102, "a (weird) name", 20, 20, 0, 24),
        ] {
            let d = root.join("proc").join(pid.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("stat"), stat_line(pid, comm, u, s, c, rss)).unwrap();
        }
        let u = usage(&root, "/system.slice/gala-gopher.service").unwrap();
        let ticks = procfs::ticks_per_second();
        assert_eq!(
            u.cpu_ns,
            160 * 1_000_000_000 / ticks + 40 * 1_000_000_000 / ticks
        );
        assert_eq!(u.rss_bytes, 1024 * procfs::page_size());
    }

    #[test]
    fn no_group_means_no_figure() {
        let root = tree("none");
        assert_eq!(usage(&root, "/system.slice/x.service"), None);
        assert_eq!(usage(&root, ""), None);
        assert_eq!(pids(&root, "/../../etc"), None);
    }

    #[test]
    fn pure_cgroup2_path_comes_first() {
        let root = tree("v2");
        let a = root.join("sys/fs/cgroup/system.slice/u.service");
        let b = root.join("sys/fs/cgroup/systemd/system.slice/u.service");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("cgroup.procs"), "7\n").unwrap();
        std::fs::write(b.join("cgroup.procs"), "8\n").unwrap();
        assert_eq!(pids(&root, "/system.slice/u.service"), Some(vec![7]));
    }
}
