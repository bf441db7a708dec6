//! Slot tables: a fixed number M of slots, each naming a destination, that
//! `numgen inc mod M` (round robin) or `jhash … mod M` (hashing) index.

use std::collections::{BTreeMap, HashMap};

use crate::model::DestKey;

/// A slot table (None: empty slot, which a packet never finds when any
/// destination is live).
pub type Slots = Vec<Option<DestKey>>;

/// A slot table as stored between changes: 4 bytes a slot instead of a whole
/// [`DestKey`] (10,000 backends hold ~2.5 million slots).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    dests: Vec<DestKey>,
    /// Index into `dests`; [`Packed::EMPTY`] for an empty slot.
    idx: Vec<u32>,
}

impl Packed {
    const EMPTY: u32 = u32::MAX;

    pub fn pack(slots: &[Option<DestKey>]) -> Packed {
        let mut dests = Vec::new();
        let mut pos: HashMap<DestKey, u32> = HashMap::new();
        let idx = slots
            .iter()
            .map(|s| match s {
                None => Packed::EMPTY,
                Some(k) => *pos.entry(*k).or_insert_with(|| {
                    dests.push(*k);
                    dests.len() as u32 - 1
                }),
            })
            .collect();
        Packed { dests, idx }
    }

    pub fn len(&self) -> usize {
        self.idx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// Slot `i` (None: empty or beyond the end).
    pub fn get(&self, i: usize) -> Option<DestKey> {
        match self.idx.get(i) {
            Some(&n) if n != Packed::EMPTY => Some(self.dests[n as usize]),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<DestKey>> + '_ {
        self.idx
            .iter()
            .map(|&n| (n != Packed::EMPTY).then(|| self.dests[n as usize]))
    }

    pub fn unpack(&self) -> Slots {
        self.iter().collect()
    }
}

/// Slot counts for round-robin tables: a multiple of 2520 = lcm(1..=10), so
/// that up to 10 equal servers (and weight sums dividing 2520) share exactly.
pub fn rr_size(n: usize) -> u32 {
    let per = 2520usize;
    (per * (n * 8).div_ceil(per).max(1)) as u32
}

/// Prime slot counts for hash tables (Maglev wants a prime).
const PRIMES: &[u32] = &[251, 1021, 4093, 16381, 65521, 131071, 262139, 524287];

pub fn hash_size(n: usize) -> u32 {
    let want = (n * 8).max(1);
    *PRIMES
        .iter()
        .find(|p| **p as usize >= want)
        .unwrap_or(PRIMES.last().unwrap())
}

/// Slots per destination in proportion to weight (largest remainder; ties to the
/// earlier destination). Destinations of weight 0 get none.
pub fn targets(weights: &[(DestKey, u32)], m: usize) -> BTreeMap<DestKey, usize> {
    let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut out = BTreeMap::new();
    if total == 0 {
        return out;
    }
    let mut rem = Vec::new();
    let mut used = 0usize;
    for (i, (k, w)) in weights.iter().enumerate() {
        let exact = u64::from(*w) * m as u64;
        let n = (exact / total) as usize;
        used += n;
        out.insert(*k, n);
        if *w > 0 {
            rem.push((exact % total, i));
        }
    }
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rem.into_iter().take(m - used) {
        *out.get_mut(&weights[i].0).unwrap() += 1;
    }
    out
}

/// Smooth weighted round robin over `m` slots: each destination's slots are
/// spread evenly (weights 1:2:3 → a,b,c,c,b,c repeating).
pub fn wrr_fresh(weights: &[(DestKey, u32)], m: usize) -> Slots {
    let live: Vec<(DestKey, i64)> = weights
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(k, w)| (*k, i64::from(*w)))
        .collect();
    if live.is_empty() {
        return vec![None; m];
    }
    let total: i64 = live.iter().map(|(_, w)| w).sum();
    let mut current = vec![0i64; live.len()];
    (0..m)
        .map(|_| {
            let mut best = 0;
            for i in 0..live.len() {
                current[i] += live[i].1;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            Some(live[best].0)
        })
        .collect()
}

/// Round-robin table after a change, moving as few slots as possible: slots of
/// destinations still within their share stay; the rest go, in order, to the
/// destinations furthest below theirs. A table with nothing to keep is built
/// fresh with [`wrr_fresh`].
pub fn wrr_update(old: &Slots, weights: &[(DestKey, u32)], m: usize) -> Slots {
    if old.len() != m || old.iter().all(Option::is_none) {
        return wrr_fresh(weights, m);
    }
    let target: HashMap<DestKey, usize> = targets(weights, m).into_iter().collect();
    // occurrences per destination now
    let mut total: HashMap<DestKey, usize> = HashMap::new();
    for k in old.iter().flatten() {
        *total.entry(*k).or_insert(0) += 1;
    }
    // a destination over its share drops evenly spaced occurrences, so the
    // freed slots (and whoever fills them) stay spread over the table
    let mut seen: HashMap<DestKey, usize> = HashMap::new();
    let mut have: HashMap<DestKey, usize> = HashMap::new();
    let out: Slots = old
        .iter()
        .map(|s| {
            let k = (*s)?;
            let t = *target.get(&k)?;
            let h = total[&k];
            let j = seen.entry(k).or_insert(0);
            let idx = *j;
            *j += 1;
            let drop = h.saturating_sub(t);
            let dropped = (idx + 1) * drop / h > idx * drop / h;
            if dropped {
                None
            } else {
                *have.entry(k).or_insert(0) += 1;
                Some(k)
            }
        })
        .collect();
    let mut out = out;
    if have.values().sum::<usize>() == 0 {
        return wrr_fresh(weights, m);
    }
    // freed slots go to the destinations below their share, interleaved by
    // deficit (smooth round robin over the freed positions)
    let deficits: Vec<(DestKey, u32)> = weights
        .iter()
        .filter_map(|(k, _)| Some((*k, target.get(k)?)))
        .map(|(k, t)| (k, t.saturating_sub(*have.get(&k).unwrap_or(&0)) as u32))
        .filter(|(_, d)| *d > 0)
        .collect();
    let freed = out.iter().filter(|s| s.is_none()).count();
    let fill = wrr_fresh(&deficits, freed);
    for (slot, d) in out.iter_mut().filter(|s| s.is_none()).zip(fill) {
        *slot = d;
    }
    out
}

/// [`wrr_update`] on a [`Packed`] table, with the same result: slots are
/// handled as indices (one hash lookup per destination, none per slot), so a
/// change in a service of 10,000 servers (80,640 slots) costs ~1 ms.
pub fn wrr_update_packed(old: &Packed, weights: &[(DestKey, u32)], m: usize) -> Packed {
    let fresh = |weights: &[(DestKey, u32)]| Packed::pack(&wrr_fresh(weights, m));
    if old.len() != m || old.idx.iter().all(|&n| n == Packed::EMPTY) {
        return fresh(weights);
    }
    let pos: HashMap<DestKey, usize> = weights
        .iter()
        .enumerate()
        .map(|(j, (k, _))| (*k, j))
        .collect();
    let t = targets(weights, m);
    if t.is_empty() {
        // no weight at all: wrr_update keeps nothing either
        return fresh(weights);
    }
    let target: Vec<usize> = weights.iter().map(|(k, _)| t[k]).collect();
    // old table's destination index -> weights index (None: gone)
    let to_w: Vec<Option<usize>> = old.dests.iter().map(|k| pos.get(k).copied()).collect();
    let mut total = vec![0usize; weights.len()];
    for &n in &old.idx {
        if let Some(Some(j)) = to_w.get(n as usize) {
            total[*j] += 1;
        }
    }
    let mut seen = vec![0usize; weights.len()];
    let mut have = vec![0usize; weights.len()];
    let mut idx: Vec<u32> = old
        .idx
        .iter()
        .map(|&n| {
            let Some(Some(j)) = to_w.get(n as usize).copied() else {
                return Packed::EMPTY;
            };
            let (h, i) = (total[j], seen[j]);
            seen[j] += 1;
            let drop = h.saturating_sub(target[j]);
            if (i + 1) * drop / h > i * drop / h {
                Packed::EMPTY
            } else {
                have[j] += 1;
                j as u32
            }
        })
        .collect();
    if have.iter().sum::<usize>() == 0 {
        return fresh(weights);
    }
    let deficits: Vec<(DestKey, u32)> = weights
        .iter()
        .enumerate()
        .map(|(j, (k, _))| (*k, target[j].saturating_sub(have[j]) as u32))
        .filter(|(_, d)| *d > 0)
        .collect();
    let freed = idx.iter().filter(|&&n| n == Packed::EMPTY).count();
    let fill = wrr_fresh(&deficits, freed);
    for (slot, d) in idx.iter_mut().filter(|n| **n == Packed::EMPTY).zip(fill) {
        if let Some(k) = d {
            *slot = pos[&k] as u32;
        }
    }
    Packed {
        dests: weights.iter().map(|(k, _)| *k).collect(),
        idx,
    }
}

/// All slots to the destination with the highest weight (IPVS `fo`).
pub fn failover(weights: &[(DestKey, u32)], m: usize) -> Slots {
    let best = weights
        .iter()
        .filter(|(_, w)| *w > 0)
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(k, _)| *k);
    vec![best; m]
}

/// FNV-1a, stable across runs and builds.
fn fnv(data: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf29ce484222325u64 ^ seed;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn dest_bytes(k: &DestKey) -> Vec<u8> {
    let mut v = match k.addr {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    v.extend_from_slice(&k.port.to_be_bytes());
    v
}

/// Weighted Maglev table (`m` should be prime): each destination walks its own
/// permutation of the slots and claims the next free one, taking turns in
/// proportion to weight. Removing a destination moves little beyond its slots.
pub fn maglev(weights: &[(DestKey, u32)], m: usize) -> Slots {
    let live: Vec<(DestKey, u32)> = weights.iter().filter(|(_, w)| *w > 0).copied().collect();
    let mut out: Slots = vec![None; m];
    if live.is_empty() || m == 0 {
        return out;
    }
    let perm: Vec<(usize, usize)> = live
        .iter()
        .map(|(k, _)| {
            let b = dest_bytes(k);
            let offset = (fnv(&b, 0x6b61) % m as u64) as usize;
            let skip = if m > 1 {
                (fnv(&b, 0x6c62) % (m as u64 - 1)) as usize + 1
            } else {
                1
            };
            (offset, skip)
        })
        .collect();
    // each round, every destination claims as many slots as its weight (so a
    // weight change does not change anyone else's pace)
    let mut next = vec![0usize; live.len()];
    let mut filled = 0;
    'fill: loop {
        for (i, (_, w)) in live.iter().enumerate() {
            for _ in 0..*w {
                if filled == m {
                    break 'fill;
                }
                let (offset, skip) = perm[i];
                loop {
                    let c = (offset + next[i] * skip) % m;
                    next[i] += 1;
                    if out[c].is_none() {
                        out[c] = Some(live[i].0);
                        filled += 1;
                        break;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> DestKey {
        DestKey {
            addr: format!("10.0.0.{n}").parse().unwrap(),
            port: 80,
        }
    }
    fn count(s: &Slots, k: DestKey) -> usize {
        s.iter().filter(|x| **x == Some(k)).count()
    }

    #[test]
    fn packed_round_trip() {
        let s: Slots = vec![Some(d(1)), None, Some(d(2)), Some(d(1))];
        let p = Packed::pack(&s);
        assert_eq!(p.unpack(), s);
        assert_eq!(
            (p.len(), p.get(1), p.get(3), p.get(9)),
            (4, None, Some(d(1)), None)
        );
        assert!(Packed::pack(&[]).is_empty());
    }

    #[test]
    fn sizes() {
        assert_eq!(rr_size(3), 2520);
        assert_eq!(rr_size(10_000), 80_640);
        assert_eq!(hash_size(3), 251);
        assert_eq!(hash_size(100), 1021);
    }

    #[test]
    fn proportional_targets() {
        let t = targets(&[(d(1), 1), (d(2), 2), (d(3), 3), (d(4), 0)], 2520);
        assert_eq!(t[&d(1)], 420);
        assert_eq!(t[&d(2)], 840);
        assert_eq!(t[&d(3)], 1260);
        assert_eq!(t[&d(4)], 0);
        let t = targets(&[(d(1), 1), (d(2), 1), (d(3), 1)], 251);
        assert_eq!(t.values().sum::<usize>(), 251);
        assert!(t.values().all(|n| *n == 83 || *n == 84));
    }

    #[test]
    fn rr_even_in_every_window() {
        let w = [(d(1), 1), (d(2), 1), (d(3), 1)];
        let s = wrr_fresh(&w, 2520);
        for start in [0, 7, 2490] {
            let win = &s[start..start + 30].to_vec();
            for k in [d(1), d(2), d(3)] {
                assert_eq!(count(win, k), 10);
            }
        }
        // 2520 wraps cleanly: the window across the end is even too
        let mut wrap = s[2505..].to_vec();
        wrap.extend_from_slice(&s[..15]);
        assert_eq!(count(&wrap, d(2)), 10);
    }

    #[test]
    fn wrr_interleaves_by_weight() {
        let w = [(d(1), 1), (d(2), 2), (d(3), 3)];
        let s = wrr_fresh(&w, 2520);
        assert_eq!(count(&s, d(1)), 420);
        assert_eq!(count(&s, d(3)), 1260);
        for start in [0, 6, 600] {
            let win = s[start..start + 30].to_vec();
            assert_eq!(
                (count(&win, d(1)), count(&win, d(2)), count(&win, d(3))),
                (5, 10, 15)
            );
        }
    }

    #[test]
    fn wrr_update_moves_only_what_it_must() {
        let w3 = [(d(1), 1), (d(2), 1), (d(3), 1)];
        let s = wrr_fresh(&w3, 2520);
        let w2 = [(d(1), 1), (d(3), 1)];
        let t = wrr_update(&s, &w2, 2520);
        let moved = s.iter().zip(&t).filter(|(a, b)| a != b).count();
        assert_eq!(moved, 840, "only d2's slots move");
        assert_eq!(count(&t, d(1)), 1260);
        assert_eq!(count(&t, d(3)), 1260);
        // and back: d2 takes 840 slots again, no more moves
        let u = wrr_update(&t, &w3, 2520);
        let moved = t.iter().zip(&u).filter(|(a, b)| a != b).count();
        assert_eq!(moved, 840);
        assert_eq!(count(&u, d(2)), 840);
        // weight change 1 -> 2 for d1: 2520/3 -> 2520/2
        let u2 = wrr_update(&u, &[(d(1), 2), (d(2), 1), (d(3), 1)], 2520);
        assert_eq!(count(&u2, d(1)), 1260);
        let moved = u.iter().zip(&u2).filter(|(a, b)| a != b).count();
        assert_eq!(moved, 420);
    }

    #[test]
    fn wrr_update_keeps_interleaving() {
        let s = wrr_fresh(&[(d(1), 1), (d(2), 2), (d(3), 3)], 2520);
        let t = wrr_update(&s, &[(d(1), 1), (d(2), 2), (d(3), 0)], 2520);
        for start in [0, 7, 1000] {
            let win = t[start..start + 30].to_vec();
            assert_eq!((count(&win, d(1)), count(&win, d(2))), (10, 20));
        }
    }

    #[test]
    fn packed_update_agrees_with_wrr_update() {
        let w = |ws: &[(u8, u32)]| ws.iter().map(|(n, w)| (d(*n), *w)).collect::<Vec<_>>();
        let steps = [
            w(&[(1, 1), (2, 1), (3, 1)]),
            w(&[(1, 1), (3, 1)]),
            w(&[(1, 1), (2, 1), (3, 1)]),
            w(&[(1, 2), (2, 1), (3, 1), (4, 3)]),
            w(&[(1, 2), (2, 0), (3, 1), (4, 3)]),
            w(&[(5, 1)]),
            w(&[(1, 0)]),
            w(&[(1, 1), (2, 7)]),
        ];
        let mut plain: Slots = vec![None; 2520];
        let mut packed = Packed::pack(&plain);
        for ws in &steps {
            plain = wrr_update(&plain, ws, 2520);
            packed = wrr_update_packed(&packed, ws, 2520);
            assert_eq!(packed.unpack(), plain, "{ws:?}");
        }
        // pseudo-random pools of up to 40 servers, weights 0..=4, some absent
        for step in 0..40u64 {
            let ws: Vec<(DestKey, u32)> = (1..=40u8)
                .filter_map(|n| {
                    let r = fnv(&[n], step);
                    (!r.is_multiple_of(5)).then_some((d(n), (r >> 8) as u32 % 5))
                })
                .collect();
            plain = wrr_update(&plain, &ws, 5040);
            packed = wrr_update_packed(&packed, &ws, 5040);
            assert_eq!(packed.unpack(), plain, "step {step}");
        }
        // a table of another size is built fresh
        let p = wrr_update_packed(&Packed::pack(&plain[..7]), &steps[0], 2520);
        assert_eq!(p.unpack(), wrr_fresh(&steps[0], 2520));
    }

    #[test]
    fn rr_rejoin_is_spread() {
        let w3 = [(d(1), 1), (d(2), 1), (d(3), 1)];
        let s = wrr_fresh(&w3, 2520);
        let t = wrr_update(&s, &[(d(1), 1), (d(3), 1)], 2520);
        let u = wrr_update(&t, &w3, 2520);
        for start in [0, 100, 2000] {
            let win = u[start..start + 30].to_vec();
            for k in [d(1), d(2), d(3)] {
                let c = count(&win, k);
                assert!((8..=12).contains(&c), "{start}: {c}");
            }
        }
    }

    #[test]
    fn maglev_balanced_and_stable() {
        let w: Vec<_> = (1..=10).map(|n| (d(n), 1)).collect();
        let s = maglev(&w, 1021);
        for n in 1..=10 {
            let c = count(&s, d(n));
            assert!((95..=110).contains(&c), "{n}: {c}");
        }
        let w9: Vec<_> = w.iter().filter(|(k, _)| *k != d(4)).copied().collect();
        let t = maglev(&w9, 1021);
        // slots not owned by the removed server mostly stay
        let kept_owner_moved = s
            .iter()
            .zip(&t)
            .filter(|(a, b)| **a != Some(d(4)) && a != b)
            .count();
        assert!(kept_owner_moved < 1021 / 10, "moved {kept_owner_moved}");
        assert_eq!(count(&t, d(4)), 0);
        assert!(t.iter().all(Option::is_some));
    }

    #[test]
    fn maglev_weighted() {
        let s = maglev(&[(d(1), 1), (d(2), 3)], 4093);
        let (a, b) = (count(&s, d(1)), count(&s, d(2)));
        assert!((a as f64 / b as f64 - 1.0 / 3.0).abs() < 0.05, "{a} {b}");
        assert!(maglev(&[(d(1), 0)], 251).iter().all(Option::is_none));
    }

    #[test]
    fn fo_picks_heaviest() {
        let s = failover(&[(d(1), 1), (d(2), 5), (d(3), 5)], 7);
        assert!(s.iter().all(|x| *x == Some(d(2))));
    }
}
