// The run page: the DAG with each step's status, the timeline, a step's details and log, the
// progress report and checkpoints, all kept live from the run's WebSocket; and its controls.
import { drawGraph } from "./graph.js";
import { drawGantt } from "./gantt.js";
import { act, api, badge, duration, el, json, live, notice, pageData, throttle, when } from "./common.js";

const data = pageData("run-data");
const runId = data.run.id;
const base = `/api/v1/runs/${runId}`;
let run = data.run;
const steps = new Map(data.steps.map((step) => [step.step_id, step]));
const total = data.graph.nodes.length;
const FINISHED = new Set(["COMPLETED", "FAILED", "SKIPPED", "UPSTREAM_FAILED", "CANCELLED"]);
const RUN_FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
// Which control applies in which run status (the server refuses the others with a reason).
const CONTROLS = {
  pause: ["PENDING", "RUNNING"],
  resume: ["PAUSING", "PAUSED"],
  cancel: ["CREATED", "PENDING", "RUNNING", "PAUSING", "PAUSED"],
  retry: ["FAILED", "CANCELLED"],
  checkpoint: ["PENDING", "RUNNING", "PAUSING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"],
};
// A step event's type → the step's status.
const STEP_STATUS = {
  task_started: "RUNNING",
  task_completed: "COMPLETED",
  task_failed: "FAILED",
  task_retrying: "RETRYING",
  task_skipped: "SKIPPED",
};
const RUN_STATUS = {
  execution_started: "RUNNING",
  execution_paused: "PAUSED",
  execution_resumed: "RUNNING",
  execution_completed: "COMPLETED",
  execution_failed: "FAILED",
  execution_cancelled: "CANCELLED",
};

let selected = null;
const graph = drawGraph(document.getElementById("graph"), data.graph, { onSelect: selectStep });
performance.mark("graph-drawn"); // bench/ui.py times the page up to here (and the next frame)
const gantt = drawGantt(document.getElementById("gantt"), timeline(), {
  onSelect(id) {
    graph.select(id);
    selectStep(id);
  },
});
document.getElementById("fit")?.addEventListener("click", () => graph.fit());

/** The timeline's rows: every step of the graph in its order, those not started without a bar. */
function timeline() {
  return data.graph.nodes.map(({ id }) => {
    const step = steps.get(id) ?? { status: "PENDING" };
    return { id, status: step.status, started_at: step.started_at, completed_at: step.completed_at };
  });
}

const redrawTimeline = throttle(() => gantt.update(timeline()), 250);

// -- run status, progress, controls --------------------------------------------------------------

function showRun() {
  document.getElementById("run-status").replaceChildren(badge(run.status));
  document.getElementById("started-at").textContent = when(run.started_at);
  document.getElementById("finished-at").textContent = when(run.completed_at || run.cancelled_at);
  const error = document.getElementById("run-error");
  error.hidden = !run.error_message;
  error.textContent = run.error_message || "";
  if (run.output_data !== undefined && RUN_FINAL.has(run.status)) {
    document.getElementById("run-output").textContent = json(run.output_data);
  }
  for (const button of document.querySelectorAll("[data-action]")) {
    button.disabled = !CONTROLS[button.dataset.action].includes(run.status);
  }
  showProgress();
}

function showProgress() {
  const done = [...steps.values()].filter((step) => FINISHED.has(step.status)).length;
  const bar = document.getElementById("progress");
  bar.value = done;
  document.getElementById("progress-text").textContent = `${done}/${total} steps`;
}

function setStep(id, changes) {
  const step = steps.get(id) ?? { step_id: id, attempt: 0 };
  Object.assign(step, changes);
  steps.set(id, step);
  graph.setStatus(id, step.status);
  redrawTimeline();
  showProgress();
  if (id === selected) showStep(step);
}

async function reload() {
  const [fresh, rows] = await Promise.all([api("GET", base), api("GET", `${base}/steps`)]);
  run = fresh;
  for (const row of rows) setStep(row.step_id, row);
  showRun();
}

const CALLS = {
  pause: () => api("POST", `${base}/pause`, {}),
  resume: () => api("POST", `${base}/resume`),
  cancel: () => api("POST", `${base}/cancel`, {}),
  retry: () => api("POST", `${base}/retry`),
  checkpoint: () => api("POST", `${base}/checkpoints`, {}),
};
const SAID = { pause: "Pausing the run", resume: "Resumed", cancel: "Cancelling the run", retry: "Retrying", checkpoint: "Checkpoint taken" };

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", async () => {
    const name = button.dataset.action;
    if (name === "cancel" && !confirm("Cancel this run? Running steps are stopped.")) return;
    const answer = await act(button, SAID[name], CALLS[name]);
    if (answer && name !== "checkpoint") {
      run = { ...run, ...answer };
      showRun();
      stream.resume();
    }
    if (answer && name === "checkpoint") loadCheckpoints();
  });
}

// -- one step ------------------------------------------------------------------------------------

async function selectStep(id) {
  selected = id;
  document.getElementById("step-hint").hidden = true;
  document.getElementById("step-detail").hidden = false;
  document.getElementById("step-heading").textContent = `Step ${id}`;
  showStep(steps.get(id) ?? { step_id: id, status: "PENDING" });
  try {
    const detail = await api("GET", `${base}/steps/${encodeURIComponent(id)}`);
    if (selected !== id) return;
    Object.assign(steps.get(id) ?? {}, detail);
    showStep(detail);
    const lines = [detail.stdout, detail.stderr].filter(Boolean).join("\n");
    document.getElementById("step-log").textContent = lines;
  } catch (error) {
    if (error.status !== 404) notice(error.message, "error");
    document.getElementById("step-log").textContent = "";
  }
}

