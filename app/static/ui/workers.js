// The workers page: each Celery worker as the ops API reports it, refreshed every few seconds
// and at once when a worker comes or goes; the controls call the ops API (each is audited).
import { lineChart } from "./chart.js";
import { act, api, el, live, notice, when } from "./common.js";

const OPS = "/api/v1/ops";
const EVERY = 5000;
const box = document.getElementById("workers");
const chart = lineChart(document.getElementById("chart"), {
  series: [
    { name: "tasks/s", className: "series-throughput" },
    { name: "active", className: "series-active" },
  ],
  window: 60,
});
let previous = null; // {time, processed} of the last poll, for the throughput

function button(label, attrs, onClick) {
  const node = el("button", { type: "button", ...attrs }, label);
  node.addEventListener("click", () => onClick(node));
  return node;
}

function control(node, label, path, body) {
  return act(node, label, () => api("POST", `${OPS}${path}`, body)).then((answer) => {
    if (answer) setTimeout(refresh, 500);
  });
}

function taskRow(worker, task, kind) {
  const link = task.run_id
    ? el("a", { href: `/ui/runs/${encodeURIComponent(task.run_id)}`, class: "mono" }, `${task.run_id.slice(0, 8)} · ${task.step_id ?? ""}`)
    : "";
  const revoke = button("Revoke", { class: "quiet" }, (node) => {
    if (confirm(`Revoke Celery task ${task.id} (and kill its process)?`)) {
      control(node, "Revoked", `/tasks/${encodeURIComponent(task.id)}/revoke`, { terminate: true });
    }
  });
  return el("tr", {}, el("td", {}, kind), el("td", {}, task.name ?? ""), el("td", {}, link), el("td", {}, when(task.started_at)), el("td", {}, kind === "active" ? revoke : ""));
}

function card(worker) {
  const host = encodeURIComponent(worker.hostname);
  const pool = worker.pool ?? {};
  const online = worker.status === "online";
  const facts = [
    ["Status", worker.offline_reason ? `${worker.status} (${worker.offline_reason.replaceAll("_", " ")})` : worker.status],
    ["Last heartbeat", when(worker.last_heartbeat)],
    ["Pool", `${(pool.type ?? "").split(":").pop() || "—"}, ${pool.size ?? "—"} of max ${pool.max_concurrency ?? "—"}`],
    ["Processed", worker.processed ?? "—"],
    ["Failed", worker.failed ?? "—"],
    ["Load average", Array.isArray(worker.loadavg) ? worker.loadavg.map((n) => Number(n).toFixed(2)).join(" ") : "—"],
    ["Uptime", worker.uptime_seconds != null ? `${worker.uptime_seconds} s` : "—"],
    ["Versions", Object.entries(worker.versions ?? {}).map(([k, v]) => `${k} ${v}`).join(", ") || "—"],
  ].map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", { "data-fact": name }, String(value))));

  const queues = el(
    "ul",
    { class: "chips", "aria-label": "Queues consumed" },
    ...(worker.queues ?? []).map((queue) => {
      const path = `${OPS}/workers/${host}/consumers/${encodeURIComponent(queue)}`;
      const stop = online
        ? button("×", { class: "quiet", "aria-label": `Stop consuming ${queue}` }, (node) =>
            act(node, `Stopped consuming ${queue}`, () => api("DELETE", path)).then(() => setTimeout(refresh, 500)),
          )
        : null;
      return el("li", {}, queue, stop);
    }),
  );

  const controls = online
    ? el(
        "div",
        { class: "toolbar", role: "toolbar", "aria-label": `Controls of ${worker.hostname}` },
        button("Grow pool +1", { "data-control": "grow" }, (node) => control(node, "Pool grown by 1", `/workers/${host}/pool`, { grow: 1 })),
        button("Shrink pool −1", { "data-control": "shrink", disabled: (pool.size ?? 0) <= 1 }, (node) =>
          control(node, "Pool shrunk by 1", `/workers/${host}/pool`, { shrink: 1 }),
        ),
        consumerForm(host),
        button("Shut down", { class: "danger" }, (node) => {
          if (confirm(`Shut ${worker.hostname} down gracefully? It finishes its running tasks first.`)) {
            control(node, `Shutting ${worker.hostname} down`, `/workers/${host}/shutdown`, {});
          }
        }),
      )
    : null;

  const tasks = [
    ...(worker.active ?? []).map((t) => taskRow(worker, t, "active")),
    ...(worker.reserved ?? []).map((t) => taskRow(worker, t, "reserved")),
    ...(worker.scheduled ?? []).map((t) => taskRow(worker, t, "scheduled")),
  ];
  return el(
    "section",
    { class: `panel worker ${worker.status}`, "data-worker": worker.hostname, "aria-label": worker.hostname },
    el("h2", {}, worker.hostname, " ", el("span", { class: `badge worker-${worker.status}` }, worker.status)),
    el("dl", { class: "facts" }, ...facts),
    el("h3", {}, "Queues"),
    queues,
    controls,
    tasks.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ...["", "Task", "Run · step", "Started", ""].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, ...tasks))
      : el("p", { class: "muted" }, "No tasks running."),
  );
}

function consumerForm(host) {
  const input = el("input", { name: "queue", "aria-label": "Queue to consume", placeholder: "queue", size: 10, required: true });
  const form = el("form", { class: "inline" }, input, el("button", { type: "submit", class: "secondary" }, "Consume"));
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const queue = input.value.trim();
    if (queue) control(form.querySelector("button"), `Consuming ${queue}`, `/workers/${host}/consumers`, { queue });
  });
  return form;
}

async function refresh() {
  try {
    const listing = await api("GET", `${OPS}/workers`);
    const focused = document.activeElement?.closest("[data-worker]")?.dataset.worker;
    box.replaceChildren(...(listing.items.length ? listing.items.map(card) : [el("p", { class: "empty" }, "No worker answered.")]));
    box.setAttribute("aria-busy", "false");
    if (focused) box.querySelector(`[data-worker="${CSS.escape(focused)}"] button`)?.focus();
    const processed = listing.items.reduce((sum, w) => sum + (w.processed ?? 0), 0);
    const active = listing.items.reduce((sum, w) => sum + (w.active?.length ?? 0), 0);
    const now = Date.now();
    const rate = previous ? Math.max(0, (processed - previous.processed) / ((now - previous.time) / 1000)) : 0;
    previous = { time: now, processed };
    chart.push([Number(rate.toFixed(2)), active]);
  } catch (error) {
    notice(error.message, "error");
  }
}

refresh();
setInterval(refresh, EVERY);
live("/ws/v1/events", {
  onEvent(event) {
    if (event.type === "worker_online" || event.type === "worker_offline") {
      notice(`${event.data?.hostname ?? "A worker"} is ${event.type === "worker_online" ? "online" : "offline"}`);
      refresh();
    }
  },
});
