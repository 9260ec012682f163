// A workflow's page: its graph, and the run form generated from its input schema.
import { drawGraph } from "./graph.js";
import { ApiError, api, pageData } from "./common.js";

const data = pageData("workflow-data");
drawGraph(document.getElementById("graph"), data.graph, {});

const form = document.getElementById("run-form");
const problem = document.getElementById("run-form-error");

/** The form's values as the workflow's input, typed as its schema says. */
function inputOf() {
  let input = {};
  for (const field of form.querySelectorAll("[data-type]")) {
    const kind = field.dataset.type;
    const raw = field.value.trim();
    if (field.name === "__json__") {
      input = raw ? JSON.parse(raw) : {};
      continue;
    }
    if (kind === "boolean") input[field.name] = field.checked;
    else if (raw === "") continue; // left empty: the schema's default applies
    else if (kind === "integer") input[field.name] = Number.parseInt(raw, 10);
    else if (kind === "number") input[field.name] = Number(raw);
    else if (kind === "json") input[field.name] = JSON.parse(raw);
    else input[field.name] = raw;
  }
  return input;
}

form?.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  problem.hidden = true;
  const button = form.querySelector("button[type=submit]");
  let input;
  try {
    input = inputOf();
  } catch (error) {
    problem.textContent = `Not JSON: ${error.message}`;
    problem.hidden = false;
    return;
  }
  button.disabled = true;
  try {
    const run = await api("POST", `/api/v1/workflows/${form.dataset.workflow}/execute`, {
      input_data: input,
      triggered_by: "dashboard",
    });
    location.assign(`/ui/runs/${run.id}`);
  } catch (error) {
    const fields = error instanceof ApiError ? (error.body?.errors ?? []) : [];
    problem.textContent = [error.message, ...fields.map((f) => `${f.field}: ${f.message}`)].join(" — ");
    problem.hidden = false;
    button.disabled = false;
  }
});
