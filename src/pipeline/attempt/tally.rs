//! One attempt's own account, settled once — as the request's context is. From the
//! moment its request leaves for the provider it holds the target's in-flight count; the
//! attempt gives it the verdict on how the target served (where it learns it: a timeout,
//! a redirect, an error status, an answer that is not JSON, a usable answer or stream)
//! and the answer the cache may keep. When the attempt ends, whichever way it ends (a
//! stream's at the stream's end), `Drop` settles it: the target's signals told once, the
//! kept answer put in the cache only if the target served well.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::InFlight;
use crate::cache::Store;
use crate::health::signals::TargetSignals;

pub struct Tally {
    signals: Arc<TargetSignals>,
    sent: Instant,
    /// Until the answer is in (a whole answer) or the stream ends.
    in_flight: Option<InFlight>,
    /// How long the provider took to answer, once its answer is in.
    took: Option<Duration>,
    /// Whether the target served well, and in how long (the first verdict stands).
    verdict: Option<(bool, Duration)>,
    keep: Option<(Store, Bytes)>,
}

impl Tally {
    /// The attempt's request leaves for the target now.
    pub fn sent(signals: &Arc<TargetSignals>) -> Self {
        Tally {
            in_flight: Some(InFlight::new(signals)),
            signals: signals.clone(),
            sent: Instant::now(),
            took: None,
            verdict: None,
            keep: None,
        }
    }

    pub fn started(&self) -> Instant {
        self.sent
    }

    /// The whole answer is in: the provider is no longer busy with it, and its time is
    /// what the verdict counts (not the gateway's own work on it after).
    pub fn answer_in(&mut self) {
        self.in_flight = None;
        self.took.get_or_insert_with(|| self.sent.elapsed());
    }

    /// How the target served this attempt.
    pub fn served(&mut self, ok: bool) {
        if self.verdict.is_none() {
            let took = self.took.unwrap_or_else(|| self.sent.elapsed());
            self.verdict = Some((ok, took));
        }
    }

    /// The first bytes of a stream reached the client.
    pub fn first_byte(&self) {
        self.signals.record_ttft(self.sent.elapsed());
    }

    /// The answer `store` keeps if the attempt ends with the target having served well.
    pub fn keep(&mut self, store: &Store, answer: Bytes) {
        self.keep = Some((store.clone(), answer));
    }

    /// The in-flight count, handed to a body that outlives the attempt (audio).
    pub fn hand_over(&mut self) -> Option<InFlight> {
        self.in_flight.take()
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.in_flight = None;
        let Some((ok, took)) = self.verdict else {
            return;
        };
        self.signals.record(ok, took);
        if ok && let Some((store, answer)) = self.keep.take() {
            store.put(answer);
        }
    }
}
