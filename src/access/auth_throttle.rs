//! Failed admin authentication, throttled: a bearer token or console sign-in that
//! fails counts against its peer's address and against the whole listener. A peer
//! past `PER_PEER` failures in a minute is refused (429, `retry-after`) before its
//! token is even compared, whatever it sends, until the minute is over; past
//! `OVERALL` failures in a minute from everyone, every peer that has failed lately
//! (or that the table has no room to remember) is refused likewise — a spread-out
//! guess meets the same wall, while an operator at a clean address still signs in.
//! Failures and refusals are counted for `/metrics` and the `admin_auth` alert kind.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failures one address may make in a window.
pub const PER_PEER: u32 = 10;
/// Failures all addresses together may make in a window.
pub const OVERALL: u32 = 100;
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at once (each a few dozen bytes).
const MAX_PEERS: usize = 10_000;

/// Failures counted in the window that began at `since`.
#[derive(Clone, Copy)]
struct Strikes {
    count: u32,
    since: Instant,
}

impl Strikes {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.since) < WINDOW
    }

    fn left(&self, now: Instant) -> u64 {
        WINDOW
            .saturating_sub(now.duration_since(self.since))
            .as_secs()
            .max(1)
    }
}

#[derive(Default)]
pub struct AuthThrottle {
    peers: Mutex<HashMap<IpAddr, Strikes>>,
    overall: Mutex<Option<Strikes>>,
    /// Failed authentications, and attempts refused unheard, since start.
    pub failures: AtomicU64,
    pub throttled: AtomicU64,
}

impl AuthThrottle {
    /// Whether `peer` may try now; `Err(seconds)` until it may.
    pub fn admit(&self, peer: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mine = {
            let peers = self.peers.lock();
            match peers.get(&peer).filter(|s| s.live(now)) {
                Some(s) => Some(*s),
                // Not remembered because the table is full: treated as suspect.
                None if peers.len() >= MAX_PEERS => Some(Strikes {
                    count: 1,
                    since: now,
                }),
                None => None,
            }
        };
        if let Some(s) = mine.filter(|s| s.count >= PER_PEER) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(s.left(now));
        }
        let overall = *self.overall.lock();
        if let (Some(_), Some(o)) = (mine, overall.filter(|o| o.live(now) && o.count >= OVERALL)) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(o.left(now));
        }
        Ok(())
    }

    /// `peer` tries a password: the strike is counted before it is checked (so a
    /// burst of parallel guesses meets the limit too) and given back by `forgive` when
    /// the password was right.
    pub fn attempt(&self, peer: IpAddr) {
        self.failed(peer);
        self.failures.fetch_sub(1, Ordering::Relaxed);
    }

    /// Gives back the strike of a right password (`attempt`).
    pub fn forgive(&self, peer: IpAddr) {
        let now = Instant::now();
        let back = |s: &mut Strikes| {
            if s.live(now) {
                s.count = s.count.saturating_sub(1);
            }
        };
        if let Some(s) = self.overall.lock().as_mut() {
            back(s);
        }
        if let Some(s) = self.peers.lock().get_mut(&peer) {
            back(s);
        }
    }

    /// `peer` failed to authenticate.
    pub fn failed(&self, peer: IpAddr) {
        let now = Instant::now();
        self.failures.fetch_add(1, Ordering::Relaxed);
        bump(&mut self.overall.lock(), now);
        let mut peers = self.peers.lock();
        if !peers.contains_key(&peer) && peers.len() >= MAX_PEERS {
            peers.retain(|_, s| s.live(now));
            if peers.len() >= MAX_PEERS {
                return;
            }
        }
        let mut slot = peers.get(&peer).copied();
        bump(&mut slot, now);
        if let Some(s) = slot {
            peers.insert(peer, s);
        }
    }
}

/// One more failure in `s`'s window (a new window when it has ended).
fn bump(s: &mut Option<Strikes>, now: Instant) {
    match s {
        Some(x) if x.live(now) => x.count = x.count.saturating_add(1),
        _ => {
            *s = Some(Strikes {
                count: 1,
                since: now,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guessing_peer_is_refused_and_a_clean_one_is_not() {
        let t = AuthThrottle::default();
        let bad: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..PER_PEER {
            assert!(t.admit(bad).is_ok());
            t.failed(bad);
        }
        let wait = t.admit(bad).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(t.admit(good).is_ok());
        // Many peers failing together: each that failed is refused, a clean one is not.
        for i in 0..OVERALL {
            let ip = IpAddr::from([127, 1, (i / 250) as u8, (i % 250) as u8]);
            t.failed(ip);
        }
        assert!(t.admit(IpAddr::from([127, 1, 0, 1])).is_err());
        assert!(t.admit(good).is_ok());
        assert_eq!(
            t.failures.load(Ordering::Relaxed),
            u64::from(PER_PEER + OVERALL)
        );
    }
}
