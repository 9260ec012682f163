/**
 * Workflow graph: a run's steps laid out as a DAG and drawn as SVG the page can update on every
 * live event.
 *
 * Layout is dagre's (vendor/dagre.min.js, a classic script the page loads before this module; read
 * from globalThis.dagre). dagre slows down fast as graphs grow, so its ranker gets cheaper with
 * size, and above LARGE_GRAPH steps a small layered layout of our own takes over: dagre needs
 * 1.5-2 s for 1,000 steps in Chromium on a 2-core machine, layoutLayered 30-50 ms.
 *
 * Colours are not set here: nodes and edges get classes (`node status-RUNNING`, `edge selected`)
 * that graph.css colours through CSS custom properties the page may define.
 */

import { GAP, NODE, layoutLayered, layoutWithDagre } from "./graph-layout.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_LABEL_CHARS = 20; // fits NODE.width at the 12px font graph.css sets, no text measuring
const LARGE_GRAPH = 300; // above this dagre takes over ~0.5 s: use layoutLayered
const SCALE = { min: 0.02, max: 3, step: 1.25 };

let drawings = 0; // makes marker ids unique when a page draws several graphs

/** The class that carries a status, e.g. `status-RUNNING` (anything else becomes `_`). */
export function statusClass(status) {
  return `status-${String(status ?? "UNKNOWN").toUpperCase().replace(/[^A-Z0-9_-]/g, "_")}`;
}

/**
 * Draw `graph` ({nodes: [{id, label, status, detail?}], edges: [[fromId, toId], ...]}) into
 * `container`, replacing its children. Options: `onSelect(id)` when the user picks a step,
 * `direction` "LR" (default) or "TB", `layout` "auto" (default: dagre up to LARGE_GRAPH steps),
 * "dagre" or "layered". Returns {setStatus, select, fit, destroy}.
 */
export function drawGraph(container, graph, options = {}) {
  const direction = options.direction === "TB" ? "TB" : "LR";
  const nodes = graph.nodes.map((node) => ({ ...node, id: String(node.id) }));
  const edges = validEdges(nodes, graph.edges ?? []);
  const layered = options.layout === "layered"
    || (options.layout !== "dagre" && nodes.length > LARGE_GRAPH);
  const layout = layered
    ? layoutLayered(nodes, edges, direction)
    : layoutWithDagre(nodes, edges, direction);
  const drawing = render(nodes, edges, layout, `harmonia-graph-${++drawings}`);
  container.replaceChildren(drawing.svg);
  const view = interact(drawing, layout, direction, options.onSelect ?? (() => {}));
  view.fit();
  return view;
}

/** Edges between known steps, without self-loops and duplicates (dagre would merge them). */
function validEdges(nodes, edges) {
  const known = new Set(nodes.map((node) => node.id));
  const seen = new Set();
  const valid = [];
  for (const [rawFrom, rawTo] of edges) {
    const from = String(rawFrom);
    const to = String(rawTo);
    const key = `${from}\u0000${to}`;
    if (from === to || !known.has(from) || !known.has(to) || seen.has(key)) continue;
    seen.add(key);
    valid.push([from, to]);
  }
  return valid;
}

function svgElement(tag, attributes = {}, parent = null) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (parent) parent.appendChild(element);
  return element;
}

