// The queues page: each Celery queue's depth (from the broker) and its consumers, refreshed
// every few seconds, with the depths charted.
import { lineChart } from "./chart.js";
import { api, el, notice } from "./common.js";

const EVERY = 3000;
const table = document.getElementById("queues");
let chart = null;
let names = [];

async function refresh() {
  try {
    const listing = await api("GET", "/api/v1/ops/queues");
    const rows = listing.items.map((queue) =>
      el(
        "tr",
        { "data-queue": queue.name },
        el("th", { scope: "row" }, queue.name),
        el("td", { "data-depth": true }, String(queue.depth)),
        el("td", {}, queue.consumers.length ? queue.consumers.join(", ") : el("span", { class: "warning" }, "nobody consumes it")),
      ),
    );
    table.tBodies[0].replaceChildren(...rows);
    table.setAttribute("aria-busy", "false");
    const current = listing.items.map((q) => q.name);
    if (!chart || current.join() !== names.join()) {
      names = current;
      chart?.destroy();
      chart = lineChart(document.getElementById("chart"), {
        series: names.map((name, i) => ({ name, className: `series-${i % 6}` })),
        window: 60,
      });
    }
    chart.push(listing.items.map((q) => q.depth));
  } catch (error) {
    notice(error.message, "error");
  }
}

refresh();
setInterval(refresh, EVERY);
const indicator = document.getElementById("live");
indicator.dataset.state = "open";
indicator.textContent = `every ${EVERY / 1000} s`;
