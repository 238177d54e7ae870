//! Selection: which available profile a call gets, in O(log n).
//!
//! Profiles are split into groups (the preferred provider's primaries, the other
//! primaries, the fallback models). Within a group the profile with the lowest *rank*
//! wins, ties broken by configuration order; the pool sets the rank (the pick sequence
//! number in v2, so that concurrent calls spread; the last success time in v1).
//!
//! Every group is an indexed 4-ary heap over profile indices: picking, re-ranking,
//! cooling and recovering a profile cost O(log n) and allocate nothing once the pool is
//! built. Cooling profiles sit in one more heap ordered by the time they recover, so
//! recoveries are found without scanning the pool.

const NONE: u32 = u32::MAX;

/// Children per heap node: a 4-ary heap is half as deep as a binary one, and a node's
/// children share a cache line, which keeps picks flat as pools grow.
const ARITY: usize = 4;

/// A heap member: its key is copied in, so comparisons read contiguous memory.
/// Packed to 12 bytes (wasm loads need no alignment).
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
struct Entry {
    key: f64,
    id: u32,
}

impl Entry {
    /// Sorts before `other`: smaller key, ties by profile index.
    #[inline]
    fn before(self, other: Entry) -> bool {
        let (a, b, ia, ib) = (self.key, other.key, self.id, other.id);
        match a.total_cmp(&b) {
            core::cmp::Ordering::Less => true,
            core::cmp::Ordering::Equal => ia < ib,
            core::cmp::Ordering::Greater => false,
        }
    }
}

/// A 4-ary min-heap of profile indices whose positions are kept in a caller-owned
/// array (`pos[profile]`), so any member can be removed or re-keyed in O(log n).
#[derive(Clone, Debug, Default)]
struct Heap {
    items: Vec<Entry>,
}

impl Heap {
    #[inline]
    fn peek(&self) -> Option<u32> {
        self.items.first().map(|e| e.id)
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds `id` with key `key[id]`.
    #[inline]
    fn push(&mut self, id: u32, pos: &mut [u32], key: &[f64]) {
        let i = self.items.len();
        self.items.push(Entry { key: key[id as usize], id });
        self.sift_up(i, pos);
    }

    #[inline]
    fn remove(&mut self, id: u32, pos: &mut [u32]) {
        let i = pos[id as usize];
        if i == NONE {
            return;
        }
        pos[id as usize] = NONE;
        let i = i as usize;
        let Some(last) = self.items.pop() else { return };
        if i < self.items.len() {
            self.items[i] = last;
            pos[last.id as usize] = i as u32;
            self.fix(i, pos);
        }
    }

    /// Restores the heap order after `key[id]` changed.
    #[inline]
    fn rekey(&mut self, id: u32, pos: &mut [u32], key: &[f64]) {
        let i = pos[id as usize];
        if i != NONE {
            self.items[i as usize].key = key[id as usize];
            self.fix(i as usize, pos);
        }
    }

    #[inline]
    fn fix(&mut self, i: usize, pos: &mut [u32]) {
        if i > 0 && self.items[i].before(self.items[(i - 1) / ARITY]) {
            self.sift_up(i, pos);
        } else {
            self.sift_down(i, pos);
        }
    }

    #[inline]
    fn sift_up(&mut self, mut i: usize, pos: &mut [u32]) {
        let e = self.items[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let p = self.items[parent];
            if !e.before(p) {
                break;
            }
            self.items[i] = p;
            pos[p.id as usize] = i as u32;
            i = parent;
        }
        self.items[i] = e;
        pos[e.id as usize] = i as u32;
    }

    #[inline]
    fn sift_down(&mut self, mut i: usize, pos: &mut [u32]) {
        let n = self.items.len();
        let e = self.items[i];
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let mut best = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.items[c].before(self.items[best]) {
                    best = c;
                }
            }
            let b = self.items[best];
            if !b.before(e) {
                break;
            }
            self.items[i] = b;
            pos[b.id as usize] = i as u32;
            i = best;
        }
        self.items[i] = e;
        pos[e.id as usize] = i as u32;
    }

    fn clear(&mut self, pos: &mut [u32]) {
        for e in &self.items {
            pos[e.id as usize] = NONE;
        }
        self.items.clear();
    }
}

