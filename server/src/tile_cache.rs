//! An in-process cache of the log's immutable data, shared by every request, so that a proof or a
//! tile is served mostly without a database round trip.
//!
//! # What is cached, and why it is safe with several server processes
//!
//! The log only grows. Position `p` of hash tile `(L, N)` is the hash of a complete subtree of
//! `256^L` leaves: once written it never changes. So a tile's stored row is always a *prefix* of
//! every later version of it, and the tile of width `w` (`tile/L/N.p/w`) is the first `w` hashes of
//! any version at least `w` wide. The same holds for an entry bundle's leaves (a leaf index is given
//! once) and for the checkpoint of a given size and the leaf index of a given entry hash (written
//! once, in the transaction that logs them).
//!
//! The cache therefore keeps, per tile, the widest version it has seen (read from committed rows,
//! or handed over after a commit) and answers a request for the tree of `size` with **exactly** the
//! hashes that tree holds (the prefix of width [`width_at`]). When the cached version is narrower
//! than `size` needs — another process, or this one, grew the log — it is a miss and the tile is
//! read from the database again (and the wider version kept). Whatever another process appended,
//! a proof is computed over the tiles of the tree of the checkpoint it is returned with, so it
//! verifies against that checkpoint. The newest checkpoint (`/log/checkpoint`, a proof without a
//! size) is always read from the database; only a checkpoint of a given size is cached.
//!
//! # Bound
//!
//! Everything held counts its bytes plus a fixed per-entry overhead against the configured cap
//! (`--tile-cache-mib`, default 128 MiB; 0 turns the cache off). When over the cap, entries are
//! evicted in CLOCK order (second chance: an entry read since the hand last passed is kept once
//! more). A full tile is kept with its interior nodes (the 254 hashes of the 7 tree levels between
//! two stored levels, 8 KiB more: a proof then hashes almost nothing), 16 KiB with the overhead:
//! the hash tiles of a million leaves take 61 MiB, so the default holds a log of two million.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tlog_tiles::{Hash, HashReader, HASH_SIZE};

use crate::error::{ApiError, Result};
use crate::metrics::Metrics;
use crate::storage::{BatchPlan, CommitObserver, DynStorage, StoredEntry};
use crate::tlog::{hash_at, read_nodes, tree_node, TileKey, TILE_HEIGHT, TILE_WIDTH};

/// Bytes counted for each entry on top of its data (map slot, clock slot, `Arc` header).
const ENTRY_OVERHEAD: usize = 96;

/// Hashes tile `key` holds in the tree of `size` leaves: 0 (not begun) to 256 (full).
pub fn width_at(key: TileKey, size: u64) -> u64 {
    let shift = u32::from(TILE_HEIGHT) * u32::from(key.0);
    let at_level = size.checked_shr(shift).unwrap_or(0);
    at_level
        .saturating_sub(key.1.saturating_mul(TILE_WIDTH))
        .min(TILE_WIDTH)
}

/// Leaves entry bundle `index` holds in the tree of `size` leaves.
pub fn entries_width_at(index: u64, size: u64) -> u64 {
    width_at((0, index), size)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// A hash tile: its hashes so far (widest seen).
    Hashes(TileKey),
    /// An entry bundle: its leaves' entry hashes so far (widest seen).
    Entries(u64),
    /// The signed checkpoint of a size.
    Checkpoint(u64),
    /// The leaf index of an entry hash (8 bytes, big-endian).
    Position([u8; 32]),
}

impl Key {
    fn kind(&self) -> &'static str {
        match self {
            Key::Hashes(_) => "tile",
            Key::Entries(_) => "entries",
            Key::Checkpoint(_) => "checkpoint",
            Key::Position(_) => "position",
        }
    }

    /// Whether a newer value may be wider (tiles grow); other values never change.
    fn grows(&self) -> bool {
        matches!(self, Key::Hashes(_) | Key::Entries(_))
    }
}

