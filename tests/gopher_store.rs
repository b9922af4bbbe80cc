//! Changing the gala-gopher configuration file under contention and crashes: 50 threads, several
//! processes, a writer SIGKILLed again and again, owner and mode kept, and the time one change
//! takes on the largest shipped file.
//!
//! Child processes are this test binary run again with `WORKER_ROLE` set; the test
//! `worker_entry` then plays that role instead of its in-process check.

mod common;
mod gopher_util;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aops_agent::gopher::{self, probes, store, Document, GopherError};
use common::TempDir;
use gopher_util::*;

const WORKER_ROLE: &str = "AOPS_GOPHER_WORKER_ROLE";
const WORKER_PATH: &str = "AOPS_GOPHER_WORKER_PATH";
const WORKER_INDEX: &str = "AOPS_GOPHER_WORKER_INDEX";

/// Probes that every writer sets together, to a pattern: torn writes would mix patterns.
const SHARED: [&str; 5] = [
    "example",
    "system_infos",
    "virtualized_infos",
    "event",
    "redis",
];
/// Probes owned by one writer each: a lost update would lose one of them.
const OWNED: [&str; 14] = [
    "tcp",
    "dnsmasq",
    "haproxy",
    "nginx",
    "task",
    "endpoint",
    "ioprobe",
    "redis_client",
    "cgprobe",
    "httpprobe",
    "jvmprobe",
    "stackprobe",
    "kafkaprobe",
    "tprofiling",
];

fn onoff(bit: bool) -> String {
    if bit { "on" } else { "off" }.to_string()
}

/// `SHARED` set to the bits of `n`.
fn pattern(n: usize) -> Vec<(String, String)> {
    SHARED
        .iter()
        .enumerate()
        .map(|(k, p)| (p.to_string(), onoff(n >> k & 1 == 1)))
        .collect()
}

fn original_state(name: &str) -> String {
    let doc = Document::parse(largest_fixture()).unwrap();
    probes::entries(&doc)
        .into_iter()
        .find(|e| e.probe.name == name)
        .unwrap()
        .probe
        .switch
}

/// `items` applied in memory to the largest fixture.
fn expected(items: &[(String, String)]) -> Vec<u8> {
    let doc = Document::parse(largest_fixture()).unwrap();
    let (r, new) = probes::apply(&doc, items).unwrap();
    assert!(r.failure.is_empty(), "{:?}", r.failure);
    new.map_or_else(|| doc.as_bytes().to_vec(), |d| d.as_bytes().to_vec())
}

fn config_in(dir: &TempDir) -> PathBuf {
    let p = dir.join("gala-gopher.conf");
    std::fs::write(&p, largest_fixture()).unwrap();
    p
}

#[test]
fn fifty_threads_leave_the_result_of_some_serial_order() {
    let tmp = TempDir::new("gopher-threads");
    let path = config_in(&tmp);
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut items = pattern(i);
                if let Some(p) = OWNED.get(i) {
                    items.push((p.to_string(), onoff(original_state(p) != "on")));
                }
                barrier.wait();
                let r = gopher::apply_switches(&path, &items).unwrap();
                assert_eq!(r.success.len(), items.len(), "thread {i}: {r:?}");
                assert!(r.failure.is_empty(), "thread {i}: {r:?}");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let got = std::fs::read(&path).unwrap();
    Document::parse(got.clone()).unwrap();
    let flips: Vec<(String, String)> = OWNED
        .iter()
        .map(|p| (p.to_string(), onoff(original_state(p) != "on")))
        .collect();
    // Every owned flip survives, and the shared probes hold one thread's whole pattern.
    let serial = (0..50).find(|&last| {
        let mut items = flips.clone();
        items.extend(pattern(last));
        expected(&items) == got
    });
    assert!(serial.is_some(), "final file matches no serial order");
    assert!(store::stale_temps(&path).is_empty());
}

