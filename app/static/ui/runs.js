// The runs list: each listed run's status follows its events; a run started meanwhile is
// announced (the list itself stays put until asked, so rows do not jump under the pointer).
import { badge, live, when } from "./common.js";

const table = document.getElementById("runs");
const FINAL_AT = { execution_completed: "COMPLETED", execution_failed: "FAILED", execution_cancelled: "CANCELLED" };
const STATUS = { execution_started: "RUNNING", execution_paused: "PAUSED", execution_resumed: "RUNNING", ...FINAL_AT };
const firstPage = !new URLSearchParams(location.search).has("page") || new URLSearchParams(location.search).get("page") === "1";

live("/ws/v1/events", {
  after: Number(table.dataset.latestEvent),
  onEvent(event) {
    const status = STATUS[event.type];
    if (!status || !event.run_id) return;
    const row = table.querySelector(`tr[data-run="${CSS.escape(event.run_id)}"]`);
    if (row) {
      row.querySelector("[data-status]").replaceWith(badge(status));
      if (FINAL_AT[event.type]) row.querySelector("[data-finished]").textContent = when(event.timestamp);
    } else if (event.type === "execution_started" && firstPage) {
      document.getElementById("new-runs").hidden = false;
    }
  },
});