struct Slot {
    data: Arc<[u8]>,
    /// A full hash tile's interior nodes ([`interior_nodes`]).
    interior: Option<Arc<[u8]>>,
    referenced: bool,
}

impl Slot {
    fn cost(&self) -> usize {
        self.data.len() + self.interior.as_ref().map_or(0, |i| i.len()) + ENTRY_OVERHEAD
    }
}

/// Interior nodes of a full hash tile: tree levels 1 to 7 above its 256 hashes (128, 64, … 2
/// nodes), level after level; level `k` starts at node `256 - (256 >> (k - 1))`.
fn interior_nodes(tile: &[u8]) -> Option<Vec<u8>> {
    if tile.len() != TILE_WIDTH as usize * HASH_SIZE {
        return None;
    }
    let mut level: Vec<Hash> = tile
        .chunks_exact(HASH_SIZE)
        .map(|b| b.try_into().ok().map(Hash))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(254 * HASH_SIZE);
    for _ in 1..TILE_HEIGHT {
        level = level
            .chunks_exact(2)
            .map(|pair| tlog_tiles::node_hash(pair[0], pair[1]))
            .collect();
        for h in &level {
            out.extend_from_slice(&h.0);
        }
    }
    Some(out)
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Slot>,
    /// The clock: every key of `map` once, the hand at the front.
    clock: VecDeque<Key>,
    bytes: usize,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    kind: String,
    result: String,
}

/// Counts of a cache's lookups (for tests and `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
    pub bytes: usize,
}

/// The cache (see the module documentation). Cheap to share: put it in an `Arc`.
pub struct TileCache {
    cap: usize,
    inner: Mutex<Inner>,
    lookups: Family<LookupLabels, Counter>,
    evictions: Counter,
    bytes_gauge: Gauge,
}

