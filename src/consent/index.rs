//! The consent state of every number, in memory, so a decision reads it
//! without a sled lookup (on 1,000,000 numbers a sled `get` cost about 12%
//! of a CheckMessage's server CPU).
//!
//! sled stays the durable copy. The index is filled in two ways:
//! - a loader thread scans the `consent` tree once after the store opens,
//!   inserting only numbers not yet in the index;
//! - the committer sets a number's state after each durable batch, before
//!   it answers the writers, so a write is visible once acknowledged.
//!
//! The committer's value is always the newest, and the loader never
//! overwrites, so the two may race freely. Until the loader is done a
//! number missing from the index is read from sled; after it, a missing
//! number has no consent on record. Past its byte limit the index empties
//! itself for good and every read goes to sled: memory stays bounded by
//! config.
//!
//! Locking: `inner` guards the tenant table and the `disabled` flag; each
//! tenant's numbers are split over [`SHARDS`] maps with a lock each, so a
//! map that grows blocks the readers of one shard only, and briefly. A
//! shard is only touched while `inner` is held (read), so a reader sees the
//! index either whole or disabled, never half cleared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use super::{keys, records, ConsentError};
use crate::domain::ContactConsent;

/// Numbers the loader reads from sled before taking the locks.
const LOAD_CHUNK: usize = 1024;

/// Maps (each with its own lock) a tenant's numbers are spread over.
const SHARDS: usize = 64;

/// Bytes an entry costs beyond its encoded state: its slot in a hash table
/// that keeps spare room, and the allocation's header and rounding.
/// Measured: 1,000,000 numbers with 98-byte states took about 177 MiB.
pub const ENTRY_OVERHEAD: usize = 80;

/// What the index knows of one number.
// `Found` is the common answer and is moved once to its caller: boxing it
// would add an allocation to every decision's consent read.
#[allow(clippy::large_enum_variant)]
pub enum Lookup {
    /// Its current consent.
    Found(ContactConsent),
    /// Nothing on record (the index holds every number).
    Absent,
    /// The index cannot tell: read sled.
    Unknown,
}

/// Some of a tenant's numbers: E.164 digits as an integer -> the state,
/// encoded as sled holds it (a `records` value).
type Numbers = HashMap<u64, Box<[u8]>>;

struct Inner {
    /// Over the limit, or a key it cannot hold: every read goes to sled.
    disabled: bool,
    tenants: HashMap<String, Vec<RwLock<Numbers>>>,
}

pub struct ConsentIndex {
    limit_bytes: usize,
    /// Every stored number is in the index (the loader finished).
    complete: AtomicBool,
    /// The ledger is closing: the loader stops.
    stopping: AtomicBool,
    numbers: AtomicUsize,
    bytes: AtomicUsize,
    inner: RwLock<Inner>,
}

