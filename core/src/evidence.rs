//! Evidence hashing: one streaming pass over an audio, video or photo file that yields the SHA-256 of
//! the whole file **and** a manifest of fixed-size chunk hashes.
//!
//! The whole-file hash is what the signed ledger entry names at capture time; the chunk manifest lets
//! an upload be resumed and verified piece by piece (and lets the server point at the damaged chunk of
//! a corrupted copy) without trusting anything but the ledger. `chunks_sha256` commits to the whole
//! manifest in one value so the ledger entry stays small.
//!
//! Two entry points produce identical digests for identical bytes:
//! - [`EvidenceHasher`]: incremental, for bytes pushed while recording.
//! - [`hash_file`] / [`hash_file_with_progress`]: a finished file, by path. The file is opened
//!   read-only and never modified. Memory use is constant (at most 8 buffers of 1 MiB) whatever the
//!   file size. Every byte is hashed twice (into the whole-file hash and into its chunk's), so the work
//!   is split over two threads and the pass runs at about the speed of one SHA-256 over the file:
//!   the calling thread reads and hashes chunks, a second thread feeds the same buffers to the
//!   whole-file hasher (and takes over a chunk's hash whenever it would otherwise wait for work).
//!   A file that vanishes, is replaced, grows, shrinks or is rewritten while it is hashed is reported
//!   as `EVIDENCE_CHANGED` rather than given a digest of bytes that never existed together.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, RoadsideError};

/// Size of a manifest chunk: 1 MiB. The last chunk of a file may be shorter.
pub const CHUNK_SIZE: u32 = 1 << 20;

/// The path does not exist (or cannot be opened because it no longer exists).
pub const EVIDENCE_NOT_FOUND: &str = "EVIDENCE_NOT_FOUND";
/// The path exists but is a directory, device, FIFO or socket rather than a regular file.
pub const EVIDENCE_NOT_A_FILE: &str = "EVIDENCE_NOT_A_FILE";
/// The file exists but cannot be opened or read (permissions, I/O error).
pub const EVIDENCE_UNREADABLE: &str = "EVIDENCE_UNREADABLE";
/// The file vanished, was replaced or was modified while it was being hashed.
pub const EVIDENCE_CHANGED: &str = "EVIDENCE_CHANGED";
/// The caller cancelled hashing through the progress callback.
pub const EVIDENCE_CANCELLED: &str = "EVIDENCE_CANCELLED";

/// Bytes read at once and handed from the reading thread to the whole-file hashing thread: one chunk.
/// Measured (x86-64, 2 cores, page cache, buffers aligned): 64 KiB to 1 MiB blocks with 4 to 8 MiB in
/// flight all run within noise of each other; 1 MiB blocks need the fewest thread wake-ups.
const BLOCK_SIZE: usize = CHUNK_SIZE as usize;

/// Blocks that may exist at once in [`hash_file`]: bounds memory (8 MiB) whatever the file size.
const POOL_BLOCKS: usize = 8;

/// The reader hands the next chunk's hash to the worker when fewer than this many blocks wait for it.
const HAND_OFF_BELOW: usize = 3;

/// Files up to this size are hashed on the calling thread: a second thread is not worth starting.
const INLINE_MAX: u64 = 2 * CHUNK_SIZE as u64;

/// The hash and chunk manifest of one evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct EvidenceDigest {
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// Size of every chunk but the last, in bytes ([`CHUNK_SIZE`]).
    pub chunk_size: u32,
    /// SHA-256 of each chunk in order, lowercase hex. The last chunk may be short; an empty file has
    /// no chunks.
    pub chunk_hashes: Vec<String>,
    /// SHA-256 over the concatenated 32-byte chunk digests, lowercase hex: commits to the manifest in
    /// one value (for the ledger entry). For an empty file it is the SHA-256 of nothing.
    pub chunks_sha256: String,
}

