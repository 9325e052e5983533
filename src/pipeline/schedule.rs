//! Which ready model starts first. Models run a few at a time (one per
//! core); when a slot frees up, the ready model with the most work still
//! depending on it goes first, so long chains (staging -> events ->
//! timeline -> advocates) are not left to run alone at the end.
//!
//! Work is measured in the previous run's seconds per model, read from
//! `_runs/latest.json`; a model that run did not build counts as the median
//! of those that it did (1 s with no record at all, which makes the
//! priority the number of models in the chain).
//!
//! Measured at 1M customers (2 cores): with the models started in
//! dependency order, the models phase took about 48 s; simulating the same
//! run's model times with this priority gave about 39 s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::state_format;
use crate::storage::Location;

/// Each model's seconds in the last recorded run, if any.
pub async fn previous_seconds(warehouse: &Location) -> HashMap<String, f64> {
    let record = match warehouse
        .get_opt(&warehouse.path("_runs/latest.json"))
        .await
    {
        Ok(Some(bytes)) => bytes,
        // No record yet, or unreadable: the order is only a speed matter.
        _ => return HashMap::new(),
    };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&record) else {
        return HashMap::new();
    };
    let version = record["format_version"]
        .as_u64()
        .map_or(state_format::unversioned(), |v| {
            u32::try_from(v).unwrap_or(u32::MAX)
        });
    if let Err(newer) = state_format::check(
        "_runs/latest.json",
        version,
        state_format::RUN_RECORD_VERSION,
    ) {
        tracing::warn!("{newer}; models start in dependency order");
        return HashMap::new();
    }
    record["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["status"] == "success")
        .filter_map(|m| {
            // A reused result took no time this run; what computing it
            // costs is the seconds of the run that did.
            let seconds = m["reused"]["seconds"]
                .as_f64()
                .or_else(|| m["seconds"].as_f64())?;
            Some((m["model"].as_str()?.to_string(), seconds))
        })
        .collect()
}

/// Orders `models` (given in dependency order) by priority, highest
/// first: a model's own seconds plus the longest chain of selected models
/// that read it. Ties keep the dependency order, so the order is
/// deterministic.
pub fn by_priority<'a>(
    models: &[&'a String],
    deps: &BTreeMap<String, BTreeSet<String>>,
    seconds: &HashMap<String, f64>,
) -> Vec<&'a String> {
    let default = median(models.iter().filter_map(|m| seconds.get(*m).copied()));
    let cost = |m: &str| seconds.get(m).copied().unwrap_or(default);
    // Dependency order means every reader comes after what it reads, so
    // walking it backwards sees each model's readers first.
    let mut chain: HashMap<&str, f64> = HashMap::new();
    for model in models.iter().rev() {
        let longest_reader = models
            .iter()
            .filter(|reader| {
                deps.get(reader.as_str())
                    .is_some_and(|d| d.contains(*model))
            })
            .map(|reader| chain[reader.as_str()])
            .fold(0.0, f64::max);
        chain.insert(model.as_str(), cost(model) + longest_reader);
    }
    let mut ordered: Vec<(usize, &'a String)> = models.iter().copied().enumerate().collect();
    ordered.sort_by(|(ia, a), (ib, b)| {
        chain[b.as_str()]
            .total_cmp(&chain[a.as_str()])
            .then(ia.cmp(ib))
    });
    ordered.into_iter().map(|(_, m)| m).collect()
}

/// Which model starts when: the rules of the models phase, apart from
/// running them. A model starts once every selected model it reads is
/// done, in priority order, at most `limit` at a time. A model that ran out
/// of memory while another ran beside it gets one more try alone, with the
/// whole pool: running models concurrently must never make a run fail
/// that would fit one model at a time. While such a model waits, nothing
/// new starts; once it runs, nothing joins it.
pub struct Queue<'a> {
    pending: Vec<&'a String>,
    in_flight: BTreeSet<String>,
    /// Models that ran while another ran beside them.
    overlapped: BTreeSet<String>,
    retry_alone: BTreeSet<String>,
    limit: usize,
}

