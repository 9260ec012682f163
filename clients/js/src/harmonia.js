// HarmoniaClient: the "JavaScript Client" of the Harmonia API Reference (seed 000): workflows,
// executions, templates, checkpoints and state under /api/..., events on
// ws://HOST/ws/executions/{id}.
import { HarmoniaError, Transport } from './http.js';

const FINAL = new Set(['completed', 'failed', 'canceled', 'cancelled']);
const id = (value) => encodeURIComponent(String(value));

export class HarmoniaClient {
  /**
   * @param {object|string} [options] `{ baseUrl, headers, apiKey, timeout, fetch, WebSocket }`,
   *   or the base URL alone. The API key is `apiKey`, else the `Authorization: Bearer …` (or
   *   `X-API-Key`) header, else `HARMONIA_API_KEY` from the environment (Node).
   */
  constructor(options = {}) {
    const opts = typeof options === 'string' ? { baseUrl: options } : options;
    this.transport = new Transport(opts, 'http://localhost:8002');
    this.baseUrl = this.transport.baseUrl;
  }

  request(method, path, options) {
    return this.transport.request(method, path, options);
  }

  // Workflows

  /** POST /api/workflows: `{name, description, tasks, input, output}` → `{workflow_id, name, created_at}`. */
  createWorkflow(definition) {
    return this.request('POST', '/api/workflows', { body: definition });
  }

  getWorkflow(workflowId) {
    return this.request('GET', `/api/workflows/${id(workflowId)}`);
  }

  updateWorkflow(workflowId, definition) {
    return this.request('PUT', `/api/workflows/${id(workflowId)}`, { body: definition });
  }

  deleteWorkflow(workflowId) {
    return this.request('DELETE', `/api/workflows/${id(workflowId)}`);
  }

  /** GET /api/workflows: `{limit, offset, filter}` (filter as `name:contains:etl`). */
  listWorkflows(params = {}) {
    return this.request('GET', '/api/workflows', { query: params });
  }

  // Executions

  /** POST /api/executions: `{workflow_id, input, metadata}` → `{execution_id, status: 'pending', …}`. */
  executeWorkflow({ workflow_id, workflowId, input, input_data, metadata } = {}) {
    const body = { workflow_id: workflow_id ?? workflowId };
    if ((input ?? input_data) !== undefined) body.input = input ?? input_data;
    if (metadata !== undefined) body.metadata = metadata;
    return this.request('POST', '/api/executions', { body });
  }

  /** GET /api/executions/{id}: status, task_statuses, input, output, error. */
  getWorkflowStatus(executionId) {
    return this.request('GET', `/api/executions/${id(executionId)}`);
  }

  getExecution(executionId) {
    return this.getWorkflowStatus(executionId);
  }

  /** GET /api/executions: `{workflow_id, status, limit, offset}`. */
  listExecutions(params = {}) {
    return this.request('GET', '/api/executions', { query: params });
  }

  cancelWorkflow(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/cancel`);
  }

  cancelExecution(executionId) {
    return this.cancelWorkflow(executionId);
  }

  pauseExecution(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/pause`);
  }

  resumeExecution(executionId) {
    return this.request('POST', `/api/executions/${id(executionId)}/resume`);
  }

  /**
   * Poll getWorkflowStatus until the status is completed, failed or canceled.
   * `{timeout, interval}` in milliseconds (120000, 500).
   */
  waitForCompletion(executionId, options = {}) {
    return this.transport.poll(
      () => this.getWorkflowStatus(executionId),
      (execution) => FINAL.has(execution?.status),
      options,
      `execution ${executionId}`,
    );
  }

  // Templates

  /** POST /api/templates: `{name, description, workflow_definition_id, parameters}`. */
  createTemplate(template) {
    return this.request('POST', '/api/templates', { body: template });
  }

  getTemplate(templateId) {
    return this.request('GET', `/api/templates/${id(templateId)}`);
  }

  listTemplates(params = {}) {
    return this.request('GET', '/api/templates', { query: params });
  }

  /** POST /api/templates/{id}/instantiate → `{workflow_id, template_id, name, created_at}`. */
  instantiateTemplate(templateId, parameterValues = {}, name) {
    const body = { parameter_values: parameterValues };
    if (name !== undefined) body.name = name;
    return this.request('POST', `/api/templates/${id(templateId)}/instantiate`, { body });
  }

  // Checkpoints and state

  createCheckpoint(executionId) {
    return this.request('POST', '/api/checkpoints', { body: { execution_id: executionId } });
  }

  getCheckpoint(checkpointId) {
    return this.request('GET', `/api/checkpoints/${id(checkpointId)}`);
  }

  listCheckpoints(params = {}) {
    return this.request('GET', '/api/checkpoints', { query: params });
  }

  /** POST /api/checkpoints/{id}/restore → a new execution `{execution_id, original_execution_id, …}`. */
  restoreFromCheckpoint(checkpointId) {
    return this.request('POST', `/api/checkpoints/${id(checkpointId)}/restore`);
  }

  saveState(executionId, state) {
    return this.request('PUT', `/api/state/${id(executionId)}`, { body: { state } });
  }

  loadState(executionId) {
    return this.request('GET', `/api/state/${id(executionId)}`);
  }

  // Live events

  /**
   * A WebSocket on ws://HOST/ws/executions/{id}: the execution's past events, then live ones,
   * each a JSON text with `event_type` (`task_started`, …, `workflow_completed`); the server
   * closes it after the final event. Send `{"type": "ping"}` for a `pong`.
   */
  connectToExecution(executionId) {
    return this.transport.socket(`/ws/executions/${id(executionId)}`);
  }

  /** Abort requests in flight and close the sockets this client opened. */
  close() {
    this.transport.close();
  }
}

export { HarmoniaError };
export default HarmoniaClient;
