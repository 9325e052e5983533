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
            .expect("a thread pool for the fits")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// On the pool, chunk by chunk and in chunk order: the same sums, bit
    /// for bit, as one thread taking the chunks in turn.
    #[test]
    fn chunks_come_back_in_order_with_the_sums_of_one_thread() {
        let rows: Vec<f64> = (0..100_000).map(|i| 1.0 / f64::from(i + 1)).collect();
        let sequential: Vec<f64> = rows.chunks(CHUNK_ROWS).map(|c| c.iter().sum()).collect();
        let pooled = map_chunks(&rows, |c| c.iter().sum::<f64>());
        assert_eq!(pooled.len(), 7);
        assert_eq!(pooled, sequential);
        let firsts = map_chunks(&rows, |c| c[0]);
        assert_eq!(
            firsts,
            (0..7).map(|k| rows[k * CHUNK_ROWS]).collect::<Vec<_>>()
        );
    }
}