impl<'a> Queue<'a> {
    /// `pending` in priority order ([`by_priority`]).
    pub fn new(pending: Vec<&'a String>, limit: usize) -> Queue<'a> {
        Queue {
            pending,
            in_flight: BTreeSet::new(),
            overlapped: BTreeSet::new(),
            retry_alone: BTreeSet::new(),
            limit,
        }
    }

    /// Takes the next model that may start now, if any: the first pending
    /// one, in priority order, whose `upstream` (the selected models it
    /// reads) are neither pending nor running, while a slot is free and
    /// the retry rule allows. The caller starts it ([`Queue::started`]) or,
    /// when an upstream model failed, skips it.
    pub fn take_ready(&mut self, upstream: impl Fn(&str) -> Vec<&'a String>) -> Option<&'a String> {
        let retry_waiting = self.pending.iter().any(|n| self.retry_alone.contains(*n));
        let retry_running = self.in_flight.iter().any(|n| self.retry_alone.contains(n));
        if retry_running || self.in_flight.len() >= self.limit {
            return None;
        }
        let at = self.pending.iter().position(|name| {
            let is_retry = self.retry_alone.contains(*name);
            let held = (retry_waiting && !is_retry) || (is_retry && !self.in_flight.is_empty());
            !held
                && upstream(name)
                    .iter()
                    .all(|u| !self.in_flight.contains(*u) && !self.pending.contains(u))
        })?;
        Some(self.pending.remove(at))
    }

    /// `name`, taken by [`Queue::take_ready`], is now running.
    pub fn started(&mut self, name: &str) {
        self.in_flight.insert(name.to_string());
        if self.in_flight.len() > 1 {
            self.overlapped.extend(self.in_flight.iter().cloned());
        }
    }

    /// `name` finished; `out_of_memory` if it failed for want of memory.
    /// Returns whether it goes back to the front of the queue, to run
    /// again alone.
    pub fn finished(&mut self, name: &'a String, out_of_memory: bool) -> bool {
        self.in_flight.remove(name.as_str());
        let retry = out_of_memory
            && self.overlapped.contains(name.as_str())
            && !self.retry_alone.contains(name.as_str());
        if retry {
            self.retry_alone.insert(name.clone());
            self.pending.insert(0, name);
        }
        retry
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return 1.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(m, d)| (m.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn order(
        models: &[String],
        deps: &BTreeMap<String, BTreeSet<String>>,
        secs: &[(&str, f64)],
    ) -> Vec<String> {
        let refs: Vec<&String> = models.iter().collect();
        let seconds = secs.iter().map(|(m, s)| (m.to_string(), *s)).collect();
        by_priority(&refs, deps, &seconds)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Starts everything `queue` lets start, as the models phase does.
    fn fill<'a>(
        queue: &mut Queue<'a>,
        graph: &BTreeMap<String, BTreeSet<String>>,
        all: &'a [String],
    ) -> Vec<String> {
        let upstream = |name: &str| -> Vec<&'a String> {
            all.iter().filter(|m| graph[name].contains(*m)).collect()
        };
        let mut started = Vec::new();
        while let Some(name) = queue.take_ready(upstream) {
            queue.started(name);
            started.push(name.clone());
        }
        started
    }

    /// Two slots: a and b start; c (reads a) waits for a; d waits for a
    /// slot; a done lets c start, and d only once a slot is free.
    #[test]
    fn models_start_after_what_they_read_within_the_slots() {
        let graph = deps(&[("a", &[]), ("b", &[]), ("c", &["a"]), ("d", &[])]);
        let all = names(&["a", "b", "c", "d"]);
        let mut queue = Queue::new(all.iter().collect(), 2);
        assert_eq!(fill(&mut queue, &graph, &all), names(&["a", "b"]));
        assert!(!queue.finished(&all[0], false));
        assert_eq!(fill(&mut queue, &graph, &all), names(&["c"]));
        assert_eq!(fill(&mut queue, &graph, &all), Vec::<String>::new());
        assert!(!queue.finished(&all[1], false));
        assert_eq!(fill(&mut queue, &graph, &all), names(&["d"]));
    }

    /// b ran out of memory beside a: it goes back to the front and runs
    /// again alone. Nothing new starts while it waits (c stays queued
    /// though a slot is free), nothing joins it while it runs, and a second
    /// failure is final.
    #[test]
    fn a_model_that_ran_out_of_memory_beside_another_runs_again_alone() {
        let graph = deps(&[("a", &[]), ("b", &[]), ("c", &[])]);
        let all = names(&["a", "b", "c"]);
        let mut queue = Queue::new(all.iter().collect(), 2);
        assert_eq!(fill(&mut queue, &graph, &all), names(&["a", "b"]));
        assert!(queue.finished(&all[1], true), "retried");
        assert_eq!(fill(&mut queue, &graph, &all), Vec::<String>::new());
        assert!(!queue.finished(&all[0], false));
        assert_eq!(fill(&mut queue, &graph, &all), names(&["b"]));
        assert_eq!(fill(&mut queue, &graph, &all), Vec::<String>::new());
        assert!(!queue.finished(&all[1], true), "a second failure is final");
        assert_eq!(fill(&mut queue, &graph, &all), names(&["c"]));
    }

    /// A model that ran out of memory alone would fail alone again: no
    /// retry.
    #[test]
    fn a_model_that_ran_out_of_memory_alone_is_not_retried() {
        let graph = deps(&[("a", &[]), ("b", &["a"])]);
        let all = names(&["a", "b"]);
        let mut queue = Queue::new(all.iter().collect(), 2);
        assert_eq!(fill(&mut queue, &graph, &all), names(&["a"]));
        assert!(!queue.finished(&all[0], true));
        assert_eq!(fill(&mut queue, &graph, &all), names(&["b"]));
    }

    /// a (1 s) feeds the chain b (2 s) -> c (10 s): chain 13 s; d alone
    /// takes 5 s; e (3 s) reads d: chain 8 s. So a, b, c before d, e.
    #[test]
    fn the_longest_remaining_chain_goes_first() {
        let graph = deps(&[
            ("a", &[]),
            ("b", &["a", "raw_orders"]),
            ("c", &["b"]),
            ("d", &[]),
            ("e", &["d"]),
        ]);
        let models = names(&["a", "d", "b", "e", "c"]);
        let secs = [("a", 1.0), ("b", 2.0), ("c", 10.0), ("d", 5.0), ("e", 3.0)];
        assert_eq!(
            order(&models, &graph, &secs),
            names(&["a", "b", "c", "d", "e"])
        );
        // With e now the slow one, d's chain (5 + 20) wins.
        let secs = [("a", 1.0), ("b", 2.0), ("c", 10.0), ("d", 5.0), ("e", 20.0)];
        assert_eq!(
            order(&models, &graph, &secs),
            names(&["d", "e", "a", "b", "c"])
        );
    }

    /// Without a record every model counts 1: chains by length, ties in
    /// dependency order. A model missing from the record counts as the
    /// median of the others (here 2 s).
    #[test]
    fn without_history_chains_count_models() {
        let graph = deps(&[("a", &[]), ("b", &[]), ("c", &["b"])]);
        let models = names(&["a", "b", "c"]);
        assert_eq!(order(&models, &graph, &[]), names(&["b", "a", "c"]));
        let secs = [("a", 2.5), ("c", 1.5)];
        // a 2.5; b median(2.5, 1.5) = 2 + c 1.5 = 3.5.
        assert_eq!(order(&models, &graph, &secs), names(&["b", "a", "c"]));
        let secs = [("a", 4.0), ("c", 1.5)];
        // a 4; b 2.75 + 1.5 = 4.25.
        assert_eq!(order(&models, &graph, &secs), names(&["b", "a", "c"]));
        let secs = [("a", 5.0), ("c", 1.5)];
        // a 5; b 3.25 + 1.5 = 4.75.
        assert_eq!(order(&models, &graph, &secs), names(&["a", "b", "c"]));
    }
}
