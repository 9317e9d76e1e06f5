//! The task graph: one node per task, an edge `a -> b` when `b` depends on `a`
//! (through `upstream`, `data_from_task` or `iterdata_from_task`).

use std::collections::{HashMap, VecDeque};

use petgraph::Direction;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Dependencies between a DAG's tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskGraph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl TaskGraph {
    /// Builds the graph from task ids (in file order) and `(upstream, downstream)` edges.
    /// Edges naming unknown tasks are ignored (validation reports them); repeated edges
    /// are kept once.
    pub fn new(ids: &[&str], edges: &[(&str, &str)]) -> Self {
        let mut graph = DiGraph::with_capacity(ids.len(), edges.len());
        let mut index = HashMap::with_capacity(ids.len());
        for id in ids {
            index
                .entry((*id).to_owned())
                .or_insert_with(|| graph.add_node((*id).to_owned()));
        }
        // A set, not `find_edge`: that walks the upstream's edges, and a root with
        // 100,000 downstream tasks made building the graph quadratic.
        let mut seen = std::collections::HashSet::with_capacity(edges.len());
        for (from, to) in edges {
            if let (Some(&a), Some(&b)) = (index.get(*from), index.get(*to))
                && seen.insert((a, b))
            {
                graph.add_edge(a, b, ());
            }
        }
        TaskGraph { graph, index }
    }

    /// The position of task `id` among the ids the graph was built from (each id counted
    /// once, in their order).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|n| n.index())
    }

    /// Every edge as `(upstream, downstream)`, in insertion order.
    pub fn edges(&self) -> Vec<(&str, &str)> {
        self.graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (self.graph[a].as_str(), self.graph[b].as_str()))
            .collect()
    }

    /// The direct upstream tasks of `id`, in file order.
    pub fn upstream(&self, id: &str) -> Vec<&str> {
        self.neighbours(id, Direction::Incoming)
    }

    /// The direct downstream tasks of `id`, in file order.
    pub fn downstream(&self, id: &str) -> Vec<&str> {
        self.neighbours(id, Direction::Outgoing)
    }

    fn neighbours(&self, id: &str, dir: Direction) -> Vec<&str> {
        let Some(&n) = self.index.get(id) else {
            return Vec::new();
        };
        let mut out: Vec<NodeIndex> = self.graph.neighbors_directed(n, dir).collect();
        out.sort();
        out.into_iter().map(|i| self.graph[i].as_str()).collect()
    }

    /// Tasks in an order where every task comes after its upstream tasks, ties broken by
    /// file order; `None` if the graph has a cycle.
    pub fn topological_order(&self) -> Option<Vec<&str>> {
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| {
                self.graph
                    .neighbors_directed(n, Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: std::collections::BTreeSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| indegree[n.index()] == 0)
            .collect();
        let mut out = Vec::with_capacity(self.graph.node_count());
        while let Some(n) = ready.pop_first() {
            out.push(self.graph[n].as_str());
            for m in self.graph.neighbors_directed(n, Direction::Outgoing) {
                indegree[m.index()] -= 1;
                if indegree[m.index()] == 0 {
                    ready.insert(m);
                }
            }
        }
        (out.len() == self.graph.node_count()).then_some(out)
    }

    /// Each cycle once, as the path of task ids from the cycle's first task in file order
    /// (without repeating it at the end).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        // Kosaraju's walk is iterative; petgraph's Tarjan recurses once per task on a path and
        // overflowed the stack on a chain of 100,000 tasks. Each cycle is sorted and
        // walked from its first task, so the order the algorithm finds them in does not show.
        let mut cycles: Vec<Vec<String>> = kosaraju_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .filter_map(|mut scc| {
                scc.sort();
                let start = scc[0];
                self.path_back(start, &scc)
            })
            .collect();
        cycles.sort();
        cycles
    }

    /// The shortest path from `start` back to itself inside one strongly connected component.
    fn path_back(&self, start: NodeIndex, scc: &[NodeIndex]) -> Option<Vec<String>> {
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(n, Direction::Outgoing)
                .collect();
            next.sort();
            for m in next {
                if m == start {
                    let mut path = vec![n];
                    let mut cur = n;
                    while cur != start {
                        cur = prev[&cur];
                        path.push(cur);
                    }
                    path.reverse();
                    return Some(path.into_iter().map(|i| self.graph[i].clone()).collect());
                }
                if scc.binary_search(&m).is_ok() && !prev.contains_key(&m) {
                    prev.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        None
    }

    /// The Graphviz source of the graph, like `airflow dags show`.
    pub fn to_dot(&self, dag_id: &str) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = format!(
            "digraph {} {{\n    graph [label={} labelloc=t rankdir=LR];\n",
            quote(dag_id),
            quote(dag_id)
        );
        for n in self.graph.node_indices() {
            out.push_str(&format!("    {} [shape=rect];\n", quote(&self.graph[n])));
        }
        for (a, b) in self.edges() {
            out.push_str(&format!("    {} -> {};\n", quote(a), quote(b)));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_with_its_full_path() {
        let g = TaskGraph::new(
            &["a", "b", "c", "d", "e"],
            &[("a", "b"), ("b", "c"), ("c", "a"), ("d", "e"), ("e", "d")],
        );
        assert_eq!(g.cycles(), vec![vec!["a", "b", "c"], vec!["d", "e"]]);
        assert!(g.topological_order().is_none());
    }

    #[test]
    fn topological_order_breaks_ties_by_file_order() {
        let g = TaskGraph::new(&["z", "a", "m"], &[("a", "m")]);
        assert_eq!(g.topological_order(), Some(vec!["z", "a", "m"]));
        assert_eq!(g.upstream("m"), vec!["a"]);
        assert_eq!(g.downstream("a"), vec!["m"]);
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn dot_quotes_ids() {
        let g = TaskGraph::new(&["a.b", "c"], &[("a.b", "c")]);
        assert_eq!(
            g.to_dot("d"),
            "digraph \"d\" {\n    graph [label=\"d\" labelloc=t rankdir=LR];\n    \"a.b\" [shape=rect];\n    \"c\" [shape=rect];\n    \"a.b\" -> \"c\";\n}\n"
        );
    }
}
