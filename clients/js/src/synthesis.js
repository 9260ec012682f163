// SynthesisClient: the "JavaScript Client" of the Synthesis API Reference (seed 004): plans,
// executions, integrations and events under /api/..., updates on ws://HOST/ws/executions/{id}.
import { HarmoniaError, Transport } from './http.js';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const id = (value) => encodeURIComponent(String(value));
// How long waitForExecution lets an open subscription deliver its last messages.
const SOCKET_GRACE_MS = 2000;

export class SynthesisClient {
  /**
   * @param {string|object} [baseUrl] the server (default http://localhost:8009), or the options.
   * @param {object} [options] `{ apiKey, headers, timeout, fetch, WebSocket }`. The API key is
   *   `apiKey`, else the `Authorization: Bearer …` header, else `HARMONIA_API_KEY` (Node).
   */
  constructor(baseUrl, options = {}) {
    const opts = typeof baseUrl === 'object' && baseUrl !== null ? baseUrl : { ...options, baseUrl };
    if (opts.baseUrl === undefined) delete opts.baseUrl;
    this.transport = new Transport(opts, 'http://localhost:8009');
    this.baseUrl = this.transport.baseUrl;
    this.subscriptions = new Map(); // execution id → its open WebSockets
  }

  request(method, path, options) {
    return this.transport.request(method, path, options);
  }

  // Executions

  /** POST /api/executions `{plan, variables, metadata}` → the execution, status `created`. */
  createExecution(plan, { variables, metadata } = {}) {
    const body = { plan };
    if (variables !== undefined) body.variables = variables;
    if (metadata !== undefined) body.metadata = metadata;
    return this.request('POST', '/api/executions', { body });
  }

