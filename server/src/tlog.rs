//! The transparency log: an append-only Merkle tree over every accepted ledger entry.
//!
//! # Formats (written down once, here)
//!
//! - **Hashing**: RFC 6962 §2.1 — leaf hash `SHA-256(0x00 ‖ leaf)`, interior node
//!   `SHA-256(0x01 ‖ left ‖ right)`, the split at the largest power of two below the size, the empty
//!   tree's root `SHA-256("")`. Proofs are RFC 6962 §2.1.1 audit paths and §2.1.2 consistency proofs.
//!   The tree code is cloudflare's `tlog_tiles` crate (a port of Go's `sumdb/tlog`); the known-answer
//!   tests below pin the Certificate Transparency test vectors.
//! - **Leaf**: the 32-byte SHA-256 of the ledger entry's canonical bytes (the entry's identity, what
//!   the device already holds). Not the bytes themselves: the log is public and entries carry personal
//!   data (party names, ID numbers), so the log holds only hashes. Whoever holds an entry's bytes can
//!   hash them and check their inclusion.
//! - **Storage and serving**: C2SP `tlog-tiles`: hash tiles of height 8 (256 hashes of one tree level),
//!   stored per tile level `L` (tree levels `8L`), served at `tile/<L>/<N>[.p/<W>]`; entry bundles at
//!   `tile/entries/<N>[.p/<W>]`, each leaf as a big-endian `u16` length and its 32 bytes. A proof reads
//!   at most a few tiles whatever the size of the log.
//! - **Checkpoints**: C2SP `tlog-checkpoint` (origin, size, base64 root hash) in a C2SP `signed-note`
//!   with an Ed25519 key (`signed_note` crate), served at `/log/checkpoint`. The verifier key is
//!   published at `/api/v1/log/key` and returned at enrolment.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use signed_note::{Note, StandardSigner, StandardVerifier};
use tlog_tiles::{Checkpoint, Hash, HashReader, Tile, HASH_SIZE};

pub use tlog_tiles::{check_record, check_tree, record_hash, Hash as TreeHash};

use crate::error::{ApiError, Result};

/// Height of every tile (C2SP tlog-tiles fixes it at 8).
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// A tile's address: (tile level, index within the level).
pub type TileKey = (u8, u64);

/// Tiles held in memory, read as a [`HashReader`]. A tile's data is its hashes so far (a partial
/// tile is a prefix of the full one), so tiles only ever grow.
///
/// Only every eighth tree level is stored; a hash of a level in between is the subtree hash of a
/// run of hashes of the tile below. Each one computed is remembered (a complete subtree's hash
/// never changes), so many proofs over the same tiles, or a batch of appends, hash each node once.
#[derive(Debug, Default, Clone)]
pub struct TileSet {
    pub tiles: HashMap<TileKey, Vec<u8>>,
    /// Computed hashes of the levels between stored ones: (tree level, index) → hash.
    memo: RefCell<HashMap<(u8, u64), Hash>>,
}

impl TileSet {
    /// The hash of node `n` of tree `level`, from the tiles (and the memo).
    fn node(&self, level: u8, n: u64) -> std::result::Result<Hash, tlog_tiles::Error> {
        let stored = |level: u8, n: u64| {
            let data = self.tiles.get(&(level / TILE_HEIGHT, n >> TILE_HEIGHT))?;
            hash_at(data, n % TILE_WIDTH)
        };
        tree_node(level, n, &self.memo, &stored, &|_, _| None)
    }

    fn remember(&self, level: u8, n: u64, hash: Hash) {
        if !level.is_multiple_of(TILE_HEIGHT) {
            self.memo.borrow_mut().insert((level, n), hash);
        }
    }
}