impl std::fmt::Debug for TileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache")
            .field("cap", &self.cap)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TileCache {
    /// A cache holding at most `cap_bytes` (0: holds nothing, every lookup misses).
    pub fn new(cap_bytes: usize) -> Self {
        TileCache {
            cap: cap_bytes,
            inner: Mutex::new(Inner::default()),
            lookups: Family::default(),
            evictions: Counter::default(),
            bytes_gauge: Gauge::default(),
        }
    }

    /// A cache of `mib` MiB.
    pub fn with_mib(mib: usize) -> Self {
        Self::new(mib.saturating_mul(1024 * 1024))
    }

    /// Publish the cache's counters on `/metrics`.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "tile_cache_lookups",
            "Tile cache lookups by kind (tile, entries, checkpoint, position) and result (hit, miss)",
            self.lookups.clone(),
        );
        metrics.register(
            "tile_cache_evictions",
            "Tile cache entries evicted to stay under the cap",
            self.evictions.clone(),
        );
        metrics.register(
            "tile_cache_bytes",
            "Bytes the tile cache holds (data plus per-entry overhead)",
            self.bytes_gauge.clone(),
        );
    }

    pub fn stats(&self) -> CacheStats {
        let count = |result: &str| -> u64 {
            ["tile", "entries", "checkpoint", "position"]
                .iter()
                .map(|kind| {
                    self.lookups
                        .get_or_create(&LookupLabels {
                            kind: (*kind).to_string(),
                            result: result.to_string(),
                        })
                        .get()
                })
                .sum()
        };
        let inner = self.lock();
        CacheStats {
            hits: count("hit"),
            misses: count("miss"),
            evictions: self.evictions.get(),
            entries: inner.map.len(),
            bytes: inner.bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the map consistent (no step leaves it half
        // updated), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, key: &Key, hit: bool) {
        self.lookups
            .get_or_create(&LookupLabels {
                kind: key.kind().to_string(),
                result: if hit { "hit" } else { "miss" }.to_string(),
            })
            .inc();
    }

    /// The value of `key` if it holds at least `min_len` bytes (a hit), counted.
    fn get(&self, key: Key, min_len: usize) -> Option<Arc<[u8]>> {
        self.get_slot(key, min_len, true).map(|(d, _)| d)
    }

    /// The value of `key` and its interior nodes if it holds at least `min_len` bytes.
    #[allow(clippy::type_complexity)]
    fn get_slot(
        &self,
        key: Key,
        min_len: usize,
        counted: bool,
    ) -> Option<(Arc<[u8]>, Option<Arc<[u8]>>)> {
        let found = {
            let mut inner = self.lock();
            match inner.map.get_mut(&key) {
                Some(slot) if slot.data.len() >= min_len => {
                    slot.referenced = true;
                    Some((slot.data.clone(), slot.interior.clone()))
                }
                _ => None,
            }
        };
        if counted {
            self.count(&key, found.is_some());
        }
        found
    }

    /// Keep `data` for `key`: for tiles, only if wider than what is held (a stored tile is a
    /// prefix of every later version, see the module documentation).
    fn put(&self, key: Key, data: &[u8]) {
        if data.len() + ENTRY_OVERHEAD > self.cap {
            return;
        }
        let wider = |slot: Option<&Slot>| -> bool {
            slot.is_none_or(|slot| key.grows() && slot.data.len() < data.len())
        };
        if !wider(self.lock().map.get(&key)) {
            return;
        }
        // Hashed outside the lock.
        let interior = match key {
            Key::Hashes(_) => interior_nodes(data).map(Arc::from),
            _ => None,
        };
        let new = Slot {
            data: Arc::from(data),
            interior,
            referenced: false,
        };
        let cost = new.cost();
        if cost > self.cap {
            return;
        }
        let mut inner = self.lock();
        if !wider(inner.map.get(&key)) {
            return;
        }
        let replaced = inner.map.get_mut(&key).map(|slot| {
            if slot.data[..] != data[..slot.data.len()] {
                tracing::error!(
                    ?key,
                    "a stored log tile is not an extension of the cached one; keeping the stored one"
                );
            }
            let old = slot.cost();
            slot.data = new.data.clone();
            slot.interior = new.interior.clone();
            old
        });
        match replaced {
            Some(old) => inner.bytes = inner.bytes - old + cost,
            None => {
                inner.map.insert(key, new);
                inner.clock.push_back(key);
                inner.bytes += cost;
            }
        }
        let mut evicted = 0u64;
        while inner.bytes > self.cap {
            let Some(k) = inner.clock.pop_front() else {
                break;
            };
            let second_chance = match inner.map.get_mut(&k) {
                Some(slot) if slot.referenced => {
                    slot.referenced = false;
                    true
                }
                Some(_) => false,
                None => continue,
            };
            if second_chance {
                inner.clock.push_back(k);
            } else if let Some(slot) = inner.map.remove(&k) {
                inner.bytes -= slot.cost();
                evicted += 1;
            }
        }
        let bytes = inner.bytes;
        drop(inner);
        if evicted > 0 {
            self.evictions.inc_by(evicted);
        }
        self.bytes_gauge
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Hash tile `key` as it is in any tree where it is `width` hashes wide, if cached that wide.
    pub fn cached_tile(&self, key: TileKey, width: u64) -> Option<Vec<u8>> {
        let len = usize::try_from(width).ok()?.checked_mul(HASH_SIZE)?;
        self.get(Key::Hashes(key), len).map(|d| d[..len].to_vec())
    }

    /// Keep hash tiles as stored (committed rows, or the tiles a committed batch wrote).
    pub fn put_tiles<'a>(&self, tiles: impl IntoIterator<Item = (TileKey, &'a [u8])>) {
        for (key, data) in tiles {
            if data.len() % HASH_SIZE == 0 && data.len() <= TILE_WIDTH as usize * HASH_SIZE {
                self.put(Key::Hashes(key), data);
            }
        }
    }

    /// The tiles `keys` as they are in the tree of `size` leaves (each read only to its width in
    /// that tree, [`width_at`]): those cached wide enough from memory, the others in one storage
    /// read (then cached). A tile storage does not hold as wide as `size` needs makes the proof
    /// over it fail rather than use another tree's hashes.
    pub async fn view(&self, storage: &DynStorage, size: u64, keys: &[TileKey]) -> Result<LogView> {
        let (mut tiles, missing) = self.cached_view(size, keys);
        if !missing.is_empty() {
            let read = storage.read_tiles(&missing).await?;
            for (key, data) in read.tiles {
                let width = width_at(key, size);
                self.put_tiles([(key, &data[..])]);
                // Kept with its interior nodes, unless the cache is off or full of busier tiles.
                let tile = match self.get_slot(Key::Hashes(key), data.len(), false) {
                    Some((data, interior)) => ViewTile::new(data, width, interior),
                    None => ViewTile::new(Arc::from(data), width, None),
                };
                tiles.insert(key, tile);
            }
        }
        Ok(LogView {
            tiles,
            memo: RefCell::new(HashMap::new()),
        })
    }

    /// The tiles of `keys` cached at least as wide as the tree of `size` has them, and the keys of
    /// the others.
    fn cached_view(
        &self,
        size: u64,
        keys: &[TileKey],
    ) -> (HashMap<TileKey, ViewTile>, Vec<TileKey>) {
        let mut tiles = HashMap::new();
        let mut missing = Vec::new();
        for &key in keys {
            let width = width_at(key, size);
            let len = usize::try_from(width)
                .unwrap_or(usize::MAX)
                .saturating_mul(HASH_SIZE);
            match self.get_slot(Key::Hashes(key), len, true) {
                Some((data, interior)) => {
                    tiles.insert(key, ViewTile::new(data, width, interior));
                }
                None => missing.push(key),
            }
        }
        (tiles, missing)
    }

    /// Inclusion proof (RFC 6962 audit path) of leaf `leaf` in the tree of `size`.
    pub async fn inclusion_proof(
        &self,
        storage: &DynStorage,
        size: u64,
        leaf: u64,
    ) -> Result<Vec<Hash>> {
        let view = self
            .view(storage, size, &crate::tlog::tiles_for_inclusion(size, leaf))
            .await?;
        tlog_tiles::prove_record(size, leaf, &view).map_err(tree_error)
    }

    /// Consistency proof from the tree of `old` leaves to the tree of `size`.
    pub async fn consistency_proof(
        &self,
        storage: &DynStorage,
        size: u64,
        old: u64,
    ) -> Result<Vec<Hash>> {
        let view = self
            .view(
                storage,
                size,
                &crate::tlog::tiles_for_consistency(size, old),
            )
            .await?;
        tlog_tiles::prove_tree(size, old, &view).map_err(tree_error)
    }

    /// Hash tile `key`, `width` hashes wide, from the cache or storage; `None` if the log does not
    /// hold it that wide yet.
    pub async fn tile(
        &self,
        storage: &DynStorage,
        key: TileKey,
        width: u64,
    ) -> Result<Option<Vec<u8>>> {
        if let Some(data) = self.cached_tile(key, width) {
            return Ok(Some(data));
        }
        let read = storage.read_tiles(&[key]).await?;
        let Some(data) = read.tiles.get(&key) else {
            return Ok(None);
        };
        self.put_tiles([(key, &data[..])]);
        let len = usize::try_from(width)
            .unwrap_or(usize::MAX)
            .saturating_mul(HASH_SIZE);
        Ok((data.len() >= len).then(|| data[..len].to_vec()))
    }

    /// The entry hashes of entry bundle `index`, `width` leaves, from the cache or storage (the
    /// whole bundle as far as it exists is read and kept); `None` if the log is not that long yet.
    pub async fn entries(
        &self,
        storage: &DynStorage,
        index: u64,
        width: u64,
    ) -> Result<Option<Vec<[u8; 32]>>> {
        let Some(len) = usize::try_from(width)
            .ok()
            .and_then(|w| w.checked_mul(HASH_SIZE))
        else {
            return Ok(None);
        };
        let key = Key::Entries(index);
        let data: Arc<[u8]> = match self.get(key, len) {
            Some(d) => d,
            None => {
                let Some(start) = index.checked_mul(TILE_WIDTH) else {
                    return Ok(None);
                };
                let leaves = storage.leaves(start, TILE_WIDTH).await?;
                let data: Arc<[u8]> = leaves.concat().into();
                self.put(key, &data);
                data
            }
        };
        if data.len() < len {
            return Ok(None);
        }
        Ok(Some(
            data[..len]
                .chunks_exact(HASH_SIZE)
                .filter_map(|c| <[u8; 32]>::try_from(c).ok())
                .collect(),
        ))
    }

    /// The signed checkpoint of `size`, or the newest one (`None`: always read from storage, as
    /// another process may have grown the log; then kept under its size).
    pub async fn checkpoint(
        &self,
        storage: &DynStorage,
        size: Option<u64>,
    ) -> Result<Option<(u64, String)>> {
        if let Some(s) = size {
            if let Some(note) = self.get(Key::Checkpoint(s), 0) {
                if let Ok(text) = std::str::from_utf8(&note) {
                    return Ok(Some((s, text.to_string())));
                }
            }
        }
        let found = storage.checkpoint(size).await?;
        if let Some((s, note)) = &found {
            self.put(Key::Checkpoint(*s), note.as_bytes());
        }
        Ok(found)
    }

    /// Keep a checkpoint a committed batch published.
    pub fn put_checkpoint(&self, size: u64, note: &str) {
        self.put(Key::Checkpoint(size), note.as_bytes());
    }

    /// The leaf index of an entry, from the cache or storage.
    pub async fn leaf_index(&self, storage: &DynStorage, hash: &[u8; 32]) -> Result<Option<u64>> {
        let key = Key::Position(*hash);
        if let Some(d) = self.get(key, 8) {
            if let Ok(b) = <[u8; 8]>::try_from(&d[..8]) {
                return Ok(Some(u64::from_be_bytes(b)));
            }
        }
        let found = storage.entry_position(hash).await?;
        Ok(found.map(|(StoredEntry { leaf_index, .. }, _)| {
            self.put(key, &leaf_index.to_be_bytes());
            leaf_index
        }))
    }

    /// After a batch committed: keep the tiles it wrote and the checkpoint it published (what the
    /// next proof at the new size reads).
    pub fn absorb_commit<'a>(
        &self,
        tiles: impl IntoIterator<Item = (TileKey, &'a [u8])>,
        checkpoint: Option<(u64, &str)>,
    ) {
        self.put_tiles(tiles);
        if let Some((size, note)) = checkpoint {
            self.put_checkpoint(size, note);
        }
    }
}

