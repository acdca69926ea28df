//! `Cache`: a thread-safe LRU + TTL cache of Python objects built on `dashmap`.
//!
//! # Semantics (shared with `_fallback.Cache`, which the test-suite holds to the same contract)
//!
//! * `len(cache) <= max_size` at every instant: a `set` of a new key evicts before it
//!   inserts, and inserts happen one at a time (a writer mutex that `get` never takes).
//! * Eviction removes the least recently used entry, where "use" is a `get` hit or a `set`.
//!   Recency is exact while calls do not overlap; accesses racing with each other (or with
//!   log compaction, below) may be ordered either way.
//! * An entry expires `ttl` seconds after its `set`; expired entries are never returned.
//!   A `get` that finds one removes it (one expiration, one miss). Expired entries still
//!   count in `len` and may be evicted as LRU (counted as evictions) until
//!   `cleanup_expired()` or a `get` removes them.
//! * `ttl <= 0` stores nothing and removes any previous value of the key.
//!
//! # Why this shape
//!
//! A classic LRU links entries in a list that every hit must splice under a lock. Here a
//! hit only bumps the entry's stamp (an atomic) and appends `(key, stamp)` to a lock-free
//! access log (`SegQueue`). Eviction pops the log's head and removes that key only if
//! the stamp still matches (otherwise the record is stale: the key was used again later).
//! Every record is pushed and popped once, so eviction is amortised O(1); when stale
//! records pile up (more than twice `max_size`) the log is compacted, which costs
//! O(n log n) once per O(n) operations.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_queue::SegQueue;
use dashmap::DashMap;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Expiry instant meaning "never" (an infinite ttl).
const NEVER: u64 = u64::MAX;
/// Log records beyond `2 * max_size + LOG_SLACK` trigger compaction.
const LOG_SLACK: usize = 1024;
/// Hits check the log length once every this many stamps.
const COMPACT_CHECK_EVERY: u64 = 64;

struct Entry<V> {
    value: V,
    expires_at: u64,
    stamp: AtomicU64,
}

/// Counters reported by `stats()`.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// The cache proper, generic over the stored value so it is testable without Python.
pub struct CacheCore<V> {
    map: DashMap<Arc<str>, Entry<V>>,
    /// Entry count, kept by hand: `DashMap::len` sums shards one by one, so a reader
    /// racing an evict-then-insert could count both and report `max_size + 1`.
    len: AtomicUsize,
    log: SegQueue<(Arc<str>, u64)>,
    clock: AtomicU64,
    writer: Mutex<()>,
    counters: Counters,
    max_size: usize,
    default_ttl: f64,
    epoch: Instant,
}

/// Point-in-time statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub size: usize,
    pub max_size: usize,
}

