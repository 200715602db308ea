//! Writers for values the workbench puts inside text of another format: Python source (the
//! exported `model.py`) and CSV fields. Each writer returns text that a reader of that format
//! reads back as exactly the value given, whatever characters it holds (quotes, backslashes,
//! line breaks, `${…}`, non-ASCII, and for file names bytes that are not UTF-8), so a crafted
//! name can neither break the file nor change what it does. JSON is never assembled by hand:
//! it is written with `serde_json`, which escapes strings itself.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;

/// Appends one Unicode scalar value or lone surrogate (`code`) to a Python string body as
/// printable ASCII: `\\`, `\'`, `\"`, `\n`, `\r`, `\t` for those characters, the character
/// itself for other printable ASCII, and `\xNN`, `\uNNNN` or `\UNNNNNNNN` for everything else.
fn push_escaped(out: &mut String, code: u32) {
    match char::from_u32(code) {
        Some('\\') => out.push_str("\\\\"),
        Some('\'') => out.push_str("\\'"),
        Some('"') => out.push_str("\\\""),
        Some('\n') => out.push_str("\\n"),
        Some('\r') => out.push_str("\\r"),
        Some('\t') => out.push_str("\\t"),
        Some(c @ ' '..='~') => out.push(c),
        _ if code < 0x100 => {
            let _infallible = write!(out, "\\x{code:02x}");
        }
        _ if code < 0x1_0000 => {
            let _infallible = write!(out, "\\u{code:04x}");
        }
        _ => {
            let _infallible = write!(out, "\\U{code:08x}");
        }
    }
}

/// The inside of a Python string literal for `text`, without the quotes: printable ASCII in
/// which every backslash, quote of either kind, control character and non-ASCII character is
/// an escape. It means the same inside `'…'`, `"…"` and a (non-raw) `"""…"""` docstring, and
/// can never close any of them.
pub fn python_str_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, u32::from(c));
    }
    out
}

/// `text` as a Python string literal in single quotes (see [`python_str_body`]): evaluating
/// it in Python gives exactly `text`.
pub fn python_str_literal(text: &str) -> String {
    format!("'{}'", python_str_body(text))
}

/// `bytes` as a Python bytes literal, `b'…'`: printable ASCII other than `\` and quotes as
/// itself, every other byte as `\xNN`. Evaluating it in Python gives exactly `bytes`.
pub fn python_bytes_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("b'");
    for &b in bytes {
        match b {
            b'\\' | b'\'' | b'"' => {
                let _infallible = write!(out, "\\x{b:02x}");
            }
            b' '..=b'~' => out.push(char::from(b)),
            _ => {
                let _infallible = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
    out
}

/// A Python expression (for a module that has done `import os`) whose value is the file name
/// `name` as Python's own file functions spell it, so that opening it opens the same file.
///
/// - An ASCII name is a plain string literal ([`python_str_literal`]).
/// - On Unix any other name, UTF-8 or not, is `os.fsdecode(b'…')` of its exact bytes: Python
///   then encodes it back to those bytes whatever the file-system encoding (non-UTF-8 bytes
///   travel as lone surrogates, Python's `surrogateescape`).
/// - On Windows a name is UTF-16 and Python's strings hold it directly: a string literal, with
///   any unpaired surrogate (a name that is not valid Unicode) as its `\uDXXX` escape, which
///   Python passes on to Windows unchanged.
pub fn python_file_name_expr(name: &OsStr) -> String {
    match name.to_str().filter(|t| t.is_ascii()) {
        Some(text) => python_str_literal(text),
        None => non_ascii_file_name_expr(name),
    }
}

/// [`python_file_name_expr`] for a name that is not plain ASCII, on Unix: its exact bytes.
#[cfg(unix)]
fn non_ascii_file_name_expr(name: &OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!("os.fsdecode({})", python_bytes_literal(name.as_bytes()))
}

/// [`python_file_name_expr`] for a name that is not plain ASCII, on Windows: its UTF-16 units
/// as a string literal, an unpaired surrogate as its own escape.
#[cfg(windows)]
fn non_ascii_file_name_expr(name: &OsStr) -> String {
    use std::os::windows::ffi::OsStrExt;
    let mut out = String::from("'");
    for unit in char::decode_utf16(name.encode_wide()) {
        match unit {
            Ok(c) => push_escaped(&mut out, u32::from(c)),
            Err(lone) => push_escaped(&mut out, u32::from(lone.unpaired_surrogate())),
        }
    }
    out.push('\'');
    out
}

/// [`python_file_name_expr`] for a name that is not plain ASCII, elsewhere: the standard
/// library's own encoding of it (a superset of UTF-8), decoded by Python's file-system codec.
#[cfg(not(any(unix, windows)))]
fn non_ascii_file_name_expr(name: &OsStr) -> String {
    format!("os.fsdecode({})", python_bytes_literal(name.as_encoded_bytes()))
}

/// `text` as one CSV field (RFC 4180): unchanged when it is safe bare, otherwise in double
/// quotes with each quote doubled. A field is quoted when it holds a comma, a quote, a CR or
/// an LF (which would split or end the row), or starts or ends with a space or tab (which some
/// readers trim). Numbers need no writer; every text field (names, paths, labels) goes through
/// this one.
///
/// Spreadsheet formula injection (a field starting with `=`, `+`, `-` or `@`) is deliberately
/// not "defused" by prefixing a quote: these files are data for pandas and scripts, and a
/// prefix would change the value they read back.
pub fn csv_field(text: &str) -> Cow<'_, str> {
    let needs_quotes =
        text.contains([',', '"', '\r', '\n']) || text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']);
    if needs_quotes {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_are_printable_ascii_and_escape_what_they_must() {
        assert_eq!(python_str_literal("model.safetensors"), "'model.safetensors'");
        assert_eq!(python_str_literal(r#"a'b"c\d"#), r#"'a\'b\"c\\d'"#);
        assert_eq!(python_str_literal("x\ny\r\t\u{1}\u{7f}"), r"'x\ny\r\t\x01\x7f'");
        assert_eq!(python_str_literal("é数🙂"), r"'\xe9\u6570\U0001f642'");
        assert_eq!(python_str_literal("${HOME}"), "'${HOME}'");
        assert_eq!(python_bytes_literal(b"a\xff'\\"), r"b'a\xff\x27\x5c'");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("run-1"), "run-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
    }
}
