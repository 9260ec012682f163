// What the tests share: the server and key from the environment, console capture.
import { mock } from 'node:test';

export const HARMONIA_URL = process.env.HARMONIA_URL ?? 'http://127.0.0.1:8002';
export const HARMONIA_API_KEY = process.env.HARMONIA_API_KEY ?? '';

if (!process.env.HARMONIA_URL || !process.env.HARMONIA_API_KEY) {
  throw new Error('set HARMONIA_URL and HARMONIA_API_KEY to a live Harmonia server and a key for it');
}

/**
 * Capture console.log/console.error while a document's example runs. `lines` holds each call's
 * first argument formatted as the console would print it; `until(predicate)` resolves once a
 * line matches (or rejects after `timeout` ms with what was printed so far).
 */
export function captureConsole({ echo = !!process.env.HARMONIA_JS_VERBOSE } = {}) {
  const lines = [];
  const calls = [];
  const waiters = [];
  const record = (stream) => (...args) => {
    calls.push({ stream, args });
    lines.push(`${stream === 'error' ? 'ERROR ' : ''}${typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0])}`);
    if (echo) process.stderr.write(`[example ${stream}] ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`);
    for (const waiter of [...waiters]) waiter();
  };
  const log = mock.method(console, 'log', record('log'));
  const error = mock.method(console, 'error', record('error'));
  return {
    lines,
    calls,
    restore() {
      log.mock.restore();
      error.mock.restore();
    },
    until(predicate, timeout = 30000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = calls.find(predicate);
          if (!found) return false;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out after ${timeout} ms; the example printed:\n${lines.join('\n')}`));
        }, timeout);
        waiters.push(check);
        check();
      });
    },
  };
}