/// One worker process: `count` changes, each setting its owned probe (alternating, ending
/// flipped from the original) and the shared probes to the pattern of (index, iteration).
fn worker_changes(path: &Path, index: usize, count: usize) {
    let owned = OWNED[index];
    let flipped = original_state(owned) != "on";
    for k in 0..count {
        // The last iteration (k = count - 1) sets `flipped`.
        let state = onoff(flipped ^ ((count - 1 - k) % 2 == 1));
        let mut items = pattern(index * 7 + k);
        items.push((owned.to_string(), state));
        let r = gopher::apply_switches(path, &items).unwrap();
        assert!(r.failure.is_empty(), "worker {index}: {r:?}");
    }
}

/// Changes without end, alternating between two patterns, until killed.
fn worker_forever(path: &Path) -> ! {
    println!("worker: changing");
    for k in 0.. {
        gopher::apply_switches(path, &pattern(k % 2)).unwrap();
    }
    unreachable!()
}

#[test]
fn worker_entry() {
    if let Ok(role) = std::env::var(WORKER_ROLE) {
        let path = PathBuf::from(std::env::var(WORKER_PATH).unwrap());
        let index: usize = std::env::var(WORKER_INDEX).unwrap().parse().unwrap();
        match role.as_str() {
            "changes" => worker_changes(&path, index, 25),
            "once" => {
                println!("worker: changing");
                worker_changes(&path, index, 1)
            }
            "forever" => worker_forever(&path),
            other => panic!("unknown worker role {other}"),
        }
        std::process::exit(0);
    }
    // In-process, the worker's changes end with its owned probe flipped.
    let tmp = TempDir::new("gopher-worker");
    let path = config_in(&tmp);
    worker_changes(&path, 2, 4);
    let mut items = pattern(2 * 7 + 3);
    items.push((OWNED[2].into(), onoff(original_state(OWNED[2]) != "on")));
    assert_eq!(std::fs::read(&path).unwrap(), expected(&items));
}

fn spawn_worker(role: &str, path: &Path, index: usize) -> Child {
    common::target_command(std::env::current_exe().unwrap())
        .args(["--exact", "worker_entry", "--test-threads=1", "--nocapture"])
        .env(WORKER_ROLE, role)
        .env(WORKER_PATH, path)
        .env(WORKER_INDEX, index.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn processes_wait_for_the_file_lock() {
    let tmp = TempDir::new("gopher-flock");
    let path = config_in(&tmp);
    let before = std::fs::read(&path).unwrap();
    let held = std::fs::File::open(&path).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut child = spawn_worker("once", &path, 0);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("worker: changing") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "worker ended early");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "worker did not wait");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "written under our lock"
    );
    drop(held);
    assert!(child.wait().unwrap().success());
    let mut items = pattern(0);
    items.push((OWNED[0].into(), onoff(original_state(OWNED[0]) != "on")));
    assert_eq!(std::fs::read(&path).unwrap(), expected(&items));
}

#[test]
fn concurrent_processes_lose_no_update() {
    let tmp = TempDir::new("gopher-procs");
    let path = config_in(&tmp);
    let workers = 4;
    let children: Vec<Child> = (0..workers)
        .map(|i| spawn_worker("changes", &path, i))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let got = std::fs::read(&path).unwrap();
    let flips: Vec<(String, String)> = OWNED[..workers]
        .iter()
        .map(|p| (p.to_string(), onoff(original_state(p) != "on")))
        .collect();
    let serial = (0..workers).find(|&last| {
        let mut items = flips.clone();
        items.extend(pattern(last * 7 + 24));
        expected(&items) == got
    });
    assert!(serial.is_some(), "final file matches no serial order");
}