impl<V> CacheCore<V> {
    /// A cache holding at most `max_size` entries, each living `default_ttl` seconds.
    pub fn new(max_size: usize, default_ttl: f64) -> Result<Self, String> {
        if max_size == 0 {
            return Err("max_size must be at least 1".into());
        }
        check_ttl(default_ttl)?;
        Ok(Self {
            map: DashMap::new(),
            len: AtomicUsize::new(0),
            log: SegQueue::new(),
            clock: AtomicU64::new(0),
            writer: Mutex::new(()),
            counters: Counters::default(),
            max_size,
            default_ttl,
            epoch: Instant::now(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(NEVER - 1)
    }

    fn next_stamp(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere cannot leave it inconsistent.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Look `key` up; `read` sees the value of a live entry.
    pub fn get<R>(&self, key: &str, read: impl FnOnce(&V) -> R) -> Option<R> {
        let now = self.now();
        let (result, stamp) = match self.map.get(key) {
            Some(entry) if entry.expires_at > now => {
                let stamp = self.next_stamp();
                entry.stamp.fetch_max(stamp, Ordering::Relaxed);
                self.log.push((entry.key().clone(), stamp));
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                let result = read(&entry.value);
                drop(entry);
                (result, stamp)
            }
            Some(entry) => {
                // Release the shard's read lock before removing from the same shard.
                drop(entry);
                if self
                    .map
                    .remove_if(key, |_, e| e.expires_at <= now)
                    .is_some()
                {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    self.counters.expirations.fetch_add(1, Ordering::Relaxed);
                }
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            None => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        if stamp % COMPACT_CHECK_EVERY == 0 && self.log_is_bloated() {
            // Never wait for a writer on the read path: it will compact itself if needed.
            if let Ok(_guard) = self.writer.try_lock() {
                self.compact();
            }
        }
        Some(result)
    }

    /// Store `value` for `ttl` seconds (`None`: the default); `ttl <= 0` stores nothing.
    pub fn set(&self, key: &str, value: V, ttl: Option<f64>) -> Result<(), String> {
        let ttl = ttl.unwrap_or(self.default_ttl);
        check_ttl(ttl)?;
        let _guard = self.lock();
        if ttl <= 0.0 {
            self.delete(key);
            return Ok(());
        }
        let now = self.now();
        let expires_at = if ttl.is_infinite() {
            NEVER
        } else {
            // Saturating float-to-int conversion: absurdly long ttls mean "never".
            now.saturating_add((ttl * 1e9) as u64)
        };
        if !self.map.contains_key(key) {
            while self.len.load(Ordering::Relaxed) >= self.max_size && self.evict_one() {}
        }
        let key: Arc<str> = Arc::from(key);
        let stamp = self.next_stamp();
        let previous = self.map.insert(
            key.clone(),
            Entry {
                value,
                expires_at,
                stamp: AtomicU64::new(stamp),
            },
        );
        if previous.is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        self.log.push((key, stamp));
        if self.log_is_bloated() {
            self.compact();
        }
        Ok(())
    }

    /// Remove `key`; true when it was present (expired or not).
    pub fn delete(&self, key: &str) -> bool {
        let removed = self.map.remove(key).is_some();
        if removed {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Remove every entry (counters are kept).
    pub fn clear(&self) {
        let _guard = self.lock();
        let removed = self.remove_where(|_| true);
        self.len.fetch_sub(removed, Ordering::Relaxed);
        while self.log.pop().is_some() {}
    }

    /// Remove expired entries now; returns how many.
    pub fn cleanup_expired(&self) -> usize {
        let _guard = self.lock();
        let now = self.now();
        let removed = self.remove_where(|e| e.expires_at <= now);
        self.len.fetch_sub(removed, Ordering::Relaxed);
        self.counters
            .expirations
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Number of stored entries (expired ones included until removed).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remove entries matching `doomed`; returns how many were removed.
    fn remove_where(&self, doomed: impl Fn(&Entry<V>) -> bool) -> usize {
        let mut removed = 0;
        self.map.retain(|_, e| {
            let remove = doomed(e);
            removed += usize::from(remove);
            !remove
        });
        removed
    }

    /// Current counters and size.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            expirations: self.counters.expirations.load(Ordering::Relaxed),
            size: self.len(),
            max_size: self.max_size,
        }
    }

    /// Evict the least recently used entry; caller holds the writer lock.
    fn evict_one(&self) -> bool {
        while let Some((key, stamp)) = self.log.pop() {
            let removed = self
                .map
                .remove_if(&key, |_, e| e.stamp.load(Ordering::Relaxed) == stamp);
            if removed.is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        // Unreachable while every live entry has its latest stamp in the log; keep the
        // size bound even if that invariant were ever broken.
        let any = self.map.iter().next().map(|e| e.key().clone());
        match any {
            Some(key) => {
                if self.map.remove(&key).is_some() {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }

    fn log_is_bloated(&self) -> bool {
        self.log.len() > 2 * self.max_size + LOG_SLACK
    }

    /// Drop stale log records, keeping live ones in stamp order; caller holds the lock.
    fn compact(&self) {
        let mut live = Vec::with_capacity(self.map.len());
        while let Some((key, stamp)) = self.log.pop() {
            let current = self.map.get(&key).map(|e| e.stamp.load(Ordering::Relaxed));
            if current == Some(stamp) {
                live.push((key, stamp));
            }
        }
        live.sort_unstable_by_key(|(_, stamp)| *stamp);
        for record in live {
            self.log.push(record);
        }
    }

    #[cfg(test)]
    fn log_len(&self) -> usize {
        self.log.len()
    }
}

fn check_ttl(ttl: f64) -> Result<(), String> {
    if ttl.is_nan() || ttl < 0.0 {
        Err(format!("ttl must be a number >= 0, got {ttl}"))
    } else {
        Ok(())
    }
}

/// Thread-safe LRU + TTL cache of Python objects (see module docs for the contract).
#[pyclass(module = "sark.native._native", frozen)]
pub struct Cache {
    core: CacheCore<Py<PyAny>>,
}

#[pymethods]
impl Cache {
    #[new]
    #[pyo3(signature = (max_size = 10000, ttl_seconds = 300.0))]
    fn new(max_size: i64, ttl_seconds: f64) -> PyResult<Self> {
        // Taken as i64 so that a negative size is a ValueError, as in the fallback.
        let max_size = usize::try_from(max_size).unwrap_or(0);
        let core = CacheCore::new(max_size, ttl_seconds).map_err(PyValueError::new_err)?;
        Ok(Self { core })
    }

    /// The live value stored under `key`, or None.
    fn get(&self, py: Python<'_>, key: &str) -> Option<Py<PyAny>> {
        self.core.get(key, |v| v.clone_ref(py))
    }

    /// Store `value` under `key` for `ttl` seconds (default: the cache's ttl).
    #[pyo3(signature = (key, value, ttl = None))]
    fn set(&self, key: &str, value: Py<PyAny>, ttl: Option<f64>) -> PyResult<()> {
        self.core
            .set(key, value, ttl)
            .map_err(PyValueError::new_err)
    }

    /// Remove `key`; True when it was present.
    fn delete(&self, key: &str) -> bool {
        self.core.delete(key)
    }

    /// Remove every entry.
    fn clear(&self) {
        self.core.clear();
    }

    /// Remove expired entries; returns how many were removed.
    fn cleanup_expired(&self) -> usize {
        self.core.cleanup_expired()
    }

    /// hits, misses, evictions, expirations, size, max_size.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.core.stats();
        let dict = PyDict::new(py);
        dict.set_item("hits", s.hits)?;
        dict.set_item("misses", s.misses)?;
        dict.set_item("evictions", s.evictions)?;
        dict.set_item("expirations", s.expirations)?;
        dict.set_item("size", s.size)?;
        dict.set_item("max_size", s.max_size)?;
        Ok(dict)
    }

    /// Maximum number of entries.
    #[getter]
    fn max_size(&self) -> usize {
        self.core.max_size
    }

    /// Default ttl in seconds.
    #[getter]
    fn ttl_seconds(&self) -> f64 {
        self.core.default_ttl
    }

    fn __len__(&self) -> usize {
        self.core.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Cache(max_size={}, ttl_seconds={}, size={})",
            self.core.max_size,
            self.core.default_ttl,
            self.core.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn cache(max: usize) -> CacheCore<u32> {
        CacheCore::new(max, 60.0).unwrap()
    }

    #[test]
    fn least_recently_used_is_evicted_first() {
        let c = cache(3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            c.set(k, i as u32, None).unwrap();
        }
        assert_eq!(c.get("a", |v| *v), Some(0));
        c.set("d", 3, None).unwrap();
        assert_eq!(c.get("b", |v| *v), None);
        assert_eq!(c.len(), 3);
        c.set("e", 4, None).unwrap();
        assert_eq!(c.get("c", |v| *v), None);
        assert_eq!(c.get("a", |v| *v), Some(0));
        assert_eq!(c.stats().evictions, 2);
    }

    #[test]
    fn overwriting_a_key_does_not_evict() {
        let c = cache(2);
        c.set("a", 1, None).unwrap();
        c.set("b", 2, None).unwrap();
        c.set("a", 3, None).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a", |v| *v), Some(3));
        assert_eq!(c.stats().evictions, 0);
        c.set("c", 4, None).unwrap();
        assert_eq!(c.get("b", |v| *v), None, "b was least recently used");
    }

    #[test]
    fn expired_entries_are_never_returned_and_are_counted() {
        let c = cache(10);
        c.set("short", 1, Some(0.001)).unwrap();
        c.set("long", 2, None).unwrap();
        thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(c.get("short", |v| *v), None);
        assert_eq!(c.len(), 1);
        let s = c.stats();
        assert_eq!((s.expirations, s.misses, s.hits), (1, 1, 0));
        c.set("short2", 3, Some(0.001)).unwrap();
        thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(c.cleanup_expired(), 1);
        assert_eq!(c.stats().expirations, 2);
    }

    #[test]
    fn zero_ttl_stores_nothing_and_drops_the_old_value() {
        let c = cache(10);
        c.set("k", 1, None).unwrap();
        c.set("k", 2, Some(0.0)).unwrap();
        assert_eq!(c.get("k", |v| *v), None);
        assert_eq!(c.len(), 0);
        assert!(c.set("k", 2, Some(-1.0)).is_err());
        assert!(CacheCore::<u32>::new(0, 1.0).is_err());
    }

    #[test]
    fn access_log_stays_bounded_under_many_hits() {
        let c = cache(4);
        c.set("a", 1, None).unwrap();
        c.set("b", 2, None).unwrap();
        for _ in 0..100_000 {
            c.get("a", |_| ());
        }
        assert!(c.log_len() <= 2 * 4 + LOG_SLACK + COMPACT_CHECK_EVERY as usize);
        // Compaction kept recency: b is older than a.
        c.set("c", 3, None).unwrap();
        c.set("d", 4, None).unwrap();
        c.set("e", 5, None).unwrap();
        assert_eq!(c.get("b", |v| *v), None);
        assert_eq!(c.get("a", |v| *v), Some(1));
    }

    #[test]
    fn concurrent_use_never_exceeds_max_size() {
        let c = Arc::new(cache(64));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                thread::spawn(move || {
                    for i in 0..5_000u32 {
                        let key = format!("k{}", (i * 7 + t) % 200);
                        c.set(&key, i, None).unwrap();
                        c.get(&key, |v| *v);
                        assert!(c.len() <= 64);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(c.len() <= 64);
        let s = c.stats();
        assert_eq!(s.hits + s.misses, 20_000);
    }
}