impl EvidenceDigest {
    fn from_parts(whole: [u8; 32], size: u64, chunk_size: u32, chunks: &[[u8; 32]]) -> Self {
        EvidenceDigest {
            sha256: hex::encode(whole),
            size,
            chunk_size,
            chunk_hashes: chunks.iter().map(hex::encode).collect(),
            chunks_sha256: hex::encode(roadside_verify::chunks::manifest_sha256(chunks)),
        }
    }
}

/// Incremental evidence hashing, for bytes pushed while recording.
///
/// [`finish`](EvidenceHasher::finish) returns the same digest as [`hash_file`] on the same bytes,
/// however the bytes were split between calls to [`update`](EvidenceHasher::update). Both hashes are
/// computed on the calling thread (recording produces bytes far slower than SHA-256 consumes them).
/// The hashing is the offline verifier's (`roadside_verify::chunks`), so a package's verifier
/// computes the manifest exactly as the device did.
#[derive(Clone, Debug, Default)]
pub struct EvidenceHasher(roadside_verify::chunks::ChunkHasher);

impl EvidenceHasher {
    /// A hasher with the standard [`CHUNK_SIZE`].
    pub fn new() -> Self {
        Self::with_chunk_size(CHUNK_SIZE)
    }

    /// A hasher with another chunk size (tests use small chunks to exercise boundaries cheaply).
    pub(crate) fn with_chunk_size(chunk_size: u32) -> Self {
        assert!(chunk_size > 0, "chunk size must be positive");
        EvidenceHasher(roadside_verify::chunks::ChunkHasher::with_chunk_size(
            chunk_size,
        ))
    }

    /// Feed the next bytes of the file.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.0.bytes_seen()
    }

    /// The digest of every byte fed.
    pub fn finish(self) -> EvidenceDigest {
        let c = self.0.finish();
        EvidenceDigest::from_parts(c.sha256, c.size, c.chunk_size, &c.chunks)
    }
}

/// Hash a file by path with constant memory.
///
/// Errors (all [`crate::ErrorKind::Evidence`]): `EVIDENCE_NOT_FOUND`, `EVIDENCE_NOT_A_FILE`,
/// `EVIDENCE_UNREADABLE`, and `EVIDENCE_CHANGED` when the file vanished, was replaced or was modified
/// while it was hashed (size, modification time or identity differ before and after, or the bytes read
/// do not add up to the size).
pub fn hash_file(path: &Path) -> Result<EvidenceDigest> {
    hash_file_with_progress(path, &mut |_, _| true)
}

