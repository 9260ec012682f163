// What every dashboard page shares: REST calls signed in by the session (with its CSRF token),
// notices, a self-healing WebSocket that resumes after the last event it saw, and formatting.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** A call to the REST API: the parsed JSON answer, or an ApiError with the server's detail. */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  if (response.status === 401) location.assign(`/ui/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** A short message in the page's live region; errors stay until dismissed. */
export function notice(text, kind = "info") {
  const box = document.getElementById("notices");
  const item = el("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, text);
  const close = el("button", { type: "button", class: "quiet", "aria-label": "Dismiss" }, "×");
  close.addEventListener("click", () => item.remove());
  item.append(close);
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 5000);
  return item;
}

/** Runs an action for a button: disabled meanwhile, the server's refusal said as a notice. */
export async function act(button, label, call) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const answer = await call();
    notice(label);
    return answer;
  } catch (error) {
    notice(error.message, "error");
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** Creates an element: attributes (null ones skipped) and children (strings or nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/**
 * A WebSocket to one of the server's event streams that reconnects (1 s, 2 s, … 15 s) and asks
 * for what came after the last event it saw, so a dropped connection costs no event.
 * ``onEvent(event)`` gets each event once; ``indicator`` shows the connection's state. When
 * ``ended()`` says so, a closed socket stays closed (a finished run's) until ``resume()``.
 */
export function live(path, { after = null, onEvent, ended = () => false, indicator = document.getElementById("live") }) {
  let last = after;
  let socket = null;
  let delay = 1000;
  let stopped = false;
  const seen = new Set();

  const show = (state, text) => {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  };

  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = last !== null ? `?after_event_id=${last}` : "";
    socket = new WebSocket(`${scheme}://${location.host}${path}${query}`);
    socket.addEventListener("open", () => {
      delay = 1000;
      show("open", "live");
    });
    socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.event_id === undefined) {
        if (event.type === "error") show("error", event.message);
        return;
      }
      if (seen.has(event.event_id)) return;
      seen.add(event.event_id);
      last = Math.max(last ?? 0, event.event_id);
      onEvent(event);
    });
    socket.addEventListener("close", () => {
      if (stopped) return;
      if (ended()) {
        socket = null;
        show("closed", "finished");
        return;
      }
      show("closed", "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  connect();
  return {
    stop() {
      stopped = true;
      socket?.close();
    },
    /** Listens again (after a finished run was retried, resumed or rerun). */
    resume() {
      if (socket === null && !stopped) connect();
    },
  };
}

/** Calls ``fn`` at most once per ``ms``, the last call winning. */
export function throttle(fn, ms) {
  let timer = null;
  let lastRun = 0;
  return (...args) => {
    const wait = Math.max(0, lastRun + ms - Date.now());
    clearTimeout(timer);
    timer = setTimeout(() => {
      lastRun = Date.now();
      fn(...args);
    }, wait);
  };
}

export function when(iso) {
  return iso ? iso.slice(0, 19).replace("T", " ") : "—";
}

export function duration(startIso, endIso) {
  if (!startIso) return "—";
  const ms = (endIso ? Date.parse(endIso) : Date.now()) - Date.parse(startIso);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function json(value) {
  return value === null || value === undefined ? "—" : JSON.stringify(value, null, 2);
}

export function badge(status) {
  return el("span", { class: `badge status-${status}`, "data-status": true }, status);
}

export function pageData(id) {
  return JSON.parse(document.getElementById(id).textContent);
}
