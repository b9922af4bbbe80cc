//! The memory allocator of the agent binary.
//!
//! musl's allocator takes a global lock on every call. Under load, the thread that serves
//! connections and the worker threads contend for it, and `perf` showed malloc, free and their
//! lock at about 14% of the agent's CPU. mimalloc keeps a heap per thread. Its default of eagerly
//! committing each arena would raise the idle RSS from about 1.3 MB to about 7.5 MB, so arenas
//! are committed on demand instead, and freed pages are returned at once, since nothing here is
//! tuned for reuse.

// `mi_option_e` of mimalloc v3 (include/mimalloc.h), which the crate builds by default.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the options above; call first thing in `main`, before the runtime's threads exist.
pub fn tune() {
    // SAFETY: plain setters of mimalloc's option table, valid at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
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
        tune();
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 0);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 0);
    }
}