  /** POST /api/executions/{id}/start → `{execution_id, status: 'running', started_at}`. */
  startExecution(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/start`);
  }

  /**
   * Create an execution of `plan` and start it; resolves to its execution id. The server answers
   * a new execution as `created`: it is started here, so it is running when this resolves.
   */
  async executePlan(plan, options = {}) {
    const execution = await this.createExecution(plan, options);
    if (execution.status === 'created') await this.startExecution(execution.execution_id);
    return execution.execution_id;
  }

  getExecution(executionId) {
    return this.request('GET', `/api/executions/${id(executionId)}`);
  }

  /** GET /api/executions: `{status, tag, created_by, from_date, to_date, limit, offset}`. */
  listExecutions(params = {}) {
    return this.request('GET', '/api/executions', { query: params });
  }

  pauseExecution(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/pause`);
  }

  resumeExecution(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/resume`);
  }

  cancelExecution(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/cancel`);
  }

  /** GET /api/executions/{id}/steps → `{execution_id, steps: [{id, type, status, output, error, …}]}`. */
  getExecutionSteps(executionId) {
    return this.request('GET', `/api/executions/${id(executionId)}/steps`);
  }

  getExecutionStep(executionId, stepId) {
    return this.request('GET', `/api/executions/${id(executionId)}/steps/${id(stepId)}`);
  }

  getExecutionVariables(executionId) {
    return this.request('GET', `/api/executions/${id(executionId)}/variables`);
  }

  /**
   * Poll the execution until it is completed, failed or cancelled, and resolve to it.
   * `{timeout, interval}` in milliseconds (120000, 500). If this client has a subscription open
   * on the execution, its last messages (up to `execution_completed`, after which the server
   * closes the socket) are let through first, for up to 2 s.
   */
  async waitForExecution(executionId, options = {}) {
    const execution = await this.transport.poll(
      () => this.getExecution(executionId),
      (answer) => FINAL.has(answer?.status),
      options,
      `execution ${executionId}`,
    );
    const sockets = [...(this.subscriptions.get(String(executionId)) ?? [])];
    if (sockets.length) {
      let timer;
      const grace = new Promise((resolve) => {
        timer = setTimeout(resolve, SOCKET_GRACE_MS);
      });
      await Promise.race([Promise.all(sockets.map((ws) => this.transport.whenClosed(ws))), grace]);
      clearTimeout(timer);
    }
    return execution;
  }

  // Plans

  createPlan(plan) {
    return this.request('POST', '/api/plans', { body: plan });
  }

  /** GET /api/plans: `{tag, created_by, from_date, to_date, limit, offset}`. */
  listPlans(params = {}) {
    return this.request('GET', '/api/plans', { query: params });
  }

  getPlan(planId) {
    return this.request('GET', `/api/plans/${id(planId)}`);
  }

  updatePlan(planId, plan) {
    return this.request('PUT', `/api/plans/${id(planId)}`, { body: plan });
  }

  deletePlan(planId) {
    return this.request('DELETE', `/api/plans/${id(planId)}`);
  }

  /** POST /api/plans/{id}/execute `{variables, metadata}` → the execution, already running. */
  executeStoredPlan(planId, { variables, metadata } = {}) {
    const body = {};
    if (variables !== undefined) body.variables = variables;
    if (metadata !== undefined) body.metadata = metadata;
    return this.request('POST', `/api/plans/${id(planId)}/execute`, { body });
  }

  // Integrations

  listIntegrations(params = {}) {
    return this.request('GET', '/api/integrations', { query: params });
  }

  getIntegration(integrationId) {
    return this.request('GET', `/api/integrations/${id(integrationId)}`);
  }

  getIntegrationCapabilities(integrationId) {
    return this.request('GET', `/api/integrations/${id(integrationId)}/capabilities`);
  }

  /** POST /api/integrations/{id}/capabilities/{capability} `{parameters}` → the invocation. */
  invokeCapability(integrationId, capabilityId, parameters = {}) {
    return this.request(
      'POST',
      `/api/integrations/${id(integrationId)}/capabilities/${id(capabilityId)}`,
      { body: { parameters } },
    );
  }

  getInvocation(invocationId) {
    return this.request('GET', `/api/integrations/invocations/${id(invocationId)}`);
  }

  // Events

  /** GET /api/events: `{type, execution_id, from_date, to_date, limit, offset}`. */
  listEvents(params = {}) {
    return this.request('GET', '/api/events', { query: params });
  }

  getEvent(eventId) {
    return this.request('GET', `/api/events/${id(eventId)}`);
  }

  /** POST /api/events/subscriptions `{types, filter, callback_url, expiration, secret}`. */
  createSubscription(subscription) {
    return this.request('POST', '/api/events/subscriptions', { body: subscription });
  }

  listSubscriptions(params = {}) {
    return this.request('GET', '/api/events/subscriptions', { query: params });
  }

  deleteSubscription(subscriptionId) {
    return this.request('DELETE', `/api/events/subscriptions/${id(subscriptionId)}`);
  }

  // System

  health() {
    return this.request('GET', '/health');
  }

  metrics() {
    return this.request('GET', '/metrics', { headers: { Accept: 'application/json' } });
  }

  // Live updates

  /**
   * A WebSocket on ws://HOST/ws/executions/{id}: messages `{type, timestamp, data}`
   * (`execution_started`, `step_started`, `step_output`, `step_completed`, …,
   * `execution_completed`), past ones first; the server closes it after the final one.
   */
  subscribeToExecution(executionId) {
    const key = String(executionId);
    const ws = this.transport.socket(`/ws/executions/${id(executionId)}`);
    const open = this.subscriptions.get(key) ?? new Set();
    open.add(ws);
    this.subscriptions.set(key, open);
    this.transport.whenClosed(ws).then(() => {
      open.delete(ws);
      if (!open.size && this.subscriptions.get(key) === open) this.subscriptions.delete(key);
    });
    return ws;
  }

  /** A WebSocket on ws://HOST/ws/events: every event `{event_id, type, timestamp, execution_id, payload}`. */
  subscribeToEvents({ after_event_id } = {}) {
    return this.transport.socket('/ws/events', { after_event_id }, { resumeParam: 'after_event_id' });
  }

  /** Abort requests in flight and close the sockets this client opened. */
  close() {
    this.transport.close();
    this.subscriptions.clear();
  }
}

export { HarmoniaError };
export default SynthesisClient;
