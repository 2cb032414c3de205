//! The counter-arithmetic fuzz target: random reserve / settle / release sequences
//! with extreme values against random limits, made as a budget makes them, on any
//! counter store (memory in the unit tests, a real Redis in the suite). After every
//! step the counter must equal the real usage settled plus the reservations still
//! outstanding, and never be below zero; a step that would overflow changes nothing.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{CounterError, Counters};

/// A value as a client or a provider could make it: an extreme, a small one, any.
fn pick(rng: &mut StdRng) -> i64 {
    const EXTREME: [i64; 7] = [0, 1, i64::MAX, i64::MAX - 1, i64::MAX / 2, 1 << 62, 999_999];
    match rng.random_range(0..3) {
        0 => EXTREME[rng.random_range(0..EXTREME.len())],
        1 => rng.random_range(0..1_000_000),
        _ => rng.random_range(0..i64::MAX),
    }
}

/// `cases` steps (in rounds of 100, each on a fresh counter) from `seed`; the first
/// step that breaks the invariant, said.
pub async fn run(c: &Counters, cases: usize, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let fail = |e: CounterError| e.to_string();
    for round in 0..(cases / 100).max(1) {
        let key = format!("fuzz{seed}-{round}");
        let (mut settled, mut out): (i128, Vec<i64>) = (0, Vec::new());
        for step in 0..100 {
            let limit = pick(&mut rng);
            match rng.random_range(0..3) {
                // Reserve: denied untouched past the whole limit, given back past it.
                0 => {
                    let r = pick(&mut rng);
                    if r <= limit
                        && let Ok(v) = c.add("fuzz", key.clone(), r, 0).await
                    {
                        if v > limit {
                            c.add("fuzz", key.clone(), -r, 0).await.map_err(fail)?;
                        } else {
                            out.push(r);
                        }
                    }
                }
                // Settle one reservation at a real figure.
                1 if !out.is_empty() => {
                    let r = out.swap_remove(rng.random_range(0..out.len()));
                    let real = pick(&mut rng);
                    match c.add("fuzz", key.clone(), real - r, 0).await {
                        Ok(_) => settled += i128::from(real),
                        Err(CounterError::Overflow) => out.push(r),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                // Release one.
                _ if !out.is_empty() => {
                    let r = out.swap_remove(rng.random_range(0..out.len()));
                    c.add("fuzz", key.clone(), -r, 0).await.map_err(fail)?;
                }
                _ => {}
            }
            let want = settled + out.iter().map(|r| i128::from(*r)).sum::<i128>();
            let have = c.get(key.clone(), 0).await.map_err(fail)?;
            if have < 0 || i128::from(have) != want {
                return Err(format!(
                    "round {round} step {step}: the counter is {have}, settled plus outstanding is {want}"
                ));
            }
        }
    }
    Ok(())
}
