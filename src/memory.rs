//! Giving freed heap back to the operating system.
//!
//! The binary allocates through jemalloc (see `main.rs`); C libraries such
//! as zstd still call glibc's malloc, so both are tuned and trimmed here.
//!
//! glibc keeps memory freed by worker threads in per-thread arenas instead
//! of returning it, so after a burst (the first poll of thousands of feeds,
//! a big full-text fetch) a long-running daemon's resident size stays near
//! its peak for good. Measured with the poll harness at 10,000 feeds: 60–70
//! MiB of the resident size was such free heap. `malloc_trim` returns it;
//! it costs a few milliseconds, so the daemon calls it on its 30-second
//! status tick and `once` calls it at the end.

/// Returns free heap pages to the OS: jemalloc's dirty pages of every
/// arena (it would otherwise return them over its 10 s decay, and only
/// while the process allocates), and glibc's (glibc only).
pub fn release_free_heap() {
    // SAFETY: "arena.<MALLCTL_ARENAS_ALL>.purge" takes no input and writes
    // no output, so null pointers and a zero length are what it expects.
    // In a binary that does not allocate through jemalloc it purges
    // jemalloc's own empty arenas: a no-op.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists and
    // unmaps pages no allocation uses; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps glibc at two malloc arenas (glibc only; elsewhere a no-op).
///
/// By default glibc gives each thread that contends for the heap its own
/// arena, up to 8 per core, and each keeps its own free memory. Before
/// jemalloc, a burst of polls on tokio's blocking threads (a first poll of
/// 1,000 feeds) touched many arenas: with two, its peak resident size fell
/// from 88 to 72 MB in the peers benchmark at the same CPU. Rust's own
/// allocations now go to jemalloc; the cap still bounds what C libraries
/// (zstd's contexts, one per polling thread) take from glibc.
/// Call it first thing in `main`, before other threads exist.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; M_ARENA_MAX is valid
    // at any time, and no other thread is allocating yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
