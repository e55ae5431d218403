//! The layers of the code: each top-level module of `src/` uses only the ones below it, so
//! there is no cycle between them. Read from the source: every `crate::NAME` a module writes
//! (outside its unit tests) is a use of NAME.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// From the top down; a module may use only modules after it.
const LAYERS: &[&str] = &[
    "commands", "tui", "plain", "prepare", "error", "engine", "state", "runbook", "aws", "syntax",
    "process", "out", "cli",
];

fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let used = out.entry(top.clone()).or_default();
            let mut rest = text;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    // `use crate::{a, b::c}`
                    let body = &group[..group.find('}').unwrap_or(group.len())];
                    for part in body.split(',') {
                        let name = part.trim().split("::").next().unwrap_or_default();
                        if !name.is_empty() && name != "self" {
                            used.insert(name.to_string());
                        }
                    }
                    continue;
                }
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
            used.remove(&top);
        }
    }
    out
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let uses = uses();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (module, used) in &uses {
        let Some(r) = rank(module) else {
            wrong.push(format!("`{module}` has no place in LAYERS"));
            continue;
        };
        for u in used {
            match rank(u) {
                Some(ru) if ru > r => {}
                Some(_) => wrong.push(format!("`{module}` uses `{u}`, which is above it")),
                None => wrong.push(format!(
                    "`{module}` uses `{u}`, which has no place in LAYERS"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_reader_of_uses_sees_them() {
    // The check above is only as good as what it reads: the engine uses the run store, and
    // the terminal UI prepares runs.
    let uses = uses();
    assert!(uses["engine"].contains("state"), "{uses:?}");
    assert!(uses["tui"].contains("prepare"), "{uses:?}");
}

#[test]
fn no_source_file_is_over_800_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut long = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > 800 {
                    long.push(format!("{}: {lines} lines", path.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these: {long:?}");
}
