//! The likelihoods' sums over customers, on up to two threads of a rayon
//! pool of their own.

use std::sync::OnceLock;

use rayon::prelude::*;

/// Rows are processed in fixed-size chunks whose partial sums are always
/// combined in the same order, so a fit is bit-for-bit reproducible whatever
/// the number of threads (a nightly re-run must publish the same numbers).
const CHUNK_ROWS: usize = 16_384;
/// The fit runs inside a query engine that owns the other cores.
const MAX_THREADS: usize = 2;

fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("clv-fit-{i}"))
            .build()
            .expect("a thread pool of two threads")
    })
}

/// `f` of each chunk of `rows`, in chunk order (rayon's indexed `collect`
/// keeps it); a single chunk stays on the calling thread.
pub(super) fn map_chunks<T: Sync, R: Send>(
    rows: &[T],
    f: impl Fn(&[T]) -> R + Sync + Send,
) -> Vec<R> {
    if rows.len() <= CHUNK_ROWS {
        return rows.chunks(CHUNK_ROWS).map(f).collect();
    }
    pool().install(|| rows.par_chunks(CHUNK_ROWS).map(f).collect())
}
