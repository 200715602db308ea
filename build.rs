//! Link settings for the release program on x86-64 Linux, where Rust links with its own lld
//! (README "Binary size and build time"). They change only how the program is linked, so no
//! dependency is compiled again for them:
//! - `--icf=all` folds functions whose machine code is identical (generic code instantiated
//!   for different types often is): 133 → 127 MB. Rust does not promise distinct addresses
//!   for distinct functions, so folding them is allowed;
//! - `-z pack-relative-relocs` stores the position-independent program's 7.9 MB table of
//!   relative relocations as a bitmap (DT_RELR): 127 → 119.5 MB, keeping address-space
//!   randomisation. The loader must know DT_RELR (glibc 2.36 or later), so it is only used
//!   when the glibc of the machine that builds the program does.
//!
//! Neither is used with a linker of the user's choice (`RUSTC_LINKER`, `-C linker…` in
//! RUSTFLAGS), nor with `MNIST_WORKBENCH_PLAIN_LINK` set.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MNIST_WORKBENCH_PLAIN_LINK");
    let target = env::var("TARGET").unwrap_or_default();
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    if target != "x86_64-unknown-linux-gnu" || !release || plain_link_wanted() {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    let native = env::var("HOST").is_ok_and(|host| host == target);
    if native && host_glibc().is_some_and(|version| version >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the user chose the linker or asked for a plain link.
fn plain_link_wanted() -> bool {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    env::var_os("MNIST_WORKBENCH_PLAIN_LINK").is_some()
        || env::var_os("RUSTC_LINKER").is_some()
        || flags.split('\x1f').any(|flag| flag.contains("linker"))
}

/// The version of the build machine's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let output = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}
