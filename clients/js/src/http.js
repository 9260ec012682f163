// Internals shared by HarmoniaClient and SynthesisClient: one way to call the REST API (global
// fetch) and one way to open a stream (global WebSocket). No dependencies.
import { ExecutionSocket } from './socket.js';

/** A non-2xx answer (or a transport failure, status 0), with the server's parsed body. */
export class HarmoniaError extends Error {
  constructor(message, { status = 0, body = null, method, url, requestId = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'HarmoniaError';
    this.status = status;
    this.body = body;
    this.method = method;
    this.url = url;
    this.requestId = requestId;
    // Seed 000 errors carry `type` and `code` ("NotFoundError", "NOT_FOUND"); seed 004 errors a
    // lower-case `code` ("not_found"); the canonical API `error` and `detail`.
    const error = body && typeof body === 'object' ? body.error : undefined;
    this.code = (error && typeof error === 'object' ? error.code ?? error.type : error) ?? null;
    this.details = error && typeof error === 'object' ? error.details ?? null : body?.errors ?? null;
  }
}

const env = () => (typeof process !== 'undefined' && process.env ? process.env : {});

function headerValue(headers, name) {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

function serverMessage(body, fallback) {
  if (body && typeof body === 'object') {
    const error = body.error;
    if (error && typeof error === 'object' && error.message) return error.message;
    if (typeof body.detail === 'string') return body.detail;
    if (typeof error === 'string') return error;
  }
  if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 200);
  return fallback;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The transport: base URL, credentials, fetch and WebSocket, the sockets it opened.
 * options: { baseUrl, apiKey, token, headers, timeout (ms per request), fetch, WebSocket }
 */
export class Transport {
  constructor(options = {}, defaultBaseUrl) {
    const { baseUrl = defaultBaseUrl, headers = {}, timeout = 30000 } = options;
    this.baseUrl = String(baseUrl).replace(/\/+$/, '');
    this.timeout = timeout;
    this.fetchImpl = options.fetch;
    this.WebSocketImpl = options.WebSocket;
    this.headers = { ...headers };
    // The credential: `apiKey` (or `token`), else what the headers already carry, else
    // HARMONIA_API_KEY from the environment (Node). It goes out as `Authorization: Bearer`.
    const authorization = headerValue(this.headers, 'Authorization');
    const xApiKey = headerValue(this.headers, 'X-API-Key');
    let apiKey = options.apiKey ?? options.token;
    if (apiKey == null && authorization) {
      const match = /^\s*Bearer\s+(.+?)\s*$/i.exec(authorization);
      apiKey = match ? match[1] : undefined;
    }
    if (apiKey == null && xApiKey) apiKey = xApiKey;
    if (apiKey == null && !authorization) apiKey = env().HARMONIA_API_KEY || undefined;
    this.apiKey = apiKey ?? null;
    if (this.apiKey && !authorization && !xApiKey) {
      this.headers.Authorization = `Bearer ${this.apiKey}`;
    }
    this.controller = new AbortController();
    this.sockets = new Set();
    this.closed = false;
  }

  url(path, query) {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      for (const item of Array.isArray(value) ? value : [value]) {
        url.searchParams.append(key, String(item));
      }
    }
    return url.toString();
  }

  /** `method path` with an optional JSON body; resolves to the parsed answer. */
  async request(method, path, { body, query, headers } = {}) {
    if (this.closed) throw new HarmoniaError('the client is closed', { method, url: path });
    const fetchImpl = this.fetchImpl ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new Error('harmonia-client needs a global fetch (Node >= 18, any browser) or the fetch option');
    }
    const url = this.url(path, query);
    const sendHeaders = { Accept: 'application/json', ...this.headers, ...headers };
    if (body !== undefined) sendHeaders['Content-Type'] = 'application/json';
    const signals = [this.controller.signal];
    if (this.timeout) signals.push(AbortSignal.timeout(this.timeout));
    const signal = AbortSignal.any ? AbortSignal.any(signals) : this.controller.signal;
    let response;
    try {
      response = await fetchImpl(url, {
        method,
        headers: sendHeaders,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (cause) {
      const why = cause?.name === 'TimeoutError' ? `timed out after ${this.timeout} ms` : cause?.message;
      throw new HarmoniaError(`${method} ${url} failed: ${why}`, { method, url, cause });
    }
    const text = await response.text();
    let parsed = text;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    } else {
      parsed = null;
    }
    if (!response.ok) {
      const message = serverMessage(parsed, response.statusText || 'request failed');
      throw new HarmoniaError(`${method} ${path}: ${response.status} ${message}`, {
        status: response.status,
        body: parsed,
        method,
        url,
        requestId: response.headers.get('x-request-id'),
      });
    }
    return parsed;
  }

  /**
   * A WebSocket on `path` (ws:// or wss:// from the base URL), as an ExecutionSocket (see
   * socket.js: a WebSocket that resumes after an abnormal drop). Browsers cannot set headers on a
   * WebSocket, so the API key travels as `?api_key=`, which the server accepts on its streams.
   * With `resumeParam`, a resumed connection asks for the events after the last one delivered.
   */
  socket(path, query = {}, { resumeParam } = {}) {
    const WebSocketImpl = this.WebSocketImpl ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== 'function') {
      throw new Error(
        'harmonia-client needs a WebSocket: Node >= 22 has one; on Node 20.10+ run with ' +
          '--experimental-websocket; or pass the WebSocket option (e.g. the `ws` package)',
      );
    }
    if (this.closed) throw new HarmoniaError('the client is closed', { url: path });
    let socket;
    const connect = () => {
      const resumed = resumeParam && socket?.lastEventId != null ? { [resumeParam]: socket.lastEventId } : {};
      const url = new URL(this.url(path, { ...query, ...resumed, api_key: this.apiKey ?? undefined }));
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      return new WebSocketImpl(url.toString());
    };
    socket = new ExecutionSocket(connect);
    this.sockets.add(socket);
    socket.closed.then(() => this.sockets.delete(socket));
    return socket;
  }

  /** Resolves with the close event once `socket` (opened by socket()) has closed. */
  whenClosed(socket) {
    return socket.closed;
  }

  /** Poll `read()` until `isFinal(answer)`; `timeout` and `interval` in milliseconds. */
  async poll(read, isFinal, { timeout = 120000, interval = 500 } = {}, what = 'the execution') {
    const deadline = Date.now() + timeout;
    for (;;) {
      const answer = await read();
      if (isFinal(answer)) return answer;
      if (Date.now() + interval > deadline) {
        throw new HarmoniaError(`${what} is still ${answer?.status} after ${timeout} ms`, {
          body: answer,
        });
      }
      await sleep(interval);
    }
  }

  /** Abort requests in flight and close the sockets this client opened. */
  close() {
    this.closed = true;
    this.controller.abort();
    for (const socket of this.sockets) socket.close(1000, 'client closed');
    this.sockets.clear();
  }
}

export { sleep };
