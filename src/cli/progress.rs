//! A one-line progress bar on standard error (redrawn in place on a terminal, printed every
//! few percent otherwise).

use std::io::{IsTerminal, Write};

/// A text progress bar.
pub struct ProgressBar {
    label: String,
    tty: bool,
    last_percent: Option<u64>,
    /// Off the terminal, print nothing (a step of seconds whose output is read by scripts).
    terminal_only: bool,
}

impl ProgressBar {
    /// A bar with a label.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            tty: std::io::stderr().is_terminal(),
            last_percent: None,
            terminal_only: false,
        }
    }

    /// A bar drawn on a terminal only.
    pub fn terminal_only(label: impl Into<String>) -> Self {
        Self {
            terminal_only: true,
            ..Self::new(label)
        }
    }

    /// Shows `done` of `total` with a trailing note.
    pub fn update(&mut self, done: u64, total: u64, note: &str) {
        let percent = (done * 100).checked_div(total).unwrap_or(0).min(100);
        if self.tty {
            // One terminal line: a wrapped line could not be redrawn in place.
            let note = match note.char_indices().nth(110) {
                Some((cut, _)) => format!("{}…", &note[..cut]),
                None => note.to_string(),
            };
            let filled = (percent / 4) as usize;
            eprint!(
                "\r{} [{}{}] {percent:3}% {note}   ",
                self.label,
                "#".repeat(filled),
                "-".repeat(25 - filled)
            );
            let _flush = std::io::stderr().flush();
        } else if !self.terminal_only
            && self
                .last_percent
                .is_none_or(|p| percent >= p + 10 || (percent == 100 && p != 100))
        {
            eprintln!("{} {percent:3}% {note}", self.label);
            self.last_percent = Some(percent);
        }
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.tty {
            eprintln!();
        }
    }
}
