//! A small PNG whose colour profile (an `iCCP` chunk) inflates to hundreds of megabytes
//! (found by a hostile-input review: a 486 KB file made `predict` take about 1 GB). The
//! decoder's memory is capped now: `predict` answers or refuses within a bounded peak. Alone
//! in its test binary, so the peak memory of its one child is its own.

mod common;

use std::io::Write;

fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(body);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out.extend(crc.sum().to_be_bytes());
    out
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

#[test]
fn a_colour_profile_bomb_is_decoded_within_a_bounded_memory() {
    // A 28×28 grey picture of a bar, with a 400 MB profile of one repeated byte.
    let mut ihdr = Vec::new();
    ihdr.extend(28u32.to_be_bytes());
    ihdr.extend(28u32.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let raw: Vec<u8> = (0..28)
        .flat_map(|y| std::iter::once(0).chain((0..28).map(move |x| if (12..16).contains(&x) && (4..24).contains(&y) { 255 } else { 0 })))
        .collect();
    let mut iccp = b"bomb\0\0".to_vec();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b'A'; 1 << 20];
    for _ in 0..400 {
        z.write_all(&block).unwrap();
    }
    iccp.extend(z.finish().unwrap());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"iCCP", &iccp));
    png.extend(chunk(b"IDAT", &zlib(&raw)));
    png.extend(chunk(b"IEND", b""));
    assert!(png.len() < 1 << 20, "a small file: {} bytes", png.len());
    let path = common::temp_dir("png-bomb").join("bomb.png");
    std::fs::write(&path, &png).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-workbench"))
        .args(["predict", path.to_str().unwrap(), "--device", "flex"])
        .env("HOME", common::temp_dir("png-bomb-home"))
        .env_remove("XDG_CACHE_HOME")
        .env_remove("MNIST_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // SAFETY: getrusage only writes the struct it is given.
    #[allow(unsafe_code)]
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss
    };
    // The program alone peaks near 100 MB here; 512 MiB is far below the 1 GB it took.
    assert!(peak_kib < 512 * 1024, "peak {} MiB\n{stderr}", peak_kib / 1024);
    if out.status.success() {
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("prediction:"));
    } else {
        assert!(stderr.contains("bomb.png"), "a refusal names the file: {stderr}");
    }
}
