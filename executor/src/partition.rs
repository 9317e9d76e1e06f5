//! The object partitioner: splits objects into parts for functions with an `obj`
//! parameter. A line belongs to the part it starts in, so the parts of an object
//! concatenate to exactly the object, with no line split, lost or repeated (Lithops loses
//! the last byte of a file without a final newline, and 2.2.0 repeats lines; this does
//! neither).

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::protocol::ObjectPart;

/// How much is read around a boundary at first, looking for the next newline.
const WINDOW: usize = 64 * 1024;
/// The first read around a boundary of a remote object (lines are usually short; the
/// window doubles while no newline is found).
const REMOTE_WINDOW: usize = 16 * 1024;
/// The largest read of a remote object when a line is very long (windows double up to it).
const MAX_REMOTE_WINDOW: usize = 8 * 1024 * 1024;

/// How to split each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// One part per object.
    Whole,
    /// Parts of about this many bytes (`chunk_size`).
    Size(u64),
    /// This many parts per object (`chunk_n`).
    Count(u64),
}

/// Random access to an object's bytes.
pub trait ObjectSource {
    /// The object's size in bytes.
    fn size(&self) -> u64;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

impl ObjectSource for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A local file as an object.
pub struct LocalFile {
    file: File,
    size: u64,
}

impl LocalFile {
    /// Opens a file.
    pub fn open(path: &Path) -> io::Result<LocalFile> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(LocalFile { file, size })
    }
}

impl ObjectSource for LocalFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }
}

/// Random access to a remote object's bytes (S3): every read is one request, so the
/// partitioner asks only for the bytes around part boundaries.
pub trait AsyncObjectSource {
    /// The object's size in bytes.
    fn size(&self) -> u64;
    /// Reads up to `len` bytes at `offset` (fewer only at the end of the object).
    fn read_at(&self, offset: u64, len: usize) -> impl Future<Output = io::Result<Vec<u8>>> + Send;
}

pub use lithoflow_executor_config::MAX_PARTS;

/// Where parts nominally start, before moving each to a line start: multiples of
/// `chunk_size`, or `size * i / n`.
fn nominal_bounds(size: u64, chunking: Chunking) -> io::Result<Vec<u64>> {
    let parts = match chunking {
        Chunking::Whole => 1,
        Chunking::Size(cs) => size.div_ceil(cs.max(1)),
        Chunking::Count(n) => n.max(1),
    };
    if parts > MAX_PARTS {
        let how = match chunking {
            Chunking::Count(n) => format!("chunk_n = {n}"),
            Chunking::Size(cs) => format!("chunk_size = {cs}"),
            Chunking::Whole => "whole".to_owned(),
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{how} would split the {size}-byte object into {parts} parts, more than the limit of {MAX_PARTS}"
            ),
        ));
    }
    Ok(match chunking {
        Chunking::Whole => Vec::new(),
        Chunking::Size(cs) => {
            let cs = cs.max(1);
            (1..size.div_ceil(cs)).map(|i| i * cs).collect()
        }
        Chunking::Count(n) => {
            let n = n.max(1);
            (1..n)
                .map(|i| (u128::from(i) * u128::from(size) / u128::from(n)) as u64)
                .collect()
        }
    })
}

