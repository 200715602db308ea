//! The file-to-file import graph of `src/`, for `tests/no_import_cycles.rs`.
//!
//! Every `use` declaration and every path written inline (`crate::…`, `super::…`, `self::…`,
//! `mnist_workbench::…` in the binary, a child module, a name a `use` brought in) is resolved
//! to the file that defines its target: module by module as far as files go, then through the
//! `pub use` re-exports of the file reached, so `crate::train::TrainConfig` counts as a use
//! of `train/config.rs`, not of `train/mod.rs`. `mod x;` declarations are not uses. Comments,
//! strings and `$crate` (macro bodies) are skipped; `#[path]` modules get the module their
//! declaration gives them. Scoping is per file: a name imported anywhere in a file resolves
//! anywhere in it, which is good enough for paths that start with an imported module.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword.
    Ident(String),
    /// `::`
    Sep,
    /// Any other character, braces included.
    Punct(char),
}

struct Token {
    tok: Tok,
    line: usize,
}

/// Rust source as identifiers, `::` and punctuation, with comments, strings, chars, lifetimes
/// and numbers left out.
fn tokenize(src: &str) -> Vec<Token> {
    let b: Vec<char> = src.chars().collect();
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    // Skips a string body starting at the opening quote `i` (escapes unless raw, `hashes`
    // closing `#`s); returns the index after it and counts its lines.
    let skip_string = |mut i: usize, raw: bool, hashes: usize, line: &mut usize| {
        i += 1;
        while i < b.len() {
            match b[i] {
                '\\' if !raw => i += 1,
                '\n' => *line += 1,
                '"' if (1..=hashes).all(|k| at(i + k) == '#') => return i + 1 + hashes,
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < b.len() {
        let c = b[i];
        let ident_char = |c: char| c.is_alphanumeric() || c == '_';
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(b[i] == '\n');
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let start = if c == 'r' { i + 1 } else { i + 2 };
            let hashes = (start..).take_while(|&k| at(k) == '#').count();
            at(start + hashes) == '"'
        } {
            let start = if c == 'r' { i + 1 } else { i + 2 };
            let hashes = (start..).take_while(|&k| at(k) == '#').count();
            i = skip_string(start + hashes, true, hashes, &mut line);
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i = skip_string(if c == 'b' { i + 1 } else { i }, false, 0, &mut line);
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let q = if c == 'b' { i + 1 } else { i };
            if at(q + 1) == '\\' {
                i = q + 3;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                i = q + 1; // a lifetime: its name follows as an identifier, harmless
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
        } else if ident_char(c) {
            let start = i;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(b[start..i].iter().collect()),
                line,
            });
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token { tok: Tok::Sep, line });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    out
}

/// A path written inline: the module it is written in, its segments, its line.
type InlinePath = (Vec<String>, Vec<String>, usize);

/// One name a `use` declaration brings in.
struct UseLeaf {
    /// The path as written (`self` of a group removed).
    segs: Vec<String>,
    /// The name it is known by here (`*` for a glob).
    name: String,
    public: bool,
    module: Vec<String>,
    line: usize,
}

/// Parses the use tree at `t[*i]` below `prefix`.
fn use_tree(
    t: &[Token],
    i: &mut usize,
    prefix: Vec<String>,
    leaf: &dyn Fn(Vec<String>, String) -> UseLeaf,
    out: &mut Vec<UseLeaf>,
) {
    let mut path = prefix;
    while *i < t.len() {
        match &t[*i].tok {
            Tok::Sep => *i += 1,
            Tok::Punct('*') => {
                *i += 1;
                out.push(leaf(path, "*".into()));
                return;
            }
            Tok::Punct('{') => {
                *i += 1;
                while *i < t.len() && t[*i].tok != Tok::Punct('}') {
                    use_tree(t, i, path.clone(), leaf, out);
                    if *i < t.len() && t[*i].tok == Tok::Punct(',') {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Tok::Ident(s) => {
                path.push(s.clone());
                *i += 1;
                if *i < t.len() && t[*i].tok == Tok::Sep {
                    continue;
                }
                if path.last().is_some_and(|s| s == "self") {
                    path.pop();
                }
                let mut name = path.last().cloned().unwrap_or_default();
                if matches!(t.get(*i).map(|t| &t.tok), Some(Tok::Ident(a)) if a == "as") {
                    if let Some(Tok::Ident(alias)) = t.get(*i + 1).map(|t| &t.tok) {
                        name = alias.clone();
                    }
                    *i += 2;
                }
                out.push(leaf(path, name));
                return;
            }
            _ => return,
        }
    }
}

/// A source file of `src/`.
pub struct SrcFile {
    /// Path under `src/`, `/`-separated.
    pub rel: String,
    /// Crate (`lib` or `bin`) then module names.
    module: Vec<String>,
    tokens: Vec<Token>,
    /// The file as written.
    pub text: String,
}

impl SrcFile {
    /// The identifiers and keywords of its code (comments and strings left out).
    pub fn idents(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().filter_map(|t| match &t.tok {
            Tok::Ident(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

/// `src/`'s files and the uses between them.
pub struct Graph {
    /// Every file, sorted by path.
    pub files: Vec<SrcFile>,
    /// `(from, to)` file indices → the first use: line and path as written.
    pub edges: BTreeMap<(usize, usize), (usize, String)>,
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

impl Graph {
    /// Reads every `.rs` file under `src` and resolves its uses.
    pub fn read(src: &Path) -> Graph {
        let mut paths = Vec::new();
        rust_files(src, &mut paths);
        paths.sort();
        let texts: Vec<(String, String)> = paths
            .iter()
            .map(|p| {
                let rel = p.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
                (rel, std::fs::read_to_string(p).expect("source is UTF-8"))
            })
            .collect();
        // The binary's own modules: `mod x;` in main.rs.
        let main_tokens = texts
            .iter()
            .find(|(r, _)| r == "main.rs")
            .map(|(_, t)| tokenize(t))
            .unwrap_or_default();
        let bin_mods: Vec<String> = main_tokens
            .windows(2)
            .filter_map(|w| match (&w[0].tok, &w[1].tok) {
                (Tok::Ident(m), Tok::Ident(name)) if m == "mod" => Some(name.clone()),
                _ => None,
            })
            .collect();
        let mut files: Vec<SrcFile> = texts
            .iter()
            .map(|(rel, text)| {
                let mut parts: Vec<String> =
                    rel.trim_end_matches(".rs").split('/').map(String::from).collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    parts.pop();
                }
                let bin = rel == "main.rs" || parts.first().is_some_and(|p| bin_mods.contains(p));
                let mut module = vec![if bin { "bin" } else { "lib" }.to_string()];
                module.extend(parts);
                SrcFile {
                    rel: rel.clone(),
                    module,
                    tokens: tokenize(text),
                    text: text.clone(),
                }
            })
            .collect();
        // `#[path = "f.rs"] mod name;`: f.rs (next to the declaring file) is module `name`.
        for (k, (rel, text)) in texts.iter().enumerate() {
            for piece in text.split("#[path = \"").skip(1) {
                let Some((target, rest)) = piece.split_once('"') else {
                    continue;
                };
                let name = rest
                    .split("mod ")
                    .nth(1)
                    .and_then(|r| r.split(';').next())
                    .unwrap_or("")
                    .trim();
                let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
                let target_rel = if dir.is_empty() {
                    target.to_string()
                } else {
                    format!("{dir}/{target}")
                };
                let mut module = files[k].module.clone();
                module.push(name.to_string());
                if let Some(f) = files.iter_mut().find(|f| f.rel == target_rel) {
                    f.module = module;
                }
            }
        }
        let index: HashMap<Vec<String>, usize> = files
            .iter()
            .enumerate()
            .map(|(k, f)| (f.module.clone(), k))
            .collect();
        let mut graph = Graph {
            files,
            edges: BTreeMap::new(),
        };
        graph.resolve_all(&index);
        graph
    }

    fn resolve_all(&mut self, index: &HashMap<Vec<String>, usize>) {
        let n = self.files.len();
        let mut leaves: Vec<Vec<UseLeaf>> = Vec::with_capacity(n);
        let mut inline: Vec<Vec<InlinePath>> = Vec::with_capacity(n);
        for file in &self.files {
            let (l, p) = scan(file);
            leaves.push(l);
            inline.push(p);
        }
        // Use paths made absolute (crate tag first), then each file's names and re-exports.
        let absolute =
            |k: usize, module: &[String], segs: &[String], aliases: &HashMap<String, Vec<String>>| {
                absolute_path(&self.files[k].module[0], module, segs, index, aliases)
            };
        let none = HashMap::new();
        let mut aliases: Vec<HashMap<String, Vec<String>>> = vec![HashMap::new(); n];
        let mut reexports: Vec<HashMap<String, Vec<String>>> = vec![HashMap::new(); n];
        let mut use_refs: Vec<Vec<(Vec<String>, usize, String)>> = vec![Vec::new(); n];
        for k in 0..n {
            for leaf in &leaves[k] {
                let Some(abs) = absolute(k, &leaf.module, &leaf.segs, &none) else {
                    continue;
                };
                use_refs[k].push((abs.clone(), leaf.line, leaf.segs.join("::")));
                if leaf.name != "*" {
                    aliases[k].insert(leaf.name.clone(), abs.clone());
                    if leaf.public {
                        reexports[k].insert(leaf.name.clone(), abs);
                    }
                }
            }
        }
        for k in 0..n {
            let mut refs = std::mem::take(&mut use_refs[k]);
            for (module, segs, line) in &inline[k] {
                if let Some(abs) = absolute(k, module, segs, &aliases[k]) {
                    refs.push((abs, *line, segs.join("::")));
                }
            }
            for (abs, line, written) in refs {
                if let Some(to) = resolve(&abs, index, &reexports, 0)
                    && to != k
                {
                    self.edges.entry((k, to)).or_insert((line, written));
                }
            }
        }
    }

    /// The file at `rel` (path under `src/`).
    pub fn file(&self, rel: &str) -> Option<usize> {
        self.files.iter().position(|f| f.rel == rel)
    }

    /// Whether file `b` is a submodule of file `a` (or the other way round): a module and its
    /// own submodules may use each other (the parent declares and re-exports them, they use
    /// its shared types).
    fn parent_and_child(&self, a: usize, b: usize) -> bool {
        let (ma, mb) = (&self.files[a].module, &self.files[b].module);
        let child_of = |c: &Vec<String>, p: &Vec<String>| c.len() == p.len() + 1 && c.starts_with(p);
        child_of(ma, mb) || child_of(mb, ma)
    }

    /// Every pair of files that use each other, parent and child modules apart, as
    /// `a.rs ↔ b.rs (a.rs:LINE uses PATH; b.rs:LINE uses PATH)`.
    pub fn two_file_cycles(&self) -> Vec<String> {
        self.edges
            .iter()
            .filter(|((a, b), _)| a < b && !self.parent_and_child(*a, *b))
            .filter_map(|(&(a, b), (line_a, path_a))| {
                let (line_b, path_b) = self.edges.get(&(b, a))?;
                Some(format!(
                    "{} ↔ {} ({}:{line_a} uses {path_a}; {}:{line_b} uses {path_b})",
                    self.files[a].rel, self.files[b].rel, self.files[a].rel, self.files[b].rel
                ))
            })
            .collect()
    }

    /// Every file reachable from `from` through uses, with the file that reached it first.
    pub fn reachable(&self, from: &[usize]) -> BTreeMap<usize, usize> {
        let mut seen: BTreeMap<usize, usize> = from.iter().map(|&f| (f, f)).collect();
        let mut todo: Vec<usize> = from.to_vec();
        while let Some(f) = todo.pop() {
            for &(_, to) in self.edges.range((f, 0)..(f + 1, 0)).map(|(k, _)| k) {
                if let std::collections::btree_map::Entry::Vacant(e) = seen.entry(to) {
                    e.insert(f);
                    todo.push(to);
                }
            }
        }
        seen
    }
}

/// A file's use leaves, and its inline paths `(module, segments, line)`.
fn scan(file: &SrcFile) -> (Vec<UseLeaf>, Vec<InlinePath>) {
    let t = &file.tokens;
    let ident = |i: usize| match t.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let (mut leaves, mut paths) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    let mut inline_mods: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let mut module = file.module.clone();
        module.extend(inline_mods.iter().map(|(m, _)| m.clone()));
        match &t[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline_mods.last().is_some_and(|(_, d)| *d > depth) {
                    inline_mods.pop();
                }
            }
            Tok::Ident(kw) if kw == "mod" && t.get(i + 2).is_some_and(|x| x.tok == Tok::Punct('{')) => {
                inline_mods.push((ident(i + 1).unwrap_or("").to_string(), depth + 1));
            }
            Tok::Ident(kw) if kw == "use" => {
                let public = ident(i.wrapping_sub(1)) == Some("pub")
                    || (t.get(i.wrapping_sub(1)).is_some_and(|x| x.tok == Tok::Punct(')'))
                        && (2..6).any(|k| ident(i.wrapping_sub(k)) == Some("pub")));
                let line = t[i].line;
                let leaf = |segs, name| UseLeaf {
                    segs,
                    name,
                    public,
                    module: module.clone(),
                    line,
                };
                i += 1;
                use_tree(t, &mut i, Vec::new(), &leaf, &mut leaves);
                continue;
            }
            Tok::Ident(first)
                if t.get(i + 1).is_some_and(|x| x.tok == Tok::Sep)
                    && !t
                        .get(i.wrapping_sub(1))
                        .is_some_and(|x| matches!(x.tok, Tok::Sep | Tok::Punct('$'))) =>
            {
                let mut segs = vec![first.clone()];
                let mut k = i + 1;
                while t.get(k).is_some_and(|x| x.tok == Tok::Sep)
                    && let Some(next) = ident(k + 1)
                {
                    segs.push(next.to_string());
                    k += 2;
                }
                paths.push((module, segs, t[i].line));
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    (leaves, paths)
}

/// `segs` written in `module` as an absolute path (crate tag first); `None` for other crates.
fn absolute_path(
    krate: &str,
    module: &[String],
    segs: &[String],
    index: &HashMap<Vec<String>, usize>,
    aliases: &HashMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    let first = segs.first()?;
    let (mut base, mut rest) = match first.as_str() {
        "crate" => (vec![krate.to_string()], &segs[1..]),
        "mnist_workbench" => (vec!["lib".to_string()], &segs[1..]),
        "self" => (module.to_vec(), &segs[1..]),
        "super" => (module.to_vec(), segs),
        _ => {
            let mut child = module.to_vec();
            child.push(first.clone());
            if index.contains_key(&child) {
                (child, &segs[1..])
            } else {
                let mut abs = aliases.get(first)?.clone();
                abs.extend_from_slice(&segs[1..]);
                return Some(abs);
            }
        }
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend_from_slice(rest);
    (!base.is_empty()).then_some(base)
}

/// The file defining absolute path `abs`: modules as far as files go, then the re-exports of
/// the file reached.
fn resolve(
    abs: &[String],
    index: &HashMap<Vec<String>, usize>,
    reexports: &[HashMap<String, Vec<String>>],
    depth: usize,
) -> Option<usize> {
    let mut module = vec![abs.first()?.clone()];
    let mut k = 1;
    while k < abs.len() {
        module.push(abs[k].clone());
        if !index.contains_key(&module) {
            module.pop();
            break;
        }
        k += 1;
    }
    let file = *index.get(&module)?;
    if k < abs.len()
        && depth < 8
        && let Some(target) = reexports[file].get(&abs[k])
    {
        let mut full = target.clone();
        full.extend_from_slice(&abs[k + 1..]);
        return resolve(&full, index, reexports, depth + 1).or(Some(file));
    }
    Some(file)
}
