/**
 * Timeline of a run's steps: one row per step, a bar from its start to its end (or to now while
 * it runs), times on the axis relative to the first start (+0s, +1.2s, ...).
 *
 * Rows are kept by step id and only their attributes change on update(); redraws are coalesced
 * into one animation frame, so the page may call update() on every live event. Bars take the
 * same `status-<STATUS>` classes and CSS custom properties as graph.js (see graph.css).
 */

const SVG_NS = "http://www.w3.org/2000/svg";
const ROW = 18;
const BAR = 12;
const AXIS = 22;
const LABEL_WIDTH = 168;
const MAX_LABEL_CHARS = 24; // fits LABEL_WIDTH at the 11px font graph.css sets
const PAD_RIGHT = 24; // room for the last tick's label
const TICKS = 6; // at most this many intervals on the axis
const NICE_STEPS_MS = [
  10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5,
  36e5, 72e5, 108e5, 216e5, 432e5, 864e5,
];
// Without completed_at these are still drawn as ended (a zero-length bar), not as running.
const FINISHED = new Set(["COMPLETED", "FAILED", "CANCELLED", "SKIPPED", "UPSTREAM_FAILED"]);

/**
 * Draw `steps` ([{id, status, started_at, completed_at}], ISO strings or null) into
 * `container`, replacing its children. Options: `onSelect(id)` makes rows buttons (click,
 * Enter, Space); `now` (default Date.now) is the clock running steps extend to.
 * Returns {update(steps), destroy()}.
 */
