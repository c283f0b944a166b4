//! The lines of the architecture that the compiler does not keep by itself, kept by tests:
//! the domain depends on no cloud SDK, database driver, server or Lambda runtime, and its
//! modules depend one way. A capability's handlers (`<capability>::http`) count apart from
//! the capability: handlers sit above every capability, which may not reach back to them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module (`agent`, `orgs::http`, …) and the modules its non-test code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            // `lib` declares the modules; a `tests.rs` is a test module in a file of its own.
            if parts[0] == "lib" || parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            let http = parts.last().is_some_and(|p| p == "http");
            let node = if http { format!("{}::http", parts[0]) } else { parts[0].clone() };
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let named = graph.entry(node.clone()).or_default();
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                let target = if rest[name.len()..].starts_with("::http") {
                    format!("{name}::http")
                } else {
                    name
                };
                named.insert(target);
            }
            if !http && code.contains("super::http") {
                named.insert(format!("{}::http", parts[0]));
            }
            named.remove(&node);
        }
    }
    graph
}

/// A path that leaves `from` and comes back to it, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        for next in graph.get(path.last().unwrap()).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == from {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn modules_depend_one_way() {
    let graph = module_graph();
    assert!(
        graph.contains_key("orgs::http") && graph["routes"].contains("orgs::http"),
        "{graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("a cycle between modules: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_api_layer_names_no_capability() {
    let graph = module_graph();
    let api = &graph["api"];
    for capability in ["orgs", "leads", "billing", "ceo", "tasks", "agent", "usage"] {
        assert!(!api.contains(capability), "api names {capability}");
    }
}

#[test]
fn the_domain_links_no_cloud_sdk_driver_server_or_runtime() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let dependencies = manifest.split("[dev-dependencies]").next().unwrap_or_default();
    for forbidden in [
        "aws-",
        "lambda",
        "hyper",
        "rusqlite",
        "lettre",
        "async-stripe",
        "async-openai",
        "reqwest",
    ] {
        assert!(!dependencies.contains(forbidden), "the domain depends on {forbidden}");
    }
}
