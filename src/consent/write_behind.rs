//! Write-behind for contact history (an activity tree): the
//! request path puts a value in a sharded in-memory map and queues its key;
//! one background thread writes queued keys to sled in batches. Reads look in
//! the map first, so a value is visible from the moment it is put.
//!
//! Bounded: the queue holds at most `capacity` keys and every pending entry
//! has a key queued, so the map never outgrows it. When the queue is full the
//! put waits for room (back-pressure instead of memory growth).
//!
//! These trees are not consent: like sled's own periodic flush, a crash may
//! lose the last instants of them; `close` writes everything on shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::ConsentError;

const SHARDS: usize = 64;
/// Most keys one background batch writes.
const BATCH: usize = 1024;
/// Pause after each batch.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

struct Pending {
    version: u64,
    value: Arc<[u8]>,
}

struct Shared {
    tree: sled::Tree,
    shards: Vec<Mutex<HashMap<Vec<u8>, Pending>>>,
    versions: AtomicU64,
    /// A put found the queue full since the last batch: skip the linger.
    waited: AtomicBool,
    /// Held while a batch is read from the map and written, and by a
    /// `write_through`: a batch holding an older value of a key cannot land
    /// after a write-through of a newer one.
    writing: Mutex<()>,
}

pub(super) struct WriteBehind {
    shared: Arc<Shared>,
    queue: SyncSender<Vec<u8>>,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Vec<u8>, Pending>> {
        // FNV-1a: cheap and well spread over the key's bytes.
        let h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        &self.shards[(h as usize) % SHARDS]
    }

    fn pending(&self, key: &[u8]) -> Option<(u64, Arc<[u8]>)> {
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        shard.get(key).map(|p| (p.version, Arc::clone(&p.value)))
    }

    /// Forgets `key` if it still holds `version` (a newer put stays pending).
    fn settle(&self, key: &[u8], version: u64) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.get(key).is_some_and(|p| p.version == version) {
            shard.remove(key);
        }
    }

    /// Writes the current pending values of `keys` in one sled batch.
    fn write(&self, keys: &[Vec<u8>]) {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = sled::Batch::default();
        let mut written = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some((version, value)) = self.pending(key) {
                batch.insert(key.as_slice(), &*value);
                written.push((key, version));
            }
        }
        if written.is_empty() {
            return;
        }
        if let Err(e) = self.tree.apply_batch(batch) {
            tracing::error!(error = %e, tree = ?String::from_utf8_lossy(&self.tree.name()), "write-behind batch failed");
        }
        for (key, version) in written {
            self.settle(key, version);
        }
    }

    fn run(&self, queue: Receiver<Vec<u8>>) {
        let mut keys = Vec::with_capacity(BATCH);
        while let Ok(first) = queue.recv() {
            let mut stop = first.is_empty();
            if !stop {
                keys.push(first);
            }
            while keys.len() < BATCH {
                match queue.try_recv() {
                    Ok(k) if k.is_empty() => stop = true,
                    Ok(k) => keys.push(k),
                    Err(_) => break,
                }
            }
            let full = keys.len() == BATCH;
            self.write(&keys);
            keys.clear();
            if !stop && !full && !self.waited.swap(false, Ordering::Relaxed) {
                // Let puts gather: on a busy core, small sled batches cost
                // more in sled's own I/O threads' wake-ups than the writes.
                // Not when the writer is behind or puts wait for room.
                std::thread::sleep(LINGER);
            }
            if stop {
                // Everything queued before the stop marker was drained above
                // or is drained now.
                let rest: Vec<_> = queue.try_iter().filter(|k| !k.is_empty()).collect();
                self.write(&rest);
                return;
            }
        }
    }
}

impl WriteBehind {
    pub(super) fn new(tree: sled::Tree, capacity: usize) -> Result<WriteBehind, ConsentError> {
        let shared = Arc::new(Shared {
            tree,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            versions: AtomicU64::new(0),
            waited: AtomicBool::new(false),
            writing: Mutex::new(()),
        });
        let (queue, rx) = sync_channel(capacity.max(1));
        let name = format!("write-behind-{}", String::from_utf8_lossy(&shared.tree.name()));
        let worker = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name(name)
            .spawn(move || worker.run(rx))
            .map_err(|e| ConsentError::io("starting the write-behind thread", e))?;
        Ok(WriteBehind { shared, queue, closed: AtomicBool::new(false), writer: Mutex::new(Some(writer)) })
    }

    /// The value of `key`: pending, else stored.
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Arc<[u8]>>, ConsentError> {
        if let Some((_, v)) = self.shared.pending(key) {
            return Ok(Some(v));
        }
        Ok(self.shared.tree.get(key)?.map(|v| Arc::from(&*v)))
    }