/// The hash of node `n` of tree `level`, read from tiles. A stored level (every [`TILE_HEIGHT`]th)
/// comes from `stored`; a level in between from `interior` when it has it (precomputed nodes),
/// else it is hashed from the level below and remembered in `memo` (a complete subtree's hash never
/// changes). Shared by [`TileSet`] and the tile cache's view.
pub(crate) fn tree_node(
    level: u8,
    n: u64,
    memo: &RefCell<HashMap<(u8, u64), Hash>>,
    stored: &dyn Fn(u8, u64) -> Option<Hash>,
    interior: &dyn Fn(u8, u64) -> Option<Hash>,
) -> std::result::Result<Hash, tlog_tiles::Error> {
    if level.is_multiple_of(TILE_HEIGHT) {
        return stored(level, n).ok_or(tlog_tiles::Error::IndexesNotInTree);
    }
    if let Some(h) = interior(level, n).or_else(|| memo.borrow().get(&(level, n)).copied()) {
        return Ok(h);
    }
    let h = tlog_tiles::node_hash(
        tree_node(level - 1, 2 * n, memo, stored, interior)?,
        tree_node(level - 1, 2 * n + 1, memo, stored, interior)?,
    );
    memo.borrow_mut().insert((level, n), h);
    Ok(h)
}

/// Hash `i` of a run of hashes (a tile's data), if it holds that many.
pub(crate) fn hash_at(bytes: &[u8], i: u64) -> Option<Hash> {
    let at = usize::try_from(i).ok()?.checked_mul(HASH_SIZE)?;
    Some(Hash(bytes.get(at..at + HASH_SIZE)?.try_into().ok()?))
}

/// `HashReader::read_hashes` over a node lookup: each stored-hash index split into (level, n).
pub(crate) fn read_nodes(
    indexes: &[u64],
    node: impl Fn(u8, u64) -> std::result::Result<Hash, tlog_tiles::Error>,
) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
    indexes
        .iter()
        .map(|&index| {
            let (level, n) = tlog_tiles::split_stored_hash_index(index);
            node(level, n)
        })
        .collect()
}

impl HashReader for TileSet {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        read_nodes(indexes, |level, n| self.node(level, n))
    }
}

/// Records which stored hashes a computation asks for, answering with zeros: run a proof once with
/// it to learn which tiles to load, then again over the loaded tiles.
#[derive(Default)]
struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::default(); indexes.len()])
    }
}

fn tiles_of(indexes: &[u64]) -> Vec<TileKey> {
    let keys: BTreeSet<TileKey> = indexes
        .iter()
        .map(|&i| {
            let t = Tile::from_index(TILE_HEIGHT, i);
            (t.level(), t.level_index())
        })
        .collect();
    keys.into_iter().collect()
}

fn tree_error(e: tlog_tiles::Error) -> ApiError {
    ApiError::internal("LOG_TREE_FAILED", format!("透明日志计算失败：{e}"))
}

/// The tiles an inclusion proof of leaf `index` in a tree of `size` reads.
pub fn tiles_for_inclusion(size: u64, index: u64) -> Vec<TileKey> {
    let r = Recorder::default();
    let _ = tlog_tiles::prove_record(size, index, &r);
    tiles_of(&r.0.into_inner())
}

/// The tiles a consistency proof from `old` to `size` reads (and the two root hashes).
pub fn tiles_for_consistency(size: u64, old: u64) -> Vec<TileKey> {
    let r = Recorder::default();
    let _ = tlog_tiles::prove_tree(size, old, &r);
    let _ = tlog_tiles::tree_hash(size, &r);
    let _ = tlog_tiles::tree_hash(old, &r);
    tiles_of(&r.0.into_inner())
}

/// The tiles the root hash of a tree of `size` reads.
pub fn tiles_for_root(size: u64) -> Vec<TileKey> {
    let r = Recorder::default();
    let _ = tlog_tiles::tree_hash(size, &r);
    tiles_of(&r.0.into_inner())
}

/// The rightmost tile of every tile level of a tree of `size`: the only tiles an append changes
/// (and all it reads).
pub fn edge_tiles(size: u64) -> Vec<TileKey> {
    let mut keys = Vec::new();
    let mut level = 0u8;
    while level < 8 && (size >> (u32::from(TILE_HEIGHT) * u32::from(level))) > 0 {
        let hashes_at_level = size >> (u32::from(TILE_HEIGHT) * u32::from(level));
        keys.push((level, (hashes_at_level - 1) >> TILE_HEIGHT));
        level += 1;
    }
    keys
}

/// Root hash of the tree of `size` leaves.
pub fn root(tiles: &TileSet, size: u64) -> Result<Hash> {
    tlog_tiles::tree_hash(size, tiles).map_err(tree_error)
}

