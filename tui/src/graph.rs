//! A DAG's tasks laid out as a layered graph, left to right, for the graph view. Pure:
//! computed once when a DAG's tasks arrive, then drawn with an offset.
//!
//! Sugiyama in small: a task's layer is its longest path from a source; an edge that
//! spans layers goes through a dummy node in each layer between, so every edge joins
//! neighbouring layers; a few barycenter sweeps order each layer to cut crossings.
//! Edges are routed through a vertical channel per source in the gap between two
//! layers, on a canvas that merges crossing lines into box-drawing junctions.

use std::collections::{BTreeMap, HashMap};

use lithoflow_api::TaskInfo;

/// Channels (vertical lanes) in one gap at most; more sources share them.
const MAX_CHANNELS: usize = 6;

/// Barycenter sweeps (each one down and one up).
const SWEEPS: usize = 4;

/// The arrowhead before a task.
pub const ARROW: char = '▸';

/// Where one task is drawn: its glyph at `x`, then a space, then its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeBox {
    /// Its first column.
    pub x: u16,
    /// Its row.
    pub y: u16,
    /// Its label's width (glyph, space, id).
    pub width: u16,
    /// Its layer.
    pub layer: usize,
}

/// One cell of an edge line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeCell {
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
    /// The line character (or the arrowhead).
    pub symbol: char,
    /// The task the edge leaves (its state colours the line).
    pub source: usize,
}

/// A laid-out graph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphLayout {
    /// One box per task, by task index.
    pub nodes: Vec<NodeBox>,
    /// The edges' cells.
    pub edges: Vec<EdgeCell>,
    /// Columns used.
    pub width: u16,
    /// Rows used.
    pub height: u16,
    /// The real tasks of each layer, top to bottom.
    pub layers: Vec<Vec<usize>>,
}

const LEFT: u8 = 1;
const RIGHT: u8 = 2;
const UP: u8 = 4;
const DOWN: u8 = 8;

fn symbol(dirs: u8) -> char {
    match dirs {
        d if d == LEFT | RIGHT | UP | DOWN => '┼',
        d if d == LEFT | RIGHT | DOWN => '┬',
        d if d == LEFT | RIGHT | UP => '┴',
        d if d == UP | DOWN | RIGHT => '├',
        d if d == UP | DOWN | LEFT => '┤',
        d if d == RIGHT | DOWN => '┌',
        d if d == LEFT | DOWN => '┐',
        d if d == RIGHT | UP => '└',
        d if d == LEFT | UP => '┘',
        d if d & (UP | DOWN) != 0 && d & (LEFT | RIGHT) == 0 => '│',
        _ => '─',
    }
}

/// A canvas of line directions per cell.
#[derive(Default)]
struct Canvas {
    cells: BTreeMap<(u16, u16), (u8, usize)>,
}

impl Canvas {
    fn add(&mut self, x: u16, y: u16, dirs: u8, source: usize) {
        let cell = self.cells.entry((y, x)).or_insert((0, source));
        cell.0 |= dirs;
        cell.1 = source;
    }

    fn hline(&mut self, y: u16, x0: u16, x1: u16, source: usize) {
        for x in x0.min(x1)..=x0.max(x1) {
            self.add(x, y, LEFT | RIGHT, source);
        }
    }

    /// From `(x0, y0)` right to channel `cx`, along it to row `y1`, then right to `x1`.
    fn route(&mut self, (x0, y0): (u16, u16), cx: u16, (x1, y1): (u16, u16), source: usize) {
        if cx > x0 {
            self.hline(y0, x0, cx - 1, source);
        }
        if y0 == y1 {
            self.add(cx, y0, LEFT | RIGHT, source);
        } else {
            let (toward, from) = if y1 > y0 { (DOWN, UP) } else { (UP, DOWN) };
            self.add(cx, y0, LEFT | toward, source);
            for y in y0.min(y1) + 1..y0.max(y1) {
                self.add(cx, y, UP | DOWN, source);
            }
            self.add(cx, y1, from | RIGHT, source);
        }
        if x1 > cx {
            self.hline(y1, cx + 1, x1, source);
        }
    }
}

fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Lays out tasks given in DAG order (every task after its upstream tasks).
pub fn layout(tasks: &[TaskInfo], index: &HashMap<String, usize>) -> GraphLayout {
    let n = tasks.len();
    if n == 0 {
        return GraphLayout::default();
    }
    let preds: Vec<Vec<usize>> = tasks
        .iter()
        .map(|t| {
            t.upstream_task_ids
                .iter()
                .filter_map(|u| index.get(u).copied())
                .collect()
        })
        .collect();
    // Longest path from a source; tasks come upstream first, so one pass does it.
    let mut layer = vec![0usize; n];
    for v in 0..n {
        layer[v] = preds[v]
            .iter()
            .filter(|&&u| u < v)
            .map(|&u| layer[u] + 1)
            .max()
            .unwrap_or(0);
    }
    let depth = layer.iter().copied().max().unwrap_or(0) + 1;

    // Nodes: tasks, then dummies; segments join neighbouring layers.
    let mut node_layer = layer.clone();
    let mut segments: Vec<(usize, usize, usize)> = Vec::new(); // (from, to, source task)
    for (v, ps) in preds.iter().enumerate() {
        for &u in ps {
            if layer[v] <= layer[u] {
                continue; // not upstream in DAG order: cannot happen for a valid DAG
            }
            let mut prev = u;
            for l in layer[u] + 1..layer[v] {
                node_layer.push(l);
                let d = node_layer.len() - 1;
                segments.push((prev, d, u));
                prev = d;
            }
            segments.push((prev, v, u));
        }
    }
    let total = node_layer.len();
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (node, &l) in node_layer.iter().enumerate() {
        layers[l].push(node);
    }
    let mut ins: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut outs: Vec<Vec<usize>> = vec![Vec::new(); total];
    for &(a, b, _) in &segments {
        outs[a].push(b);
        ins[b].push(a);
    }

    // Barycenter sweeps.
    let mut pos = vec![0usize; total];
    let renumber = |layers: &Vec<Vec<usize>>, pos: &mut Vec<usize>| {
        for l in layers {
            for (i, &node) in l.iter().enumerate() {
                pos[node] = i;
            }
        }
    };
    renumber(&layers, &mut pos);
    let order_by = |l: &mut Vec<usize>, neighbours: &Vec<Vec<usize>>, pos: &Vec<usize>| {
        let mut keyed: Vec<(f64, usize)> = l
            .iter()
            .map(|&node| {
                let ns = &neighbours[node];
                let key = if ns.is_empty() {
                    pos[node] as f64
                } else {
                    ns.iter().map(|&m| pos[m] as f64).sum::<f64>() / ns.len() as f64
                };
                (key, node)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        *l = keyed.into_iter().map(|(_, node)| node).collect();
    };
    for _ in 0..SWEEPS {
        for li in 1..depth {
            order_by(&mut layers[li], &ins, &pos);
            renumber(&layers, &mut pos);
        }
        for li in (0..depth.saturating_sub(1)).rev() {
            order_by(&mut layers[li], &outs, &pos);
            renumber(&layers, &mut pos);
        }
    }

    // Columns: each layer as wide as its widest label, then a gap with its channels.
    let label =
        |node: usize| -> usize { tasks.get(node).map_or(0, |t| t.task_id.chars().count() + 2) };
    let widths: Vec<usize> = layers
        .iter()
        .map(|l| l.iter().map(|&node| label(node)).max().unwrap_or(1).max(1))
        .collect();
    let mut sources: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (li, l) in layers.iter().enumerate() {
        sources[li] = l
            .iter()
            .copied()
            .filter(|&node| !outs[node].is_empty())
            .collect();
    }
    let channels: Vec<usize> = sources
        .iter()
        .map(|s| s.len().clamp(1, MAX_CHANNELS))
        .collect();
    let mut layer_x = vec![0usize; depth];
    let mut x = 1;
    for li in 0..depth {
        layer_x[li] = x;
        x += widths[li] + 2 + channels[li] + 3;
    }
    let width = layer_x[depth - 1] + widths[depth - 1] + 1;
    let tallest = layers.iter().map(Vec::len).max().unwrap_or(1);
    let row = |node: usize| -> usize {
        let l = node_layer[node];
        pos[node] * 2 + (tallest - layers[l].len())
    };

    let mut canvas = Canvas::default();
    let mut arrows: Vec<EdgeCell> = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        // Dummies are a line straight through their layer.
        for &node in l {
            if node >= n {
                let y = to_u16(row(node));
                let src = segments.iter().find(|s| s.1 == node).map_or(0, |s| s.2);
                canvas.hline(
                    y,
                    to_u16(layer_x[li] - 3),
                    to_u16(layer_x[li] + widths[li]),
                    src,
                );
            }
        }
        for (si, &from) in sources[li].iter().enumerate() {
            let cx = to_u16(layer_x[li] + widths[li] + 2 + si % MAX_CHANNELS);
            let start = if from < n {
                layer_x[li] + label(from) + 1
            } else {
                layer_x[li] + widths[li] + 1
            };
            for &(_, b, src) in segments.iter().filter(|s| s.0 == from) {
                let next = li + 1;
                let end = layer_x[next] - 3;
                let arrow = b < n;
                let y0 = to_u16(row(from));
                let y1 = to_u16(row(b));
                canvas.route((to_u16(start), y0), cx, (to_u16(end), y1), src);
                if arrow {
                    arrows.push(EdgeCell {
                        x: to_u16(layer_x[next] - 2),
                        y: y1,
                        symbol: ARROW,
                        source: src,
                    });
                }
            }
        }
    }
    let mut edges: Vec<EdgeCell> = canvas
        .cells
        .into_iter()
        .map(|((y, x), (dirs, source))| EdgeCell {
            x,
            y,
            symbol: symbol(dirs),
            source,
        })
        .collect();
    edges.extend(arrows);

    let nodes = (0..n)
        .map(|node| NodeBox {
            x: to_u16(layer_x[node_layer[node]]),
            y: to_u16(row(node)),
            width: to_u16(label(node)),
            layer: node_layer[node],
        })
        .collect();
    let real_layers = layers
        .iter()
        .map(|l| l.iter().copied().filter(|&node| node < n).collect())
        .collect();
    GraphLayout {
        nodes,
        edges,
        width: to_u16(width),
        height: to_u16(tallest * 2 - 1),
        layers: real_layers,
    }
}

/// A direction to move the graph's selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The layer before, nearest row.
    Left,
    /// The layer after, nearest row.
    Right,
    /// The task above in the layer.
    Up,
    /// The task below in the layer.
    Down,
}

