//! The crate's modules keep to their layers.
//!
//! `src/lib.rs` declares each top-level module under a `// Layer N, name:`
//! heading. This test reads every source file, finds the `crate::` paths in its
//! code (imports, inline paths, `$crate::` in macros; `super::` paths that climb
//! out of their module count too) and fails when a module refers to one in a
//! higher layer, or when references between top-level modules form a cycle.
//! Comments, strings and character literals are skipped, so a path named in a
//! doc comment does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A top-level module referring to another, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    from: String,
    to: String,
    file: String,
    line: usize,
}

/// The layer of each top-level module, from `lib.rs`'s headings.
fn layers(lib_rs: &str) -> Result<BTreeMap<String, u32>, String> {
    let mut layer = None;
    let mut layers = BTreeMap::new();
    for line in lib_rs.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("// Layer ") {
            let number = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or_default();
            layer =
                Some(number.parse::<u32>().map_err(|_| format!("a layer heading without a number: {line}"))?);
        } else if let Some(rest) = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod ")) {
            let name = rest.trim_end_matches(';').trim().to_owned();
            let layer =
                layer.ok_or_else(|| format!("module `{name}` is declared before any layer heading"))?;
            layers.insert(name, layer);
        }
    }
    Ok(layers)
}

/// The code of a Rust file with comments, strings and character literals
/// blanked out (line breaks kept, so line numbers still hold).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('#' | '"')) && starts_literal(&chars, i) {
            // A raw string r"..." or r#"..."# (or br"...").
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let mut k = j + 1;
            while k < chars.len()
                && !(chars[k] == '"' && (1..=hashes).all(|h| chars.get(k + h) == Some(&'#')))
            {
                k += 1;
            }
            let end = (k + 1 + hashes).min(chars.len());
            for &c in &chars[i..end] {
                blank(&mut out, c);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}', '"'), or else a lifetime.
            let end = if next == Some('\\') {
                (i + 3..chars.len()).find(|&k| chars[k] == '\'').map(|k| k + 1)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for &c in &chars[i..end] {
                        blank(&mut out, c);
                    }
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether the `r` at `i` starts a raw string rather than ending a name
/// (`r"` and `br"` do, `for"` cannot occur).
fn starts_literal(chars: &[char], i: usize) -> bool {
    let before = |k: usize| i.checked_sub(k).map(|k| chars[k]);
    match before(1) {
        Some('b') => !before(2).is_some_and(is_ident),
        Some(c) => !is_ident(c),
        None => true,
    }
}

/// The first name of each path in a grouped import, `text` starting at its
/// `{`: `{a, b::c, d::{e, f}}` gives a, b and d.
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expecting = false;
    let mut name = String::new();
    for c in text.chars() {
        if depth == 1 && expecting && is_ident(c) {
            name.push(c);
            continue;
        }
        if !name.is_empty() {
            heads.push(std::mem::take(&mut name));
            expecting = false;
        }
        match c {
            '{' => {
                depth += 1;
                expecting = depth == 1;
            }
            '}' if depth == 1 => break,
            '}' => depth -= 1,
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    heads
}

/// The top-level modules that `code` (the file of `module`, its path of
/// module names from the crate root) refers to, with their line numbers.
fn references(module: &[String], code: &str) -> Vec<(String, usize)> {
    let bytes = code.as_bytes();
    let word_at = |i: usize, word: &str| {
        code.is_char_boundary(i)
            && code[i..].starts_with(word)
            && (i == 0 || !is_ident(char::from(bytes[i - 1])))
    };
    let name_at = |i: usize| code[i..].chars().take_while(|&c| is_ident(c)).collect::<String>();
    let mut found = Vec::new();
    // Open inline `mod x { ... }` blocks (the brace depth each opened at),
    // which `super::` climbs out of first.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'{' => braces += 1,
            b'}' => {
                braces = braces.saturating_sub(1);
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
            }
            _ => {}
        }
        if word_at(i, "mod ") {
            let name = name_at(i + 4);
            if code[i + 4 + name.len()..].trim_start().starts_with('{') {
                inline_mods.push(braces);
            }
        }
        if word_at(i, "crate::") {
            i += "crate::".len();
            if code[i..].starts_with('{') {
                found.extend(group_heads(&code[i..]).into_iter().map(|name| (name, line)));
            } else {
                found.push((name_at(i), line));
            }
            continue;
        }
        if word_at(i, "super::") {
            let mut ups = 0;
            while code[i..].starts_with("super::") {
                ups += 1;
                i += "super::".len();
            }
            // From the crate root this code is `depth` modules down.
            if ups == module.len() + inline_mods.len() {
                found.push((name_at(i), line));
            }
            continue;
        }
        i += 1;
    }
    found.retain(|(name, _)| name.starts_with(|c: char| c.is_ascii_lowercase()) && name != "self");
    found
}

