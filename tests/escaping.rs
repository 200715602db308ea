//! Every value the workbench writes into code or data text is escaped by the writer for that
//! format: the exported `model.py` names its weights file with a Python expression that gives
//! back exactly that name, whatever it holds (quotes, backslashes, line breaks, `${…}`, a
//! would-be command, non-ASCII and, on Linux, bytes that are not UTF-8), and CSV text fields
//! read back as themselves.
//!
//! How `model.py` is checked: always in Rust, by decoding the literal it wrote with a small
//! Python-literal decoder below and comparing it with the file name's bytes (and by checking
//! the literal cannot end early). When `python3` is on the machine (it is on CI), Python
//! itself then parses the module (`ast.parse`), checks it holds only the expected top-level
//! statements, imports it against stub `torch` / `safetensors` packages (no torch needed) and
//! calls `load()`, which must open exactly the exported weights file; no `PWNED` file may
//! appear. Without `python3` that second half is skipped with a note, the Rust half still runs.

// The model.py round trips need Unix file names; the literal and CSV checks run anywhere.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use mnist_workbench::interop::export;
use mnist_workbench::model::ModelSpec;
use mnist_workbench::model::plain::{Architecture, PlainWeights};
use mnist_workbench::rng::Rng;
use mnist_workbench::textfmt::{csv_field, python_str_literal};

fn tiny() -> (ModelSpec, PlainWeights) {
    let spec = ModelSpec::Mlp {
        hidden: vec![4],
        dropout: 0.0,
    };
    let weights = Architecture::of(&spec).init(&mut Rng::new(3));
    (spec, weights)
}

/// Decodes the body of a Python `'…'` literal (str when `bytes` is false: its UTF-8 bytes;
/// bytes otherwise). Panics on an unescaped quote (the literal would end early), on anything
/// not printable ASCII, and on an escape the writer does not use.
fn decode_body(body: &str, bytes: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = body.chars();
    let hex = |chars: &mut std::str::Chars, n: usize| {
        let digits: String = chars.by_ref().take(n).collect();
        u32::from_str_radix(&digits, 16)
            .unwrap_or_else(|_| panic!("bad escape digits {digits:?} in {body:?}"))
    };
    let push = |out: &mut Vec<u8>, code: u32| {
        if bytes {
            out.push(u8::try_from(code).expect("a byte"));
        } else {
            let c = char::from_u32(code).expect("a scalar value");
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    };
    while let Some(c) = chars.next() {
        assert!((' '..='~').contains(&c), "not printable ASCII: {c:?} in {body:?}");
        assert!(c != '\'', "unescaped quote: the literal ends early in {body:?}");
        if c != '\\' {
            push(&mut out, u32::from(c));
            continue;
        }
        let code = match chars.next().expect("escape at the end") {
            '\\' => u32::from('\\'),
            '\'' => u32::from('\''),
            '"' => u32::from('"'),
            'n' => u32::from('\n'),
            'r' => u32::from('\r'),
            't' => u32::from('\t'),
            'x' => hex(&mut chars, 2),
            'u' if !bytes => hex(&mut chars, 4),
            'U' if !bytes => hex(&mut chars, 8),
            other => panic!("unexpected escape \\{other} in {body:?}"),
        };
        push(&mut out, code);
    }
    out
}

/// The bytes of the file name the `WEIGHTS_FILE = …` line of `model.py` names (see
/// `textfmt::python_file_name_expr`: `'…'` or `os.fsdecode(b'…')`).
fn decoded_weights_name(module: &str) -> Vec<u8> {
    let lines: Vec<&str> = module
        .lines()
        .filter(|l| l.starts_with("WEIGHTS_FILE = "))
        .collect();
    assert_eq!(lines.len(), 1, "one WEIGHTS_FILE line:\n{module}");
    let expr = &lines[0]["WEIGHTS_FILE = ".len()..];
    if let Some(rest) = expr.strip_prefix("os.fsdecode(b'") {
        decode_body(rest.strip_suffix("')").expect("closed call"), true)
    } else {
        let body = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\''));
        decode_body(body.unwrap_or_else(|| panic!("not a literal: {expr}")), false)
    }
}

#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().to_vec()
}

/// The awkward names, each a `.safetensors` file name.
#[cfg(unix)]
fn awkward_names() -> Vec<OsString> {
    let mut names: Vec<OsString> = [
        "it's.safetensors",
        "say \"hi\".safetensors",
        r"back\slash\n.safetensors",
        "new\nline.safetensors",
        "cr\r and tab\t.safetensors",
        "${HOME} $(id) `id`.safetensors",
        "'); import os; os.system('touch PWNED') #.safetensors",
        "\"\"\"; import os; os.system(\"touch PWNED\"); \"\"\".safetensors",
        "x\\'); import os; os.system('touch PWNED') #.safetensors",
        "café 数字 🙂.safetensors",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStringExt;
        names.push(OsString::from_vec(b"w\xff\xfe-\x80'.safetensors".to_vec()));
    }
    names
}

const STUB_NN: &str = "class Module:\n    def __init__(self, *a, **k): pass\n    \
    def load_state_dict(self, d): pass\n    def eval(self): return self\n\n\
    class _Layer:\n    def __init__(self, *a, **k): pass\n\n\
    Conv2d = BatchNorm2d = Linear = Dropout = _Layer\n";

const STUB_LOAD_FILE: &str = "import os\n\ndef load_file(path):\n    \
    with open(os.environ['MW_LOADED_PATH'], 'wb') as f:\n        f.write(os.fsencode(path))\n    \
    with open(path, 'rb') as f:\n        f.read(8)\n    return {}\n";

