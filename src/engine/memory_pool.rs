//! The memory pool of a run: spilling operators share the limit fairly
//! among those that actually hold memory.
//!
//! DataFusion's `FairSpillPool` gives every spilling operator an equal
//! share of the pool, counting every operator of every running plan as soon
//! as it is registered. A plan of a dozen operators on two partitions
//! registers thirty-odd of them (each repartition output and partial
//! aggregation counts), most of which never hold a byte, so an aggregation
//! was capped at about 2 GiB / 35 = 58 MiB and spilled while the process
//! used 400 MB. Measured at a million customers under the bundled 2 GiB
//! limit: 2.55 GB spilled and 55.0 s for the models, against 47.1 s with
//! nothing spilled when the limit was lifted to 16 GiB (peak RSS 1.8 GiB).
//!
//! Here a spilling reservation may hold up to `available / (holders + 2)`,
//! where `holders` counts the spilling consumers that hold memory
//! (including the one asking): two shares are kept free for operators about
//! to start, a lone aggregation may use a third of the pool, and a consumer
//! above its share when others arrive is refused its next growth and
//! spills. Why two: a sort that spills first sorts what it holds, outside
//! the pool, so the process's peak grows with the largest share. With one
//! share kept free the heavy company (20M orders) peaked at 3.03 GiB of RSS
//! under the 2 GiB limit; with two, 2.84 GiB. Operators that cannot spill
//! (hash join build sides) take what is left, as in `FairSpillPool`.

use std::collections::HashMap;
use std::fmt::{Display, Formatter};
use std::sync::{Mutex, MutexGuard};

use datafusion::common::{DataFusionError, Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, human_readable_size,
};

#[derive(Debug)]
pub struct ActiveFairPool {
    pool_size: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    unspillable: usize,
    /// Bytes held by each spilling consumer (by consumer id) holding any.
    /// Per consumer, not per reservation: an operator may split its
    /// reservation, and the parts stay one consumer.
    holders: HashMap<usize, usize>,
}

