//! Panics the program catches and reports itself.
//!
//! A job, a training run, an experiment's device and the readers of untrusted files run their
//! work under [`catch`]: a panic there (a remote server gone mid-read, a parser that panics on
//! a damaged file) becomes a failure with a message, and the work around it goes on. Rust's
//! default hook would still print `thread '…' panicked at …` (and a backtrace under
//! `RUST_BACKTRACE`) to the terminal first, for a failure the program then reports plainly.
//! [`install_hook`] keeps those caught panics quiet and hands their location to the catcher;
//! a panic anywhere else is printed as before.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// `file:line` of the last panic caught on this thread.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic caught by [`catch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Caught {
    /// The panic's message (`"no details"` when it carried none).
    pub message: String,
    /// Where it happened, `file:line`, when [`install_hook`] has run.
    pub location: Option<String>,
}

impl Caught {
    /// The message's last non-empty line: burn wraps a device error in lines of its own
    /// ("Error while reading data: use `try_into_data` …", "Caused by:"), and the cause is last.
    pub fn cause(&self) -> &str {
        self.message
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no details")
    }

    /// "message (at file:line)", for an internal error.
    pub fn with_location(&self) -> String {
        match &self.location {
            Some(at) => format!("{} (at {at})", self.message),
            None => self.message.clone(),
        }
    }
}

/// Runs `work`, catching a panic as `std::panic::catch_unwind` does; under [`install_hook`]
/// the panic is not printed, the caller reports it.
pub fn catch<R>(work: impl FnOnce() -> R) -> Result<R, Caught> {
    let outer = CATCHING.replace(true);
    LOCATION.take();
    let outcome = catch_unwind(AssertUnwindSafe(work));
    CATCHING.set(outer);
    outcome.map_err(|payload| Caught {
        message: payload_message(payload.as_ref()).to_string(),
        location: LOCATION.take(),
    })
}

/// The text of a panic payload (`panic!` with a message gives a `String` or `&str`).
fn payload_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("no details")
}

/// Installs the hook that keeps panics inside [`catch`] quiet (once; later calls do nothing).
/// The binary installs it at start; the library's tests run without it.
pub fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.set(at);
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_gives_its_message_and_cause() {
        let caught = catch(|| -> u32 { panic!("reading failed\nCaused by:\n  RecvError(())\n") }).unwrap_err();
        assert!(caught.message.starts_with("reading failed"));
        assert_eq!(caught.cause(), "RecvError(())");
        assert_eq!(catch(|| 7).unwrap(), 7);
    }

    #[test]
    fn a_caught_panic_is_quiet_and_located_under_the_hook() {
        install_hook();
        let caught = catch(|| -> u32 { panic!("quiet") }).unwrap_err();
        let at = caught.location.as_deref().expect("the hook recorded where");
        assert!(at.starts_with("src/panics.rs:"), "{at}");
        assert_eq!(caught.with_location(), format!("quiet (at {at})"));
        // Nested: the inner catch does not end the outer one's quiet.
        let outer = catch(|| -> u32 {
            let inner = catch(|| -> u32 { panic!("inner") });
            assert!(inner.is_err());
            panic!("outer")
        })
        .unwrap_err();
        assert_eq!(outer.message, "outer");
        assert!(outer.location.is_some());
    }
}