/** A smooth path through dagre's points, or an S-curve between two side points. */
function edgePath(points) {
  const [first, ...rest] = points;
  const at = ({ x, y }) => `${x.toFixed(1)},${y.toFixed(1)}`;
  if (rest.length === 1) {
    const [last] = rest;
    const bend = { x: (first.x + last.x) / 2, y: (first.y + last.y) / 2 };
    const horizontal = Math.abs(last.x - first.x) >= Math.abs(last.y - first.y);
    const c1 = horizontal ? { x: bend.x, y: first.y } : { x: first.x, y: bend.y };
    const c2 = horizontal ? { x: bend.x, y: last.y } : { x: last.x, y: bend.y };
    return `M${at(first)}C${at(c1)} ${at(c2)} ${at(last)}`;
  }
  let d = `M${at(first)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const mid = { x: (rest[i].x + rest[i + 1].x) / 2, y: (rest[i].y + rest[i + 1].y) / 2 };
    d += `Q${at(rest[i])} ${at(mid)}`;
  }
  return `${d}L${at(rest[rest.length - 1])}`;
}

function truncate(text) {
  return text.length > MAX_LABEL_CHARS ? `${text.slice(0, MAX_LABEL_CHARS - 1)}…` : text;
}

/** Build the whole SVG off-document; returns it with a Map id → the elements setStatus touches. */
function render(nodes, edges, layout, uid) {
  const svg = svgElement("svg", {
    class: "graph-svg",
    role: "group",
    tabindex: "0",
    "aria-label": `Workflow graph, ${nodes.length} steps`,
  });
  const defs = svgElement("defs", {}, svg);
  for (const kind of ["", "-selected"]) {
    // userSpaceOnUse: the same arrow on thick (selected) edges as on thin ones.
    const marker = svgElement("marker", {
      id: `${uid}-arrow${kind}`,
      class: `graph-arrow${kind}`,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerUnits: "userSpaceOnUse",
      markerWidth: 9,
      markerHeight: 9,
      orient: "auto",
    }, defs);
    svgElement("path", { d: "M0,0L10,5L0,10z" }, marker);
  }
  const viewport = svgElement("g", { class: "graph-viewport" }, svg);
  const edgeLayer = svgElement("g", { class: "edges" }, viewport);
  const nodeLayer = svgElement("g", { class: "nodes" }, viewport);

  const entries = new Map();
  const fragment = document.createDocumentFragment();
  for (const node of nodes) {
    const { x, y } = layout.positions.get(node.id);
    const status = String(node.status ?? "UNKNOWN");
    const label = String(node.label ?? node.id);
    const g = svgElement("g", {
      class: `node ${statusClass(status)}`,
      "data-step": node.id,
      tabindex: "-1", // one tab stop for the graph (the svg); arrow keys move between steps
      role: "button",
      "aria-label": `Step ${node.id}: ${status}`,
      transform: `translate(${x},${y})`,
    }, fragment);
    svgElement("title", {}, g).textContent = node.detail ? `${label}\n${node.detail}` : label;
    svgElement("rect", {
      x: -NODE.width / 2, y: -NODE.height / 2, width: NODE.width, height: NODE.height, rx: 6,
    }, g);
    svgElement("text", { class: "node-label", y: -3 }, g).textContent = truncate(label);
    const statusText = svgElement("text", { class: "node-status", y: 13 }, g);
    statusText.textContent = status;
    entries.set(node.id, { id: node.id, g, statusText, status, x, y, in: [], out: [] });
  }
  nodeLayer.appendChild(fragment);

  const edgeFragment = document.createDocumentFragment();
  edges.forEach(([from, to], i) => {
    const path = svgElement("path", {
      class: "edge",
      d: edgePath(layout.points[i]),
      "marker-end": `url(#${uid}-arrow)`,
    }, edgeFragment);
    const edge = { path, from: entries.get(from), to: entries.get(to) };
    edge.from.out.push(edge);
    edge.to.in.push(edge);
  });
  edgeLayer.appendChild(edgeFragment);
  return { svg, viewport, entries, uid };
}