/// The module path of a file under `src/`: `store/sqlite.rs` is `[store, sqlite]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
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

/// A source file of the crate under `src` (but `lib.rs` and `main.rs`): its
/// module path, its name as reports show it, and its code (see [`code_only`]).
struct Source {
    module: Vec<String>,
    file: String,
    code: String,
}

fn sources(src: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut sources = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let module = module_of(relative);
        if module == ["lib"] || module == ["main"] {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        sources.push(Source { module, file: format!("src/{}", relative.display()), code });
    }
    sources
}

/// Every reference between two top-level modules in the crate under `src`.
fn crate_references(src: &Path) -> Vec<Reference> {
    let mut all = Vec::new();
    for source in sources(src) {
        for (to, line) in references(&source.module, &source.code) {
            if to != source.module[0] {
                all.push(Reference { from: source.module[0].clone(), to, file: source.file.clone(), line });
            }
        }
    }
    all
}

/// Where code under `src` names the external crate `name` (`name::...`), as
/// (top-level module, file, line).
fn crate_uses(src: &Path, name: &str) -> Vec<(String, String, usize)> {
    let pattern = format!("{name}::");
    let mut uses = Vec::new();
    for source in sources(src) {
        for (n, line) in source.code.lines().enumerate() {
            let named = line
                .match_indices(&pattern)
                .any(|(at, _)| !line[..at].ends_with(|c: char| is_ident(c) || c == ':'));
            if named {
                uses.push((source.module[0].clone(), source.file.clone(), n + 1));
            }
        }
    }
    uses
}

/// What breaks the layering: references upwards, unknown modules and cycles.
fn violations(layers: &BTreeMap<String, u32>, references: &[Reference]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in references {
        let (Some(&from), Some(&to)) = (layers.get(&r.from), layers.get(&r.to)) else {
            problems.push(format!(
                "{}:{}: `{}` or `{}` is not a module under a layer heading in src/lib.rs",
                r.file, r.line, r.from, r.to
            ));
            continue;
        };
        if to > from {
            problems.push(format!(
                "{}:{}: `{}` (layer {from}) refers to `{}` (layer {to}), a layer above it",
                r.file, r.line, r.from, r.to
            ));
        }
        graph.entry(&r.from).or_default().insert(&r.to);
    }
    // Cycles: a depth-first search that reports each back edge's loop.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        cycles: &mut Vec<Vec<&'a str>>,
    ) {
        if let Some(at) = path.iter().position(|&n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node);
            cycles.push(cycle);
            return;
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for &next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for &node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    for cycle in cycles {
        let mut text = format!("an import cycle: {}", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            if let Some(r) = references.iter().find(|r| r.from == pair[0] && r.to == pair[1]) {
                let _ = write!(text, "\n    {} -> {} at {}:{}", r.from, r.to, r.file, r.line);
            }
        }
        problems.push(text);
    }
    problems
}

#[test]
fn modules_refer_only_to_their_own_layer_or_below_without_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap()).unwrap();
    assert!(layers.len() >= 10, "src/lib.rs declares {} modules under layer headings", layers.len());
    let references = crate_references(&root.join("src"));
    assert!(references.len() > 100, "only {} references between modules were found", references.len());
    let problems = violations(&layers, &references);
    assert!(problems.is_empty(), "the layering of src/lib.rs does not hold:\n{}", problems.join("\n"));
}