/// Parses `model.py` with Python's `ast` (only imports, the two constants, the class, the
/// loader and the docstring at top level), then imports it and calls `load()`.
const CHECK_SCRIPT: &str = "import ast, sys\n\
    tree = ast.parse(open(sys.argv[1], 'rb').read())\n\
    kinds = [type(n).__name__ for n in tree.body]\n\
    assert kinds == ['Expr', 'Import', 'Import', 'Import', 'ImportFrom', 'Assign', 'Assign', \
    'ClassDef', 'FunctionDef'], kinds\n\
    assert [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets] == \
    ['ARCHITECTURE', 'WEIGHTS_FILE']\n\
    import model\n\
    model.load()\n";

fn python3() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs [`CHECK_SCRIPT`] on the `model.py` in `dir` from an empty working folder; returns the
/// bytes of the path `load()` opened.
fn python_loads(dir: &Path, stubs: &Path, cwd: &Path) -> Vec<u8> {
    let loaded = cwd.join("loaded-path");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(CHECK_SCRIPT)
        .arg(dir.join("model.py"))
        .current_dir(cwd)
        .env("PYTHONPATH", std::env::join_paths([dir, stubs]).unwrap())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MW_LOADED_PATH", &loaded)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 rejected {}:\n{}",
        dir.join("model.py").display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&loaded).expect("load() called load_file")
}

fn write_stubs(root: &Path) -> PathBuf {
    let stubs = root.join("stubs");
    for (file, text) in [
        ("torch/__init__.py", ""),
        ("torch/nn/__init__.py", STUB_NN),
        ("torch/nn/functional.py", ""),
        ("safetensors/__init__.py", ""),
        ("safetensors/torch.py", STUB_LOAD_FILE),
    ] {
        let path = stubs.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    stubs
}

#[cfg(unix)]
#[test]
fn model_py_names_any_weights_file_exactly_and_runs_nothing() {
    let (spec, weights) = tiny();
    let root = common::temp_dir("escaping-model-py");
    let stubs = write_stubs(&root);
    let with_python = python3();
    if !with_python {
        eprintln!("python3 not found: model.py checked in Rust only (decoded literal)");
    }
    let plain_lines = mnist_workbench::interop::export::module_source(&spec, "w.safetensors")
        .lines()
        .count();
    for (i, name) in awkward_names().into_iter().enumerate() {
        let dir = root.join(format!("export-{i}"));
        let cwd = root.join(format!("cwd-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        let to = dir.join(&name);
        let written = export(&spec, &weights, &to, false).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(written.weights, to);
        let module = std::fs::read_to_string(&written.module).expect("model.py is UTF-8");
        assert!(module.is_ascii(), "{name:?}: model.py is plain ASCII");
        assert_eq!(
            module.lines().count(),
            plain_lines,
            "{name:?}: no line added:\n{module}"
        );
        assert_eq!(
            decoded_weights_name(&module),
            name_bytes(&name),
            "{name:?}:\n{module}"
        );
        if with_python {
            let opened = python_loads(&dir, &stubs, &cwd);
            assert_eq!(
                opened,
                name_bytes(to.as_os_str()),
                "{name:?}: load() opened another file"
            );
        }
        for place in [&dir, &cwd, &root] {
            assert!(!place.join("PWNED").exists(), "{name:?}: a command ran");
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn python_literals_round_trip_every_kind_of_character() {
    for text in [
        "",
        "plain",
        "'\"\\",
        "\n\r\t\u{0}\u{1b}\u{7f}",
        "${HOME}{}%s",
        "é\u{80}\u{ff}\u{100}数\u{ffff}🙂\u{10ffff}",
        "'); import os; os.system('touch PWNED') #",
    ] {
        let literal = python_str_literal(text);
        let body = literal
            .strip_prefix('\'')
            .and_then(|l| l.strip_suffix('\''))
            .unwrap();
        assert_eq!(decode_body(body, false), text.as_bytes(), "{literal}");
    }
}

/// Splits CSV text into records of fields by RFC 4180 (quoted fields, doubled quotes, line
/// breaks inside quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field in {text:?}");
    rows
}

#[test]
fn csv_text_fields_read_back_as_themselves() {
    let fields = [
        "run-1",
        "run, one",
        "say \"hi\"",
        "two\nlines",
        "cr\r\nlf",
        " padded ",
        "${HOME}",
        "=1+1",
        "",
    ];
    let line = fields.map(|f| csv_field(f).into_owned()).join(",") + "\n";
    assert_eq!(
        parse_csv(&line),
        vec![fields.map(String::from).to_vec()],
        "{line:?}"
    );
}

#[test]
fn training_curves_csv_keeps_awkward_run_names_whole() {
    use mnist_workbench::train::history::{RunHistory, curves_csv};
    use mnist_workbench::train::{EpochMetrics, Event};
    let names = ["a,b", "q\"uote", "line\nbreak", "cr\rname", " padded", "plain"];
    let mut history = RunHistory::new(4, 1);
    history.apply(&Event::Epoch {
        run_id: 4,
        metrics: EpochMetrics {
            epoch: 1,
            ..EpochMetrics::default()
        },
    });
    let runs: Vec<(String, &RunHistory)> = names.iter().map(|n| (n.to_string(), &history)).collect();
    let csv = curves_csv(&runs);
    let rows = parse_csv(&csv);
    assert_eq!(
        rows.len(),
        1 + names.len(),
        "a header and one epoch row per run: {csv:?}"
    );
    assert!(
        rows.iter().all(|r| r.len() == 10),
        "ten fields in every row: {csv:?}"
    );
    let read_back: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(read_back, names, "{csv:?}");
    assert!(rows[1..].iter().all(|r| r[1] == "epoch"));
}
