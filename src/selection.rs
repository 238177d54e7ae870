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
//! recoveries are found without scanning the pool. The heaps of each provider's primaries
//! are made at the first pick that prefers a provider, in a pool of several providers
//! (O(n log n), once): until then a pick updates one heap, not two.
//!
//! # Model-scoped cooldowns
//! A *pair* (profile, model) can rest on its own: the profile stays available to every
//! other model. For each model that has at least one resting pair, the index keeps a
//! *view*: a copy of the group heaps without the profiles resting for that model (they
//! are marked blocked). A call that names such a model picks from its view, in O(1)
//! like any pick; calls naming no model, or a model with nothing resting, use the base
//! heaps. The cost: a view is created by copying the base heaps when its model's first
//! pair starts resting (O(n) memory copy, once per episode) and dropped when its last
//! pair recovers; while M views exist, every re-rank, cooldown and recovery of a profile
//! updates M + 1 sets of heaps, O((M + 1) log n). With no model-scoped rest anywhere,
//! nothing changes from the plain index. Resting pairs sit in their own heap by recovery
//! time, like resting profiles.

use crate::prelude::*;

const NONE: u32 = u32::MAX;
/// In a view's `pos_group`: the profile rests for the view's model.
const BLOCKED: u32 = u32::MAX - 1;

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

    /// Adds `id` with key `key[id]`. Not inlined: it is off the hot path (a pick re-keys),
    /// and each copy costs the module's size.
    #[inline(never)]
    fn push(&mut self, id: u32, pos: &mut [u32], key: &[f64]) {
        let i = self.items.len();
        self.items.push(Entry { key: key[id as usize], id });
        self.sift_up(i, pos);
    }

    /// Not inlined, as `push`.
    #[inline(never)]
    fn remove(&mut self, id: u32, pos: &mut [u32]) {
        let i = pos[id as usize];
        if i >= BLOCKED {
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
        if i < BLOCKED {
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
    fn sift_up(&mut self, i: usize, pos: &mut [u32]) {
        self.climb(self.items[i], i, 0, pos);
    }

    /// Puts `e`, whose slot is now `i`, in its place on the way up to slot `top`: each
    /// parent it sorts before moves down a level.
    #[inline]
    fn climb(&mut self, e: Entry, mut i: usize, top: usize, pos: &mut [u32]) {
        while i > top {
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

    /// Moves the entry at `i` down to its place. Floyd's way, as std's `BinaryHeap::pop`:
    /// the smallest child moves up at each level down to a leaf, then the entry climbs back
    /// from there. The entries that sink are mostly the largest (a key just used takes the
    /// highest rank; a removal moves a leaf in), so the climb is short, and each level costs
    /// the comparisons among the children only.
    #[inline]
    fn sift_down(&mut self, top: usize, pos: &mut [u32]) {
        let n = self.items.len();
        let e = self.items[top];
        let mut i = top;
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
            self.items[i] = b;
            pos[b.id as usize] = i as u32;
            i = best;
        }
        self.climb(e, i, top, pos);
    }

    fn clear(&mut self, pos: &mut [u32]) {
        for e in &self.items {
            pos[e.id as usize] = NONE;
        }
        self.items.clear();
    }
}

/// The available profiles of one set of groups: by provider, all primaries, fallbacks.
#[derive(Clone, Debug, Default)]
struct Groups {
    /// Available primaries by provider, and their positions: kept only once a pick has
    /// preferred one of several providers ([`Selection::preference`]), empty until then. A
    /// pool whose calls never do does not pay for them: one heap less to update at each
    /// pick, 16 bytes less per profile.
    by_provider: Vec<Heap>,
    pos_provider: Vec<u32>,
    /// Whether `by_provider` is kept.
    providers_indexed: bool,
    /// Available primaries (all providers) or fallbacks; a profile is in one of the two.
    primaries: Heap,
    fallbacks: Heap,
    /// Position in `primaries`/`fallbacks`; `NONE` when absent, `BLOCKED` in a view when
    /// the profile rests for the view's model.
    pos_group: Vec<u32>,
}

impl Groups {
    fn push_profile(&mut self, provider: u32) {
        self.pos_group.push(NONE);
        if self.providers_indexed {
            self.pos_provider.push(NONE);
            self.make_heap(provider);
        }
    }

    /// Makes the heap of `provider` (`NONE`: none) if it is missing.
    fn make_heap(&mut self, provider: u32) {
        while provider != NONE && self.by_provider.len() <= provider as usize {
            self.by_provider.push(Heap::default());
        }
    }

    /// Starts keeping the available primaries by provider (`provider[id]` is each
    /// profile's), from the primaries available now: O(n log n), once.
    fn index_providers(&mut self, provider: &[u32], rank: &[f64]) {
        self.providers_indexed = true;
        self.pos_provider = vec![NONE; self.pos_group.len()];
        for &p in provider {
            self.make_heap(p);
        }
        for i in 0..self.primaries.items.len() {
            let id = self.primaries.items[i].id;
            self.by_provider[provider[id as usize] as usize].push(id, &mut self.pos_provider, rank);
        }
    }

    #[inline]
    fn contains(&self, id: u32) -> bool {
        self.pos_group[id as usize] < BLOCKED
    }

    /// Adds an available profile, unless present or blocked.
    #[inline]
    fn insert(&mut self, id: u32, provider: u32, rank: &[f64]) {
        if self.pos_group[id as usize] != NONE {
            return;
        }
        if provider == NONE {
            self.fallbacks.push(id, &mut self.pos_group, rank);
        } else {
            self.primaries.push(id, &mut self.pos_group, rank);
            if self.providers_indexed {
                self.by_provider[provider as usize].push(id, &mut self.pos_provider, rank);
            }
        }
    }

    #[inline]
    fn remove(&mut self, id: u32, provider: u32) {
        if !self.contains(id) {
            return;
        }
        if provider == NONE {
            self.fallbacks.remove(id, &mut self.pos_group);
        } else {
            self.primaries.remove(id, &mut self.pos_group);
            if self.providers_indexed {
                self.by_provider[provider as usize].remove(id, &mut self.pos_provider);
            }
        }
    }

    #[inline]
    fn rekey(&mut self, id: u32, provider: u32, rank: &[f64]) {
        if provider == NONE {
            self.fallbacks.rekey(id, &mut self.pos_group, rank);
        } else {
            self.primaries.rekey(id, &mut self.pos_group, rank);
            if self.providers_indexed {
                self.by_provider[provider as usize].rekey(id, &mut self.pos_provider, rank);
            }
        }
    }

    /// The preferred provider's best primary, else the best primary, else the best
    /// fallback. With a preference, the providers must be indexed.
    #[inline]
    fn pick(&self, preferred: Option<u32>) -> Option<u32> {
        debug_assert!(preferred.is_none() || self.providers_indexed);
        if let Some(top) = preferred.and_then(|p| self.by_provider.get(p as usize)).and_then(Heap::peek) {
            return Some(top);
        }
        self.primaries.peek().or_else(|| self.fallbacks.peek())
    }

    fn clear(&mut self) {
        for h in &mut self.by_provider {
            h.clear(&mut self.pos_provider);
        }
        self.primaries.clear(&mut self.pos_group);
        self.fallbacks.clear(&mut self.pos_group);
    }
}

/// The groups of one model with resting pairs: the base groups minus the profiles
/// resting for `model` (marked `BLOCKED`).
#[derive(Clone, Debug)]
struct View {
    model: u32,
    groups: Groups,
    /// Number of resting pairs of this model.
    blocked: u32,
}

/// The availability index of a pool. Crate-private: its methods trust the pool to pass
/// indices it has (they index slices, and would panic on others); [`crate::Pool`] checks
/// every index it is given.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selection {
    /// Round-robin rank of each profile: lower is picked first.
    rank: Vec<f64>,
    /// When each profile's cooldown ends (NaN: none). Kept after it passes, as v1 does.
    until: Vec<f64>,
    /// Provider index of each profile, `NONE` for fallback models.
    provider: Vec<u32>,
    /// The profiles available at the profile level.
    base: Groups,
    /// Cooling profiles by recovery time.
    cooling: Heap,
    pos_cooling: Vec<u32>,
    /// The latest `now` the index was brought up to.
    clock: f64,
    /// Pairs (profile, model): their profile, model and rest's end (NaN: none).
    pair_profile: Vec<u32>,
    pair_model: Vec<u32>,
    pair_until: Vec<f64>,
    /// Resting pairs by recovery time.
    pair_cooling: Heap,
    pos_pair: Vec<u32>,
    /// One view per model with resting pairs; `view_of[model]` indexes `views`.
    views: Vec<View>,
    view_of: Vec<u32>,
    /// Whether rests that end are recorded in `recovered` (see [`Selection::take_recovered`]).
    track: bool,
    /// Profile, model (`NONE`: the profile's own rest), profile, model, ...
    recovered: Vec<u32>,
    /// Profiles and pairs resting again only because the clock stepped back past the end of
    /// their rest: that rest already ended once, so its second end is not recorded.
    again: Bits,
    pair_again: Bits,
    /// How many rests (of profiles and pairs) ended early or were shortened: see
    /// [`Selection::rests_cut`].
    cut: u64,
    /// The profiles [`Selection::hide`] took out of the groups, to put back.
    hidden: Vec<u32>,
    /// The provider of the first primary, and whether another primary has another
    /// provider: until one does, a pick that prefers a provider is a pick that prefers none
    /// (see [`Selection::preference`]).
    first_provider: Option<u32>,
    mixed: bool,
}

/// The most profile entries the per-model views hold together (views × profiles): at most
/// 128 MiB of copies (64 MiB while the providers are not indexed). A pool of 1,000 profiles
/// fits a view for every model it may know; one of 100,000 fits 41.
pub const VIEW_BUDGET: usize = 1 << 22;

/// A set of small numbers, empty (and allocating nothing) until one is added.
#[derive(Clone, Debug, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn insert(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }

    /// Whether `i` was in the set when a rest is set to end at `until` (it had ended at
    /// `old`): it stays only for the same rest still on at `clock`; another rest's end is
    /// new, and this one, ended now, was seen ending before.
    fn take_for(&mut self, i: u32, old: f64, until: f64, clock: f64) -> bool {
        let was = self.take(i);
        if was && until == old && until > clock {
            self.insert(i);
        }
        was
    }

    /// Whether `i` was in the set; it is not any more.
    fn take(&mut self, i: u32) -> bool {
        match self.0.get_mut((i / 64) as usize) {
            Some(w) if *w & (1 << (i % 64)) != 0 => {
                *w &= !(1 << (i % 64));
                true
            }
            _ => false,
        }
    }
}

impl Selection {
    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.rank.len()
    }

    /// Reserves room for `additional` more profiles.
    pub fn reserve(&mut self, additional: usize) {
        self.rank.reserve_exact(additional);
        self.until.reserve_exact(additional);
        self.provider.reserve_exact(additional);
        if self.base.providers_indexed {
            self.base.pos_provider.reserve_exact(additional);
        }
        self.base.pos_group.reserve_exact(additional);
        self.pos_cooling.reserve_exact(additional);
        self.base.primaries.items.reserve_exact(additional);
    }

    /// Reserves room for `additional` more available primaries of provider `p` (one
    /// the selection has), once the providers are indexed: a provider's heap otherwise
    /// grows by doubling, which at 100,000 profiles left 8 bytes a profile unused in the
    /// module's memory.
    pub fn reserve_provider(&mut self, p: u32, additional: usize) {
        if !self.base.providers_indexed {
            return;
        }
        if let Some(heap) = self.base.by_provider.get_mut(p as usize) {
            heap.items.reserve_exact(additional);
        }
    }

    /// Adds a profile (available, never picked) and returns its index.
    /// `provider` is `None` for a fallback model.
    pub fn add(&mut self, provider: Option<u32>, rank: f64) -> u32 {
        let id = self.rank.len() as u32;
        let provider = provider.unwrap_or(NONE);
        if provider != NONE {
            match self.first_provider {
                None => self.first_provider = Some(provider),
                Some(first) => self.mixed |= first != provider,
            }
        }
        self.rank.push(rank);
        self.until.push(f64::NAN);
        self.provider.push(provider);
        self.pos_cooling.push(NONE);
        self.base.push_profile(provider);
        for v in &mut self.views {
            v.groups.push_profile(provider);
        }
        self.make_available(id);
        id
    }

    /// The profile's rank: within a group, the lowest is picked first.
    #[inline]
    pub fn rank(&self, id: u32) -> f64 {
        self.rank[id as usize]
    }

    /// The recorded end of the profile's cooldown (NaN: none), possibly in the past.
    #[inline]
    pub fn until(&self, id: u32) -> f64 {
        self.until[id as usize]
    }

    /// The recorded end of every profile's cooldown, in index order.
    #[inline]
    pub fn untils(&self) -> &[f64] {
        &self.until
    }

    /// Whether the profile is cooling down at `now`.
    #[inline]
    pub fn is_cooling(&self, id: u32, now: f64) -> bool {
        self.until[id as usize] > now
    }

    /// Brings the index to `now`: profiles and pairs whose rest ended become available. A
    /// clock that went backwards rebuilds the index from the recorded cooldowns
    /// (O(n log n)).
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
            if !self.again.take(top) {
                self.record(top, NONE);
            }
        }
        while let Some(top) = self.pair_cooling.peek() {
            if self.pair_until[top as usize] > now {
                break;
            }
            self.pair_cooling.remove(top, &mut self.pos_pair);
            self.unblock(top);
            if !self.pair_again.take(top) {
                self.record_pair(top);
            }
        }
    }

    fn rebuild(&mut self, now: f64) {
        // Rests that ended (not in the heaps) but have not by `now`: their end was seen.
        for id in 0..self.rank.len() as u32 {
            if self.until[id as usize] > now && self.pos_cooling[id as usize] == NONE {
                self.again.insert(id);
            }
        }
        for pair in 0..self.pair_until.len() as u32 {
            if self.pair_until[pair as usize] > now && self.pos_pair[pair as usize] == NONE {
                self.pair_again.insert(pair);
            }
        }
        self.clock = now;
        self.base.clear();
        self.cooling.clear(&mut self.pos_cooling);
        self.pair_cooling.clear(&mut self.pos_pair);
        self.views.clear();
        self.view_of.fill(NONE);
        for id in 0..self.rank.len() as u32 {
            if self.until[id as usize] > now {
                self.cooling.push(id, &mut self.pos_cooling, &self.until);
            } else {
                self.make_available(id);
            }
        }
        for pair in 0..self.pair_until.len() as u32 {
            if self.pair_until[pair as usize] > now {
                self.pair_cooling.push(pair, &mut self.pos_pair, &self.pair_until);
                self.block(pair);
            }
        }
    }

    /// The best available profile at the index's clock: the preferred provider's
    /// primaries first, then any primary, then the fallback models.
    #[inline]
    pub fn pick(&mut self, preferred: Option<u32>) -> Option<u32> {
        let preferred = self.preference(preferred);
        self.base.pick(preferred)
    }

    /// [`Selection::pick`] for a call that names `model`: profiles resting for that model
    /// are skipped.
    #[inline]
    pub fn pick_for(&mut self, preferred: Option<u32>, model: u32) -> Option<u32> {
        let preferred = self.preference(preferred);
        match self.view(model) {
            Some(v) => v.groups.pick(preferred),
            None => self.base.pick(preferred),
        }
    }

    /// Whether the profile is available at the index's clock to a call naming `model`
    /// (`None`: no model).
    #[inline]
    pub fn is_available(&self, id: u32, model: Option<u32>) -> bool {
        self.base.contains(id) && model.and_then(|m| self.view(m)).map_or(true, |v| v.groups.contains(id))
    }

    /// The group of a profile for a call preferring `preferred`: 0 the preferred
    /// provider's primaries (every primary when there is no preference), 1 other
    /// primaries, 2 fallback models. [`Selection::pick`] takes the first group with an
    /// available profile.
    #[inline]
    pub fn group(&self, id: u32, preferred: Option<u32>) -> u8 {
        let p = self.provider[id as usize];
        if p == NONE {
            2
        } else if preferred.map_or(true, |q| q == p) {
            0
        } else {
            1
        }
    }

    /// Whether pairs of `model` rest at the index's clock.
    pub fn has_view(&self, model: u32) -> bool {
        self.view(model).is_some()
    }

    /// Whether a rest of `model` can be indexed: the model has a view, or a new one fits in
    /// [`VIEW_BUDGET`]. Each view copies the selection heaps (16 bytes per profile, 32 once
    /// the providers are indexed), so without a bound 4,096 models in a large pool outgrow
    /// wasm's memory (and the module traps).
    pub fn has_room_for(&self, model: u32) -> bool {
        self.has_view(model) || (self.views.len() + 1).saturating_mul(self.len().max(1)) <= VIEW_BUDGET
    }

    /// The preference a pick must honour: none while every primary has one provider (the
    /// preferred provider's primaries are then all of them, or none); else `preferred`,
    /// with the primaries indexed by provider, which the first such pick does (O(n log n))
    /// and every change keeps from then on.
    #[inline]
    fn preference(&mut self, preferred: Option<u32>) -> Option<u32> {
        if preferred.is_none() || !self.mixed {
            return None;
        }
        if !self.base.providers_indexed {
            self.index_providers();
        }
        preferred
    }

    /// Indexes the primaries by provider, in the base groups and every view (a view made
    /// later copies the base groups).
    #[cold]
    #[inline(never)]
    fn index_providers(&mut self) {
        self.base.index_providers(&self.provider, &self.rank);
        for v in &mut self.views {
            v.groups.index_providers(&self.provider, &self.rank);
        }
    }

    #[inline]
    fn view(&self, model: u32) -> Option<&View> {
        let v = *self.view_of.get(model as usize)?;
        self.views.get(v as usize)
    }

    /// Sets a profile's rank.
    #[inline]
    pub fn set_rank(&mut self, id: u32, rank: f64) {
        self.rank[id as usize] = rank;
        let p = self.provider[id as usize];
        self.base.rekey(id, p, &self.rank);
        for v in &mut self.views {
            v.groups.rekey(id, p, &self.rank);
        }
    }

    /// Records a cooldown ending at `until` (NaN: none). The profile leaves the groups
    /// while `until` is later than the index's clock.
    #[inline]
    pub fn set_until(&mut self, id: u32, until: f64) {
        // A running rest ended early or shortened (NaN: ended).
        if self.pos_cooling[id as usize] != NONE && (until.is_nan() || until < self.until[id as usize]) {
            self.cut += 1;
        }
        let again = self.again.take_for(id, self.until[id as usize], until, self.clock);
        self.until[id as usize] = until;
        if until > self.clock {
            self.make_unavailable(id);
            if self.pos_cooling[id as usize] == NONE {
                self.cooling.push(id, &mut self.pos_cooling, &self.until);
            } else {
                self.cooling.rekey(id, &mut self.pos_cooling, &self.until);
            }
        } else if self.pos_cooling[id as usize] != NONE {
            self.cooling.remove(id, &mut self.pos_cooling);
            self.make_available(id);
            if !again {
                self.record(id, NONE);
            }
        }
    }

    /// How many running rests, of profiles and of pairs, have ended early or been shortened
    /// (by a success, a clear or a merged state; not by the clock). Runs waiting for a rest
    /// to end look again when it changes: nothing else brings a profile back sooner.
    pub fn rests_cut(&self) -> u64 {
        self.cut
    }

    /// The earliest recovery time among cooling profiles.
    #[inline]
    pub fn soonest(&self) -> Option<f64> {
        self.cooling.peek().map(|id| self.until[id as usize])
    }

    /// Number of available profiles at the index's clock.
    pub fn available(&self) -> usize {
        self.base.primaries.len() + self.base.fallbacks.len()
    }

    /// Takes the available profiles among `ids` out of the groups until
    /// [`Selection::unhide`]: picks in between get none of them (a run's keys that failed
    /// it and rest nothing). Call it with the index brought up to the pick's time, so no
    /// rest ends in between.
    pub fn hide(&mut self, ids: &[u32]) {
        for &id in ids {
            if self.base.contains(id) {
                self.make_unavailable(id);
                self.hidden.push(id);
            }
        }
    }

    /// Puts back what [`Selection::hide`] took out.
    pub fn unhide(&mut self) {
        while let Some(id) = self.hidden.pop() {
            self.make_available(id);
        }
    }

    #[inline]
    fn make_available(&mut self, id: u32) {
        let p = self.provider[id as usize];
        self.base.insert(id, p, &self.rank);
        for v in &mut self.views {
            v.groups.insert(id, p, &self.rank);
        }
    }

    #[inline]
    fn make_unavailable(&mut self, id: u32) {
        let p = self.provider[id as usize];
        self.base.remove(id, p);
        for v in &mut self.views {
            v.groups.remove(id, p);
        }
    }

    // ── pairs ─────────────────────────────────────────────────────────────────────

    /// Adds a pair (profile `id`, `model`), not resting, and returns its index.
    pub fn add_pair(&mut self, id: u32, model: u32) -> u32 {
        let pair = self.pair_until.len() as u32;
        self.pair_profile.push(id);
        self.pair_model.push(model);
        self.pair_until.push(f64::NAN);
        self.pos_pair.push(NONE);
        pair
    }

    /// The recorded end of a pair's rest (NaN: none), possibly in the past.
    #[inline]
    pub fn pair_until(&self, pair: u32) -> f64 {
        self.pair_until[pair as usize]
    }

    /// Records a pair's rest ending at `until` (NaN: none): while it is later than the
    /// index's clock, calls naming the pair's model skip its profile.
    pub fn set_pair_until(&mut self, pair: u32, until: f64) {
        if self.pos_pair[pair as usize] != NONE && (until.is_nan() || until < self.pair_until[pair as usize])
        {
            self.cut += 1;
        }
        let again = self.pair_again.take_for(pair, self.pair_until[pair as usize], until, self.clock);
        self.pair_until[pair as usize] = until;
        let resting = self.pos_pair[pair as usize] != NONE;
        if until > self.clock {
            if resting {
                self.pair_cooling.rekey(pair, &mut self.pos_pair, &self.pair_until);
            } else {
                self.pair_cooling.push(pair, &mut self.pos_pair, &self.pair_until);
                self.block(pair);
            }
        } else if resting {
            self.pair_cooling.remove(pair, &mut self.pos_pair);
            self.unblock(pair);
            if !again {
                self.record_pair(pair);
            }
        }
    }

    /// Removes the pair's profile from its model's view (creating the view).
    fn block(&mut self, pair: u32) {
        let (id, model) = (self.pair_profile[pair as usize], self.pair_model[pair as usize]);
        if self.view_of.len() <= model as usize {
            self.view_of.resize(model as usize + 1, NONE);
        }
        if self.view_of[model as usize] == NONE {
            self.view_of[model as usize] = self.views.len() as u32;
            self.views.push(View { model, groups: self.base.clone(), blocked: 0 });
        }
        let v = &mut self.views[self.view_of[model as usize] as usize];
        v.groups.remove(id, self.provider[id as usize]);
        v.groups.pos_group[id as usize] = BLOCKED;
        v.blocked += 1;
    }

    /// Puts the pair's profile back in its model's view; drops the view when nothing
    /// rests for its model any more.
    fn unblock(&mut self, pair: u32) {
        let (id, model) = (self.pair_profile[pair as usize], self.pair_model[pair as usize]);
        let vi = self.view_of[model as usize] as usize;
        let v = &mut self.views[vi];
        v.groups.pos_group[id as usize] = NONE;
        if self.base.contains(id) {
            v.groups.insert(id, self.provider[id as usize], &self.rank);
        }
        v.blocked -= 1;
        if v.blocked == 0 {
            self.views.swap_remove(vi);
            self.view_of[model as usize] = NONE;
            if let Some(moved) = self.views.get(vi) {
                self.view_of[moved.model as usize] = vi as u32;
            }
        }
    }

    // ── recoveries ────────────────────────────────────────────────────────────────

    /// Starts (or stops, dropping what was recorded) recording the rests that end.
    pub fn track_recoveries(&mut self, on: bool) {
        self.track = on;
        if !on {
            self.recovered = Vec::new();
        }
    }

    fn record_pair(&mut self, pair: u32) {
        self.record(self.pair_profile[pair as usize], self.pair_model[pair as usize]);
    }

    #[inline]
    fn record(&mut self, id: u32, model: u32) {
        if self.track {
            self.recovered.extend_from_slice(&[id, model]);
        }
    }

    /// The rests that ended since the last call, oldest first, two numbers each: profile,
    /// model for a pair's rest; profile, `u32::MAX` for the profile's own. Recorded only while
    /// [`Selection::track_recoveries`] is on. A rest ends when the index reaches its end
    /// ([`Selection::advance`]) or when it is cleared or shortened to the past.
    pub fn take_recovered(&mut self) -> Vec<u32> {
        core::mem::take(&mut self.recovered)
    }

    /// Whether a rest ended since [`Selection::take_recovered`] was last called.
    #[inline]
    pub fn has_recovered(&self) -> bool {
        !self.recovered.is_empty()
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
        let mut s = sample();
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
    fn a_model_view_skips_profiles_resting_for_its_model() {
        let mut s = sample();
        s.advance(100.0);
        let p = s.add_pair(0, 7);
        s.set_pair_until(p, 200.0);
        assert_eq!(s.pick(Some(0)), Some(0));
        assert_eq!(s.pick_for(Some(0), 7), Some(1));
        assert_eq!(s.pick_for(Some(0), 3), Some(0)); // another model: no view
        assert!(!s.is_available(0, Some(7)) && s.is_available(0, Some(3)) && s.is_available(0, None));
        // Re-ranks reach the view; a cooldown of the profile itself too.
        s.set_rank(1, 5.0);
        assert_eq!(s.pick_for(Some(0), 7), Some(3));
        s.set_until(3, 150.0);
        assert_eq!(s.pick_for(Some(0), 7), Some(1));
        s.track_recoveries(true);
        s.advance(160.0);
        assert_eq!(s.pick_for(Some(0), 7), Some(3));
        s.advance(200.0);
        assert_eq!(s.take_recovered(), vec![3, NONE, 0, 7]);
        assert_eq!(s.pick_for(Some(0), 7), Some(0));
        assert!(s.views.is_empty());
        // The clock going back blocks the pair again.
        s.advance(120.0);
        assert_eq!(s.pick_for(Some(0), 7), Some(1));
        assert_eq!(s.pick(None), Some(0));
    }

    #[test]
    fn providers_are_indexed_at_the_first_pick_that_prefers_one() {
        let mut s = sample();
        s.advance(100.0);
        s.set_rank(0, 4.0);
        assert_eq!(s.pick(None), Some(1));
        assert!(s.base.pos_provider.is_empty() && s.base.by_provider.is_empty());
        // The only anthropic key rests and a model's view exists when the index is made.
        s.set_until(2, 200.0);
        let p = s.add_pair(1, 7);
        s.set_pair_until(p, 300.0);
        assert_eq!(s.pick(Some(1)), Some(1));
        assert_eq!(s.pick_for(Some(0), 7), Some(3));
        assert!(s.base.providers_indexed && s.views.iter().all(|v| v.groups.providers_indexed));
        assert_eq!(s.base.by_provider.iter().map(Heap::len).collect::<Vec<_>>(), [3, 0]);
        // Kept from then on: a rest that ends, a re-rank, a profile added.
        s.advance(250.0);
        assert_eq!(s.pick(Some(1)), Some(2));
        s.set_rank(2, 9.0);
        s.set_rank(1, 8.0);
        assert_eq!(s.pick(Some(0)), Some(3));
        let q = s.add(Some(1), 1.0);
        assert_eq!(s.pick(Some(1)), Some(q));
        assert_eq!(s.pick_for(Some(1), 7), Some(q));
    }

    #[test]
    fn one_provider_needs_no_index() {
        let mut s = Selection::default();
        for _ in 0..3 {
            s.add(Some(0), 0.0);
        }
        s.add(None, 0.0);
        s.set_rank(0, 1.0);
        assert_eq!(s.pick(Some(0)), Some(1));
        assert_eq!(s.pick(Some(5)), Some(1));
        s.set_until(1, 10.0);
        s.set_until(2, 10.0);
        assert_eq!(s.pick_for(Some(0), 3), Some(0));
        assert!(!s.base.providers_indexed && s.base.pos_provider.is_empty());
        // A second provider: the next pick that prefers one indexes them.
        let q = s.add(Some(1), 5.0);
        assert_eq!(s.pick(Some(0)), Some(0));
        assert_eq!(s.pick(Some(1)), Some(q));
        assert!(s.base.providers_indexed);
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
