// The event log: new events matching the page's filters appear at the top as they happen.
import { el, live, when } from "./common.js";

const table = document.getElementById("events");
const body = table.querySelector("tbody");
const { type, run } = table.dataset;
const KEEP = 500; // rows kept on the page; older ones are a page away

if (table.dataset.live === "yes") {
  live("/ws/v1/events", {
    after: Number(table.dataset.latestEvent),
    onEvent(event) {
      if ((type && event.type !== type) || (run && event.run_id !== run)) return;
      const link = event.run_id
        ? el("a", { class: "mono", href: `/ui/runs/${encodeURIComponent(event.run_id)}` }, event.run_id.slice(0, 8))
        : "";
      const row = el(
        "tr",
        { class: "fresh" },
        el("td", {}, String(event.event_id)),
        el("td", {}, el("time", { datetime: event.timestamp }, when(event.timestamp))),
        el("td", {}, el("code", {}, event.type)),
        el("td", {}, link),
        el("td", {}, event.step_id || ""),
        el("td", {}, event.message || ""),
      );
      body.prepend(row);
      while (body.rows.length > KEEP) body.lastElementChild.remove();
    },
  });
} else {
  const indicator = document.getElementById("live");
  indicator.dataset.state = "closed";
  indicator.textContent = "older page: not live";
}