impl GraphLayout {
    /// The task one step from `from`, if there is one that way.
    pub fn step(&self, from: usize, step: Step) -> Option<usize> {
        let node = self.nodes.get(from)?;
        let layer = self.layers.get(node.layer)?;
        let at = layer.iter().position(|&t| t == from)?;
        match step {
            Step::Up => at.checked_sub(1).and_then(|i| layer.get(i)).copied(),
            Step::Down => layer.get(at + 1).copied(),
            Step::Left | Step::Right => {
                let target = if step == Step::Left {
                    node.layer.checked_sub(1)?
                } else {
                    node.layer + 1
                };
                self.layers
                    .get(target)?
                    .iter()
                    .copied()
                    .min_by_key(|&t| self.nodes[t].y.abs_diff(node.y))
            }
        }
    }
}

/// Tasks in DAG order: every task after its upstream tasks, file order among those
/// that are ready together (Kahn's algorithm). Tasks on a cycle, which a valid DAG
/// cannot have, come last in file order.
pub fn dag_order(tasks: Vec<TaskInfo>) -> Vec<TaskInfo> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    let mut indegree: Vec<usize> = tasks
        .iter()
        .map(|t| {
            t.upstream_task_ids
                .iter()
                .filter(|u| index.contains_key(u.as_str()))
                .count()
        })
        .collect();
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for u in &t.upstream_task_ids {
            if let Some(&ui) = index.get(u.as_str()) {
                downstream[ui].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..tasks.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &downstream[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.insert(d);
            }
        }
    }
    let mut placed = vec![false; tasks.len()];
    for &i in &order {
        placed[i] = true;
    }
    order.extend((0..tasks.len()).filter(|&i| !placed[i]));
    let mut slots: Vec<Option<TaskInfo>> = tasks.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, up: &[&str]) -> TaskInfo {
        TaskInfo {
            task_id: id.to_owned(),
            operator_name: "call_async".to_owned(),
            upstream_task_ids: up.iter().map(|s| (*s).to_owned()).collect(),
            downstream_task_ids: Vec::new(),
            trigger_rule: "all_success".to_owned(),
            ..TaskInfo::default()
        }
    }

    /// The layout drawn as text: task ids and edge characters.
    fn draw(tasks: &[TaskInfo]) -> String {
        let index = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.task_id.clone(), i))
            .collect();
        let g = layout(tasks, &index);
        let mut grid = vec![vec![' '; usize::from(g.width)]; usize::from(g.height)];
        for e in &g.edges {
            grid[usize::from(e.y)][usize::from(e.x)] = e.symbol;
        }
        for (t, b) in tasks.iter().zip(&g.nodes) {
            let text = format!("● {}", t.task_id);
            for (i, c) in text.chars().enumerate() {
                grid[usize::from(b.y)][usize::from(b.x) + i] = c;
            }
        }
        grid.into_iter()
            .map(|r| r.into_iter().collect::<String>().trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_diamond_with_a_long_edge_is_drawn_in_layers() {
        let tasks = dag_order(vec![
            task("end", &["left", "right", "start"]),
            task("start", &[]),
            task("left", &["start"]),
            task("right", &["start"]),
        ]);
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["start", "left", "right", "end"]);
        insta::assert_snapshot!(draw(&tasks), @r"
                 ┌─▸ ● left ──┐
                 │            │
        ● start ─┼─▸ ● right ─┴─┬─▸ ● end
                 │              │
                 └──────────────┘
        ");
    }

    #[test]
    fn steps_move_between_layers_and_within_them() {
        let tasks = dag_order(vec![task("a", &[]), task("b", &["a"]), task("c", &["a"])]);
        let index = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.task_id.clone(), i))
            .collect();
        let g = layout(&tasks, &index);
        assert_eq!(g.step(0, Step::Right), Some(1));
        assert_eq!(g.step(1, Step::Down), Some(2));
        assert_eq!(g.step(2, Step::Up), Some(1));
        assert_eq!(g.step(2, Step::Left), Some(0));
        assert_eq!(g.step(0, Step::Left), None);
    }
}