/// An E.164 number (`+` and 1 to 15 digits, the first not 0) as an integer:
/// distinct numbers give distinct integers.
fn digits(phone: &str) -> Option<u64> {
    let d = phone.strip_prefix('+')?;
    if d.is_empty() || d.len() > 15 || d.starts_with('0') || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

fn shard(shards: &[RwLock<Numbers>], number: u64) -> &RwLock<Numbers> {
    &shards[(number % SHARDS as u64) as usize]
}

/// How an insert treats a number already present.
#[derive(Clone, Copy, PartialEq)]
enum Present {
    Replace,
    Keep,
}

impl ConsentIndex {
    /// An empty index that holds at most about `limit_bytes` (0: nothing,
    /// every read goes to sled).
    pub fn new(limit_bytes: usize) -> ConsentIndex {
        ConsentIndex {
            limit_bytes,
            complete: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            numbers: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            inner: RwLock::new(Inner { disabled: limit_bytes == 0, tenants: HashMap::new() }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, tenant: &str, phone: &str) -> Result<Lookup, ConsentError> {
        let Some(number) = digits(phone) else { return Ok(Lookup::Unknown) };
        let inner = self.read();
        if inner.disabled {
            return Ok(Lookup::Unknown);
        }
        let complete = self.complete.load(Ordering::Acquire);
        let missing = if complete { Lookup::Absent } else { Lookup::Unknown };
        let Some(shards) = inner.tenants.get(tenant) else { return Ok(missing) };
        let numbers = shard(shards, number).read().unwrap_or_else(|e| e.into_inner());
        Ok(match numbers.get(&number) {
            Some(bytes) => Lookup::Found(records::decode_consent(bytes)?),
            None => missing,
        })
    }

    /// Sets the durable state of numbers, encoded as sled holds it
    /// (the committer, after a batch).
    pub fn set<'a>(&self, states: impl Iterator<Item = (&'a str, &'a str, Vec<u8>)>) {
        let mut parsed = Vec::new();
        for (tenant, phone, state) in states {
            let Some(number) = digits(phone) else { return self.disable("a number it cannot hold") };
            parsed.push((tenant, number, state.into_boxed_slice()));
        }
        self.insert(parsed, Present::Replace);
    }

    /// Inserts under the locks; stops at once when the index is disabled.
    fn insert<'a, T: AsRef<str> + 'a>(&self, entries: Vec<(T, u64, Box<[u8]>)>, present: Present) {
        for (tenant, number, state) in entries {
            let tenant = tenant.as_ref();
            let mut inner = self.read();
            if inner.disabled {
                return;
            }
            if !inner.tenants.contains_key(tenant) {
                drop(inner);
                let mut w = self.inner.write().unwrap_or_else(|e| e.into_inner());
                w.tenants.entry(tenant.to_string()).or_insert_with(|| (0..SHARDS).map(|_| RwLock::default()).collect());
                drop(w);
                inner = self.read();
                if inner.disabled {
                    return;
                }
            }
            let shards = &inner.tenants[tenant];
            let mut numbers = shard(shards, number).write().unwrap_or_else(|e| e.into_inner());
            let added = state.len();
            match numbers.entry(number) {
                std::collections::hash_map::Entry::Occupied(mut o) if present == Present::Replace => {
                    let old = std::mem::replace(o.get_mut(), state).len();
                    self.bytes.fetch_add(added, Ordering::Relaxed);
                    self.bytes.fetch_sub(old, Ordering::Relaxed);
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(state);
                    self.numbers.fetch_add(1, Ordering::Relaxed);
                    self.bytes.fetch_add(added + ENTRY_OVERHEAD, Ordering::Relaxed);
                }
            }
        }
        if self.bytes.load(Ordering::Relaxed) > self.limit_bytes {
            self.disable("it outgrew `ledger.consent_index_mib`");
        }
    }

    /// Scans the `consent` tree, adding the numbers not yet indexed, then
    /// marks the index complete. Runs on a thread of its own.
    pub fn load(&self, consent: &sled::Tree) {
        let started = std::time::Instant::now();
        let mut chunk = Vec::with_capacity(LOAD_CHUNK);
        for kv in consent.iter() {
            if self.stopping.load(Ordering::Acquire) || self.read().disabled {
                return;
            }
            let parsed = kv.ok().and_then(|(k, v)| {
                let (tenant, phone) = keys::split_tenant(&k)?;
                let number = digits(std::str::from_utf8(phone).ok()?)?;
                Some((tenant.to_string(), number, v.as_ref().into()))
            });
            let Some(entry) = parsed else { return self.disable("a stored key it cannot read") };
            chunk.push(entry);
            if chunk.len() == LOAD_CHUNK {
                self.insert(std::mem::replace(&mut chunk, Vec::with_capacity(LOAD_CHUNK)), Present::Keep);
            }
        }
        self.insert(chunk, Present::Keep);
        if !self.read().disabled && !self.stopping.load(Ordering::Acquire) {
            self.complete.store(true, Ordering::Release);
            let numbers = self.numbers.load(Ordering::Relaxed);
            let mib = self.bytes.load(Ordering::Relaxed) >> 20;
            tracing::info!(numbers, mib, load_ms = started.elapsed().as_millis() as u64, "consent index loaded");
        }
    }

    /// Stops the loader (the ledger is closing).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn disable(&self, why: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !inner.disabled {
            inner.disabled = true;
            inner.tenants = HashMap::new();
            self.numbers.store(0, Ordering::Relaxed);
            self.bytes.store(0, Ordering::Relaxed);
            tracing::warn!(why, "consent index off: decisions read consent from sled");
        }
    }

    /// Numbers held, and whether the index answers every read (loaded and
    /// not disabled).
    pub fn stats(&self) -> (usize, bool) {
        let serving = self.complete.load(Ordering::Acquire) && !self.read().disabled;
        (self.numbers.load(Ordering::Relaxed), serving)
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