/// Write-through: the storage hands over every batch it commits (registered with
/// [`LogStore::observe_commits`](crate::storage::LogStore::observe_commits) when the server starts).
impl CommitObserver for TileCache {
    fn committed(&self, plan: &BatchPlan) {
        self.absorb_commit(
            plan.tiles.iter().map(|(k, d)| (*k, &d[..])),
            plan.checkpoint.as_deref().map(|n| (plan.new_size, n)),
        );
    }
}

fn tree_error(e: tlog_tiles::Error) -> ApiError {
    ApiError::internal("LOG_TREE_FAILED", format!("透明日志计算失败：{e}"))
}

struct ViewTile {
    /// As cached or stored: possibly wider than `width`, never read past it.
    data: Arc<[u8]>,
    /// Hashes the tile holds in the view's tree.
    width: u64,
    interior: Option<Arc<[u8]>>,
}

impl ViewTile {
    fn new(data: Arc<[u8]>, width: u64, interior: Option<Arc<[u8]>>) -> Self {
        ViewTile {
            data,
            width,
            interior,
        }
    }
}

/// The hash tiles of one tree size, read as a [`HashReader`] (what `tlog_tiles` computes proofs
/// over). It answers only hashes of that tree: each tile is read up to its width in the tree, so
/// a tile cached or stored wider (the log grew since) gives the same answers as the tile of that
/// size. Levels between stored ones come from a full tile's interior nodes, or are hashed from the
/// tile below (and remembered for this view).
pub struct LogView {
    tiles: HashMap<TileKey, ViewTile>,
    memo: RefCell<HashMap<(u8, u64), Hash>>,
}

