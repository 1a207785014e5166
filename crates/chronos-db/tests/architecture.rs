//! The crate's layering, checked: the top-level modules of `src/` (each file or folder
//! directly under it) depend on each other without cycles, and each stays below the layers
//! that use it (see `docs/design.md`). A dependency is any `crate::<module>` path in code
//! (comments and doc comments are ignored).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            src_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for `lib.rs`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(stem) => Some(stem.to_string()),
        None => Some(first),
    }
}

/// Code without comments (line comments and doc comments; string contents are kept, which
/// is harmless for this check) and without its inline test modules (`#[cfg(test)] mod tests
/// { ... }`, wherever they are in the file): tests may use any layer.
fn code_of(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let test_module = line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                next.trim_start().starts_with("mod ") && next.trim_end().ends_with('{')
            });
        if test_module {
            // Skip to the module's closing brace, at the indentation of its `mod` line.
            let Some(open) = lines.next() else { break };
            let indent = open.len() - open.trim_start().len();
            let close = format!("{}}}", " ".repeat(indent));
            for inner in lines.by_ref() {
                if inner.trim_end() == close {
                    break;
                }
            }
            continue;
        }
        out.push(match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        });
    }
    out.join("\n")
}

/// Files that only exist in test builds: `#[cfg(test)] mod name;` declared next to them.
fn test_only(file: &Path) -> bool {
    let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
        return false;
    };
    let Some(dir) = file.parent() else {
        return false;
    };
    let parents = [
        dir.join("mod.rs"),
        dir.with_extension("rs"),
        dir.join("lib.rs"),
    ];
    parents.iter().any(|parent| {
        let Ok(text) = std::fs::read_to_string(parent) else {
            return false;
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines.windows(2).any(|w| {
            w[0] == "#[cfg(test)]"
                && (w[1] == format!("mod {stem};") || w[1] == format!("pub(crate) mod {stem};"))
        })
    })
}

/// `module -> modules it uses`.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    src_files(&src, &mut files);
    files.retain(|f| !test_only(f));
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some(from) = top_module(&src, file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(file).expect("read file"));
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != from && modules.contains(&name) {
                deps.entry(from.clone()).or_default().insert(name);
            }
        }
        // `use crate::{a, b::c}` groups.
        for (i, _) in code.match_indices("crate::{") {
            let rest = &code[i + "crate::{".len()..];
            let group = &rest[..rest.find("};").unwrap_or(rest.len())];
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != from && modules.contains(&name) {
                    deps.entry(from.clone()).or_default().insert(name);
                }
            }
        }
    }
    deps
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(deps: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn visit(
        deps: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        node: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in deps.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(deps, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    visit(deps, start, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let deps = dependencies();
    let cycles: Vec<String> = deps
        .keys()
        .filter_map(|m| cycle_from(&deps, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}\n\ndependencies:\n{deps:#?}",
        cycles.join("\n")
    );
}

/// The lower layers never reach up: stores and the data model know nothing of the
/// operations, the facade or administration.
#[test]
fn lower_layers_do_not_reach_up() {
    let deps = dependencies();
    let upper = ["ops", "chronos", "admin", "tiered", "links", "access"];
    for lower in [
        "meta",
        "payload",
        "model",
        "query",
        "config",
        "routing",
        "names",
        "backend_error",
        "redact",
        "flat",
    ] {
        let reached: Vec<&String> = deps
            .get(lower)
            .into_iter()
            .flatten()
            .filter(|d| upper.contains(&d.as_str()))
            .collect();
        assert!(reached.is_empty(), "{lower} uses {reached:?}");
    }
}