/// [`hash_file`], calling `progress(bytes_done, total)` before the first byte and after every chunk.
/// When it returns `false`, hashing stops with `EVIDENCE_CANCELLED`. The callback runs on the calling
/// thread.
pub fn hash_file_with_progress(
    path: &Path,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<EvidenceDigest> {
    hash_file_chunked(path, CHUNK_SIZE, progress)
}

/// The file-hashing pass with a configurable chunk size (the public API fixes it at [`CHUNK_SIZE`]).
pub(crate) fn hash_file_chunked(
    path: &Path,
    chunk_size: u32,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<EvidenceDigest> {
    assert!(chunk_size > 0, "chunk size must be positive");
    let mut source = Source::open(path, chunk_size as usize, progress)?;
    let (whole, chunks) = if source.expected <= INLINE_MAX {
        hash_inline(&mut source)?
    } else {
        hash_threaded(&mut source, BLOCK_SIZE, POOL_BLOCKS, HAND_OFF_BELOW)?
    };
    source.check_unchanged()?;
    Ok(EvidenceDigest::from_parts(
        whole,
        source.done,
        chunk_size,
        &chunks,
    ))
}

/// Small files: both hashes on the calling thread, one buffer.
fn hash_inline(source: &mut Source<'_, '_>) -> Result<([u8; 32], Vec<[u8; 32]>)> {
    let mut whole = Sha256::new();
    let mut chunk = Sha256::new();
    let mut chunks = Vec::new();
    // One byte more than the file, so that the first read can already see the end.
    let size = usize::try_from(source.expected).map_or(BLOCK_SIZE, |s| BLOCK_SIZE.min(s + 1));
    let mut buf = Buffer::new(size);
    loop {
        let n = source.read_block(buf.space())?;
        whole.update(buf.data(n));
        chunk.update(buf.data(n));
        if source.chunk_ends(n) {
            chunks.push(chunk.finalize_reset().into());
            source.end_chunk()?;
        }
        if n == 0 {
            return Ok((whole.finalize().into(), chunks));
        }
    }
}

/// Work sent from the reading thread to the hashing worker.
enum Job {
    /// Bytes to add to the whole-file hash and, if `chunk`, to the worker's chunk hash too.
    Block {
        buf: Buffer,
        len: usize,
        chunk: bool,
    },
    /// The chunk the worker has been hashing ends here; it is chunk number `index`.
    EndChunk { index: usize },
}

/// Large files, on two threads. The calling thread reads blocks into a pool of at most `pool`
/// buffers of `block` bytes and sends each, in order, to a scoped worker thread that adds it to the
/// whole-file hash and hands the buffer back.
///
/// Each chunk hash is computed by the reader, right after reading while the bytes are in its cache,
/// unless fewer than `hand_off_below` blocks wait for the worker when the chunk starts: then the
/// worker hashes that chunk as well (0: never, `usize::MAX`: always). Reading costs the reader time
/// the worker does not spend; handing chunks over whenever the worker runs dry keeps both threads
/// busy whatever the relative cost of reading and hashing on the device.
fn hash_threaded(
    source: &mut Source<'_, '_>,
    block: usize,
    pool: usize,
    hand_off_below: usize,
) -> Result<([u8; 32], Vec<[u8; 32]>)> {
    std::thread::scope(|scope| {
        // At most `pool` buffers exist, each followed by at most one chunk end: neither channel can
        // fill up, so the only waits are for a free buffer (reader) or for work (worker).
        let (to_worker, jobs) = mpsc::sync_channel::<Job>(2 * pool);
        let (to_reader, returned) = mpsc::sync_channel::<Buffer>(pool);
        let worker = scope.spawn(move || {
            let mut whole = Sha256::new();
            let mut chunk = Sha256::new();
            let mut chunks = Vec::new();
            for job in jobs {
                match job {
                    Job::Block {
                        buf,
                        len,
                        chunk: also,
                    } => {
                        whole.update(buf.data(len));
                        if also {
                            chunk.update(buf.data(len));
                        }
                        // The reader may have stopped early (error, cancel) and gone: fine.
                        let _ = to_reader.send(buf);
                    }
                    Job::EndChunk { index } => {
                        chunks.push((index, <[u8; 32]>::from(chunk.finalize_reset())));
                    }
                }
            }
            (<[u8; 32]>::from(whole.finalize()), chunks)
        });

        let read_all = read_for_worker(source, &to_worker, &returned, block, pool, hand_off_below);
        // Closing the channel ends the worker's loop whether or not the read succeeded.
        drop(to_worker);
        let (whole, from_worker) = worker.join().map_err(|_| worker_died())?;
        let mut chunks = read_all?;
        for (index, digest) in from_worker {
            chunks[index] = digest;
        }
        Ok((whole, chunks))
    })
}

/// The reading side of [`hash_threaded`]: returns the chunk digests it computed, with zeros in place
/// of those it left to the worker.
fn read_for_worker(
    source: &mut Source<'_, '_>,
    to_worker: &mpsc::SyncSender<Job>,
    returned: &mpsc::Receiver<Buffer>,
    block: usize,
    pool: usize,
    hand_off_below: usize,
) -> Result<Vec<[u8; 32]>> {
    let send = |job| to_worker.send(job).map_err(|_| worker_died());
    let mut chunks = Vec::new();
    let mut chunk = Sha256::new();
    let mut worker_hashes_chunk = false;
    let mut free: Vec<Buffer> = Vec::with_capacity(pool);
    let mut allocated = 0;
    loop {
        free.extend(returned.try_iter());
        if source.chunk_fill == 0 {
            // A chunk starts: give it to the worker if the worker is about to run out of work.
            worker_hashes_chunk = allocated - free.len() < hand_off_below;
        }
        let mut buf = match free.pop() {
            Some(buf) => buf,
            None if allocated < pool => {
                allocated += 1;
                Buffer::new(block)
            }
            None => returned.recv().map_err(|_| worker_died())?,
        };
        let n = source.read_block(buf.space())?;
        if !worker_hashes_chunk {
            chunk.update(buf.data(n));
        }
        if n > 0 {
            send(Job::Block {
                buf,
                len: n,
                chunk: worker_hashes_chunk,
            })?;
        }
        if source.chunk_ends(n) {
            if worker_hashes_chunk {
                send(Job::EndChunk {
                    index: chunks.len(),
                })?;
                chunks.push([0; 32]);
            } else {
                chunks.push(chunk.finalize_reset().into());
            }
            source.end_chunk()?;
        }
        if n == 0 {
            return Ok(chunks);
        }
    }
}

/// A reusable read buffer whose usable part starts on a cache-line boundary. The kernel copies file
/// data into misaligned memory several times slower, and large allocations are typically misaligned
/// (glibc serves them from a fresh mapping, 16 bytes into its first page): measured on x86-64, a 1 GiB
/// pass spent 1.2 s in the kernel copying into 256 KiB buffers at page offset 16, 0.35 s aligned.
struct Buffer {
    bytes: Vec<u8>,
    start: usize,
    size: usize,
}

impl Buffer {
    const ALIGN: usize = 64;

    fn new(size: usize) -> Self {
        let bytes = vec![0u8; size + Self::ALIGN - 1];
        let start = match bytes.as_ptr().align_offset(Self::ALIGN) {
            offset if offset < Self::ALIGN => offset,
            _ => 0, // alignment unknown: correct anyway, merely slower
        };
        Buffer { bytes, start, size }
    }

    /// The whole usable space, to read into.
    fn space(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + self.size]
    }

    /// The first `len` bytes read.
    fn data(&self, len: usize) -> &[u8] {
        &self.bytes[self.start..self.start + len]
    }
}

fn worker_died() -> RoadsideError {
    RoadsideError::internal("EVIDENCE_WORKER_FAILED", "计算证据文件哈希的线程意外退出")
}

/// What identifies one version of a file: if any of it differs between two observations, the bytes
/// may differ too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<std::time::SystemTime>,
    /// (device, inode, ctime seconds, ctime nanoseconds) on unix.
    #[cfg(unix)]
    unix: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            size: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            unix: (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether both stamps describe the same file (not merely the same path).
    fn same_file(&self, other: &Stamp) -> bool {
        #[cfg(unix)]
        {
            self.unix.0 == other.unix.0 && self.unix.1 == other.unix.1
        }
        #[cfg(not(unix))]
        {
            let _ = other;
            true
        }
    }

    /// Whether the contents may have changed between `self` and `later`; the reason, in Chinese.
    fn change_since(&self, later: &Stamp) -> Option<String> {
        if !self.same_file(later) {
            return Some("文件已被替换为另一个文件".to_string());
        }
        if self.size != later.size {
            return Some(format!("大小由 {} 变为 {} 字节", self.size, later.size));
        }
        if self.modified != later.modified {
            return Some("修改时间已变化".to_string());
        }
        #[cfg(unix)]
        if (self.unix.2, self.unix.3) != (later.unix.2, later.unix.3) {
            return Some("文件状态变更时间已变化".to_string());
        }
        None
    }
}

/// An open evidence file being read chunk by chunk, with what is needed to prove it did not change.
struct Source<'p, 'f> {
    path: &'p Path,
    file: File,
    /// The file as it was when opened.
    before: Stamp,
    /// Its size then: the total reported to `progress`, and what the bytes read must add up to.
    expected: u64,
    done: u64,
    chunk_size: usize,
    /// Bytes of the current chunk read so far.
    chunk_fill: usize,
    progress: &'f mut dyn FnMut(u64, u64) -> bool,
}

impl<'p, 'f> Source<'p, 'f> {
    fn open(
        path: &'p Path,
        chunk_size: usize,
        progress: &'f mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<Self> {
        // Look before opening: opening a FIFO would block, and a directory opens but cannot be read.
        let meta = std::fs::metadata(path).map_err(|e| FileError::open(path, e))?;
        if !meta.is_file() {
            return Err(FileError::NotAFile {
                path: path.to_path_buf(),
            }
            .into());
        }
        let file = File::open(path).map_err(|e| FileError::open(path, e))?;
        let before = Stamp::of(
            &file
                .metadata()
                .map_err(|e| FileError::unreadable(path, e))?,
        );
        if !Stamp::of(&meta).same_file(&before) {
            return Err(FileError::changed(path, "文件在打开时被替换为另一个文件").into());
        }
        let mut source = Source {
            path,
            file,
            before,
            expected: before.size,
            done: 0,
            chunk_size,
            chunk_fill: 0,
            progress,
        };
        source.report()?;
        Ok(source)
    }

    /// Pass progress to the caller; `false` cancels.
    fn report(&mut self) -> Result<()> {
        if (self.progress)(self.done, self.expected) {
            Ok(())
        } else {
            Err(FileError::Cancelled {
                path: self.path.to_path_buf(),
            }
            .into())
        }
    }

    /// Fill `buf` with the next bytes of the file, never across a chunk boundary. Returns how many
    /// bytes were read: fewer than asked only at the end of the file, 0 once there. Reading past the size seen at open is an error.
    fn read_block(&mut self, buf: &mut [u8]) -> Result<usize> {
        let want = buf.len().min(self.chunk_size - self.chunk_fill);
        let mut n = 0;
        while n < want {
            match self.file.read(&mut buf[n..want]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(FileError::unreadable(self.path, e).into()),
            }
        }
        self.done += n as u64;
        if self.done > self.expected {
            return Err(FileError::changed(
                self.path,
                format!("大小由 {} 变为至少 {} 字节", self.expected, self.done),
            )
            .into());
        }
        self.chunk_fill += n;
        Ok(n)
    }

    /// Whether the current chunk is complete after a read of `n` bytes: it is full, or the file
    /// ended (`n == 0`) part-way into it.
    fn chunk_ends(&self, n: usize) -> bool {
        self.chunk_fill == self.chunk_size || (n == 0 && self.chunk_fill > 0)
    }

    /// Start the next chunk and report progress.
    fn end_chunk(&mut self) -> Result<()> {
        self.chunk_fill = 0;
        self.report()
    }

    /// After the last chunk: the bytes read add up to the size, and the file, looked at both through
    /// the open handle and by path, is the same file with the same size and times as when opened.
    fn check_unchanged(&self) -> Result<()> {
        if self.done != self.expected {
            return Err(FileError::changed(
                self.path,
                format!("大小由 {} 变为 {} 字节", self.expected, self.done),
            )
            .into());
        }
        // By path first: a file moved away or replaced also has its status-change time updated, and
        // "deleted or moved" says more than "status changed".
        let by_path = match std::fs::metadata(self.path) {
            Ok(meta) => Stamp::of(&meta),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(FileError::changed(self.path, "文件已被删除或移动").into());
            }
            Err(e) => return Err(FileError::unreadable(self.path, e).into()),
        };
        let handle = Stamp::of(
            &self
                .file
                .metadata()
                .map_err(|e| FileError::unreadable(self.path, e))?,
        );
        for now in [by_path, handle] {
            if let Some(what) = self.before.change_since(&now) {
                return Err(FileError::changed(self.path, what).into());
            }
        }
        Ok(())
    }
}