#[test]
fn sigkill_during_changes_never_leaves_a_broken_file() {
    let tmp = TempDir::new("gopher-kill");
    let path = config_in(&tmp);
    let valid = [
        largest_fixture(),
        expected(&pattern(0)),
        expected(&pattern(1)),
    ];
    let mut rng_state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rewrites_seen = 0;
    let mut temps_after_kill = 0;
    // Inode numbers get reused, so a rewrite is seen by inode and mtime together.
    let stamp = |m: std::fs::Metadata| (m.ino(), m.mtime(), m.mtime_nsec());
    let mut last = stamp(std::fs::metadata(&path).unwrap());
    for round in 0..40 {
        let mut child = spawn_worker("forever", &path, 0);
        // Let it start (a test binary starts slowly under emulation) and run a while; the kill
        // lands at a different point of a change each time.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("worker: changing") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "worker ended early");
        }
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        // (Under emulation a change takes several times as long: so does the wait.)
        std::thread::sleep(Duration::from_millis(100 + rng_state % 100) * common::slowdown());
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = std::fs::read(&path).unwrap();
        assert!(!got.is_empty(), "round {round}: empty file");
        assert!(
            valid.contains(&got),
            "round {round}: file is not one of the states a change writes"
        );
        let now = stamp(std::fs::metadata(&path).unwrap());
        if now != last {
            rewrites_seen += 1;
            last = now;
        }
        temps_after_kill += store::stale_temps(&path).len();
    }
    println!("40 kills: file replaced between kills {rewrites_seen} times, {temps_after_kill} temporary files seen right after a kill");
    assert!(
        rewrites_seen >= 30,
        "the worker barely ran: {rewrites_seen}"
    );
    // Whatever a kill left behind, the next change clears it.
    gopher::apply_switches(&path, &pattern(2)).unwrap();
    assert!(store::stale_temps(&path).is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), expected(&pattern(2)));
}

#[test]
fn owner_and_mode_are_kept() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test gives the file another owner and must run as root (CI does)"
    );
    let tmp = TempDir::new("gopher-owner");
    let path = config_in(&tmp);
    std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::metadata(&path).unwrap();
    let r = gopher::apply_switches(&path, &[("tcp".into(), "off".into())]).unwrap();
    assert!(r.changed);
    let after = std::fs::metadata(&path).unwrap();
    assert_ne!(after.ino(), before.ino(), "not replaced by rename");
    assert_eq!((after.uid(), after.gid()), (4242, 4343));
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert!(store::stale_temps(&path).is_empty());
}

#[test]
fn no_change_means_no_write() {
    let tmp = TempDir::new("gopher-nochange");
    let path = config_in(&tmp);
    let before = std::fs::metadata(&path).unwrap();
    let r = gopher::apply_switches(
        &path,
        &[
            ("tcp".into(), original_state("tcp")),
            ("nosuch".into(), "on".into()),
            ("tcp".into(), "auto".into()),
        ],
    )
    .unwrap();
    assert_eq!(r.success, ["tcp"]);
    assert_eq!(r.failure, ["nosuch", "tcp"]);
    assert!(!r.changed);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec())
    );
    assert_eq!(std::fs::read(&path).unwrap(), largest_fixture());
}

#[test]
fn missing_file_is_reported_and_every_item_fails() {
    let tmp = TempDir::new("gopher-missing");
    let items = vec![("tcp".to_string(), "on".to_string())];
    let e = gopher::apply_switches(&tmp.join("nope.conf"), &items).unwrap_err();
    assert!(matches!(e, GopherError::Missing(_)), "{e:?}");
    assert!(e.to_string().contains("nope.conf"));
    let all = gopher::ChangeResult::all_failed(&items);
    assert_eq!(all.failure, ["tcp"]);
    assert!(all.success.is_empty() && !all.changed);
    assert!(matches!(
        gopher::read_probes(&tmp.join("nope.conf")),
        Err(GopherError::Missing(_))
    ));
}

/// The time one change takes on the largest shipped file (printed with --nocapture).
#[test]
fn apply_switches_time_on_the_largest_fixture() {
    let tmp = TempDir::new("gopher-timing");
    let path = config_in(&tmp);
    let mut times = Vec::new();
    for k in 0..200 {
        let items = [("tcp".to_string(), onoff(k % 2 == 1))];
        let t = Instant::now();
        let r = gopher::apply_switches(&path, &items).unwrap();
        times.push(t.elapsed());
        assert!(r.changed, "iteration {k}");
    }
    let mut unchanged = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        // The loop above ended with "on".
        let r = gopher::apply_switches(&path, &[("tcp".into(), "on".into())]).unwrap();
        unchanged.push(t.elapsed());
        assert!(!r.changed);
    }
    times.sort();
    unchanged.sort();
    println!(
        "apply_switches on {} bytes: p50 {:?}, p90 {:?} (rewrite); p50 {:?} (no change)",
        largest_fixture().len(),
        times[100],
        times[180],
        unchanged[100]
    );
    assert!(times[100] < Duration::from_secs(1));
}
