//! Property tests: random valid DAGs parse into the graph they describe, and random
//! damage to valid files never panics the parser.

use std::fmt::Write as _;
use std::path::Path;

use lithoflow_dag::parse_dag;
use proptest::prelude::*;

/// A random task: its type and the indices of earlier tasks it depends on, and through
/// which key.
#[derive(Debug, Clone)]
struct GenTask {
    kind: u8,
    deps: Vec<usize>,
    via_data: bool,
}

fn gen_dag() -> impl Strategy<Value = Vec<GenTask>> {
    (1usize..25).prop_flat_map(|n| {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let deps = if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::btree_set(0..i, 0..i.min(4))
                        .prop_map(|s| s.into_iter().collect())
                        .boxed()
                };
                (0u8..3, deps, any::<bool>()).prop_map(|(kind, deps, via_data)| GenTask {
                    kind,
                    deps,
                    via_data,
                })
            })
            .collect();
        tasks
    })
}

fn render(tasks: &[GenTask]) -> String {
    let mut s = String::from(
        "schedule = \"*/15 * * * *\"\nstart_date = 2026-01-01\n[default_args]\nretries = 2\n",
    );
    for (i, t) in tasks.iter().enumerate() {
        let _ = writeln!(s, "\n[tasks.t{i}]");
        let mut upstream: Vec<usize> = t.deps.clone();
        match t.kind {
            0 => {
                let _ = writeln!(
                    s,
                    "type = \"call_async\"\nfunc = \"mod_{i}:f\"\ndata = {{ x = {i} }}"
                );
                if t.via_data
                    && let Some(first) = upstream.first().copied()
                {
                    let _ = writeln!(s, "data_from_task = {{ y = \"t{first}\" }}");
                    upstream.remove(0);
                }
            }
            kind => {
                let ty = if kind == 1 { "map" } else { "map_reduce" };
                let _ = writeln!(s, "type = \"{ty}\"\nmap_function = \"pkg.mod:f\"");
                if kind == 2 {
                    let _ = writeln!(s, "reduce_function = \"pkg.mod:r\"");
                }
                match upstream.first().copied() {
                    Some(first) if t.via_data => {
                        let _ = writeln!(s, "iterdata_from_task = \"t{first}\"");
                        upstream.remove(0);
                    }
                    _ => {
                        let _ = writeln!(s, "map_iterdata = [1, \"two\", {{ a = 3 }}]");
                    }
                }
            }
        }
        if !upstream.is_empty() {
            let list: Vec<String> = upstream.iter().map(|d| format!("\"t{d}\"")).collect();
            let _ = writeln!(s, "upstream = [{}]", list.join(", "));
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_valid_dags_parse_into_their_graph(tasks in gen_dag()) {
        let text = render(&tasks);
        let (dag, diags) = parse_dag(Path::new("gen.toml"), &text);
        let rendered: String = diags.iter().map(ToString::to_string).collect();
        prop_assert!(diags.is_empty(), "{}\n{}", text, rendered);
        let dag = dag.expect("valid");
        prop_assert_eq!(dag.tasks.len(), tasks.len());
        let mut expected: Vec<(String, String)> = tasks
            .iter()
            .enumerate()
            .flat_map(|(i, t)| t.deps.iter().map(move |d| (format!("t{d}"), format!("t{i}"))))
            .collect();
        expected.sort();
        let mut edges: Vec<(String, String)> =
            dag.graph.edges().into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect();
        edges.sort();
        prop_assert_eq!(edges, expected);
        let order = dag.graph.topological_order().expect("acyclic");
        for (a, b) in dag.graph.edges() {
            let pos = |id: &str| order.iter().position(|x| *x == id);
            prop_assert!(pos(a) < pos(b));
        }
        prop_assert!(dag.tasks.iter().all(|t| t.retries == 2));
    }

    #[test]
    fn damaged_files_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..12),
    ) {
        let examples = ["call_async_example", "lithops_example", "map_example", "map_reduce_example"];
        let path = crate::repo_root().join("dags").join(format!("{}.toml", examples[which]));
        let mut bytes = std::fs::read(&path).expect("example exists");
        for (at, op, byte) in edits {
            let i = at.index(bytes.len().max(1)).min(bytes.len());
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i, b"[]{}=\"'\n#,."[usize::from(byte) % 11]),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let lines = text.lines().count().max(1);
        let (_dag, diags) = parse_dag(Path::new("damaged.toml"), &text);
        for d in &diags {
            if let Some(loc) = &d.location {
                prop_assert!(loc.line >= 1 && loc.line <= lines + 1, "line {} of {}", loc.line, lines);
                prop_assert!(loc.column >= 1);
            }
            let _ = d.to_string();
        }
    }
}