/// Why a file could not be hashed, with the path it concerns. `From<FileError> for RoadsideError`
/// is the one place these become stable codes; the messages are the officer's.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("证据文件不存在：{}", .path.display())]
    NotFound { path: PathBuf },
    #[error("证据路径不是普通文件：{}", .path.display())]
    NotAFile { path: PathBuf },
    #[error("无法读取证据文件 {}：{source}", .path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file vanished, was replaced or was modified while it was hashed.
    #[error("证据文件 {} 在计算哈希期间被修改（{what}）", .path.display())]
    Changed { path: PathBuf, what: String },
    #[error("已取消计算证据文件的哈希：{}", .path.display())]
    Cancelled { path: PathBuf },
}

impl FileError {
    /// Looking at or opening `path` failed: a missing file is named as such.
    fn open(path: &Path, e: std::io::Error) -> Self {
        if e.kind() == ErrorKind::NotFound {
            FileError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            FileError::unreadable(path, e)
        }
    }

    fn unreadable(path: &Path, source: std::io::Error) -> Self {
        FileError::Unreadable {
            path: path.to_path_buf(),
            source,
        }
    }

    fn changed(path: &Path, what: impl Into<String>) -> Self {
        FileError::Changed {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            FileError::NotFound { .. } => EVIDENCE_NOT_FOUND,
            FileError::NotAFile { .. } => EVIDENCE_NOT_A_FILE,
            FileError::Unreadable { .. } => EVIDENCE_UNREADABLE,
            FileError::Changed { .. } => EVIDENCE_CHANGED,
            FileError::Cancelled { .. } => EVIDENCE_CANCELLED,
        }
    }
}