/// The availability index of a pool.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Round-robin rank of each profile: lower is picked first.
    rank: Vec<f64>,
    /// When each profile's cooldown ends (NaN: none). Kept after it passes, as v1 does.
    until: Vec<f64>,
    /// Provider index of each profile, `NONE` for fallback models.
    provider: Vec<u32>,
    /// Available primaries by provider, and their positions.
    by_provider: Vec<Heap>,
    pos_provider: Vec<u32>,
    /// Available primaries (all providers) or fallbacks; a profile is in one of the two.
    primaries: Heap,
    fallbacks: Heap,
    pos_group: Vec<u32>,
    /// Cooling profiles by recovery time.
    cooling: Heap,
    pos_cooling: Vec<u32>,
    /// The latest `now` the index was brought up to.
    clock: f64,
}

impl Selection {
    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.rank.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rank.is_empty()
    }

    /// Reserves room for `additional` more profiles.
    pub fn reserve(&mut self, additional: usize) {
        self.rank.reserve_exact(additional);
        self.until.reserve_exact(additional);
        self.provider.reserve_exact(additional);
        self.pos_provider.reserve_exact(additional);
        self.pos_group.reserve_exact(additional);
        self.pos_cooling.reserve_exact(additional);
        self.primaries.items.reserve_exact(additional);
    }

    /// Adds a profile (available, never picked) and returns its index.
    /// `provider` is `None` for a fallback model.
    pub fn add(&mut self, provider: Option<u32>, rank: f64) -> u32 {
        let id = self.rank.len() as u32;
        self.rank.push(rank);
        self.until.push(f64::NAN);
        self.provider.push(provider.unwrap_or(NONE));
        self.pos_provider.push(NONE);
        self.pos_group.push(NONE);
        self.pos_cooling.push(NONE);
        if let Some(p) = provider {
            while self.by_provider.len() <= p as usize {
                self.by_provider.push(Heap::default());
            }
        }
        self.make_available(id);
        id
    }

    #[inline]
    pub fn rank(&self, id: u32) -> f64 {
        self.rank[id as usize]
    }

    /// The recorded end of the profile's cooldown (NaN: none), possibly in the past.
    #[inline]
    pub fn until(&self, id: u32) -> f64 {
        self.until[id as usize]
    }

    /// Whether the profile is cooling down at `now`.
    #[inline]
    pub fn is_cooling(&self, id: u32, now: f64) -> bool {
        self.until[id as usize] > now
    }

    /// Brings the index to `now`: profiles whose cooldown ended become available. A clock
    /// that went backwards rebuilds the index from the recorded cooldowns (O(n log n)).
    #[inline]
    pub fn advance(&mut self, now: f64) {
        if now < self.clock {
            self.rebuild(now);
            return;
        }
        self.clock = now;
        while let Some(top) = self.cooling.peek() {
            if self.until[top as usize] > now {
                break;
            }
            self.cooling.remove(top, &mut self.pos_cooling);
            self.make_available(top);
        }
    }

    fn rebuild(&mut self, now: f64) {
        self.clock = now;
        for h in &mut self.by_provider {
            h.clear(&mut self.pos_provider);
        }
        self.primaries.clear(&mut self.pos_group);
        self.fallbacks.clear(&mut self.pos_group);
        self.cooling.clear(&mut self.pos_cooling);
        for id in 0..self.rank.len() as u32 {
            if self.until[id as usize] > now {
                self.cooling.push(id, &mut self.pos_cooling, &self.until);
            } else {
                self.make_available(id);
            }
        }
    }

    /// The best available profile at the index's clock: the preferred provider's
    /// primaries first, then any primary, then the fallback models.
    #[inline]
    pub fn pick(&self, preferred: Option<u32>) -> Option<u32> {
        if let Some(top) = preferred.and_then(|p| self.by_provider.get(p as usize)).and_then(Heap::peek) {
            return Some(top);
        }
        self.primaries.peek().or_else(|| self.fallbacks.peek())
    }

    /// Sets a profile's rank.
    #[inline]
    pub fn set_rank(&mut self, id: u32, rank: f64) {
        self.rank[id as usize] = rank;
        let group =
            if self.provider[id as usize] == NONE { &mut self.fallbacks } else { &mut self.primaries };
        group.rekey(id, &mut self.pos_group, &self.rank);
        if let Some(h) = self.by_provider.get_mut(self.provider[id as usize] as usize) {
            h.rekey(id, &mut self.pos_provider, &self.rank);
        }
    }

    /// Records a cooldown ending at `until` (NaN: none). The profile leaves the groups
    /// while `until` is later than the index's clock.
    #[inline]
    pub fn set_until(&mut self, id: u32, until: f64) {
        self.until[id as usize] = until;
        if until > self.clock {
            self.make_unavailable(id);
            if self.pos_cooling[id as usize] == NONE {
                self.cooling.push(id, &mut self.pos_cooling, &self.until);
            } else {
                self.cooling.rekey(id, &mut self.pos_cooling, &self.until);
            }
        } else {
            self.cooling.remove(id, &mut self.pos_cooling);
            self.make_available(id);
        }
    }

    /// The earliest recovery time among cooling profiles.
    #[inline]
    pub fn soonest(&self) -> Option<f64> {
        self.cooling.peek().map(|id| self.until[id as usize])
    }

    /// Number of available profiles at the index's clock.
    pub fn available(&self) -> usize {
        self.primaries.len() + self.fallbacks.len()
    }

    #[inline]
    fn make_available(&mut self, id: u32) {
        if self.pos_group[id as usize] != NONE {
            return;
        }
        let p = self.provider[id as usize];
        if p == NONE {
            self.fallbacks.push(id, &mut self.pos_group, &self.rank);
        } else {
            self.primaries.push(id, &mut self.pos_group, &self.rank);
            self.by_provider[p as usize].push(id, &mut self.pos_provider, &self.rank);
        }
    }

    #[inline]
    fn make_unavailable(&mut self, id: u32) {
        if self.pos_group[id as usize] == NONE {
            return;
        }
        let p = self.provider[id as usize];
        if p == NONE {
            self.fallbacks.remove(id, &mut self.pos_group);
        } else {
            self.primaries.remove(id, &mut self.pos_group);
            self.by_provider[p as usize].remove(id, &mut self.pos_provider);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three openai keys, one anthropic key, one fallback.
    fn sample() -> Selection {
        let mut s = Selection::default();
        for p in [0, 0, 1, 0] {
            s.add(Some(p), 0.0);
        }
        s.add(None, 0.0);
        s
    }

    #[test]
    fn ties_go_to_configuration_order() {
        let s = sample();
        assert_eq!(s.pick(None), Some(0));
        assert_eq!(s.pick(Some(1)), Some(2));
    }

    #[test]
    fn lowest_rank_first() {
        let mut s = sample();
        s.set_rank(0, 3.0);
        s.set_rank(1, 1.0);
        s.set_rank(3, 2.0);
        s.set_rank(2, 5.0);
        assert_eq!(s.pick(Some(0)), Some(1));
        s.set_rank(1, 9.0);
        assert_eq!(s.pick(Some(0)), Some(3));
        assert_eq!(s.pick(Some(1)), Some(2));
        assert_eq!(s.pick(None), Some(3));
    }

    #[test]
    fn groups_fall_through() {
        let mut s = sample();
        s.advance(100.0);
        s.set_until(2, 200.0);
        // anthropic is cooling: a call preferring it gets any primary.
        assert_eq!(s.pick(Some(1)), Some(0));
        for id in [0, 1, 3] {
            s.set_until(id, 150.0);
        }
        assert_eq!(s.pick(Some(0)), Some(4));
        s.set_until(4, 120.0);
        assert_eq!(s.pick(None), None);
        assert_eq!(s.soonest(), Some(120.0));
        s.advance(150.0);
        assert_eq!(s.pick(Some(1)), Some(0));
        assert_eq!(s.available(), 4);
        s.advance(10.0); // the clock went back: everything cools again
        assert_eq!(s.pick(None), None);
        assert_eq!(s.soonest(), Some(120.0));
    }

    #[test]
    fn clearing_a_cooldown_restores_the_profile() {
        let mut s = sample();
        s.set_until(0, 1e12);
        assert_eq!(s.pick(Some(0)), Some(1));
        s.set_until(0, f64::NAN);
        assert_eq!(s.pick(Some(0)), Some(0));
        assert!(s.soonest().is_none());
    }
}