/// The ranges between consecutive boundaries, from 0 to `size`.
fn ranges(bounds: Vec<u64>, size: u64) -> Vec<(u64, u64)> {
    let mut all = Vec::with_capacity(bounds.len() + 2);
    all.push(0);
    all.extend(bounds);
    all.push(size);
    all.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The parts of one object as byte ranges `[start, end)`, contiguous from 0 to its size.
/// An empty object has one empty part; a part may be empty when one line spans several
/// nominal parts, so `Count(n)` always gives `n` parts.
pub fn split<S: ObjectSource + ?Sized>(src: &S, chunking: Chunking) -> io::Result<Vec<(u64, u64)>> {
    split_with(src, chunking, WINDOW)
}

fn split_with<S: ObjectSource + ?Sized>(
    src: &S,
    chunking: Chunking,
    window: usize,
) -> io::Result<Vec<(u64, u64)>> {
    let size = src.size();
    let mut bounds: Vec<u64> = Vec::new();
    // One buffer for every boundary: a small `chunk_size` makes many boundaries.
    let mut buf = Vec::new();
    for b in nominal_bounds(size, chunking)? {
        let prev = bounds.last().copied().unwrap_or(0);
        let b = b.max(prev);
        // As in `split_async_with`: a boundary that an earlier line already pushed past
        // is a line start, no read needed.
        let start = if b == prev && b > 0 {
            b
        } else {
            line_start_at_or_after(src, b, window, &mut buf)?
        };
        bounds.push(start);
    }
    Ok(ranges(bounds, size))
}

/// [`split`] over a remote object: the same parts, byte for byte, reading only windows
/// around the nominal boundaries (never the whole object unless one line fills it).
pub async fn split_async<S: AsyncObjectSource + Sync + ?Sized>(
    src: &S,
    chunking: Chunking,
) -> io::Result<Vec<(u64, u64)>> {
    split_async_with(src, chunking, REMOTE_WINDOW).await
}

async fn split_async_with<S: AsyncObjectSource + Sync + ?Sized>(
    src: &S,
    chunking: Chunking,
    window: usize,
) -> io::Result<Vec<(u64, u64)>> {
    let size = src.size();
    let mut bounds: Vec<u64> = Vec::new();
    for b in nominal_bounds(size, chunking)? {
        let prev = bounds.last().copied().unwrap_or(0);
        let b = b.max(prev);
        // A boundary that an earlier line already pushed past needs no read: the
        // previous boundary is a line start, and so is anything at or past the end.
        let start = if (b == prev && b > 0) || b >= size {
            b.min(size)
        } else {
            remote_line_start_at_or_after(src, b, window).await?
        };
        bounds.push(start);
    }
    Ok(ranges(bounds, size))
}

/// The first position `>= b` where a line starts (after a `\n`, or the end).
fn line_start_at_or_after<S: ObjectSource + ?Sized>(
    src: &S,
    b: u64,
    window: usize,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    let size = src.size();
    if b == 0 || b >= size {
        return Ok(b.min(size));
    }
    // Reading from `b - 1`: a part starts at `b` when the byte before it ends a line.
    let mut pos = b - 1;
    buf.resize(window.max(1), 0);
    while pos < size {
        let n = src.read_at(pos, buf)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&c| c == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    Ok(size)
}

/// [`line_start_at_or_after`] for a remote object; windows double (up to
/// [`MAX_REMOTE_WINDOW`]) while no newline is found, so a long line costs few requests.
async fn remote_line_start_at_or_after<S: AsyncObjectSource + Sync + ?Sized>(
    src: &S,
    b: u64,
    window: usize,
) -> io::Result<u64> {
    let size = src.size();
    if b == 0 || b >= size {
        return Ok(b.min(size));
    }
    let mut pos = b - 1;
    let mut len = window.max(1);
    while pos < size {
        let want = usize::try_from(size - pos).map_or(len, |left| left.min(len));
        let buf = src.read_at(pos, want).await?;
        if buf.is_empty() {
            break;
        }
        if let Some(i) = buf.iter().position(|&c| c == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += buf.len() as u64;
        len = (len * 2).min(MAX_REMOTE_WINDOW.max(window));
    }
    Ok(size)
}

/// The files an `obj` value names: a file, or every regular file directly in a folder
/// (sorted; hidden files skipped), as Lithops lists a local folder.
pub fn local_objects(path: &Path) -> io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the folder has no files",
        ));
    }
    Ok(files)
}

