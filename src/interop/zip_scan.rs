//! A check of a ZIP archive's central directory before any entry is inflated.
//!
//! `torch.save` stores its entries uncompressed, but a ZIP entry may be deflated, and a
//! deflated entry of a few kilobytes can claim (and expand to) gigabytes. burn-store's
//! reader bounds what it keeps of an entry by the tensor reading it, but it still inflates
//! every byte up to the tensor's offset, and the offset is as large as the archive claims.
//! So the sizes the directory declares are read here, and an archive whose entries would
//! expand beyond a cap is refused naming the entry, before the reader opens it.
//!
//! Only what the sizes need is parsed: the end-of-central-directory record (and its ZIP64
//! form, which `torch.save` always writes), then each directory entry's sizes, with the ZIP64
//! extra field where a size overflows 32 bits. Every offset and count is checked against the
//! file's length before it is used.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::ImportError;

/// Size of the end-of-central-directory record without its comment.
const EOCD_LEN: u64 = 22;
/// The longest comment the end record can carry.
const MAX_COMMENT: u64 = u16::MAX as u64;
/// Size of a central directory entry's fixed part.
const ENTRY_LEN: usize = 46;

/// One entry of the directory, as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Its path in the archive.
    name: String,
    /// Bytes it takes in the archive.
    compressed: u64,
    /// Bytes it declares once inflated.
    uncompressed: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

/// Reads `len` bytes at `offset` of `file`, which the caller has checked lie in the file.
fn read_at(file: &mut std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = vec![0u8; len];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Where the central directory lies and how many entries it declares.
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
}

/// Finds the end record in `tail` (the last bytes of a file of `file_len` bytes) and, when
/// its fields overflow, the ZIP64 end record it points to.
fn locate(file: &mut std::fs::File, file_len: u64, tail: &[u8]) -> Result<Directory, String> {
    let tail_start = file_len - tail.len() as u64;
    // The last end signature whose comment reaches exactly to the end of the file.
    let at = (0..tail.len().saturating_sub(EOCD_LEN as usize - 1))
        .rev()
        .find(|&i| {
            u32_at(tail, i) == Some(0x0605_4b50)
                && u16_at(tail, i + 20).is_some_and(|c| i + EOCD_LEN as usize + c as usize == tail.len())
        })
        .ok_or("no end-of-central-directory record")?;
    let entries = u16_at(tail, at + 10).expect("in the record");
    let size = u32_at(tail, at + 12).expect("in the record");
    let offset = u32_at(tail, at + 16).expect("in the record");
    if entries != u16::MAX && size != u32::MAX && offset != u32::MAX {
        return Ok(Directory {
            offset: offset.into(),
            size: size.into(),
            entries: entries.into(),
        });
    }
    // ZIP64: a 20-byte locator just before the end record points at the ZIP64 end record.
    let locator = at.checked_sub(20).ok_or("a ZIP64 archive without its locator")?;
    if u32_at(tail, locator) != Some(0x0706_4b50) {
        return Err("a ZIP64 archive without its locator".into());
    }
    let record_at = u64_at(tail, locator + 8).expect("in the locator");
    let record_end = tail_start + locator as u64;
    if record_at.checked_add(56).is_none_or(|end| end > record_end) {
        return Err("the ZIP64 end record lies outside the file".into());
    }
    let record = read_at(file, record_at, 56).map_err(|e| e.to_string())?;
    if u32_at(&record, 0) != Some(0x0606_4b50) {
        return Err("no ZIP64 end record where the locator points".into());
    }
    Ok(Directory {
        entries: u64_at(&record, 32).expect("in the record"),
        size: u64_at(&record, 40).expect("in the record"),
        offset: u64_at(&record, 48).expect("in the record"),
    })
}

