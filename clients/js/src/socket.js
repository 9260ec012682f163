// ExecutionSocket: what connectToExecution / subscribeToExecution return. It behaves as a
// WebSocket (onopen, onmessage, onerror, onclose, addEventListener, send, close, readyState),
// and it resumes: when an open connection drops abnormally (close code 1006: no Close frame
// reached the client) before the server ended the stream, it connects again. The server replays
// the execution's events on every connection, so the events already delivered (by `event_id`)
// are skipped and each one reaches the listeners once, in order.

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

function makeEvent(type, props = {}) {
  const event = new Event(type);
  for (const [key, value] of Object.entries(props)) {
    Object.defineProperty(event, key, { value, enumerable: true });
  }
  return event;
}

export class ExecutionSocket extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;

  /**
   * @param {() => WebSocket} connect opens one connection
   * @param {{ maxReconnects?: number, reconnectDelay?: number }} [options]
   */
  constructor(connect, { maxReconnects = 10, reconnectDelay = 50 } = {}) {
    super();
    this.connect = connect;
    this.maxReconnects = maxReconnects;
    this.reconnectDelay = reconnectDelay;
    this.reconnects = 0;
    this.lastEventId = null;
    this.readyState = CONNECTING;
    this.url = '';
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.onclose = null;
    this.closedByUser = false;
    this.opened = false;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.open();
  }

  emit(event) {
    this.dispatchEvent(event);
    const handler = this[`on${event.type}`];
    if (typeof handler === 'function') handler.call(this, event);
  }

  open() {
    const ws = this.connect();
    this.ws = ws;
    this.url = ws.url;
    ws.onopen = () => {
      if (this.ws !== ws || this.opened) return;
      this.opened = true;
      this.readyState = OPEN;
      this.emit(makeEvent('open'));
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || this.readyState !== OPEN) return;
      let eventId = null;
      try {
        eventId = JSON.parse(event.data)?.event_id ?? null;
      } catch {
        eventId = null;
      }
      if (typeof eventId === 'number') {
        if (this.lastEventId !== null && eventId <= this.lastEventId) return; // replayed
        this.lastEventId = eventId;
      }
      this.emit(makeEvent('message', { data: event.data, origin: event.origin ?? '', lastEventId: '' }));
    };
    ws.onerror = () => {
      if (this.ws !== ws) return;
      // An error on a connection that will be resumed is not the caller's; one that ends the
      // stream is reported with the close below.
      this.pendingError = true;
      if (ws.readyState === CONNECTING || (!this.opened && ws.readyState !== OPEN)) {
        // The handshake failed (refused key, unknown path, no server). Some WebSocket
        // implementations (Node 20's) fire no close event then: end the stream here.
        this.finish({ code: 1006, reason: '', wasClean: false });
      }
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      const abnormal = event.code === 1006;
      if (!this.closedByUser && this.opened && abnormal && this.reconnects < this.maxReconnects) {
        this.reconnects += 1;
        this.pendingError = false;
        setTimeout(() => {
          if (!this.closedByUser) this.open();
        }, Math.min(this.reconnectDelay * this.reconnects, 500));
        return;
      }
      this.finish(event);
    };
  }

  finish(event) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    if (this.pendingError && !this.closedByUser) this.emit(makeEvent('error'));
    const close = makeEvent('close', {
      code: event?.code ?? 1005,
      reason: event?.reason ?? '',
      wasClean: event?.wasClean ?? true,
    });
    this.emit(close);
    this.resolveClosed(close);
  }

  send(data) {
    if (this.readyState !== OPEN) throw new Error('the socket is not open');
    this.ws.send(data);
  }

  /** Close the stream (no reconnect after this). */
  close(code = 1000, reason = '') {
    if (this.readyState === CLOSED) return;
    this.closedByUser = true;
    this.readyState = CLOSING;
    const ws = this.ws;
    if (ws.readyState === CONNECTING || ws.readyState === OPEN) {
      ws.close(code, reason);
    } else if (ws.readyState === CLOSED) {
      this.finish({ code, reason, wasClean: true });
    }
    // otherwise its own close event finishes this socket
  }

  get protocol() {
    return this.ws?.protocol ?? '';
  }

  get extensions() {
    return this.ws?.extensions ?? '';
  }

  get bufferedAmount() {
    return this.ws?.bufferedAmount ?? 0;
  }
}
