//! What gala-gopher 2.x builds are known to have, since no call lists it (gala-gopher.md
//! "Probe names"): probe names, each probe's sub-items, and which probes filter by process or
//! container. A build answers for a subset; names it lacks are dropped when it says so.

/// Built into 2.0.2 and later, in the order plugin/info lists them.
pub const BUILTIN: &[&str] = &[
    "baseinfo",
    "virt",
    "flamegraph",
    "l7",
    "tcp",
    "socket",
    "io",
    "proc",
    "jvm",
    "postgre_sli",
    "opengauss_sli",
    "nginx",
    "lvs",
    "kafka",
    "tprofiling",
    "hw",
    "ksli",
    "container",
    "sermant",
    "sli",
    "flowtracer",
];

/// Names only older builds (2.0.0, 2.0.1) answer for; asked after the built-in ones.
pub const OLDER: &[&str] = &["redis_sli", "dnsmasq", "haproxy", "sched"];

/// Sub-items of the probes that have them, as master has them; older builds lack some and say
/// so, and the agent drops those.
const SUB_ITEMS: &[(&str, &[&str])] = &[
    ("flamegraph", &["oncpu", "offcpu", "mem", "mem_glibc", "io"]),
    (
        "l7",
        &["l7_bytes_metrics", "l7_rpc_metrics", "l7_rpc_trace"],
    ),
    (
        "tcp",
        &[
            "tcp_abnormal",
            "tcp_rtt",
            "tcp_windows",
            "tcp_srtt",
            "tcp_rate",
            "tcp_sockbuf",
            "tcp_stats",
            "tcp_delay",
        ],
    ),
    ("socket", &["tcp_socket", "udp_socket"]),
    ("io", &["io_trace", "io_err", "io_count", "page_cache"]),
    (
        "proc",
        &[
            "proc_syscall",
            "proc_fs",
            "proc_dns",
            "proc_io",
            "proc_pagecache",
            "proc_net",
            "proc_offcpu",
            "proc_ioctl",
            "proc_pygc",
        ],
    ),
    (
        "baseinfo",
        &[
            "cpu", "mem", "nic", "net", "disk", "fs", "proc", "host", "con",
        ],
    ),
    (
        "tprofiling",
        &[
            "oncpu",
            "syscall_file",
            "syscall_net",
            "syscall_lock",
            "syscall_sched",
            "python_gc",
            "pthread_sync",
            "oncpu_sample",
            "mem_usage",
            "mem_glibc",
            "offcpu",
        ],
    ),
    ("hw", &["hw_nic", "hw_mem"]),
    (
        "sermant",
        &["l7_bytes_metrics", "l7_rpc_metrics", "l7_rpc_trace"],
    ),
    (
        "sli",
        &["cpu", "mem", "io", "node", "container", "histogram"],
    ),
];

/// Probes that filter by process or container: configured without `snoopers`, they are sent
/// `"blacklist": {}` ("observe everything"), which master requires of them.
const FILTERING: &[&str] = &[
    "baseinfo",
    "flamegraph",
    "l7",
    "tcp",
    "socket",
    "proc",
    "jvm",
    "tprofiling",
    "container",
    "sermant",
    "sli",
];

pub fn sub_items(probe: &str) -> &'static [&'static str] {
    SUB_ITEMS
        .iter()
        .find(|(p, _)| *p == probe)
        .map_or(&[], |(_, s)| s)
}

pub fn filters_processes(probe: &str) -> bool {
    FILTERING.contains(&probe)
}

/// Every name some 2.x build answers for, in the order they are asked.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().chain(OLDER).copied()
}

pub fn is_known(probe: &str) -> bool {
    all_names().any(|n| n == probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_agree_with_each_other() {
        assert_eq!(BUILTIN.len(), 21);
        for (p, subs) in SUB_ITEMS {
            assert!(BUILTIN.contains(p), "{p} has sub-items but is not built in");
            assert!(!subs.is_empty());
        }
        for p in FILTERING {
            assert!(BUILTIN.contains(p), "{p}");
        }
        let mut names: Vec<&str> = all_names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            BUILTIN.len() + OLDER.len(),
            "a name is listed twice"
        );
        assert_eq!(sub_items("socket"), ["tcp_socket", "udp_socket"]);
        assert!(sub_items("jvm").is_empty());
        assert!(filters_processes("tcp") && !filters_processes("ksli"));
    }
}