/** Selection, keyboard navigation, pan and zoom; returns the object drawGraph hands back. */
function interact({ svg, viewport, entries, uid }, layout, direction, onSelect) {
  const view = { x: 0, y: 0, k: 1 };
  let selected = null;
  let ranks = null; // built on the first arrow key: [[entry, ...] sorted across the flow]
  let drag = null;

  function apply() {
    viewport.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`);
  }

  function zoomAt(factor, cx, cy) {
    const k = Math.min(SCALE.max, Math.max(SCALE.min, view.k * factor));
    view.x = cx - ((cx - view.x) * k) / view.k;
    view.y = cy - ((cy - view.y) * k) / view.k;
    view.k = k;
    apply();
  }

  function fit() {
    const { width, height } = svg.getBoundingClientRect();
    if (!width || !height) return; // hidden (e.g. an inactive tab): keep the current view
    if (!(layout.width > 0 && layout.height > 0)) return; // nothing drawn (dagre: -Infinity)
    view.k = Math.min(SCALE.max, 1, Math.max(SCALE.min,
      Math.min(width / layout.width, height / layout.height)));
    view.x = (width - layout.width * view.k) / 2;
    view.y = (height - layout.height * view.k) / 2;
    apply();
  }

  /** Pan just enough to bring a step into view (focus does not scroll an SVG transform). */
  function reveal(entry) {
    const { width, height } = svg.getBoundingClientRect();
    const sx = view.x + entry.x * view.k;
    const sy = view.y + entry.y * view.k;
    const hw = (NODE.width / 2 + GAP.margin) * view.k;
    const hh = (NODE.height / 2 + GAP.margin) * view.k;
    if (sx - hw < 0 || sx + hw > width) view.x += width / 2 - sx;
    if (sy - hh < 0 || sy + hh > height) view.y += height / 2 - sy;
    apply();
  }

  function highlight(entry, on) {
    entry.g.classList.toggle("selected", on);
    const marker = `url(#${uid}-arrow${on ? "-selected" : ""})`;
    for (const edge of [...entry.in, ...entry.out]) {
      edge.path.classList.toggle("selected", on);
      edge.path.setAttribute("marker-end", marker);
    }
  }

  function select(id) {
    const entry = id == null ? null : entries.get(String(id));
    if (selected) highlight(selected, false);
    selected = entry ?? null;
    if (selected) {
      highlight(selected, true);
      reveal(selected);
    }
  }

  function setStatus(id, rawStatus) {
    const entry = entries.get(String(id));
    const status = String(rawStatus);
    if (!entry || entry.status === status) return;
    entry.g.classList.replace(statusClass(entry.status), statusClass(status));
    entry.statusText.textContent = status;
    entry.g.setAttribute("aria-label", `Step ${entry.id}: ${status}`);
    entry.status = status;
  }

  function neighbour(entry, key) {
    const forward = direction === "LR" ? "ArrowRight" : "ArrowDown";
    const backward = direction === "LR" ? "ArrowLeft" : "ArrowUp";
    const crossOf = (e) => (direction === "LR" ? e.y : e.x);
    if (key === forward || key === backward) {
      const candidates = key === forward ? entry.out.map((e) => e.to) : entry.in.map((e) => e.from);
      // The closest across the flow: what the eye would follow.
      const distance = (other) => Math.abs(crossOf(other) - crossOf(entry));
      let best = null;
      for (const c of candidates) if (!best || distance(c) < distance(best)) best = c;
      return best;
    }
    ranks ??= rankLists(entries, direction);
    const { rank, index } = ranks.get(entry);
    return rank[index + (key === "ArrowDown" || key === "ArrowRight" ? 1 : -1)] ?? null;
  }

  /** Where the keyboard enters the graph: the step first along the flow (top-left). */
  function start() {
    const key = (e) => (direction === "LR" ? [e.x, e.y] : [e.y, e.x]);
    let best = null;
    for (const entry of entries.values()) {
      const [a, b] = key(entry);
      if (!best || a < best.a || (a === best.a && b < best.b)) best = { entry, a, b };
    }
    return best.entry;
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return; // leave the browser's own zoom
    const node = event.target.closest(".node");
    const entry = node && entries.get(node.dataset.step);
    if (!entry && event.key.startsWith("Arrow") && entries.size) {
      event.preventDefault(); // from the graph itself into its steps
      const first = selected ?? start();
      reveal(first);
      first.g.focus();
    } else if (entry && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(entry.id);
      onSelect(entry.id);
    } else if (entry && event.key.startsWith("Arrow")) {
      event.preventDefault();
      const next = neighbour(entry, event.key);
      if (next) {
        reveal(next);
        next.g.focus();
      }
    } else if (["+", "=", "-", "0"].includes(event.key)) {
      event.preventDefault();
      const { width, height } = svg.getBoundingClientRect();
      if (event.key === "0") fit();
      else zoomAt(event.key === "-" ? 1 / SCALE.step : SCALE.step, width / 2, height / 2);
    }
  }

  function onClick(event) {
    const node = event.target.closest(".node");
    if (!node) return;
    select(node.dataset.step);
    onSelect(node.dataset.step);
  }

  function onWheel(event) {
    event.preventDefault();
    const box = svg.getBoundingClientRect();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  }

  function onPointerDown(event) {
    if (event.button !== 0 || event.target.closest(".node")) return;
    drag = { id: event.pointerId, x: event.clientX - view.x, y: event.clientY - view.y };
    svg.setPointerCapture(event.pointerId);
    svg.classList.add("panning");
  }

  function onPointerMove(event) {
    if (!drag || event.pointerId !== drag.id) return;
    view.x = event.clientX - drag.x;
    view.y = event.clientY - drag.y;
    apply();
  }

  function onPointerUp(event) {
    if (!drag || event.pointerId !== drag.id) return;
    drag = null;
    svg.classList.remove("panning");
  }

  const listeners = {
    keydown: onKey, click: onClick, wheel: onWheel, pointerdown: onPointerDown,
    pointermove: onPointerMove, pointerup: onPointerUp, pointercancel: onPointerUp,
  };
  for (const [type, listener] of Object.entries(listeners)) {
    svg.addEventListener(type, listener, type === "wheel" ? { passive: false } : undefined);
  }

  function destroy() {
    for (const [type, listener] of Object.entries(listeners)) {
      svg.removeEventListener(type, listener);
    }
    svg.remove();
    entries.clear();
  }

  return { setStatus, select, fit, destroy };
}

/** Map entry → {rank, index}: the steps sharing its position along the flow, in cross order. */
function rankLists(entries, direction) {
  const byMain = new Map();
  for (const entry of entries.values()) {
    const main = Math.round(direction === "LR" ? entry.x : entry.y);
    if (!byMain.has(main)) byMain.set(main, []);
    byMain.get(main).push(entry);
  }
  const lists = new Map();
  for (const rank of byMain.values()) {
    rank.sort((a, b) => (direction === "LR" ? a.y - b.y : a.x - b.x));
    rank.forEach((entry, index) => lists.set(entry, { rank, index }));
  }
  return lists;
}
