//! The memory allocator of the agent binary.
//!
//! musl's allocator takes a global lock on every call. Under load, the thread that serves
//! connections and the worker threads contend for it, and `perf` showed malloc, free and their
//! lock at about 14% of the agent's CPU. mimalloc keeps a heap per thread. Its default of eagerly
//! committing each arena would raise the idle RSS from about 1.3 MB to about 7.5 MB, so arenas
//! are committed on demand instead, and freed pages are returned at once, since nothing here is
//! tuned for reuse.
//!
//! Transparent huge pages are off for the whole process, with `prctl(PR_SET_THP_DISABLE)`.
//! mimalloc advises its 1 GiB arenas for huge pages, so on a host whose THP setting is `madvise`
//! the first touches of an arena fault in 2 MiB pages (a `cargo build --release` binary idled
//! at 7.0 MB, 4 MB of it huge pages); on a host set to `always`, the default of many enterprise
//! kernels, the kernel does the same unasked, whatever the allocator says. mimalloc also purges
//! only whole huge pages, so each thread that took a body of a few hundred KiB left the RSS
//! 2 MiB higher (44 MB after a series of 1 MiB bodies; 12.6 MB without huge pages). Telling
//! mimalloc alone would not cover what the kernel does by itself; the process flag covers every
//! mapping, whoever made it, on every host setting, so it is the guarantee. mimalloc is told too
//! (`allow_thp` = 0), so it stops advising arenas and sizes its purges for 4 KiB pages. The flag
//! is inherited by the programs the agent runs (systemctl), which are short-lived and lose
//! nothing by it.
//!
//! All of this must happen before mimalloc maps its first arena, and that is before `main`:
//! mimalloc initialises itself in a C constructor, and Rust's runtime allocates before it calls
//! `main`. So [`early`] runs from the binary's `.init_array`, at a priority that places it
//! before mimalloc's constructor (which has none with gcc, 101 with clang). Set from `main`, the
//! options missed the first arena, which was then committed eagerly and advised for huge pages.

use libmimalloc_sys::mi_option_t;

// Options of mimalloc v3 (`mi_option_e` in include/mimalloc.h, the version the crate builds by
// default). libmimalloc-sys exports no name for any of these three, so they are numbered here;
// the names it does export around them are checked below, so a release of the crate whose
// table is numbered otherwise stops the build instead of setting another option.
const MI_OPTION_ARENA_EAGER_COMMIT: mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;
const MI_OPTION_ALLOW_THP: mi_option_t = 43;

const _: () = {
    use libmimalloc_sys as sys;
    assert!(sys::mi_option_large_os_pages == MI_OPTION_ARENA_EAGER_COMMIT + 2);
    assert!(sys::mi_option_reserve_os_memory == MI_OPTION_ARENA_EAGER_COMMIT + 5);
    assert!(sys::mi_option_use_numa_nodes == MI_OPTION_PURGE_DELAY + 1);
    assert!(sys::_mi_option_last == MI_OPTION_ALLOW_THP + 4);
};

/// Sets what the module comment describes. `main.rs` registers it in `.init_array.00100`: lower
/// numbers run first, so it runs after Rust's own entry (99, which only records the arguments)
/// and before mimalloc's. Harmless to call again.
pub extern "C" fn early() {
    // SAFETY: prctl with these arguments only sets a flag of this process; mimalloc's option
    // setters write its option table and are valid before the allocator is initialised (they
    // are what its environment variables set at start).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_name_the_options_meant() {
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        // The defaults of mimalloc v3 (2: commit eagerly where the OS overcommits; 1000 ms; 1),
        // which together no other option of the table shares: a wrong number would show here.
        // (This test binary does not run `early` at start: only the agent binary registers it.)
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 2);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 1000);
        assert_eq!(get(MI_OPTION_ALLOW_THP), 1);
        // The options either side of allow_thp: page_cross_thread_max_reclaim (32) and
        // minimal_purge_size (0).
        assert_eq!(get(MI_OPTION_ALLOW_THP - 1), 32);
        assert_eq!(get(MI_OPTION_ALLOW_THP + 1), 0);
        early();
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 0);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 0);
        assert_eq!(get(MI_OPTION_ALLOW_THP), 0);
        // SAFETY: PR_GET_THP_DISABLE only reads a flag of this process.
        let thp_disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        if std::env::var_os("AOPS_TEST_RUNNER").is_some_and(|r| !r.is_empty()) {
            // qemu-user answers these prctl calls itself (-1); the native run checks the flag.
            eprintln!("NOTE: PR_SET_THP_DISABLE NOT CHECKED under emulation (got {thp_disabled})");
        } else {
            assert_eq!(thp_disabled, 1, "PR_SET_THP_DISABLE did not take");
        }
    }
}