impl ActiveFairPool {
    pub fn new(pool_size: usize) -> ActiveFairPool {
        ActiveFairPool {
            pool_size,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain counters, consistent after any panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn add(&mut self, consumer: &MemoryConsumer, bytes: usize) {
        if consumer.can_spill() {
            if bytes > 0 {
                *self.holders.entry(consumer.id()).or_default() += bytes;
            }
        } else {
            self.unspillable += bytes;
        }
    }

    fn remove(&mut self, consumer: &MemoryConsumer, bytes: usize) {
        if consumer.can_spill() {
            if let Some(held) = self.holders.get_mut(&consumer.id()) {
                *held = held.saturating_sub(bytes);
                if *held == 0 {
                    self.holders.remove(&consumer.id());
                }
            }
        } else {
            self.unspillable = self.unspillable.saturating_sub(bytes);
        }
    }

    /// What the spilling consumers hold (a few dozen at most to add up).
    fn spillable(&self) -> usize {
        self.holders.values().sum()
    }

    fn free(&self, pool_size: usize) -> usize {
        pool_size.saturating_sub(self.spillable() + self.unspillable)
    }
}

impl MemoryPool for ActiveFairPool {
    fn name(&self) -> &str {
        "active-fair"
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        // Reservations give their memory back (shrink) before the consumer
        // goes; this only forgets a consumer that never did.
        self.state().holders.remove(&consumer.id());
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.state().add(reservation.consumer(), additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.state().remove(reservation.consumer(), shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let mut state = self.state();
        let consumer = reservation.consumer();
        let free = state.free(self.pool_size);
        let allowed = if consumer.can_spill() {
            let holds = state.holders.contains_key(&consumer.id());
            let holders = state.holders.len() + usize::from(!holds);
            let share = self.pool_size.saturating_sub(state.unspillable) / (holders + 2);
            // The share bounds each reservation, as in FairSpillPool: an
            // aggregation merging what it spilled holds its spilled state's
            // reservation and asks for more on another.
            additional <= free && reservation.size() + additional <= share
        } else {
            additional <= free
        };
        if !allowed {
            // The message shows the pool, which takes the lock again.
            drop(state);
            return Err(refused(reservation, additional, free, self));
        }
        state.add(consumer, additional);
        Ok(())
    }

    fn reserved(&self) -> usize {
        let state = self.state();
        state.spillable() + state.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.pool_size)
    }
}

/// The wording of DataFusion's own pools ("Failed to allocate additional
/// ... for <consumer> ..."), which the runner reads to name the operator.
fn refused(
    reservation: &MemoryReservation,
    additional: usize,
    free: usize,
    pool: &ActiveFairPool,
) -> DataFusionError {
    resources_datafusion_err!(
        "Failed to allocate additional {} for {} with {} already allocated for this reservation - {} remain available for the total memory pool: {}",
        human_readable_size(additional),
        reservation.consumer().name(),
        human_readable_size(reservation.size()),
        human_readable_size(free),
        pool
    )
}

impl Display for ActiveFairPool {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        write!(
            f,
            "active-fair(pool_size: {}, spilling consumers holding memory: {})",
            human_readable_size(self.pool_size),
            state.holders.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MIB: usize = 1024 * 1024;

    fn pool(size: usize) -> Arc<dyn MemoryPool> {
        Arc::new(ActiveFairPool::new(size))
    }

    fn spiller(pool: &Arc<dyn MemoryPool>, name: &str) -> MemoryReservation {
        MemoryConsumer::new(name)
            .with_can_spill(true)
            .register(pool)
    }

    #[test]
    fn idle_spillers_do_not_shrink_the_share_of_one_that_holds_memory() {
        let pool = pool(90 * MIB);
        // Thirty registered spilling operators that never reserve anything.
        let idle: Vec<_> = (0..30)
            .map(|i| spiller(&pool, &format!("idle{i}")))
            .collect();
        let busy = spiller(&pool, "busy");
        // Alone, it may take a third of the pool (two shares kept free).
        busy.try_grow(30 * MIB).unwrap();
        assert!(busy.try_grow(1).is_err());
        assert_eq!(pool.reserved(), 30 * MIB);
        drop(idle);
    }

    #[test]
    fn a_holder_above_its_share_is_refused_once_others_hold_memory() {
        let pool = pool(120 * MIB);
        let first = spiller(&pool, "first");
        first.try_grow(40 * MIB).unwrap();
        let second = spiller(&pool, "second");
        // Two holders: shares of 120 / 4 = 30 MiB each.
        second.try_grow(30 * MIB).unwrap();
        assert!(second.try_grow(1).is_err());
        let err = first.try_grow(MIB).unwrap_err().to_string();
        assert!(
            err.contains("Failed to allocate additional 1024.0 KB for first"),
            "{err}"
        );
        // Spilling gives it back; then it grows again within its share.
        first.shrink(40 * MIB);
        first.try_grow(30 * MIB).unwrap();
        assert_eq!(pool.reserved(), 60 * MIB);
    }

    #[test]
    fn unspillable_consumers_take_what_is_free_and_shrink_the_shares() {
        let pool = pool(100 * MIB);
        let join = MemoryConsumer::new("join").register(&pool);
        join.try_grow(40 * MIB).unwrap();
        let sort = spiller(&pool, "sort");
        // (100 - 40) / 3 = 20 MiB for a lone spiller.
        sort.try_grow(20 * MIB).unwrap();
        assert!(sort.try_grow(1).is_err());
        assert!(join.try_grow(41 * MIB).is_err());
        join.try_grow(40 * MIB).unwrap();
        assert_eq!(pool.reserved(), 100 * MIB);
    }

    #[test]
    fn split_reservations_stay_one_consumer_and_free_everything() {
        let pool = pool(120 * MIB);
        let mut whole = spiller(&pool, "sorter");
        whole.try_grow(20 * MIB).unwrap();
        let part = whole.split(5 * MIB);
        let rest = whole.take();
        // Still one holder of 20 MiB, so two with the next: 120 / 4.
        let other = spiller(&pool, "other");
        other.try_grow(30 * MIB).unwrap();
        assert!(other.try_grow(MIB).is_err());
        drop(part);
        drop(rest);
        drop(whole);
        assert_eq!(pool.reserved(), 30 * MIB);
        drop(other);
        assert_eq!(pool.reserved(), 0);
    }
}