#[test]
fn http_types_stay_at_the_edge_and_sql_in_the_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap()).unwrap();
    let edge = layers["http"];
    let axum = crate_uses(&root.join("src"), "axum");
    assert!(axum.iter().any(|(module, _, _)| module == "http"), "the scan finds axum in http");
    let below_edge: Vec<_> = axum.iter().filter(|(module, _, _)| layers.get(module) < Some(&edge)).collect();
    assert!(below_edge.is_empty(), "axum below the edge: {below_edge:?}");
    // The model only declares how its types are read from a row (`sqlx::FromRow`).
    let sqlx = crate_uses(&root.join("src"), "sqlx");
    let outside: Vec<_> =
        sqlx.iter().filter(|(module, _, _)| module != "store" && module != "model").collect();
    assert!(outside.is_empty(), "sqlx outside the store: {outside:?}");
}

#[test]
fn the_tour_puts_the_foundations_at_the_bottom_and_http_at_the_top() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap()).unwrap();
    assert_eq!(layers.get("http"), layers.values().max(), "http is in the top layer");
    for module in ["config", "clock", "validate"] {
        assert_eq!(layers.get(module), Some(&1), "{module} is a foundation");
    }
    assert!(
        layers["model"] < layers["store"] && layers["store"] < layers["chat"],
        "model < store < services"
    );
}

#[test]
fn paths_in_comments_strings_and_characters_do_not_count() {
    let code = code_only(
        r####"
        use crate::config::Config; // crate::http in a comment
        /* crate::cli, /* nested crate::cli */ still a comment */
        let url = "https://example.com/ crate::http"; let quote = '"'; let s = r#"crate::cli"#;
        let apostrophe = '\''; let bytes = br"\"; let tab = '\t'; let r#type = crate::error::Code::Internal;
        fn f<'a>(x: &'a str) -> &'a str { crate::clock::now_ms(); x }
        use crate::{store::{self, Store}, model::Bot};
        "####,
    );
    let found: Vec<String> = references(&["auth".to_owned()], &code).into_iter().map(|(m, _)| m).collect();
    assert_eq!(found, ["config", "error", "clock", "store", "model"]);
}

#[test]
fn super_paths_that_leave_their_module_count() {
    let code = code_only(
        "use super::http::AppState;\nmod tests {\n    use super::*;\n    use super::super::cli;\n}\n",
    );
    // In src/chat/mod.rs, `super::http` is the crate's `http` module; inside
    // `mod tests`, `super::*` is chat itself and `super::super::cli` the crate's `cli`.
    let found = references(&["chat".to_owned()], &code);
    assert_eq!(found, [("http".to_owned(), 1), ("cli".to_owned(), 4)]);
    // In src/store/sqlite.rs, `super::` stays inside the store.
    assert!(references(&["store".to_owned(), "sqlite".to_owned()], "use super::queries;").is_empty());
}

#[test]
fn an_upward_reference_and_a_cycle_are_reported() {
    let layers = BTreeMap::from([("config".to_owned(), 1), ("store".to_owned(), 3), ("chat".to_owned(), 4)]);
    let reference = |from: &str, to: &str| Reference {
        from: from.to_owned(),
        to: to.to_owned(),
        file: format!("src/{from}.rs"),
        line: 1,
    };
    let upward = [reference("config", "store")];
    let problems = violations(&layers, &upward);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("`config` (layer 1) refers to `store` (layer 3)"), "{problems:?}");

    let layers = BTreeMap::from([("chat".to_owned(), 4), ("rag".to_owned(), 4), ("llm".to_owned(), 4)]);
    let cycle = [reference("chat", "rag"), reference("rag", "llm"), reference("llm", "chat")];
    let problems = violations(&layers, &cycle);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("an import cycle: chat -> rag -> llm -> chat"), "{problems:?}");

    let fine = [reference("chat", "rag"), reference("chat", "llm"), reference("rag", "llm")];
    assert!(violations(&layers, &fine).is_empty());
}
