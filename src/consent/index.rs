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
//! number has no consent on record. Past `limit` numbers the index empties
//! itself and every read goes to sled: memory stays bounded by config.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::RwLock;

use super::state::ContactConsent;
use super::{keys, ConsentError};

/// Numbers the loader inserts under one write lock.
const LOAD_CHUNK: usize = 1024;

/// What the index knows of one number.
pub enum Lookup {
    /// Its current consent.
    Found(ContactConsent),
    /// Nothing on record (the index holds every number).
    Absent,
    /// The index cannot tell: read sled.
    Unknown,
}

/// One tenant's numbers: E.164 digits as an integer -> the state, bincode-encoded.
type Numbers = HashMap<u64, Box<[u8]>>;

pub struct ConsentIndex {
    limit: usize,
    /// Every stored number is in the index (the loader finished).
    complete: AtomicBool,
    /// Over the limit, or a key it cannot hold: every read goes to sled.
    disabled: AtomicBool,
    /// The ledger is closing: the loader stops.
    stopping: AtomicBool,
    len: AtomicUsize,
    tenants: RwLock<HashMap<String, Numbers>>,
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

impl ConsentIndex {
    /// An empty index that holds at most `limit` numbers (0: none, every
    /// read goes to sled).
    pub fn new(limit: usize) -> ConsentIndex {
        ConsentIndex {
            limit,
            complete: AtomicBool::new(false),
            disabled: AtomicBool::new(limit == 0),
            stopping: AtomicBool::new(false),
            len: AtomicUsize::new(0),
            tenants: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, tenant: &str, phone: &str) -> Result<Lookup, ConsentError> {
        if self.disabled.load(Ordering::Acquire) {
            return Ok(Lookup::Unknown);
        }
        let Some(number) = digits(phone) else { return Ok(Lookup::Unknown) };
        let complete = self.complete.load(Ordering::Acquire);
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        Ok(match tenants.get(tenant).and_then(|t| t.get(&number)) {
            Some(bytes) => Lookup::Found(bincode::deserialize(bytes)?),
            None if complete => Lookup::Absent,
            None => Lookup::Unknown,
        })
    }

    /// Sets the durable state of numbers, bincode-encoded as sled holds it
    /// (the committer, after a batch).
    pub fn set<'a>(&self, states: impl Iterator<Item = (&'a str, &'a str, Vec<u8>)>) {
        if self.disabled.load(Ordering::Acquire) {
            return;
        }
        let mut encoded = Vec::new();
        for (tenant, phone, state) in states {
            let Some(number) = digits(phone) else { return self.disable("a number it cannot hold") };
            encoded.push((tenant, number, state.into_boxed_slice()));
        }
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        for (tenant, number, bytes) in encoded {
            let map = match tenants.get_mut(tenant) {
                Some(m) => m,
                None => tenants.entry(tenant.to_string()).or_default(),
            };
            if map.insert(number, bytes).is_none() {
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(tenants);
        self.check_limit();
    }

    /// Scans the `consent` tree, adding the numbers not yet indexed, then
    /// marks the index complete. Runs on a thread of its own.
    pub fn load(&self, consent: &sled::Tree) {
        let started = std::time::Instant::now();
        let mut chunk: Vec<(String, u64, Box<[u8]>)> = Vec::with_capacity(LOAD_CHUNK);
        for kv in consent.iter() {
            if self.disabled.load(Ordering::Acquire) || self.stopping.load(Ordering::Acquire) {
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
                self.insert_absent(&mut chunk);
            }
        }
        self.insert_absent(&mut chunk);
        if !self.disabled.load(Ordering::Acquire) {
            self.complete.store(true, Ordering::Release);
            let numbers = self.len.load(Ordering::Relaxed);
            tracing::info!(numbers, load_ms = started.elapsed().as_millis() as u64, "consent index loaded");
        }
    }

    /// Stops the loader (the ledger is closing).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn insert_absent(&self, chunk: &mut Vec<(String, u64, Box<[u8]>)>) {
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        for (tenant, number, bytes) in chunk.drain(..) {
            if let std::collections::hash_map::Entry::Vacant(v) = tenants.entry(tenant).or_default().entry(number) {
                v.insert(bytes);
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(tenants);
        self.check_limit();
    }

    fn check_limit(&self) {
        if self.len.load(Ordering::Relaxed) > self.limit {
            self.disable("more numbers than `ledger.consent_index_limit`");
        }
    }

    fn disable(&self, why: &str) {
        if !self.disabled.swap(true, Ordering::AcqRel) {
            tracing::warn!(why, "consent index off: decisions read consent from sled");
            self.tenants.write().unwrap_or_else(|e| e.into_inner()).clear();
            self.len.store(0, Ordering::Relaxed);
        }
    }

    /// Numbers held, and whether the index answers every read (loaded and
    /// not disabled).
    pub fn stats(&self) -> (usize, bool) {
        let serving = self.complete.load(Ordering::Acquire) && !self.disabled.load(Ordering::Acquire);
        (self.len.load(Ordering::Relaxed), serving)
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
