//! A bounded hand-off from the request path to a writer thread, for what is written
//! after the answer (usage records, access-log lines). The request path appends to a
//! buffer under a short lock and never wakes the writer (no scheduler switch per
//! request): the writer takes the buffer on a tick. When the writer falls behind, items
//! are dropped and counted, never waited for. Dropping the batcher lets the writer
//! finish what it holds and end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Most items held for the writer; past it they are dropped and counted.
pub const QUEUE: usize = 65_536;
/// How often the writer takes what the request path left.
const TICK: Duration = Duration::from_millis(200);

struct Inner<T> {
    pending: Mutex<Vec<T>>,
    /// Items handed over / written so far (for `flush`).
    handed: AtomicU64,
    written: AtomicU64,
    /// Wakes the writer early: a flush, or the batcher being dropped.
    wake: Condvar,
    wake_lock: Mutex<()>,
    closed: AtomicBool,
}

pub struct Batcher<T> {
    inner: Arc<Inner<T>>,
    pub dropped: AtomicU64,
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts the writer thread `name`. `write` is called every tick with the items
    /// taken so far (possibly none): it removes what it wrote; what it leaves is
    /// offered again at the next tick, up to `QUEUE` items, past which the batch is
    /// given up (and logged).
    pub fn start<W>(name: &str, write: W) -> std::io::Result<Batcher<T>>
    where
        W: FnMut(&mut Vec<T>) + Send + 'static,
    {
        let inner = Arc::new(Inner {
            pending: Mutex::new(Vec::new()),
            handed: AtomicU64::new(0),
            written: AtomicU64::new(0),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
        });
        let shared = inner.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(shared, write))?;
        Ok(Batcher {
            inner,
            dropped: AtomicU64::new(0),
        })
    }

    /// Hands an item to the writer; never blocks on it and never wakes it.
    pub fn push(&self, item: T) {
        let mut pending = self.inner.pending.lock();
        if pending.len() >= QUEUE {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.push(item);
        self.inner.handed.fetch_add(1, Ordering::AcqRel);
    }

    /// Waits (up to 10 s) until everything handed over so far is written.
    pub fn flush(&self) {
        let target = self.inner.handed.load(Ordering::Acquire);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while self.inner.written.load(Ordering::Acquire) < target
            && std::time::Instant::now() < until
        {
            {
                let _g = self.inner.wake_lock.lock();
                self.inner.wake.notify_one();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl<T> Drop for Batcher<T> {
    /// The writer thread writes what it holds and ends.
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::Release);
        let _g = self.inner.wake_lock.lock();
        self.inner.wake.notify_one();
    }
}

fn run<T, W: FnMut(&mut Vec<T>)>(inner: Arc<Inner<T>>, mut write: W) {
    let mut batch: Vec<T> = Vec::new();
    // Items taken from the request path so far; those still in `batch` are not written.
    let mut taken = 0u64;
    // Ticks left to retry a failing batch once the batcher is dropped.
    let mut last_tries = 5u32;
    loop {
        {
            let mut g = inner.wake_lock.lock();
            if !inner.closed.load(Ordering::Acquire)
                && inner.written.load(Ordering::Acquire) >= inner.handed.load(Ordering::Acquire)
            {
                inner.wake.wait_for(&mut g, TICK);
            }
        }
        let fresh = std::mem::take(&mut *inner.pending.lock());
        taken += fresh.len() as u64;
        batch.extend(fresh);
        write(&mut batch);
        if batch.len() >= QUEUE {
            tracing::error!(
                items = batch.len(),
                "the writer cannot keep up; items dropped"
            );
            batch.clear();
        }
        inner
            .written
            .store(taken - batch.len() as u64, Ordering::Release);
        let closing = inner.closed.load(Ordering::Acquire) && inner.pending.lock().is_empty();
        if !batch.is_empty() {
            // The write failed: try again a tick later (not at once, in a loop).
            if closing {
                if last_tries == 0 {
                    return;
                }
                last_tries -= 1;
            }
            std::thread::sleep(TICK);
            continue;
        }
        if closing {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_reach_the_writer_in_order_and_a_full_queue_drops_and_counts() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        let b = Batcher::start("test-writer", move |batch: &mut Vec<u32>| {
            out.lock().append(batch);
        })
        .unwrap();
        for i in 0..10 {
            b.push(i);
        }
        b.flush();
        assert_eq!(*seen.lock(), (0..10).collect::<Vec<_>>());
        // A writer stuck in a write: the buffer fills to its bound, the rest is dropped.
        let (entered, in_write) = std::sync::mpsc::channel();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let stuck = Batcher::start("stuck-writer", move |_: &mut Vec<u32>| {
            let _ = entered.send(());
            let _ = gate.lock().recv();
        })
        .unwrap();
        in_write.recv().unwrap();
        for i in 0..(QUEUE as u32 + 5) {
            stuck.push(i);
        }
        assert_eq!(stuck.dropped.load(Ordering::Relaxed), 5);
        drop(release);
    }
}