impl From<FileError> for RoadsideError {
    fn from(e: FileError) -> Self {
        RoadsideError::evidence(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    fn write_file(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    fn digest_of(data: &[u8]) -> EvidenceDigest {
        let mut h = EvidenceHasher::new();
        h.update(data);
        h.finish()
    }

    #[test]
    fn empty_input() {
        let d = digest_of(b"");
        assert_eq!(d.sha256, EMPTY);
        assert_eq!(d.size, 0);
        assert_eq!(d.chunk_size, CHUNK_SIZE);
        assert!(d.chunk_hashes.is_empty());
        assert_eq!(d.chunks_sha256, EMPTY);

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(hash_file(&write_file(&dir, "empty", b"")).unwrap(), d);
    }

    #[test]
    fn abc() {
        let d = digest_of(b"abc");
        assert_eq!(d.sha256, ABC);
        assert_eq!(d.size, 3);
        assert_eq!(d.chunk_hashes, vec![ABC.to_string()]);
        assert_eq!(d.chunks_sha256, sha(&hex::decode(ABC).unwrap()));

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(hash_file(&write_file(&dir, "abc", b"abc")).unwrap(), d);
    }

    #[test]
    fn two_and_a_half_mib_has_three_chunks() {
        let data = bytes(5 * (1 << 19), 7);
        let c = CHUNK_SIZE as usize;
        let slices = [&data[..c], &data[c..2 * c], &data[2 * c..]];
        let d = digest_of(&data);
        assert_eq!(d.sha256, sha(&data));
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(d.chunk_hashes.len(), 3);
        for (hash, slice) in d.chunk_hashes.iter().zip(slices) {
            assert_eq!(*hash, sha(slice));
        }
        let concat: Vec<u8> = slices.iter().flat_map(Sha256::digest).collect();
        assert_eq!(d.chunks_sha256, sha(&concat));

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(hash_file(&write_file(&dir, "ev", &data)).unwrap(), d);
    }

    #[test]
    fn exact_multiple_of_chunk_size_has_no_empty_tail_chunk() {
        let data = bytes(2 * CHUNK_SIZE as usize, 3);
        let d = digest_of(&data);
        assert_eq!(d.chunk_hashes.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(hash_file(&write_file(&dir, "ev", &data)).unwrap(), d);
    }

    #[test]
    fn large_file_takes_the_threaded_path() {
        // Over INLINE_MAX, odd-sized, with progress reported before the start and after every chunk.
        let data = bytes(5 * CHUNK_SIZE as usize + 12_345, 11);
        assert!(data.len() as u64 > INLINE_MAX);
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "big", &data);
        let mut seen = Vec::new();
        let d = hash_file_with_progress(&path, &mut |done, total| {
            seen.push((done, total));
            true
        })
        .unwrap();
        assert_eq!(d, digest_of(&data));
        assert_eq!(d.sha256, sha(&data));
        assert_eq!(d.chunk_hashes.len(), 6);
        let total = data.len() as u64;
        let mut want: Vec<(u64, u64)> = (0..=5).map(|i| (i * CHUNK_SIZE as u64, total)).collect();
        want.push((total, total));
        assert_eq!(seen, want);
    }

    #[test]
    fn threaded_matches_incremental_whoever_hashes_the_chunks() {
        let data = bytes(100_000, 5);
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "ev", &data);
        let mut h = EvidenceHasher::with_chunk_size(1000);
        h.update(&data);
        let want = h.finish();
        assert_eq!(want.chunk_hashes.len(), 100);
        // A small file takes the inline path at the real sizes: call the threaded one directly, with
        // blocks that do not divide the chunk size, and chunks hashed by the reader only, the worker
        // only, or both as the backlog decides.
        for (block, pool) in [(300, 3), (1000, 1), (64, 16), (4096, 4)] {
            for hand_off_below in [0, HAND_OFF_BELOW, usize::MAX] {
                let mut progress = |_, _| true;
                let mut source = Source::open(&path, 1000, &mut progress).unwrap();
                let (whole, chunks) =
                    hash_threaded(&mut source, block, pool, hand_off_below).unwrap();
                source.check_unchanged().unwrap();
                let d = EvidenceDigest::from_parts(whole, source.done, 1000, &chunks);
                assert_eq!(
                    d, want,
                    "block {block} pool {pool} hand-off {hand_off_below}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn incremental_with_any_split_equals_file_hashing(
            len in 0usize..5000,
            chunk_size in 1u32..700,
            seed in any::<u64>(),
            cuts in proptest::collection::vec(0usize..5000, 0..12),
        ) {
            let data = bytes(len, seed);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
            cuts.push(0);
            cuts.push(len);
            cuts.sort_unstable();
            let mut h = EvidenceHasher::with_chunk_size(chunk_size);
            for w in cuts.windows(2) {
                h.update(&data[w[0]..w[1]]);
                prop_assert_eq!(h.bytes_seen(), w[1] as u64);
            }
            let incremental = h.finish();

            let dir = tempfile::tempdir().unwrap();
            let path = write_file(&dir, "ev", &data);
            let from_file = hash_file_chunked(&path, chunk_size, &mut |_, _| true).unwrap();
            prop_assert_eq!(&incremental, &from_file);
            prop_assert_eq!(&incremental.sha256, &sha(&data));
            let cs = chunk_size as usize;
            prop_assert_eq!(incremental.chunk_hashes.len(), len.div_ceil(cs));
            for (i, hash) in incremental.chunk_hashes.iter().enumerate() {
                prop_assert_eq!(hash, &sha(&data[i * cs..((i + 1) * cs).min(len)]));
            }
        }
    }

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.mp4");
        let e = hash_file(&path).unwrap_err();
        assert_eq!(e.code(), EVIDENCE_NOT_FOUND);
        assert_eq!(e.kind(), crate::ErrorKind::Evidence);
        assert!(e.message().contains("nope.mp4"), "{}", e.message());
    }

    #[test]
    fn directory_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = hash_file(dir.path()).unwrap_err();
        assert_eq!(e.code(), EVIDENCE_NOT_A_FILE);
        assert!(
            e.message().contains(&dir.path().display().to_string()),
            "{}",
            e.message()
        );
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "locked", b"secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if File::open(&path).is_ok() {
            return; // running as root: permissions do not apply
        }
        assert_eq!(hash_file(&path).unwrap_err().code(), EVIDENCE_UNREADABLE);
    }

    /// Another writer appends while the file is hashed (deterministically: from the progress callback
    /// after the first chunk), on both the inline and the threaded path.
    #[test]
    fn appended_while_hashing_is_changed() {
        for len in [CHUNK_SIZE as usize + 10, 3 * CHUNK_SIZE as usize + 10] {
            let data = bytes(len, 1);
            let dir = tempfile::tempdir().unwrap();
            let path = write_file(&dir, "rec.mp4", &data);
            let writer_path = path.clone();
            let e = hash_file_with_progress(&path, &mut |done, _| {
                if done == CHUNK_SIZE as u64 {
                    std::thread::spawn({
                        let p = writer_path.clone();
                        move || {
                            let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
                            f.write_all(&[0u8; 4096]).unwrap();
                        }
                    })
                    .join()
                    .unwrap();
                }
                true
            })
            .unwrap_err();
            assert_eq!(e.code(), EVIDENCE_CHANGED, "{}", e.message());
            let want = format!("大小由 {len} 变为");
            assert!(e.message().contains(&want), "{}", e.message());
            assert!(e.message().contains("rec.mp4"), "{}", e.message());
        }
    }

    #[test]
    fn truncated_while_hashing_is_changed() {
        let len = 3 * CHUNK_SIZE as usize;
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "ev", &bytes(len, 2));
        let e = hash_file_with_progress(&path, &mut |done, _| {
            if done == CHUNK_SIZE as u64 {
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(CHUNK_SIZE as u64 + 5).unwrap();
            }
            true
        })
        .unwrap_err();
        assert_eq!(e.code(), EVIDENCE_CHANGED);
        let want = format!("大小由 {len} 变为 {} 字节", CHUNK_SIZE + 5);
        assert!(e.message().contains(&want), "{}", e.message());
    }

