//! The crate's layering, checked from its source: modules import each other
//! one way only (no cycle between files), the pure core imports nothing
//! from storage, the API or I/O, and functions stay short enough to hold in
//! one's head. docs/architecture.md draws the layers this test enforces.
//!
//! It reads `src/**/*.rs` as text: every `use` tree and every inline
//! `crate::`/`super::`/`self::` path names a module, and the longest file
//! module that path starts with is the edge's target. A `mod.rs` re-exporting
//! its own children is the module's face, not an edge back up; tests
//! (`*_tests.rs`, `tests.rs`, a trailing `#[cfg(test)] mod`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest function body allowed without a `// Long:` comment saying why.
const MAX_FN_LINES: usize = 80;

/// The wiring above storage and the pure core: the server, the API and
/// what serves them. No lower layer imports any of these.
const SERVING: &[&str] = &[
    "api",
    "app",
    "admin",
    "cli",
    "console",
    "error",
    "metrics",
    "observe",
    "ops",
    "reload",
    "replication",
    "server",
    "snapshot",
];

/// Layers that must not import the named modules: `SERVING` plus the
/// modules listed with them.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // The types everything reasons about stand on nothing of the crate.
    ("domain", &["cluster", "config", "consent", "policy", "telemetry"]),
    // The pure core: domain, phone and its own rule pack (config data types
    // included); no storage, no wire types, no I/O, no clock.
    ("policy", &["cluster", "consent", "telemetry", "clock"]),
    ("phone", &["cluster", "consent", "policy", "config"]),
    // Storage knows the domain, never the API, the server or the log.
    ("consent", &["cluster", "policy"]),
    // The log's transport knows nothing of the store or of what it carries
    // beyond the domain; `replication` joins the two.
    ("cluster", &["consent", "policy"]),
];

struct Source {
    /// Module path, e.g. ["consent", "ledger"]; a mod.rs is its directory.
    module: Vec<String>,
    is_mod_rs: bool,
    text: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.ends_with("_tests.rs") || name == "tests.rs" || name == "testkit.rs"
}

/// The text before a trailing `#[cfg(test)] mod ... {` block.
fn without_test_module(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].starts_with("mod ") && w[1].trim_end().ends_with('{'))
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files.into_iter().filter(|p| !is_test_file(p)) {
        let rel = path.strip_prefix(&src).unwrap().with_extension("");
        let mut module: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        let is_mod_rs = module.last().is_some_and(|m| m == "mod");
        if is_mod_rs || module == ["lib"] || module == ["main"] {
            module.pop();
        }
        if module.is_empty() {
            continue; // lib.rs and main.rs sit above everything.
        }
        let text = without_test_module(&std::fs::read_to_string(&path).unwrap());
        out.push(Source { module, is_mod_rs, text });
    }
    out
}

/// Every path a `use` statement names, with its braces expanded.
fn use_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(tree) =
            ["use ", "pub use ", "pub(crate) use ", "pub(super) use "].iter().find_map(|p| t.strip_prefix(p))
        else {
            continue;
        };
        let mut statement = tree.to_string();
        let mut next = i + 1;
        while !statement.contains(';') && next < lines.len() {
            statement.push_str(lines[next]);
            next += 1;
        }
        let tree: String = statement[..statement.find(';').unwrap_or(statement.len())]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand(&tree, "", &mut out);
    }
    out
}

fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    match tree.find('{') {
        None => out.push(format!("{prefix}{tree}")),
        Some(open) => {
            let head = format!("{prefix}{}", &tree[..open]);
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let (mut depth, mut from) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[from..i], &head, out);
                        from = i + 1;
                    }
                    _ => {}
                }
            }
            if from < inner.len() {
                expand(&inner[from..], &head, out);
            }
        }
    }
}

/// Inline paths in code: `crate::a::b`, `super::a`, `self::a`.
fn inline_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for root in ["crate::", "super::", "self::"] {
        let mut rest = text;
        while let Some(at) = rest.find(root) {
            let ok_start = rest[..at].chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let tail = &rest[at..];
            let len = tail.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(tail.len());
            if ok_start {
                out.push(tail[..len].trim_end_matches(':').to_string());
            }
            rest = &tail[len.max(root.len())..];
        }
    }
    out
}

/// The code of each line, without its `//` comment (doc comments name
/// paths that are links, not imports).
fn without_comments(text: &str) -> String {
    text.lines().map(|l| l.find("//").map_or(l, |at| &l[..at])).collect::<Vec<_>>().join("\n")
}

/// The module path a `crate::`/`super::`/`self::` path points into.
fn resolve(from: &Source, path: &str) -> Option<Vec<String>> {
    let mut parts = path.split("::").filter(|p| !p.is_empty());
    let mut base: Vec<String> = match parts.next()? {
        "crate" => vec![],
        "self" => from.module.clone(),
        "super" => {
            // `super` of a file module is its directory's module; of a mod.rs, the one above.
            let mut m = from.module.clone();
            m.pop();
            m
        }
        _ => return None,
    };
    for p in parts {
        match p {
            "super" => {
                base.pop();
            }
            "self" | "*" => {}
            other => base.push(other.to_string()),
        }
    }
    Some(base)
}

/// Edges between file modules, as ("a::b", "c").
fn edges(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources {
        let from = s.module.join("::");
        let mut paths = use_paths(&s.text);
        paths.extend(inline_paths(&without_comments(&s.text)));
        for path in paths {
            let Some(target) = resolve(s, &path) else { continue };
            let Some(hit) = (1..=target.len()).rev().map(|n| &target[..n]).find(|p| modules.contains(*p)) else {
                continue;
            };
            let to = hit.join("::");
            let own_child = s.is_mod_rs && hit.len() > s.module.len() && hit.starts_with(&s.module);
            if to != from && !own_child {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = edges(&sources());
    assert!(graph.get("consent::ledger").is_some_and(|t| t.contains("consent::committer")), "the parser sees edges");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn lower_layers_import_nothing_from_higher_ones() {
    let graph = edges(&sources());
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        let top = from.split("::").next().unwrap();
        for (layer, forbidden) in FORBIDDEN {
            if top != *layer {
                continue;
            }
            for to in targets {
                let top = to.split("::").next().unwrap();
                if forbidden.contains(&top) || SERVING.contains(&top) {
                    wrong.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports that climb back up:\n{}", wrong.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn use_trees_expand_to_every_path() {
    let paths = use_paths("use super::{keys, records::{a, b}, ConsentError};\npub use crate::x::Y;");
    assert_eq!(paths, ["super::keys", "super::records::a", "super::records::b", "super::ConsentError", "crate::x::Y"]);
}

/// Functions (outside tests) longer than [`MAX_FN_LINES`] lines carry a
/// `// Long: why` comment right above them (or above their attributes).
#[test]
fn long_functions_say_why() {
    let mut long = Vec::new();
    for s in sources() {
        let lines: Vec<&str> = s.text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "async fn ", "pub async fn "]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if !is_fn || line.trim_end().ends_with(';') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let close = format!("{}}}", " ".repeat(indent));
            let Some(len) = lines[i..].iter().position(|l| *l == close) else { continue };
            if len < MAX_FN_LINES {
                continue;
            }
            // The comment block (and attributes) right above the function.
            let justified = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
                .any(|l| l.starts_with("// Long:"));
            if !justified {
                long.push(format!("src/{}: {} ({} lines)", s.module.join("/"), trimmed, len + 1));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines without a `// Long:` reason:\n{}", long.join("\n"));
}
