/**
 * The graph's two layouts. Each returns {positions: Map(id → {x, y}) of node centres, points:
 * [[{x, y}, ...]] per edge (aligned with `edges`), width, height}.
 *
 * - layoutWithDagre: dagre's (vendor/dagre.min.js, a classic script loaded before the modules,
 *   read from globalThis.dagre), its ranker cheaper as graphs grow;
 * - layoutLayered: a small layered layout of our own for big graphs, where dagre needs 1.5-2 s
 *   for 1,000 steps in Chromium on a 2-core machine and this 30-50 ms.
 */

export const NODE = { width: 168, height: 44 };
export const GAP = { node: 16, rank: 56, margin: 16 };
const SMALL_GRAPH = 100; // up to here dagre's best ranker (network-simplex) stays under ~0.2 s
const SWEEPS = 4; // barycenter passes of layoutLayered; more barely reduce crossings


export function layoutWithDagre(nodes, edges, direction) {
  const { dagre } = globalThis;
  if (!dagre) throw new Error("graph.js: load /static/ui/vendor/dagre.min.js before it");
  const g = new dagre.graphlib.Graph();
  g.setGraph({
    rankdir: direction,
    ranker: nodes.length <= SMALL_GRAPH ? "network-simplex" : "tight-tree",
    nodesep: GAP.node,
    ranksep: GAP.rank,
    marginx: GAP.margin,
    marginy: GAP.margin,
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) g.setNode(node.id, { width: NODE.width, height: NODE.height });
  for (const [from, to] of edges) g.setEdge(from, to);
  dagre.layout(g);
  const positions = new Map(nodes.map(({ id }) => [id, { x: g.node(id).x, y: g.node(id).y }]));
  const points = edges.map(([from, to]) => g.edge(from, to).points);
  return { positions, points, width: g.graph().width, height: g.graph().height };
}

/**
 * Layered layout for big graphs: each step one rank after its latest dependency, a few
 * barycenter sweeps to untangle each rank, ranks centred on each other. Edges are drawn straight
 * from side to side, so an edge skipping ranks may cross steps; dagre routes those, at a price.
 */
export function layoutLayered(nodes, edges, direction) {
  const ids = nodes.map((node) => node.id);
  const preds = new Map(ids.map((id) => [id, []]));
  const succs = new Map(ids.map((id) => [id, []]));
  for (const [from, to] of edges) {
    succs.get(from).push(to);
    preds.get(to).push(from);
  }
  const ranks = rankByLongestPath(ids, preds, succs);
  const order = new Map();
  ranks.forEach((rank) => rank.forEach((id, i) => order.set(id, i)));
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const down = sweep % 2 === 0;
    const sequence = down ? ranks.slice(1) : ranks.slice(0, -1).reverse();
    for (const rank of sequence) sortByBarycenter(rank, down ? preds : succs, order);
  }

  const along = direction === "LR" ? NODE.width : NODE.height; // size along the flow
  const across = direction === "LR" ? NODE.height : NODE.width;
  const widest = Math.max(...ranks.map((rank) => rank.length));
  const positions = new Map();
  ranks.forEach((rank, r) => {
    const main = GAP.margin + r * (along + GAP.rank) + along / 2;
    const offset = ((widest - rank.length) * (across + GAP.node)) / 2;
    rank.forEach((id, i) => {
      const cross = GAP.margin + offset + i * (across + GAP.node) + across / 2;
      positions.set(id, direction === "LR" ? { x: main, y: cross } : { x: cross, y: main });
    });
  });
  const half = along / 2;
  const points = edges.map(([from, to]) => {
    const a = positions.get(from);
    const b = positions.get(to);
    return direction === "LR"
      ? [{ x: a.x + half, y: a.y }, { x: b.x - half, y: b.y }]
      : [{ x: a.x, y: a.y + half }, { x: b.x, y: b.y - half }];
  });
  const mainExtent = 2 * GAP.margin + ranks.length * (along + GAP.rank) - GAP.rank;
  const crossExtent = 2 * GAP.margin + widest * (across + GAP.node) - GAP.node;
  return direction === "LR"
    ? { positions, points, width: mainExtent, height: crossExtent }
    : { positions, points, width: crossExtent, height: mainExtent };
}

/** Ranks (arrays of ids) where each step sits one rank after its latest predecessor. */
function rankByLongestPath(ids, preds, succs) {
  const rankOf = new Map();
  const waiting = new Map(ids.map((id) => [id, preds.get(id).length]));
  const queue = ids.filter((id) => waiting.get(id) === 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    const rank = rankOf.get(id) ?? 0;
    rankOf.set(id, rank);
    for (const next of succs.get(id)) {
      rankOf.set(next, Math.max(rankOf.get(next) ?? 0, rank + 1));
      waiting.set(next, waiting.get(next) - 1);
      if (waiting.get(next) === 0) queue.push(next);
    }
  }
  // Steps on a cycle never reach the queue; a workflow has none, but drawing must still finish.
  const ranked = new Set(queue);
  const ranks = [];
  for (const id of queue) (ranks[rankOf.get(id)] ??= []).push(id);
  const stuck = ids.filter((id) => !ranked.has(id));
  if (stuck.length) ranks.push(stuck);
  return ranks.filter(Boolean);
}

function sortByBarycenter(rank, neighbours, order) {
  const weight = new Map();
  for (const id of rank) {
    const around = neighbours.get(id);
    let sum = 0;
    for (const other of around) sum += order.get(other);
    weight.set(id, around.length ? sum / around.length : order.get(id));
  }
  rank.sort((a, b) => weight.get(a) - weight.get(b));
  rank.forEach((id, i) => order.set(id, i));
}
