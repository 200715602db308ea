//! Instruction sets chosen at run time. The binary is built for the baseline x86-64 (it must
//! run on any such CPU), so the hot loops of the kernels are compiled three times by
//! [`multiversion!`](crate::multiversion): for AVX-512, for AVX2 with FMA and for the baseline,
//! and each call takes the best path the CPU has ([`Isa::detected`]). Tests force each path
//! in turn with [`Isa::force`] and compare it with the textbook loops.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust, vectorised for the compile-time baseline (SSE2 on x86-64).
    Portable,
    /// AVX2 with fused multiply-add.
    Avx2,
    /// AVX-512F (with the AVX2, FMA and F16C it implies).
    Avx512,
}

/// Every target feature the AVX-512 path is compiled with (the `#[target_feature(enable = …)]`
/// of [`multiversion!`](crate::multiversion) and of `direct`), so every feature
/// [`Isa::available`] checks before offering that path: rustc lets `avx512f` imply `avx2`,
/// `fma` and `f16c`, so code compiled for it may use FMA instructions, and a CPU (or a
/// virtual machine) reporting `avx512f` without them must not run it. A unit test holds the
/// attributes to this list.
pub const AVX512_FEATURES: [&str; 4] = ["avx512f", "avx2", "fma", "f16c"];

/// Every target feature the AVX2 path is compiled with (see [`AVX512_FEATURES`]).
pub const AVX2_FEATURES: [&str; 2] = ["avx2", "fma"];

/// Whether the CPU (and the operating system) supports every feature of `features`.
fn supports(features: &[&str]) -> bool {
    features.iter().all(|feature| detected(feature))
}

#[cfg(target_arch = "x86_64")]
fn detected(feature: &str) -> bool {
    match feature {
        "avx512f" => is_x86_feature_detected!("avx512f"),
        "avx2" => is_x86_feature_detected!("avx2"),
        "fma" => is_x86_feature_detected!("fma"),
        "f16c" => is_x86_feature_detected!("f16c"),
        _ => false,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detected(_feature: &str) -> bool {
    false
}

const DETECT: u8 = 0;
static CHOSEN: AtomicU8 = AtomicU8::new(DETECT);
static FORCING: Mutex<()> = Mutex::new(());

impl Isa {
    fn code(self) -> u8 {
        match self {
            Isa::Portable => 1,
            Isa::Avx2 => 2,
            Isa::Avx512 => 3,
        }
    }

    fn from_code(code: u8) -> Isa {
        match code {
            3 => Isa::Avx512,
            2 => Isa::Avx2,
            _ => Isa::Portable,
        }
    }

    /// The path kernels take now: the best this CPU supports, unless a test forces another.
    #[inline]
    pub fn detected() -> Isa {
        match CHOSEN.load(Ordering::Relaxed) {
            DETECT => {
                let best = Isa::available().into_iter().last().unwrap_or(Isa::Portable);
                // Only a detection that nothing forced in the meantime is recorded.
                let _ = CHOSEN.compare_exchange(DETECT, best.code(), Ordering::Relaxed, Ordering::Relaxed);
                Isa::from_code(CHOSEN.load(Ordering::Relaxed))
            }
            code => Isa::from_code(code),
        }
    }

    /// Every path this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        let mut paths = vec![Isa::Portable];
        if supports(&AVX2_FEATURES) {
            paths.push(Isa::Avx2);
        }
        if supports(&AVX512_FEATURES) {
            paths.push(Isa::Avx512);
        }
        paths
    }

    /// Runs `f` with every kernel (on every thread) taking path `self`, which must be one of
    /// [`Isa::available`]; one forcing at a time. For tests and benchmarks of each path.
    pub fn force<T>(self, f: impl FnOnce() -> T) -> T {
        assert!(
            Isa::available().contains(&self),
            "{self:?} is not available on this CPU"
        );
        let _one_at_a_time = FORCING.lock().unwrap_or_else(|e| e.into_inner());
        let before = CHOSEN.swap(self.code(), Ordering::Relaxed);
        let out = f();
        CHOSEN.store(before, Ordering::Relaxed);
        out
    }
}

/// Defines `fn $name(args) -> ret` that calls `$inner(args)` (an `#[inline(always)]`
/// function holding the loop) compiled for the path [`Isa::detected`] picks.
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $inner:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma,f16c")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                #[allow(unsafe_code)]
                match $crate::kernels::cpu::isa::Isa::detected() {
                    // SAFETY: `detected` returns a path only when the CPU supports every feature
                    // it is compiled with (`AVX512_FEATURES`, `AVX2_FEATURES`).
                    $crate::kernels::cpu::isa::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::kernels::cpu::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::kernels::cpu::isa::Isa::Portable => {}
                }
            }
            $inner($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::{AVX2_FEATURES, AVX512_FEATURES};

    /// The feature list of every `target_feature` attribute in `source`.
    fn enabled_lists(source: &str) -> Vec<String> {
        let marker = "target_feature(enable = \"";
        source
            .match_indices(marker)
            .map(|(at, _)| {
                let rest = &source[at + marker.len()..];
                rest[..rest.find('"').expect("closing quote")].to_string()
            })
            .collect()
    }

    #[test]
    fn run_time_checks_cover_every_compiled_feature() {
        let sources = [include_str!("isa.rs"), include_str!("direct.rs")];
        // (The marker below is escaped in this file's text, so only real attributes match.)
        let lists: Vec<String> = sources.iter().flat_map(|s| enabled_lists(s)).collect();
        assert_eq!(lists.len(), 4, "two paths in each file: {lists:?}");
        for list in &lists {
            let features: Vec<&str> = list.split(',').collect();
            let expected: &[&str] = if features.contains(&"avx512f") {
                &AVX512_FEATURES
            } else {
                &AVX2_FEATURES
            };
            assert_eq!(features, expected, "#[target_feature(enable = {list:?})]");
        }
    }
}
