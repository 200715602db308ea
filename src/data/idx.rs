//! Reading and writing IDX files (the MNIST format), raw or gzip-compressed, with validation.
//!
//! Every error names the file and what is wrong with it; nothing is allocated from a header
//! before the header has been checked for sane sizes.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{IMAGE_PIXELS, IMAGE_SIDE};

/// Magic number of an unsigned-byte IDX file of rank 3 (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte IDX file of rank 1 (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest item count accepted from a header: 1,000,000 images are 784 MB of pixels (EMNIST
/// digits has 280k items, EMNIST byclass 814k). Ten million, the limit before, let a gzip
/// bomb of a few MB that declared them make the reader hold 7.8 GB.
pub const MAX_ITEMS: usize = 1_000_000;

/// What can go wrong reading an IDX file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    /// The file looks gzip-compressed but does not decompress.
    #[error("{path}: not a valid gzip stream ({detail})")]
    Gzip {
        path: PathBuf,
        /// What the decompressor said.
        detail: String,
    },
    /// The header is shorter than the format requires.
    #[error("{path}: header truncated: need {needed} bytes, file has {found}")]
    ShortHeader {
        path: PathBuf,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the whole file has.
        found: usize,
    },
    /// The magic number is not the expected one.
    #[error("{path}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    Magic {
        path: PathBuf,
        /// The first four bytes, big-endian.
        found: u32,
        /// `0x0000_0803` for images, `0x0000_0801` for labels.
        expected: u32,
        /// What kind of file was expected.
        what: &'static str,
    },
    /// The dimensions are not those of MNIST-style images, or absurd.
    #[error("{path}: {detail}")]
    Dims {
        path: PathBuf,
        /// Which dimension and what it holds (an item count outside 1 to [`MAX_ITEMS`], images
        /// not 28×28).
        detail: String,
    },
    /// The payload is shorter than the header promises.
    #[error("{path}: truncated: header promises {expected} bytes of data, file has {found}")]
    Truncated {
        path: PathBuf,
        /// Payload bytes the header's dimensions add up to.
        expected: usize,
        /// Payload bytes after the header.
        found: usize,
    },
    /// A label outside 0-9.
    #[error("{path}: label {label} at item {index} is not a digit 0-9")]
    BadLabel {
        path: PathBuf,
        /// The byte found (10 or more).
        label: u8,
        /// Its position in the file, from 0.
        index: usize,
    },
}

/// Images read from an IDX file: `count` images of 28×28 bytes, row-major.
#[derive(Debug, Clone)]
pub struct IdxImages {
    /// Number of images, from the header (at most [`MAX_ITEMS`]).
    pub count: usize,
    /// `count * 784` pixel bytes.
    pub pixels: Vec<u8>,
}

fn open_stream(path: &Path) -> Result<Box<dyn Read>, IdxError> {
    let io = |cause| IdxError::Io {
        path: path.to_path_buf(),
        cause,
    };
    // A special file (a FIFO, /dev/zero) is refused at once instead of blocking or never ending.
    let mut file = crate::fsutil::open_regular(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(io)?;
    let file = crate::fsutil::open_regular(path).map_err(io)?;
    let reader = std::io::BufReader::new(file);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads up to `want` bytes; returns how many were read. Gzip errors become [`IdxError::Gzip`].
fn read_up_to(path: &Path, reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize, IdxError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(match e.kind() {
                    std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::UnexpectedEof => IdxError::Gzip {
                        path: path.to_path_buf(),
                        detail: e.to_string(),
                    },
                    _ => IdxError::Io {
                        path: path.to_path_buf(),
                        cause: e,
                    },
                });
            }
        }
    }
    Ok(filled)
}

fn read_header(path: &Path, reader: &mut dyn Read, words: usize) -> Result<Vec<u32>, IdxError> {
    let mut header = vec![0u8; 4 * words];
    let found = read_up_to(path, reader, &mut header)?;
    if found < header.len() {
        return Err(IdxError::ShortHeader {
            path: path.to_path_buf(),
            needed: header.len(),
            found,
        });
    }
    Ok(header
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn check_magic(path: &Path, found: u32, expected: u32, what: &'static str) -> Result<(), IdxError> {
    if found != expected {
        return Err(IdxError::Magic {
            path: path.to_path_buf(),
            found,
            expected,
            what,
        });
    }
    Ok(())
}

/// Bytes read at a time: memory grows with what the file holds, never with what its header
/// claims (a header may claim 10 million images over a few bytes).
const PAYLOAD_CHUNK: usize = 1 << 20;

fn read_payload(path: &Path, reader: &mut dyn Read, len: usize) -> Result<Vec<u8>, IdxError> {
    let mut data = Vec::with_capacity(len.min(PAYLOAD_CHUNK));
    while data.len() < len {
        let start = data.len();
        let want = (len - start).min(PAYLOAD_CHUNK);
        data.resize(start + want, 0);
        let got = read_up_to(path, reader, &mut data[start..])?;
        if got < want {
            return Err(IdxError::Truncated {
                path: path.to_path_buf(),
                expected: len,
                found: start + got,
            });
        }
    }
    Ok(data)
}

/// Reads an images file (magic 0x803, 28×28 images).
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    let mut reader = open_stream(path)?;
    let magic = read_header(path, &mut reader, 1)?[0];
    check_magic(path, magic, IMAGES_MAGIC, "images: unsigned bytes, rank 3")?;
    let dims = read_header(path, &mut reader, 3)?;
    let (count, rows, cols) = (dims[0] as usize, dims[1] as usize, dims[2] as usize);
    if rows != IMAGE_SIDE || cols != IMAGE_SIDE {
        return Err(IdxError::Dims {
            path: path.to_path_buf(),
            detail: format!("images are {rows}×{cols}, expected {IMAGE_SIDE}×{IMAGE_SIDE}"),
        });
    }
    if count == 0 || count > MAX_ITEMS {
        return Err(IdxError::Dims {
            path: path.to_path_buf(),
            detail: format!("header claims {count} images; expected 1 to {MAX_ITEMS}"),
        });
    }
    let pixels = read_payload(path, &mut reader, count * IMAGE_PIXELS)?;
    Ok(IdxImages { count, pixels })
}

/// Reads a labels file (magic 0x801, every label 0-9).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    let mut reader = open_stream(path)?;
    let magic = read_header(path, &mut reader, 1)?[0];
    check_magic(path, magic, LABELS_MAGIC, "labels: unsigned bytes, rank 1")?;
    let count = read_header(path, &mut reader, 1)?[0] as usize;
    if count == 0 || count > MAX_ITEMS {
        return Err(IdxError::Dims {
            path: path.to_path_buf(),
            detail: format!("header claims {count} labels; expected 1 to {MAX_ITEMS}"),
        });
    }
    let labels = read_payload(path, &mut reader, count)?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(IdxError::BadLabel {
            path: path.to_path_buf(),
            label,
            index,
        });
    }
    Ok(labels)
}