function showStep(step) {
  document.getElementById("step-status").replaceChildren(badge(step.status || "PENDING"));
  document.getElementById("step-attempts").textContent = step.attempt ? `attempt ${step.attempt}` : "";
  document.getElementById("step-worker").textContent = step.worker ? `on ${step.worker}` : "";
  document.getElementById("step-started").textContent = when(step.started_at);
  document.getElementById("step-finished").textContent = when(step.completed_at);
  document.getElementById("step-duration").textContent = duration(step.started_at, step.completed_at);
  document.getElementById("step-input").textContent = json(step.input_data);
  document.getElementById("step-output").textContent = json(step.output_data);
  const error = document.getElementById("step-error");
  error.hidden = !step.error_message;
  error.textContent = step.error_message || "";
}

document.getElementById("rerun-form")?.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const text = document.getElementById("rerun-input").value.trim();
  let input;
  try {
    input = text ? JSON.parse(text) : undefined;
  } catch (error) {
    notice(`The new input is not JSON: ${error.message}`, "error");
    return;
  }
  const button = submitted.target.querySelector("button");
  const answer = await act(button, `Rerunning from ${selected}`, () =>
    api("POST", `${base}/steps/${encodeURIComponent(selected)}/retry`, input === undefined ? {} : { input }),
  );
  if (answer) {
    run = { ...run, ...answer };
    showRun();
    stream.resume();
  }
});

// -- progress report and checkpoints ---------------------------------------------------------------

/** The run's progress report: counts, estimate, blockers and milestones. */
async function fetchReport() {
  const box = document.getElementById("report");
  try {
    const report = await api("GET", `${base}/progress`);
    const facts = [
      ["Status", report.status],
      ["Tasks done", `${report.completed_tasks} of ${report.total_tasks}`],
      ["Estimated completion", when(report.estimated_completion)],
      ["As of", when(report.generated_at)],
    ].map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, String(value))));
    const blockers = report.blockers.map((b) => el("li", {}, `${b.kind}${b.task_id ? ` (${b.task_id})` : ""}: ${b.description}`));
    const milestones = report.milestones.map((m) => el("li", {}, `${m.achieved ? "✓" : "○"} ${m.name}`, m.description ? ` — ${m.description}` : ""));
    box.replaceChildren(
      el("dl", { class: "report" }, ...facts),
      ...(blockers.length ? [el("h3", {}, "Blockers"), el("ul", {}, ...blockers)] : []),
      ...(milestones.length ? [el("h3", {}, "Milestones"), el("ul", {}, ...milestones)] : []),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "muted" }, error.message));
  }
}

const loadReport = throttle(fetchReport, 2000);

async function loadCheckpoints() {
  const box = document.getElementById("checkpoints");
  try {
    const page = await api("GET", `${base}/checkpoints?page_size=100`);
    if (!page.items.length) {
      box.replaceChildren(el("p", { class: "muted" }, "No checkpoints yet."));
      return;
    }
    const operator = document.querySelector("[data-action]") !== null;
    const rows = page.items.map((checkpoint) => {
      const restore = el("button", { type: "button", class: "secondary" }, "Restore");
      restore.addEventListener("click", async () => {
        const restored = await act(restore, "Restored: a new run starts from the checkpoint", () =>
          api("POST", `/api/v1/checkpoints/${checkpoint.id}/restore`, {}),
        );
        const id = restored?.id || restored?.run_id;
        if (id) location.assign(`/ui/runs/${id}`);
      });
      return el(
        "tr",
        {},
        el("td", { class: "mono" }, checkpoint.id.slice(0, 8)),
        el("td", {}, checkpoint.name || checkpoint.reason || ""),
        el("td", {}, when(checkpoint.created_at)),
        el("td", {}, operator ? restore : ""),
      );
    });
    box.replaceChildren(
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, ...["Checkpoint", "Name", "Taken", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...rows),
      ),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "muted" }, error.message));
  }
}

// -- live -----------------------------------------------------------------------------------------

function onEvent(event) {
  const step = event.step_id;
  if (step && STEP_STATUS[event.type]) {
    const changes = { status: STEP_STATUS[event.type] };
    if (event.type === "task_started") Object.assign(changes, { started_at: event.timestamp, completed_at: null });
    if (FINISHED.has(changes.status)) changes.completed_at = event.timestamp;
    if (event.data?.attempt) changes.attempt = event.data.attempt;
    setStep(step, changes);
  } else if (step && event.type === "step_output" && step === selected) {
    const log = document.getElementById("step-log");
    const line = event.data?.line ?? event.data?.output ?? event.message ?? "";
    log.textContent += (log.textContent ? "\n" : "") + line;
    log.scrollTop = log.scrollHeight;
  }
  if (RUN_STATUS[event.type]) {
    run = { ...run, status: RUN_STATUS[event.type] };
    showRun();
    if (RUN_FINAL.has(run.status) || event.type === "execution_started") reload().catch(() => {});
    fetchReport(); // the report says the run's status: keep it in step
  }
  if (event.type === "checkpoint_created") loadCheckpoints();
  loadReport();
}

showRun();
loadReport();
loadCheckpoints();
const stream = live(`/ws/v1/runs/${runId}/events`, {
  after: data.after,
  onEvent,
  ended: () => RUN_FINAL.has(run.status),
});