    #[test]
    fn rewritten_in_place_is_changed() {
        // Same size, bytes already read overwritten: only the modification time tells.
        let data = bytes(3 * CHUNK_SIZE as usize, 4);
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "ev", &data);
        let e = hash_file_with_progress(&path, &mut |done, _| {
            if done == CHUNK_SIZE as u64 {
                let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.write_all(b"tampered").unwrap();
                let earlier = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
                f.set_modified(earlier).unwrap();
            }
            true
        })
        .unwrap_err();
        assert_eq!(e.code(), EVIDENCE_CHANGED);
        assert!(e.message().contains("修改时间"), "{}", e.message());
    }

    #[test]
    fn vanished_while_hashing_is_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "ev", &bytes(CHUNK_SIZE as usize + 1, 6));
        let e = hash_file_with_progress(&path, &mut |done, _| {
            if done == CHUNK_SIZE as u64 {
                std::fs::rename(&path, dir.path().join("moved")).unwrap();
            }
            true
        })
        .unwrap_err();
        assert_eq!(e.code(), EVIDENCE_CHANGED);
        assert!(e.message().contains("删除或移动"), "{}", e.message());
    }

    #[cfg(unix)]
    #[test]
    fn replaced_while_hashing_is_changed() {
        let data = bytes(CHUNK_SIZE as usize + 1, 8);
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "ev", &data);
        let impostor = write_file(&dir, "other", &data);
        let e = hash_file_with_progress(&path, &mut |done, _| {
            if done == CHUNK_SIZE as u64 {
                std::fs::rename(&impostor, &path).unwrap();
            }
            true
        })
        .unwrap_err();
        assert_eq!(e.code(), EVIDENCE_CHANGED);
        assert!(e.message().contains("替换"), "{}", e.message());
    }

    #[test]
    fn cancellation() {
        // Cancelled after the first chunk (inline path) and after the second (threaded path).
        for (len, stop_at, want_calls) in [
            (10u64, 10, 2),
            (5 * CHUNK_SIZE as u64, 2 * CHUNK_SIZE as u64, 3),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = write_file(&dir, "ev", &bytes(len as usize, 9));
            let mut calls = 0;
            let e = hash_file_with_progress(&path, &mut |done, total| {
                calls += 1;
                assert_eq!(total, len);
                done < stop_at
            })
            .unwrap_err();
            assert_eq!(e.code(), EVIDENCE_CANCELLED);
            assert_eq!(e.kind(), crate::ErrorKind::Evidence);
            assert_eq!(calls, want_calls);
        }
        // Cancelled before the first byte.
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "ev", b"abc");
        let e = hash_file_with_progress(&path, &mut |_, _| false).unwrap_err();
        assert_eq!(e.code(), EVIDENCE_CANCELLED);
    }

    #[test]
    fn digest_round_trips_through_json() {
        let d = digest_of(&bytes(3000, 1));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<EvidenceDigest>(&json).unwrap(), d);
    }
}