/// The parts of the local objects an `obj` value names (a file, or the files of a
/// folder), relative paths resolved against `base_dir`. A part's key is the location as
/// given (plus the file name for a folder), its `path` the file to read.
pub fn local_parts(
    base_dir: &Path,
    location: &str,
    chunking: Chunking,
) -> Result<Vec<ObjectPart>, String> {
    let path = base_dir.join(location);
    let files = local_objects(&path)
        .map_err(|e| format!("`obj` {location:?} ({}): {e}", path.display()))?;
    let mut parts = Vec::new();
    for file in files {
        let src =
            LocalFile::open(&file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        let ranges =
            split(&src, chunking).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let total = ranges.len();
        let key = if file == path {
            location.to_owned()
        } else {
            format!(
                "{}/{}",
                location.trim_end_matches('/'),
                file.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            )
        };
        for (i, range) in ranges.into_iter().enumerate() {
            parts.push(ObjectPart {
                bucket: None,
                key: key.clone(),
                path: Some(file.to_string_lossy().into_owned()),
                part: i + 1,
                total_parts: total,
                range,
                data_b64: None,
            });
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An in-memory remote object that counts what is read.
    struct Remote {
        data: Vec<u8>,
        read: std::sync::atomic::AtomicU64,
        requests: std::sync::atomic::AtomicU64,
    }

    impl Remote {
        fn new(data: &[u8]) -> Remote {
            Remote {
                data: data.to_vec(),
                read: 0.into(),
                requests: 0.into(),
            }
        }
    }

    impl AsyncObjectSource for Remote {
        fn size(&self) -> u64 {
            self.data.len() as u64
        }

        async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            use std::sync::atomic::Ordering;
            let start = (offset as usize).min(self.data.len());
            let end = start.saturating_add(len).min(self.data.len());
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.read.fetch_add((end - start) as u64, Ordering::Relaxed);
            Ok(self.data[start..end].to_vec())
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn remote_objects_are_read_only_around_boundaries() {
        // 1 MiB of 100-byte lines, split in 16: about one window per boundary.
        let line = format!("{}\n", "x".repeat(99));
        let data = line.repeat(10 * 1024);
        let remote = Remote::new(data.as_bytes());
        let ranges = block_on(split_async(&remote, Chunking::Count(16))).expect("split");
        assert_eq!(
            ranges,
            split(data.as_bytes(), Chunking::Count(16)).expect("split")
        );
        let requests = remote.requests.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(requests, 15, "one ranged read per boundary");
        // Whole objects need no read at all.
        let remote = Remote::new(data.as_bytes());
        block_on(split_async(&remote, Chunking::Whole)).expect("split");
        assert_eq!(remote.read.load(std::sync::atomic::Ordering::Relaxed), 0);
        // One long line: windows double, so a 1 MiB line costs a handful of requests.
        let mut long = vec![b'y'; 1024 * 1024];
        long.push(b'\n');
        long.extend_from_slice(b"tail\n");
        let remote = Remote::new(&long);
        let ranges = block_on(split_async(&remote, Chunking::Size(10))).expect("split");
        assert_eq!(ranges, split(&long[..], Chunking::Size(10)).expect("split"));
        assert!(remote.requests.load(std::sync::atomic::Ordering::Relaxed) < 20);
    }

    fn parts(data: &[u8], c: Chunking) -> Vec<Vec<u8>> {
        split(data, c)
            .expect("in memory")
            .iter()
            .map(|&(a, b)| data[a as usize..b as usize].to_vec())
            .collect()
    }

    #[test]
    fn small_and_edge_objects() {
        assert_eq!(
            parts(b"", Chunking::Count(3)),
            vec![Vec::<u8>::new(), vec![], vec![]]
        );
        assert_eq!(parts(b"", Chunking::Whole), vec![Vec::<u8>::new()]);
        assert_eq!(parts(b"x", Chunking::Size(1)), vec![b"x".to_vec()]);
        assert_eq!(
            parts(b"a\nb", Chunking::Size(1)),
            vec![b"a\n".to_vec(), vec![], b"b".to_vec()]
        );
        // The README example Lithops 2.2.0 duplicated a line on.
        let data = b"aaaa\nbbbb\ncccc\ndddd\n";
        assert_eq!(
            parts(data, Chunking::Size(7)),
            vec![
                b"aaaa\nbbbb\n".to_vec(),
                b"cccc\n".to_vec(),
                b"dddd\n".to_vec()
            ]
        );
    }

    #[test]
    fn too_many_parts_is_an_error_not_an_abort() {
        // Found while writing tests/it/fuzz.rs: `chunk_n` is any positive i64 in a DAG file.
        for c in [
            Chunking::Count(1_000_000_000_000),
            Chunking::Count(u64::MAX),
        ] {
            let e = split(&b"a\nb\n"[..], c).expect_err("too many parts");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            let e = block_on(split_async(&Remote::new(b"a\n"), c)).expect_err("too many parts");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        let big = vec![b'\n'; 2_000_000];
        assert!(split(&big[..], Chunking::Size(1)).is_err());
        assert_eq!(
            split(&big[..], Chunking::Count(MAX_PARTS))
                .map(|r| r.len() as u64)
                .ok(),
            Some(MAX_PARTS)
        );
    }

    proptest! {
        #[test]
        fn remote_and_local_splitting_agree(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..300),
            chunk in 1u64..120,
            by_count in any::<bool>(),
            window in 1usize..9,
        ) {
            let chunking = if by_count { Chunking::Count(chunk.min(30)) } else { Chunking::Size(chunk) };
            let local = split_with(&data[..], chunking, window).expect("in memory");
            prop_assert_eq!(&local, &split(&data[..], chunking).expect("in memory"));
            let remote = Remote::new(&data);
            let got = block_on(split_async_with(&remote, chunking, window)).expect("in memory");
            prop_assert_eq!(got, local);
        }

        #[test]
        fn parts_concatenate_to_the_object_and_lines_stay_whole(
            lines in proptest::collection::vec("[a-z]{0,40}", 0..40),
            trailing_newline in any::<bool>(),
            chunk in 1u64..200,
            by_count in any::<bool>(),
        ) {
            let mut text = lines.join("\n");
            if trailing_newline && !text.is_empty() {
                text.push('\n');
            }
            let data = text.as_bytes();
            let chunking = if by_count { Chunking::Count(chunk.min(20)) } else { Chunking::Size(chunk) };
            let ranges = split(data, chunking).expect("in memory");
            // Contiguous from 0 to the end: concatenation is the object.
            prop_assert_eq!(ranges.first().map(|r| r.0), Some(0));
            prop_assert_eq!(ranges.last().map(|r| r.1), Some(data.len() as u64));
            for w in ranges.windows(2) {
                prop_assert_eq!(w[0].1, w[1].0);
            }
            // Every boundary is a line start, so no line is split.
            for &(a, _) in &ranges[1..] {
                prop_assert!(a == 0 || a == data.len() as u64 || data[a as usize - 1] == b'\n');
            }
            if let Chunking::Count(n) = chunking {
                prop_assert_eq!(ranges.len() as u64, n);
            } else if !data.is_empty() {
                prop_assert_eq!(ranges.len() as u64, (data.len() as u64).div_ceil(chunk));
            }
        }
    }
}