/// Inclusion proof (RFC 6962 audit path) of leaf `index` in the tree of `size`.
pub fn inclusion_proof(tiles: &TileSet, size: u64, index: u64) -> Result<Vec<Hash>> {
    tlog_tiles::prove_record(size, index, tiles).map_err(tree_error)
}

/// Consistency proof from the tree of `old` leaves to the tree of `size`.
pub fn consistency_proof(tiles: &TileSet, size: u64, old: u64) -> Result<Vec<Hash>> {
    tlog_tiles::prove_tree(size, old, tiles).map_err(tree_error)
}

/// Append leaves to a tree of `size` whose edge tiles are in `tiles`; returns the new size and the
/// tiles that changed. Only tree levels 0, 8, 16… are stored; the levels between are recomputed from
/// the tile below when read.
pub fn append(
    tiles: &mut TileSet,
    size: u64,
    leaf_hashes: &[Hash],
    touched: &mut BTreeSet<TileKey>,
) -> Result<u64> {
    let mut n = size;
    for leaf in leaf_hashes {
        let hashes =
            tlog_tiles::stored_hashes_for_record_hash(n, *leaf, tiles).map_err(tree_error)?;
        for (level, hash) in hashes.iter().enumerate() {
            if level % usize::from(TILE_HEIGHT) != 0 {
                if let Ok(l) = u8::try_from(level) {
                    tiles.remember(l, n >> level, *hash);
                }
                continue;
            }
            let tile_level = u8::try_from(level / usize::from(TILE_HEIGHT))
                .map_err(|_| ApiError::internal("LOG_TREE_FAILED", "透明日志层级超出范围"))?;
            let position = n >> level;
            let key = (tile_level, position >> TILE_HEIGHT);
            let offset = usize::try_from(position % TILE_WIDTH).unwrap_or(usize::MAX);
            let data = tiles.tiles.entry(key).or_default();
            if data.len() != offset * HASH_SIZE {
                return Err(ApiError::internal(
                    "LOG_TILE_INCONSISTENT",
                    format!(
                        "透明日志瓦片 {key:?} 长度 {} 与位置 {offset} 不符",
                        data.len()
                    ),
                ));
            }
            data.extend_from_slice(&hash.0);
            touched.insert(key);
        }
        n += 1;
    }
    Ok(n)
}

/// Highest tile level a C2SP tlog-tiles path may name (`<L>` is 0 to 63). With tiles of height 8
/// only levels 0 to 7 can hold a hash in a log of fewer than 2^64 leaves; a path of a higher level
/// is well formed and names a tile that does not exist.
pub const MAX_TILE_LEVEL: u8 = 63;

/// Largest width a `.p/<W>` suffix may give (a partial tile holds 1 to 255 hashes).
pub const MAX_PARTIAL_WIDTH: u32 = 255;

/// Path elements a tile index `<N>` may take: `u64::MAX` is 20 digits, seven groups of three.
const MAX_INDEX_ELEMENTS: usize = 7;