    /// Sets `key`; visible to `get` at once, on disk shortly.
    pub(super) fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), ConsentError> {
        if self.closed.load(Ordering::Acquire) {
            self.shared.tree.insert(key, value)?;
            return Ok(());
        }
        let version = self.shared.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let value: Arc<[u8]> = value.into();
        self.shared
            .shard(&key)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), Pending { version, value });
        let key = match self.queue.try_send(key) {
            Ok(()) => return Ok(()),
            // Full: wait for room (back-pressure). Writing it here instead
            // could race a batch holding an older value of the same key.
            Err(TrySendError::Full(key)) => {
                self.shared.waited.store(true, Ordering::Relaxed);
                match super::blocking_wait(|| self.queue.send(key)) {
                    Ok(()) => return Ok(()),
                    Err(e) => e.0,
                }
            }
            Err(TrySendError::Disconnected(key)) => key,
        };
        // The writer is gone, so nothing races this write.
        if let Some((v, value)) = self.shared.pending(&key) {
            self.shared.tree.insert(key.as_slice(), &*value)?;
            self.shared.settle(&key, v);
        }
        Ok(())
    }

    /// Writes `key` now through `write` (given the tree; it may write other
    /// trees in the same sled transaction) instead of behind: a value of
    /// `key` still pending is older (callers serialize writes per key) and
    /// is dropped once `write` succeeds, so it never overwrites this one.
    /// Blocking: waits for a batch being written.
    pub(super) fn write_through<T>(
        &self,
        key: &[u8],
        write: impl FnOnce(&sled::Tree) -> Result<T, ConsentError>,
    ) -> Result<T, ConsentError> {
        let _writing = super::blocking_wait(|| self.shared.writing.lock().unwrap_or_else(|e| e.into_inner()));
        let written = write(&self.shared.tree)?;
        let mut shard = self.shared.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        shard.remove(key);
        Ok(written)
    }

    /// The tree written behind (for a write that leaves its keys alone).
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.shared.tree
    }

    /// Waits until every put made before this call is written to the tree
    /// (later puts may still be pending). Blocking.
    pub(super) fn flush(&self) {
        let upto = self.shared.versions.load(Ordering::Relaxed);
        let waiting = |s: &Mutex<HashMap<Vec<u8>, Pending>>| {
            s.lock().unwrap_or_else(|e| e.into_inner()).values().any(|p| p.version <= upto)
        };
        while !self.closed.load(Ordering::Acquire) && self.shared.shards.iter().any(waiting) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Writes everything pending and stops the writer; later puts write
    /// through. Blocking: call from a blocking context.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.queue.send(Vec::new());
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
    }

    /// Keys waiting to be written.
    #[cfg(test)]
    pub(super) fn backlog(&self) -> usize {
        self.shared.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        sled::Config::new().temporary(true).open().unwrap().open_tree("t").unwrap()
    }

    #[test]
    fn a_put_is_visible_at_once_and_stored_after_close() {
        let t = tree();
        let wb = WriteBehind::new(t.clone(), 16).unwrap();
        for i in 0..1000u32 {
            wb.put(i.to_be_bytes().to_vec(), vec![1]).unwrap();
            wb.put(i.to_be_bytes().to_vec(), i.to_le_bytes().to_vec()).unwrap();
            assert_eq!(&*wb.get(&i.to_be_bytes()).unwrap().unwrap(), &i.to_le_bytes());
        }
        wb.close();
        assert_eq!(wb.backlog(), 0);
        assert_eq!(t.len(), 1000);
        for i in 0..1000u32 {
            assert_eq!(&*t.get(i.to_be_bytes()).unwrap().unwrap(), &i.to_le_bytes(), "key {i} holds its last value");
        }
        wb.put(b"late".to_vec(), b"x".to_vec()).unwrap();
        assert!(t.get(b"late").unwrap().is_some(), "after close, puts write through");
    }

    #[test]
    fn a_write_through_is_never_overwritten_by_an_older_pending_value() {
        let t = tree();
        let wb = WriteBehind::new(t.clone(), 1 << 16).unwrap();
        for i in 0..2000u32 {
            let key = (i % 7).to_be_bytes().to_vec();
            wb.put(key.clone(), b"old".to_vec()).unwrap();
            wb.write_through(&key, |tree| Ok(tree.insert(&key, b"new".as_slice())?)).unwrap();
            assert_eq!(&*wb.get(&key).unwrap().unwrap(), b"new");
        }
        wb.close();
        for k in 0..7u32 {
            assert_eq!(&*t.get(k.to_be_bytes()).unwrap().unwrap(), b"new", "key {k}");
        }
    }

    #[test]
    fn a_write_through_during_a_batch_is_not_undone_by_it() {
        // Many keys queued at once make the writer's batches large, so
        // write-throughs land while a batch holding the old values is being
        // written: the batch must finish first or skip them.
        let t = tree();
        let wb = WriteBehind::new(t.clone(), 1 << 16).unwrap();
        for round in 0..8u32 {
            let keys: Vec<Vec<u8>> = (0..4096u32).map(|k| [round.to_be_bytes(), k.to_be_bytes()].concat()).collect();
            for key in &keys {
                wb.put(key.clone(), b"old".to_vec()).unwrap();
            }
            for key in &keys {
                wb.write_through(key, |tree| Ok(tree.insert(key, b"new".as_slice())?)).unwrap();
            }
        }
        wb.close();
        let old = t.iter().filter(|kv| &*kv.as_ref().unwrap().1 == b"old").count();
        assert_eq!(old, 0, "keys overwritten by an older batch");
        assert_eq!(t.len(), 8 * 4096);
    }

    #[test]
    fn a_full_queue_applies_back_pressure_and_stays_bounded() {
        let t = tree();
        let wb = WriteBehind::new(t.clone(), 1).unwrap();
        let threads: Vec<_> = (0..4u32)
            .map(|n| {
                let wb = &wb;
                move || {
                    for i in 0..2000u32 {
                        wb.put([n.to_be_bytes(), i.to_be_bytes()].concat(), vec![n as u8]).unwrap();
                        assert!(wb.backlog() <= 4 + BATCH + 4, "bounded backlog");
                    }
                }
            })
            .collect();
        std::thread::scope(|s| {
            for f in threads {
                s.spawn(f);
            }
        });
        wb.close();
        assert_eq!(t.len(), 8000);
    }
}
