//! The hash and chunk manifest of an evidence file, computed in one streaming pass.
//!
//! A ledger `evidence.add` entry names the file's SHA-256, its size, the chunk size (1 MiB), the
//! number of chunks and `chunks_sha256`: the SHA-256 over the concatenated 32-byte SHA-256 digests
//! of the file's chunks in order (the last one may be short; an empty file has no chunks, and its
//! `chunks_sha256` is the SHA-256 of nothing).

use sha2::{Digest, Sha256};

/// Size of a manifest chunk: 1 MiB. The last chunk of a file may be shorter.
pub const CHUNK_SIZE: u32 = 1 << 20;

/// Incremental hashing of a file: whole-file SHA-256 and the chunk digests. However the bytes are
/// split between calls to [`update`](ChunkHasher::update), the result is the same.
#[derive(Clone)]
pub struct ChunkHasher {
    whole: Sha256,
    chunk: Sha256,
    chunk_size: u32,
    /// Bytes of the current, unfinished chunk already fed to `chunk`.
    chunk_fill: u32,
    chunks: Vec<[u8; 32]>,
    total: u64,
}

/// What [`ChunkHasher::finish`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// Bytes hashed.
    pub size: u64,
    /// The chunk size used.
    pub chunk_size: u32,
    /// SHA-256 of each chunk, in order.
    pub chunks: Vec<[u8; 32]>,
    /// SHA-256 over the concatenated chunk digests.
    pub chunks_sha256: [u8; 32],
}

impl Default for ChunkHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ChunkHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkHasher")
            .field("chunk_size", &self.chunk_size)
            .field("bytes_seen", &self.total)
            .field("chunks_done", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl ChunkHasher {
    /// A hasher with the standard [`CHUNK_SIZE`].
    pub fn new() -> Self {
        Self::with_chunk_size(CHUNK_SIZE)
    }

    /// A hasher with another chunk size (`0` is taken as [`CHUNK_SIZE`]).
    pub fn with_chunk_size(chunk_size: u32) -> Self {
        ChunkHasher {
            whole: Sha256::new(),
            chunk: Sha256::new(),
            chunk_size: if chunk_size == 0 {
                CHUNK_SIZE
            } else {
                chunk_size
            },
            chunk_fill: 0,
            chunks: Vec::new(),
            total: 0,
        }
    }

    /// Feed the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        self.total += data.len() as u64;
        while !data.is_empty() {
            let room = (self.chunk_size - self.chunk_fill) as usize;
            let take = room.min(data.len());
            let (head, rest) = data.split_at(take);
            self.chunk.update(head);
            // `take <= room <= chunk_size`, a u32.
            self.chunk_fill += take as u32;
            data = rest;
            if self.chunk_fill == self.chunk_size {
                self.chunks.push(self.chunk.finalize_reset().into());
                self.chunk_fill = 0;
            }
        }
    }

    /// Bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.total
    }

    /// The digests of every byte fed.
    pub fn finish(mut self) -> Chunked {
        if self.chunk_fill > 0 {
            self.chunks.push(self.chunk.finalize().into());
        }
        Chunked {
            sha256: self.whole.finalize().into(),
            size: self.total,
            chunk_size: self.chunk_size,
            chunks_sha256: manifest_sha256(&self.chunks),
            chunks: self.chunks,
        }
    }
}

/// SHA-256 over concatenated chunk digests (`chunks_sha256`).
pub fn manifest_sha256(chunks: &[[u8; 32]]) -> [u8; 32] {
    let mut manifest = Sha256::new();
    for chunk in chunks {
        manifest.update(chunk);
    }
    manifest.finalize().into()
}