export function drawGantt(container, steps, options = {}) {
  const { onSelect, now = Date.now } = options;
  const svg = svgElement("svg", { class: "gantt-svg", role: "group" });
  const axis = svgElement("g", { class: "gantt-axis" }, svg);
  const body = svgElement("g", { class: "gantt-rows" }, svg);
  container.replaceChildren(svg);

  const rows = new Map(); // id → {g, title, bar, last: Map of the attributes set}
  let order = []; // ids in the order the rows are in the document
  let domain = 0; // ms the axis spans
  let axisDrawn = "";
  let pending = steps;
  let frame = 0;
  let ticker = 0;

  function render() {
    frame = 0;
    const clock = now();
    const times = pending.map((step) => span(step, clock));
    const started = times.filter(Boolean);
    const origin = started.length ? Math.min(...started.map((t) => t.start)) : 0;
    const end = started.length ? Math.max(...started.map((t) => t.end)) : origin;
    const duration = Math.max(end - origin, 1000);
    const running = started.some((t) => t.running);
    // The axis only rescales when the bars outgrow it (or shrink to a quarter of it), so a live
    // update touches the running bars, not every row.
    if (!(duration <= domain && duration > domain / 4)) {
      domain = niceDomain(duration * (running ? 1.25 : 1));
    }
    const width = Math.max(container.clientWidth, LABEL_WIDTH + 200);
    const scale = (width - LABEL_WIDTH - PAD_RIGHT) / domain; // px per ms
    const height = AXIS + pending.length * ROW;

    if (axisDrawn !== `${domain} ${width} ${height}`) {
      svg.setAttribute("height", height);
      svg.setAttribute("aria-label", `Step timeline, ${pending.length} steps`);
      drawAxis(axis, domain, scale, height);
      axisDrawn = `${domain} ${width} ${height}`;
    }
    placeRows(pending);
    pending.forEach((step, i) => {
      const row = rows.get(String(step.id));
      assign(row, row.g, "transform", `translate(0,${AXIS + i * ROW})`);
      drawBar(row, step, times[i], origin, scale);
    });

    // Running bars grow with time even when no event arrives.
    if (running && !ticker) ticker = setInterval(schedule, 1000);
    if (!running && ticker) {
      clearInterval(ticker);
      ticker = 0;
    }
  }

  /** Create rows for new steps, drop rows of gone ones, and keep document order = step order. */
  function placeRows(list) {
    const ids = list.map((step) => String(step.id));
    const keep = new Set(ids);
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        row.g.remove();
        rows.delete(id);
      }
    }
    for (const id of ids) if (!rows.has(id)) rows.set(id, createRow(id, Boolean(onSelect)));
    if (ids.length !== order.length || ids.some((id, i) => id !== order[i])) {
      const fragment = document.createDocumentFragment();
      for (const id of ids) fragment.appendChild(rows.get(id).g);
      body.appendChild(fragment);
      order = ids;
    }
  }

  function schedule() {
    frame ||= requestAnimationFrame(render);
  }

  function onActivate(event) {
    const row = event.target.closest(".gantt-row");
    if (!row || (event.type === "keydown" && event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    onSelect(row.dataset.step);
  }

  if (onSelect) {
    svg.addEventListener("click", onActivate);
    svg.addEventListener("keydown", onActivate);
  }
  const resize = new ResizeObserver(schedule);
  resize.observe(container);
  render();

  return {
    update(next) {
      pending = next;
      schedule();
    },
    destroy() {
      cancelAnimationFrame(frame);
      clearInterval(ticker);
      resize.disconnect();
      svg.remove();
      rows.clear();
    },
  };
}

/** {start, end, running} in epoch ms, or null for a step that never started. */
function span(step, now) {
  const start = step.started_at ? Date.parse(step.started_at) : NaN;
  if (Number.isNaN(start)) return null;
  const completed = step.completed_at ? Date.parse(step.completed_at) : NaN;
  if (!Number.isNaN(completed)) return { start, end: Math.max(completed, start), running: false };
  const running = !FINISHED.has(String(step.status).toUpperCase());
  return { start, end: running ? Math.max(now, start) : start, running };
}

function createRow(id, selectable) {
  const g = svgElement("g", { class: "gantt-row", "data-step": id });
  if (selectable) {
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
  }
  const title = svgElement("title", {}, g);
  const label = svgElement("text", { class: "gantt-label", x: 4, y: ROW / 2 }, g);
  label.textContent = id.length > MAX_LABEL_CHARS ? `${id.slice(0, MAX_LABEL_CHARS - 1)}…` : id;
  const bar = svgElement("rect", { y: (ROW - BAR) / 2, height: BAR, rx: 2 }, g);
  return { g, title, bar, last: new Map() };
}

/** setAttribute only on change: a row whose values stay put costs the browser nothing. */
function assign(row, element, name, value) {
  const key = element === row.bar ? `bar ${name}` : name;
  if (row.last.get(key) === value) return;
  row.last.set(key, value);
  element.setAttribute(name, value);
}

function drawBar(row, step, time, origin, scale) {
  const status = String(step.status ?? "UNKNOWN").toUpperCase();
  assign(row, row.bar, "class", `bar ${statusClass(status)}`);
  const text = describe(step, status, time);
  if (row.title.textContent !== text) row.title.textContent = text;
  assign(row, row.bar, "display", time ? "inline" : "none");
  if (!time) return;
  assign(row, row.bar, "x", (LABEL_WIDTH + (time.start - origin) * scale).toFixed(1));
  assign(row, row.bar, "width", Math.max(2, (time.end - time.start) * scale).toFixed(1));
}

function describe(step, status, time) {
  if (!time) return `${step.id}: ${status}, not started`;
  const seconds = ((time.end - time.start) / 1000).toFixed(3);
  const head = `${step.id}: ${status}\nstarted ${step.started_at}`;
  if (time.running) return `${head}\nrunning for ${seconds} s`;
  return `${head}\nended ${step.completed_at ?? "—"} (${seconds} s)`;
}

/** Grid lines with relative time labels, redrawn only when the axis changes. */
function drawAxis(axis, domain, scale, height) {
  const step = niceStep(domain / TICKS);
  const fragment = document.createDocumentFragment();
  for (let t = 0; t <= domain; t += step) {
    const x = (LABEL_WIDTH + t * scale).toFixed(1);
    const tick = svgElement("g", { class: "gantt-tick" }, fragment);
    svgElement("line", { x1: x, x2: x, y1: AXIS - 4, y2: height }, tick);
    svgElement("text", { x, y: AXIS - 8 }, tick).textContent = formatOffset(t, step);
  }
  axis.replaceChildren(fragment);
}

/** The first round step (10 ms … 1 day, then whole days) at or above `ms`. */
function niceStep(ms) {
  return NICE_STEPS_MS.find((step) => step >= ms) ?? 864e5 * Math.ceil(ms / 864e5);
}

/** `ms` rounded up to a whole number of tick steps, so the last tick ends the axis. */
function niceDomain(ms) {
  const step = niceStep(ms / TICKS);
  return Math.ceil(ms / step) * step;
}

/** "+0s", "+1.2s", "+2m30s", "+1h15m": decimals only as fine as the tick step needs. */
function formatOffset(ms, step) {
  const seconds = ms / 1000;
  if (seconds < 60 || step < 1000) {
    const decimals = step >= 1000 ? 0 : step >= 100 ? 1 : 2;
    return `+${Number(seconds.toFixed(decimals))}s`;
  }
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  if (h) return `+${h}h${m ? `${m}m` : ""}`;
  return `+${m}m${s ? `${s}s` : ""}`;
}

/** Same as graph.js's statusClass; copied so each module stands alone. */
function statusClass(status) {
  return `status-${status.replace(/[^A-Z0-9_-]/g, "_")}`;
}

function svgElement(tag, attributes = {}, parent = null) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (parent) parent.appendChild(element);
  return element;
}