/// The `<N>` of a tile path: zero-padded 3-digit elements, every one but the last prefixed `x`
/// (`1234067` is `x001/x234/067`).
fn encode_index(n: u64) -> String {
    let mut groups = vec![n % 1000];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g:03}")
            } else {
                format!("{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// C2SP tlog-tiles path of a hash tile, `tile/<L>/<N>[.p/<W>]`, `width` hashes wide (256 or more,
/// and 0, are written as a full tile).
pub fn tile_path(key: TileKey, width: u32) -> String {
    let mut path = format!("tile/{}/{}", key.0, encode_index(key.1));
    if (1..=MAX_PARTIAL_WIDTH).contains(&width) {
        path.push_str(&format!(".p/{width}"));
    }
    path
}

/// What a `tile/…` path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// A hash tile: key and width (256 = full).
    Hashes(TileKey, u32),
    /// An entry bundle: index and width.
    Entries(u64, u32),
}

/// A decimal number without a sign and without leading zeroes ("0" itself is fine).
fn canonical_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The `<N>[.p/<W>]` part of a tile path: index and width (256 when not partial). Only the one
/// canonical spelling of each index is accepted, so every tile has exactly one address.
fn parse_index_and_width(elements: &[&str]) -> Option<(u64, u32)> {
    let (elements, width) = match elements {
        [head @ .., last_n, w] if last_n.ends_with(".p") => {
            let width = u32::try_from(canonical_decimal(w)?).ok()?;
            if !(1..=MAX_PARTIAL_WIDTH).contains(&width) {
                return None;
            }
            let mut n: Vec<&str> = head.to_vec();
            n.push(last_n.strip_suffix(".p")?);
            (n, width)
        }
        _ => (elements.to_vec(), TILE_WIDTH as u32),
    };
    if elements.is_empty() || elements.len() > MAX_INDEX_ELEMENTS {
        return None;
    }
    let last = elements.len() - 1;
    let mut n = 0u64;
    for (i, element) in elements.iter().enumerate() {
        let digits = if i < last {
            element.strip_prefix('x')?
        } else {
            element
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let group: u64 = digits.parse().ok()?;
        if i == 0 && last > 0 && group == 0 {
            // `x000/…`: a longer spelling of a smaller index.
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(group)?;
    }
    Some((n, width))
}

/// Parse a C2SP tlog-tiles path (`tile/0/x001/234`, `tile/entries/005.p/7`): `tile/<L>/<N>[.p/<W>]`
/// with `<L>` a decimal 0 to 63 without leading zeroes, `<N>` in 3-digit elements (all but the
/// last prefixed `x`) and `<W>` a decimal 1 to 255; or `tile/entries/<N>[.p/<W>]`. `None` for
/// anything else, whatever its numbers (never a panic, never an overflow).
pub fn parse_tile_path(path: &str) -> Option<TilePath> {
    let rest = path.strip_prefix("tile/")?;
    let elements: Vec<&str> = rest.split('/').collect();
    let (first, tail) = elements.split_first()?;
    if *first == "entries" {
        let (index, width) = parse_index_and_width(tail)?;
        return Some(TilePath::Entries(index, width));
    }
    let level = u8::try_from(canonical_decimal(first)?).ok()?;
    if level > MAX_TILE_LEVEL {
        return None;
    }
    let (index, width) = parse_index_and_width(tail)?;
    Some(TilePath::Hashes((level, index), width))
}

/// An entry bundle: each leaf as a big-endian u16 length followed by its bytes.
pub fn entry_bundle(leaves: &[[u8; 32]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(leaves.len() * 34);
    for leaf in leaves {
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(leaf);
    }
    out
}

/// The log's checkpoint signer: origin line and Ed25519 key in signed-note encoding (a private key
/// in memory, or one held by a PKCS#11 token: `crate::hsm`).
#[derive(Clone)]
pub struct LogSigner {
    origin: String,
    signer: Arc<dyn signed_note::Signer + Send + Sync>,
    verifier_key: String,
    /// Origins this log had before, oldest first, ended by rollover statements.
    retired: Vec<Retired>,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("origin", &self.origin)
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    /// A new key pair for `origin`, as signed-note `(private, verifier)` key strings.
    pub fn generate_key(origin: &str) -> (String, String) {
        signed_note::generate_key(&mut rand_core::OsRng, origin)
    }

    /// A signer from a `PRIVATE+KEY+<origin>+<id>+<key>` string.
    pub fn new(origin: &str, private_key: &str) -> Result<Self> {
        let signer = StandardSigner::new(private_key).map_err(|e| {
            ApiError::internal("LOG_KEY_INVALID", format!("透明日志签名密钥无效：{e}"))
        })?;
        let name = signed_note::Signer::name(&signer).to_string();
        if name != origin {
            return Err(ApiError::internal(
                "LOG_KEY_INVALID",
                format!("透明日志签名密钥的名称 {name} 与日志来源 {origin} 不一致"),
            ));
        }
        let public = private_key_to_verifier(private_key)?;
        Ok(LogSigner {
            origin: origin.to_string(),
            signer: Arc::new(signer),
            verifier_key: public,
            retired: Vec::new(),
        })
    }

    /// A signer whose key is held elsewhere (a PKCS#11 token), with its public key.
    pub fn from_signer(
        origin: &str,
        signer: Arc<dyn signed_note::Signer + Send + Sync>,
        public: &ed25519_dalek::VerifyingKey,
    ) -> Result<Self> {
        if signer.name() != origin {
            return Err(ApiError::internal(
                "LOG_KEY_INVALID",
                format!(
                    "透明日志签名密钥的名称 {} 与日志来源 {origin} 不一致",
                    signer.name()
                ),
            ));
        }
        Ok(LogSigner {
            origin: origin.to_string(),
            signer,
            verifier_key: signed_note::new_ed25519_verifier_key(origin, public),
            retired: Vec::new(),
        })
    }

    /// The same key signing as `origin` (the next origin after a rollover), with `retired` as the
    /// origins before it. Works for a key file and a PKCS#11 token alike: an Ed25519 signature does
    /// not depend on the note's key name, only the name and key id on the signature line change.
    pub fn renamed(&self, origin: &str, retired: Vec<Retired>) -> Result<Self> {
        let bad = || ApiError::internal("LOG_KEY_INVALID", "透明日志验证密钥格式错误");
        // <name>+<id>+<base64 of the algorithm byte and the public key>
        let encoded = self.verifier_key.splitn(3, '+').nth(2).ok_or_else(bad)?;
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded)
            .map_err(|_| bad())?;
        let id = signed_note::key_id(origin, &raw);
        Ok(LogSigner {
            origin: origin.to_string(),
            signer: Arc::new(RenamedSigner {
                name: origin.to_string(),
                id,
                inner: self.signer.clone(),
            }),
            verifier_key: format!("{origin}+{id:08x}+{encoded}"),
            retired,
        })
    }

    /// Origins this log had before the current one, oldest first.
    pub fn retired(&self) -> &[Retired] {
        &self.retired
    }

    /// Sign any note text (ending in a newline) under the current origin's name.
    pub fn sign_text(&self, text: &str) -> Result<String> {
        let mut note = Note::new(text.as_bytes(), &[])
            .map_err(|e| ApiError::internal("LOG_NOTE_FAILED", e.to_string()))?;
        note.add_sigs(&[self.signer.as_ref()])
            .map_err(|e| ApiError::internal("LOG_NOTE_FAILED", e.to_string()))?;
        String::from_utf8(note.to_bytes())
            .map_err(|e| ApiError::internal("LOG_NOTE_FAILED", e.to_string()))
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The signed-note verifier key (`<origin>+<id>+<base64 key>`).
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// A signed checkpoint for the tree of `size` with root `root`.
    pub fn sign(&self, size: u64, root: Hash) -> Result<String> {
        let checkpoint = Checkpoint::new(&self.origin, size, root, "")
            .map_err(|e| ApiError::internal("LOG_CHECKPOINT_FAILED", e.to_string()))?;
        let mut note = Note::new(&checkpoint.to_bytes(), &[])
            .map_err(|e| ApiError::internal("LOG_CHECKPOINT_FAILED", e.to_string()))?;
        note.add_sigs(&[self.signer.as_ref()])
            .map_err(|e| ApiError::internal("LOG_CHECKPOINT_FAILED", e.to_string()))?;
        String::from_utf8(note.to_bytes())
            .map_err(|e| ApiError::internal("LOG_CHECKPOINT_FAILED", e.to_string()))
    }
}

/// Derive the verifier key string from a signed-note private key string.
/// A log key signing under another name (a later origin of the same log).
struct RenamedSigner {
    name: String,
    id: u32,
    inner: Arc<dyn signed_note::Signer + Send + Sync>,
}

impl signed_note::Signer for RenamedSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, ed25519_dalek::SignatureError> {
        self.inner.sign(msg)
    }
}

fn private_key_to_verifier(private_key: &str) -> Result<String> {
    use base64::Engine;
    let bad = || ApiError::internal("LOG_KEY_INVALID", "透明日志签名密钥格式错误");
    // PRIVATE+KEY+<name>+<id>+<base64>; the base64 may itself hold '+'.
    let parts: Vec<&str> = private_key.splitn(5, '+').collect();
    let [_, _, name, _, key64] = parts.as_slice() else {
        return Err(bad());
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key64)
        .map_err(|_| bad())?;
    let seed: [u8; 32] = raw
        .get(1..)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(bad)?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    Ok(signed_note::new_ed25519_verifier_key(
        name,
        &signing.verifying_key(),
    ))
}

/// Verify a signed note with a verifier key; its text.
pub fn verify_note(note: &str, verifier_key: &str) -> Option<String> {
    let verifier = StandardVerifier::new(verifier_key).ok()?;
    let note = Note::from_bytes(note.as_bytes()).ok()?;
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    note.verify(&list).ok()?;
    String::from_utf8(note.text().to_vec()).ok()
}

/// Verify a signed checkpoint with a verifier key and parse it (what a device does).
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Option<Checkpoint> {
    let verifier = StandardVerifier::new(verifier_key).ok()?;
    let note = Note::from_bytes(note.as_bytes()).ok()?;
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    note.verify(&list).ok()?;
    Checkpoint::from_bytes(note.text()).ok()
}

/// An origin the log had before, ended by a rollover statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retired {
    /// The signed statement (C2SP signed note, signed under `statement.old_origin`).
    pub note: String,
    #[serde(skip)]
    pub statement: roadside_core::rollover::RolloverStatement,
    /// The log key's verifier under the old origin's name.
    pub verifier_key: String,
}

/// The Merkle tree hash of RFC 6962 §2.1 computed straight from its definition (split at the largest
/// power of two below the size, recursively): the reference the tiled tree is checked against.
pub fn reference_root(leaves: &[TreeHash]) -> TreeHash {
    match leaves.len() {
        0 => tlog_tiles::EMPTY_HASH,
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            tlog_tiles::node_hash(reference_root(&leaves[..k]), reference_root(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).expect("test vector is hex");
        Hash(out)
    }

    /// The Certificate Transparency test vectors for RFC 6962 (also in transparency-dev/merkle
    /// `testonly/constants.go`): eight leaves and the root of every prefix.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn vector_tree() -> TileSet {
        let mut tiles = TileSet::default();
        let leaves: Vec<Hash> = LEAVES
            .iter()
            .map(|l| record_hash(&hex::decode(l).expect("hex")))
            .collect();
        append(&mut tiles, 0, &leaves, &mut BTreeSet::new()).expect("append");
        tiles
    }

    #[test]
    fn roots_match_rfc6962_vectors() {
        let tiles = vector_tree();
        for (size, want) in ROOTS.iter().enumerate() {
            assert_eq!(
                root(&tiles, size as u64).expect("root"),
                h(want),
                "size {size}"
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_vectors() {
        let tiles = vector_tree();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (0, 1, &[]),
        ];
        for (index, size, want) in cases {
            let proof = inclusion_proof(&tiles, size, index).expect("proof");
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(proof, want, "leaf {index} in {size}");
            let leaf = record_hash(&hex::decode(LEAVES[index as usize]).expect("hex"));
            check_record(&proof, size, h(ROOTS[size as usize]), index, leaf).expect("verifies");
        }
    }

    #[test]
    fn consistency_proofs_match_vectors() {
        let tiles = vector_tree();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                2,
                8,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, size, want) in cases {
            let proof = consistency_proof(&tiles, size, old).expect("proof");
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(proof, want, "{old} → {size}");
            check_tree(
                &proof,
                size,
                h(ROOTS[size as usize]),
                old,
                h(ROOTS[old as usize]),
            )
            .expect("verifies");
        }
    }

    #[test]
    fn tiled_tree_agrees_with_naive_tree_across_tile_levels() {
        let leaves: Vec<Hash> = (0u32..70_000)
            .map(|i| record_hash(&i.to_be_bytes()))
            .collect();
        // Append in uneven batches, keeping only the edge tiles in memory between batches, as the
        // storage does.
        let mut stored = TileSet::default();
        let mut size = 0u64;
        for chunk in leaves.chunks(997) {
            let mut working = TileSet::default();
            for key in edge_tiles(size) {
                if let Some(data) = stored.tiles.get(&key) {
                    working.tiles.insert(key, data.clone());
                }
            }
            let mut touched = BTreeSet::new();
            size = append(&mut working, size, chunk, &mut touched).expect("append");
            for key in touched {
                stored.tiles.insert(key, working.tiles[&key].clone());
            }
            // The root is computable from the edge tiles alone.
            let mut edge = TileSet::default();
            for key in edge_tiles(size) {
                edge.tiles.insert(key, stored.tiles[&key].clone());
            }
            assert_eq!(
                root(&edge, size).expect("root from edges"),
                root(&stored, size).expect("root")
            );
        }
        for size in [1u64, 255, 256, 257, 65_535, 65_536, 65_537, 70_000] {
            let n = size as usize;
            let want = reference_root(&leaves[..n]);
            assert_eq!(root(&stored, size).expect("root"), want, "size {size}");
            let index = size / 3;
            let proof = inclusion_proof(&stored, size, index).expect("proof");
            check_record(&proof, size, want, index, leaves[index as usize]).expect("inclusion");
            let keys = tiles_for_inclusion(size, index);
            assert!(keys.len() <= 6, "{keys:?}");
        }
        let p = consistency_proof(&stored, 70_000, 300).expect("consistency");
        check_tree(
            &p,
            70_000,
            reference_root(&leaves),
            300,
            reference_root(&leaves[..300]),
        )
        .expect("consistent");
    }

    #[test]
    fn tile_paths_follow_c2sp() {
        assert_eq!(tile_path((0, 1_234_067), 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path((1, 5), 7), "tile/1/005.p/7");
        assert_eq!(
            parse_tile_path("tile/0/x001/x234/067"),
            Some(TilePath::Hashes((0, 1_234_067), 256))
        );
        assert_eq!(
            parse_tile_path("tile/entries/005.p/7"),
            Some(TilePath::Entries(5, 7))
        );
        assert_eq!(parse_tile_path("tile/0/5"), None);
        assert_eq!(parse_tile_path("tile/8/0/000"), None);
    }

    #[test]
    fn tile_paths_round_trip_at_the_edges_of_every_range() {
        for n in [0u64, 1, 999, 1000, 1_234_067, i64::MAX as u64, u64::MAX] {
            for width in [1u32, 7, 255, 256] {
                for level in [0u8, 7, 63] {
                    let path = tile_path((level, n), width);
                    assert_eq!(
                        parse_tile_path(&path),
                        Some(TilePath::Hashes((level, n), width)),
                        "{path}"
                    );
                }
            }
        }
        assert_eq!(
            tile_path((0, u64::MAX), 256),
            "tile/0/x018/x446/x744/x073/x709/x551/615"
        );
        assert_eq!(
            parse_tile_path("tile/63/000"),
            Some(TilePath::Hashes((63, 0), 256))
        );
        assert_eq!(
            parse_tile_path("tile/entries/x018/x446/x744/x073/x709/x551/615.p/255"),
            Some(TilePath::Entries(u64::MAX, 255))
        );
    }

    #[test]
    fn tile_paths_out_of_range_or_not_canonical_are_refused() {
        for path in [
            // Level beyond 63, or not a plain decimal.
            "tile/64/000",
            "tile/255/000",
            "tile/256/000",
            "tile/99999999999999999999/000",
            "tile/00/000",
            "tile/01/000",
            "tile/-1/000",
            "tile/+1/000",
            "tile//000",
            // Width 0, beyond 255, or not a plain decimal.
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/4294967296",
            "tile/0/000.p/07",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/entries/000.p/0",
            "tile/entries/000.p/256",
            // Index past u64, badly grouped, or with a redundant leading group.
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x999/x999/x999/x999/x999/x999/999",
            "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
            "tile/0/x000/001",
            "tile/0/001/001",
            "tile/0/x001",
            "tile/0/0001",
            "tile/0/01",
            "tile/0/0x1",
            "tile/0/",
            "tile/0",
            "tile/",
            "tile/entries/",
            "tile/entries",
            "tile/data/000",
            "tile/0/000/",
            "tile/0/000.p/1/2",
            "tiles/0/000",
            "",
        ] {
            assert_eq!(parse_tile_path(path), None, "{path}");
        }
    }

    #[test]
    fn checkpoints_are_signed_notes_that_verify() {
        let (private, verifier) = LogSigner::generate_key("roadside.test/log");
        let signer = LogSigner::new("roadside.test/log", &private).expect("signer");
        assert_eq!(signer.verifier_key(), verifier);
        let note = signer.sign(8, h(ROOTS[8])).expect("sign");
        assert!(note.starts_with("roadside.test/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— roadside.test/log "));
        let cp = verify_checkpoint(&note, &verifier).expect("verifies");
        assert_eq!(cp.size(), 8);
        let (_, other) = LogSigner::generate_key("roadside.test/log");
        assert!(verify_checkpoint(&note, &other).is_none());
        assert!(verify_checkpoint(&note.replace("\n8\n", "\n9\n"), &verifier).is_none());
    }
}