/// Encodes images as an uncompressed IDX images file.
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    let count = pixels.len() / IMAGE_PIXELS;
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [IMAGES_MAGIC, count as u32, IMAGE_SIDE as u32, IMAGE_SIDE as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&pixels[..count * IMAGE_PIXELS]);
    out
}

/// Encodes labels as an uncompressed IDX labels file.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// The most bytes a decompressed IDX file may hold (an images file of [`MAX_ITEMS`] images);
/// a gzip file that inflates beyond it is refused, not read on.
pub const MAX_DECOMPRESSED: u64 = 16 + (MAX_ITEMS * IMAGE_PIXELS) as u64;

/// SHA-256 (hex) of a file's payload, decompressed if it is gzip, streamed in 64 KB chunks
/// (memory stays flat whatever the file's size).
pub fn sha256_decompressed(path: &Path) -> Result<String, IdxError> {
    use sha2::Digest;
    let mut reader = open_stream(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = read_up_to(path, &mut reader, &mut chunk)?;
        hasher.update(&chunk[..n]);
        total += n as u64;
        if total > MAX_DECOMPRESSED {
            return Err(IdxError::Dims {
                path: path.to_path_buf(),
                detail: format!(
                    "decompresses to more than {MAX_DECOMPRESSED} bytes, more than any IDX file of up to {MAX_ITEMS} images"
                ),
            });
        }
        if n < chunk.len() {
            return Ok(crate::data::hex(&hasher.finalize()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, bytes: &[u8]) -> crate::fsutil::scratch::ScratchFile {
        crate::fsutil::scratch::ScratchDir::file(&format!("idx-{name}"), name, bytes)
    }

    #[test]
    fn round_trip_images_and_labels() {
        let pixels: Vec<u8> = (0..2 * IMAGE_PIXELS).map(|i| (i % 251) as u8).collect();
        let p = tmp("rt-images", &encode_images(&pixels));
        let read = read_images(&p).unwrap();
        assert_eq!(read.count, 2);
        assert_eq!(read.pixels, pixels);
        let l = tmp("rt-labels", &encode_labels(&[3, 9]));
        assert_eq!(read_labels(&l).unwrap(), vec![3, 9]);
    }

    #[test]
    fn gzip_files_are_read_transparently() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&encode_labels(&[1, 2, 3])).unwrap();
        let p = tmp("gz-labels", &enc.finish().unwrap());
        assert_eq!(read_labels(&p).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn label_out_of_range_is_named() {
        let p = tmp("bad-label", &encode_labels(&[1, 11]));
        let err = read_labels(&p).unwrap_err().to_string();
        assert!(err.contains("label 11 at item 1"), "{err}");
    }

    #[test]
    fn wrong_dims_and_absurd_counts_are_refused_before_allocation() {
        let mut bytes = Vec::new();
        for w in [IMAGES_MAGIC, 1, 0, 0] {
            bytes.extend_from_slice(&w.to_be_bytes());
        }
        let err = read_images(&tmp("zero-dims", &bytes)).unwrap_err().to_string();
        assert!(err.contains("0×0"), "{err}");
        let mut bytes = Vec::new();
        for w in [IMAGES_MAGIC, 5, 100_000, 100_000] {
            bytes.extend_from_slice(&w.to_be_bytes());
        }
        let err = read_images(&tmp("huge-dims", &bytes)).unwrap_err().to_string();
        assert!(err.contains("100000×100000"), "{err}");
    }

    #[test]
    fn truncated_payload_reports_sizes() {
        let mut bytes = encode_images(&vec![0u8; 3 * IMAGE_PIXELS]);
        bytes.truncate(16 + IMAGE_PIXELS + 10);
        let err = read_images(&tmp("trunc", &bytes)).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("2352"), "{err}");
    }
}