impl LogView {
    fn node(&self, level: u8, n: u64) -> std::result::Result<Hash, tlog_tiles::Error> {
        let stored = |level: u8, n: u64| {
            let (tile, _) = self.holding(level, n)?;
            hash_at(&tile.data, n % TILE_WIDTH)
        };
        let interior = |level: u8, n: u64| {
            let (tile, within) = self.holding(level, n)?;
            let nodes = tile.interior.as_ref()?;
            let offset = TILE_WIDTH - (TILE_WIDTH >> (within - 1));
            hash_at(nodes, offset + (n % (TILE_WIDTH >> within)))
        };
        tree_node(level, n, &self.memo, &stored, &interior)
    }

    /// The tile under node `n` of tree `level`, and the node's height above the tile's level, when
    /// every hash the node covers lies within the tile's width in this view's tree.
    fn holding(&self, level: u8, n: u64) -> Option<(&ViewTile, u8)> {
        let within = level % TILE_HEIGHT;
        // The node covers positions first..=last of the stored level below it, all in one tile.
        let first = n.checked_shl(u32::from(within))?;
        if first >> u32::from(within) != n {
            return None;
        }
        let last = first + (1u64 << within) - 1;
        let tile = self
            .tiles
            .get(&(level / TILE_HEIGHT, first >> TILE_HEIGHT))?;
        (last % TILE_WIDTH < tile.width).then_some((tile, within))
    }
}

