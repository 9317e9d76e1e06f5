//! The object partitioner: splits objects into parts for functions with an `obj`
//! parameter. A line belongs to the part it starts in, so the parts of an object
//! concatenate to exactly the object, with no line split, lost or repeated (Lithops loses
//! the last byte of a file without a final newline, and 2.2.0 repeats lines; this does
//! neither).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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

/// The parts of one object as byte ranges `[start, end)`, contiguous from 0 to its size.
/// An empty object has one empty part; a part may be empty when one line spans several
/// nominal parts, so `Count(n)` always gives `n` parts.
pub fn split<S: ObjectSource + ?Sized>(src: &S, chunking: Chunking) -> io::Result<Vec<(u64, u64)>> {
    let size = src.size();
    let nominal: Vec<u64> = match chunking {
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
    };
    let mut bounds = Vec::with_capacity(nominal.len() + 2);
    bounds.push(0);
    for b in nominal {
        let prev = *bounds.last().unwrap_or(&0);
        bounds.push(line_start_at_or_after(src, b.max(prev))?);
    }
    bounds.push(size);
    Ok(bounds.windows(2).map(|w| (w[0], w[1])).collect())
}

/// The first position `>= b` where a line starts (after a `\n`, or the end).
fn line_start_at_or_after<S: ObjectSource + ?Sized>(src: &S, b: u64) -> io::Result<u64> {
    let size = src.size();
    if b == 0 || b >= size {
        return Ok(b.min(size));
    }
    let mut pos = b - 1;
    let mut buf = vec![0u8; 64 * 1024];
    while pos < size {
        let n = src.read_at(pos, &mut buf)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
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