/// The entries `directory` (the central directory's bytes) declares, `expected` of them.
fn entries(directory: &[u8], expected: u64) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while (out.len() as u64) < expected {
        let fixed = directory
            .get(at..at + ENTRY_LEN)
            .ok_or("the central directory ends before its last entry")?;
        if u32_at(fixed, 0) != Some(0x0201_4b50) {
            return Err(format!("no directory entry signature at entry {}", out.len()));
        }
        let mut compressed = u64::from(u32_at(fixed, 20).expect("fixed part"));
        let mut uncompressed = u64::from(u32_at(fixed, 24).expect("fixed part"));
        let name_len = usize::from(u16_at(fixed, 28).expect("fixed part"));
        let extra_len = usize::from(u16_at(fixed, 30).expect("fixed part"));
        let comment_len = usize::from(u16_at(fixed, 32).expect("fixed part"));
        let name_at = at + ENTRY_LEN;
        let extra_at = name_at + name_len;
        let next = extra_at + extra_len + comment_len;
        let (name, extra) = match (
            directory.get(name_at..extra_at),
            directory.get(extra_at..extra_at + extra_len),
        ) {
            (Some(name), Some(extra)) if next <= directory.len() => {
                (String::from_utf8_lossy(name).into_owned(), extra)
            }
            _ => return Err(format!("directory entry {} runs past the directory", out.len())),
        };
        if uncompressed == u64::from(u32::MAX) || compressed == u64::from(u32::MAX) {
            // The ZIP64 extra field holds, in this order, each field that overflowed.
            let mut field = 0usize;
            while let (Some(id), Some(len)) = (u16_at(extra, field), u16_at(extra, field + 2)) {
                let body = extra.get(field + 4..field + 4 + usize::from(len)).unwrap_or(&[]);
                if id == 1 {
                    let mut values = body
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().expect("8")));
                    if uncompressed == u64::from(u32::MAX) {
                        uncompressed = values.next().ok_or(format!("{name}: ZIP64 sizes missing"))?;
                    }
                    if compressed == u64::from(u32::MAX) {
                        compressed = values.next().ok_or(format!("{name}: ZIP64 sizes missing"))?;
                    }
                }
                field += 4 + usize::from(len);
            }
        }
        out.push(Entry {
            name,
            compressed,
            uncompressed,
        });
        at = next;
    }
    Ok(out)
}

/// Checks the entries of the ZIP archive `path` (`file_len` bytes), as its central directory
/// declares them: refused when they would expand to more than `max_total` bytes in all or
/// number more than `max_entries`. The refusal names the entry that crosses the cap.
pub(super) fn check(
    path: &Path,
    file_len: u64,
    max_total: u64,
    max_entries: usize,
) -> Result<(), ImportError> {
    let damaged = |why: String| ImportError::damaged(path, format!("its ZIP directory: {why}"));
    let mut file = crate::fsutil::open_regular(path).map_err(|e| ImportError::io(path, e))?;
    let tail_len = file_len.min(EOCD_LEN + MAX_COMMENT);
    let tail =
        read_at(&mut file, file_len - tail_len, tail_len as usize).map_err(|e| ImportError::io(path, e))?;
    let directory = locate(&mut file, file_len, &tail).map_err(damaged)?;
    if directory.entries > max_entries as u64 {
        return Err(ImportError::damaged(
            path,
            format!(
                "its ZIP archive holds {} entries, over the limit of {max_entries} for a checkpoint",
                directory.entries
            ),
        ));
    }
    // Each entry takes at least its fixed part, so a count the directory cannot hold is a lie.
    if directory
        .offset
        .checked_add(directory.size)
        .is_none_or(|end| end > file_len)
        || directory.entries.saturating_mul(ENTRY_LEN as u64) > directory.size
    {
        return Err(damaged(format!(
            "it declares {} entries in {} bytes at offset {}, which a {file_len}-byte file cannot hold",
            directory.entries, directory.size, directory.offset
        )));
    }
    let bytes = read_at(&mut file, directory.offset, directory.size as usize)
        .map_err(|e| ImportError::io(path, e))?;
    let listed = entries(&bytes, directory.entries).map_err(damaged)?;
    let mut total = 0u64;
    for entry in &listed {
        total = total.saturating_add(entry.uncompressed);
        if total > max_total {
            return Err(ImportError::damaged(
                path,
                format!(
                    "ZIP entry '{}' declares {} bytes once inflated (it takes {} in the file), which takes the archive over the {} MB limit for a checkpoint's contents",
                    entry.name,
                    entry.uncompressed,
                    entry.compressed,
                    max_total >> 20
                ),
            ));
        }
    }
    Ok(())
}