impl HashReader for LogView {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        read_nodes(indexes, |level, n| self.node(level, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(n: usize, seed: u8) -> Vec<u8> {
        (0..n * HASH_SIZE)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn width_at_follows_the_tree() {
        // 1,000,000 leaves: 3,906 full level-0 tiles and one of 64; 3,906 level-8 hashes (15
        // full level-1 tiles and one of 66); 15 level-16 hashes.
        let size = 1_000_000;
        assert_eq!(width_at((0, 0), size), 256);
        assert_eq!(width_at((0, 3905), size), 256);
        assert_eq!(width_at((0, 3906), size), 64);
        assert_eq!(width_at((0, 3907), size), 0);
        assert_eq!(width_at((1, 14), size), 256);
        assert_eq!(width_at((1, 15), size), 66);
        assert_eq!(width_at((2, 0), size), 15);
        assert_eq!(width_at((3, 0), size), 0);
        assert_eq!(width_at((9, 0), u64::MAX), 0);
        assert_eq!(width_at((0, u64::MAX), u64::MAX), 0);
    }

    #[test]
    fn partial_tiles_are_served_cut_to_the_width_asked_and_missed_when_narrower() {
        let c = TileCache::new(1 << 20);
        let wide = tile(100, 1);
        c.put_tiles([((0, 7), &wide[..])]);
        // Narrower or as wide: exactly that prefix, never the hashes of a larger tree.
        assert_eq!(c.cached_tile((0, 7), 40), Some(wide[..40 * 32].to_vec()));
        assert_eq!(c.cached_tile((0, 7), 100), Some(wide.clone()));
        // Wider than held: a miss, whatever is cached.
        assert_eq!(c.cached_tile((0, 7), 101), None);
        assert_eq!(c.cached_tile((0, 7), 256), None);
        // A narrower version never replaces a wider one; a wider one does.
        c.put_tiles([((0, 7), &wide[..10 * 32])]);
        assert_eq!(c.cached_tile((0, 7), 100), Some(wide.clone()));
        let full = [wide.clone(), tile(156, 2)].concat();
        c.put_tiles([((0, 7), &full[..])]);
        assert_eq!(c.cached_tile((0, 7), 256), Some(full.clone()));
        assert_eq!(c.cached_tile((0, 7), 100), Some(wide));
        // Malformed data (not whole hashes, more than a tile) is not kept.
        c.put_tiles([((0, 8), &full[..33])]);
        c.put_tiles([((0, 9), &[full.clone(), tile(1, 0)].concat()[..])]);
        assert_eq!(c.cached_tile((0, 8), 1), None);
        assert_eq!(c.cached_tile((0, 9), 1), None);
        let s = c.stats();
        assert_eq!(s.entries, 1);
        // A full tile is kept with its 254 interior nodes.
        assert_eq!(s.bytes, (256 + 254) * 32 + ENTRY_OVERHEAD);
        assert_eq!((s.hits, s.misses), (5, 4));
    }

    #[test]
    fn stays_under_its_cap_and_keeps_what_is_read() {
        let full = tile(256, 3);
        let cost = (256 + 254) * 32 + ENTRY_OVERHEAD;
        let c = TileCache::new(10 * cost);
        for n in 0..10 {
            c.put_tiles([((0, n), &full[..])]);
        }
        assert_eq!(c.stats().entries, 10);
        // Tiles 0 and 1 are read: they get a second chance when the hand passes.
        assert!(c.cached_tile((0, 0), 256).is_some());
        assert!(c.cached_tile((0, 1), 256).is_some());
        for n in 10..15 {
            c.put_tiles([((0, n), &full[..])]);
            assert!(c.stats().bytes <= 10 * cost);
        }
        let s = c.stats();
        assert_eq!(s.entries, 10);
        assert_eq!(s.evictions, 5);
        assert!(c.cached_tile((0, 0), 256).is_some());
        assert!(c.cached_tile((0, 1), 256).is_some());
        for n in 2..7 {
            assert!(c.cached_tile((0, n), 256).is_none(), "tile {n} evicted");
        }
        for n in 7..15 {
            assert!(c.cached_tile((0, n), 256).is_some(), "tile {n} kept");
        }
        // Many more than fit: never over the cap.
        for n in 100..1000 {
            c.put_tiles([((1, n), &full[..(n as usize % 256 + 1) * 32])]);
            assert!(c.stats().bytes <= 10 * cost);
        }
    }

    /// A log of `n` leaves built with the server's own append, as a `TileSet`.
    fn build(n: u64) -> (crate::tlog::TileSet, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n)
            .map(|i| crate::tlog::record_hash(&i.to_be_bytes()))
            .collect();
        let mut tiles = crate::tlog::TileSet::default();
        let mut touched = std::collections::BTreeSet::new();
        crate::tlog::append(&mut tiles, 0, &leaves, &mut touched).unwrap();
        (tiles, leaves)
    }

    #[test]
    fn proofs_over_the_cache_verify_at_every_size_from_tiles_cached_wider() {
        // 3 tile levels; the cache holds the tiles of the final tree (wider than the older trees
        // need), and every proof of an older tree is computed over them.
        let (set, leaves) = build(66_000);
        let c = TileCache::new(64 << 20);
        // As a committed batch hands them over: its tiles (`BatchPlan::tiles`) and checkpoint.
        let written: Vec<(TileKey, Vec<u8>)> =
            set.tiles.iter().map(|(k, d)| (*k, d.clone())).collect();
        c.absorb_commit(
            written.iter().map(|(k, d)| (*k, &d[..])),
            Some((66_000, "note")),
        );
        assert_eq!(
            c.get(Key::Checkpoint(66_000), 0).as_deref(),
            Some(&b"note"[..])
        );
        let sizes = [
            1u64, 2, 255, 256, 257, 511, 512, 4_097, 65_535, 65_536, 65_537, 66_000,
        ];
        for &size in &sizes {
            let root = crate::tlog::root(&set, size).unwrap();
            for leaf in [0, 1, size / 3, size / 2, size.saturating_sub(257), size - 1] {
                if leaf >= size {
                    continue;
                }
                let (tiles, missing) =
                    c.cached_view(size, &crate::tlog::tiles_for_inclusion(size, leaf));
                assert!(missing.is_empty(), "{size} {leaf}: {missing:?}");
                let view = LogView {
                    tiles,
                    memo: RefCell::default(),
                };
                let proof = tlog_tiles::prove_record(size, leaf, &view).unwrap();
                assert_eq!(
                    proof,
                    crate::tlog::inclusion_proof(&set, size, leaf).unwrap()
                );
                tlog_tiles::check_record(&proof, size, root, leaf, leaves[leaf as usize])
                    .unwrap_or_else(|e| panic!("{size} {leaf}: {e}"));
            }
            for &old in sizes.iter().filter(|&&o| o <= size) {
                let (tiles, missing) =
                    c.cached_view(size, &crate::tlog::tiles_for_consistency(size, old));
                assert!(missing.is_empty());
                let view = LogView {
                    tiles,
                    memo: RefCell::default(),
                };
                let proof = tlog_tiles::prove_tree(size, old, &view).unwrap();
                let old_root = crate::tlog::root(&set, old).unwrap();
                tlog_tiles::check_tree(&proof, size, root, old, old_root).unwrap();
            }
        }
    }

    #[test]
    fn a_view_never_reads_past_the_width_of_its_tree() {
        let (set, _) = build(600);
        let key = (0u8, 2u64);
        let data = &set.tiles[&key];
        // Tile (0, 2) holds 88 hashes at 600 leaves; the tree of 520 has 8 of them.
        let tile = ViewTile::new(Arc::from(&data[..]), width_at(key, 520), None);
        let view = LogView {
            tiles: [(key, tile)].into_iter().collect(),
            memo: RefCell::default(),
        };
        assert!(view.node(0, 512 + 7).is_ok());
        assert!(view.node(0, 512 + 8).is_err());
        assert!(view.node(3, 64).is_ok());
        assert!(view.node(4, 32).is_err(), "16 leaves, 8 in the tree");
        // A cache holding the tile only 8 wide misses for a tree that needs 9.
        let c = TileCache::new(1 << 20);
        c.put_tiles([(key, &data[..8 * 32])]);
        assert!(c.cached_view(520, &[key]).1.is_empty());
        assert_eq!(c.cached_view(521, &[key]).1, vec![key]);
    }

    #[test]
    fn interior_nodes_are_the_subtree_hashes() {
        let (set, leaves) = build(256);
        let interior = interior_nodes(&set.tiles[&(0, 0)]).unwrap();
        assert_eq!(interior.len(), 254 * 32);
        // Level 7, node 1: leaves 128..256.
        let at = (256 - (256 >> 6) + 1) * 32;
        let mut stack = leaves[128..].to_vec();
        while stack.len() > 1 {
            stack = stack
                .chunks(2)
                .map(|p| tlog_tiles::node_hash(p[0], p[1]))
                .collect();
        }
        assert_eq!(&interior[at..at + 32], &stack[0].0);
        assert!(interior_nodes(&set.tiles[&(0, 0)][..255 * 32]).is_none());
    }

    #[test]
    fn a_zero_cap_holds_nothing() {
        let c = TileCache::new(0);
        c.put_tiles([((0, 0), &tile(256, 0)[..])]);
        c.put_checkpoint(5, "note");
        assert_eq!(c.cached_tile((0, 0), 1), None);
        assert_eq!(c.stats().entries, 0);
        assert_eq!(c.stats().bytes, 0);
    }

    #[test]
    fn checkpoints_are_kept_by_size_and_never_replaced() {
        let c = TileCache::new(1 << 20);
        c.put_checkpoint(5, "five");
        c.put_checkpoint(5, "other");
        assert_eq!(c.get(Key::Checkpoint(5), 0).as_deref(), Some(&b"five"[..]));
        assert!(c.get(Key::Checkpoint(6), 0).is_none());
    }
}
