//! The memory allocator of the agent binary.
//!
//! musl's allocator takes a global lock on every call. Under load, the thread that serves
//! connections and the worker threads contend for it, and `perf` showed malloc, free and their
//! lock at about 14% of the agent's CPU. mimalloc keeps a heap per thread. Its default of eagerly
//! committing each arena would raise the idle RSS from about 1.3 MB to about 7.5 MB, so arenas
//! are committed on demand instead, and freed pages are returned at once, since nothing here is
//! tuned for reuse. Transparent huge pages are refused: with them (`madvise`, Debian's and
//! openEuler's default) mimalloc backs its arenas with 2 MiB pages and purges only whole ones,
//! so requests with bodies of a few hundred KiB left the RSS 2 MiB higher each time a thread
//! first took one (9 MB after the first requests, 44 MB after 1 MiB bodies; 3.4 and 12.6 MB
//! without).

// `mi_option_e` of mimalloc v3 (include/mimalloc.h), which the crate builds by default.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Sets the options above; call first thing in `main`, before the runtime's threads exist.
pub fn tune() {
    // SAFETY: plain setters of mimalloc's option table, valid at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
        // mimalloc reads allow_thp once, before main; the kernel's per-process switch also
        // covers the arena it has already mapped (it is checked at each page fault).
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indices_name_the_options_meant() {
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        // The defaults of mimalloc v3 (2: commit eagerly where the OS overcommits; 1000 ms), which no
        // other option of the table shares: a wrong index would show here.
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 2);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 1000);
        // allow_thp defaults to 1; the option before it (page_cross_thread_max_reclaim) to 32
        // and the one after (minimal_purge_size) to 0.
        assert_eq!(get(MI_OPTION_ALLOW_THP), 1);
        assert_eq!(get(MI_OPTION_ALLOW_THP - 1), 32);
        assert_eq!(get(MI_OPTION_ALLOW_THP + 1), 0);
        tune();
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 0);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 0);
        assert_eq!(get(MI_OPTION_ALLOW_THP), 0);
    }
}
