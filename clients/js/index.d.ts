// Type declarations for harmonia-client (src/index.js): HarmoniaClient (seed 000, "Harmonia API
// Reference") and SynthesisClient (seed 004, "Synthesis API Reference").

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: any };
export type Query = Record<string, string | number | boolean | null | undefined | Array<string | number>>;

/** Options shared by both clients. */
export interface ClientOptions {
  /** The server, e.g. `http://127.0.0.1:8002` (HarmoniaClient's default `http://localhost:8002`, SynthesisClient's `http://localhost:8009`). */
  baseUrl?: string;
  /** Sent with every request. An `Authorization: Bearer <key>` (or `X-API-Key`) here is also the key used on WebSockets. */
  headers?: Record<string, string>;
  /** The API key (or token): sent as `Authorization: Bearer <key>` and as `?api_key=` on WebSockets. Defaults to `HARMONIA_API_KEY` in Node. */
  apiKey?: string;
  /** Alias of `apiKey`. */
  token?: string;
  /** Per-request timeout in milliseconds (default 30000; 0 for none). */
  timeout?: number;
  /** A fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** A WebSocket constructor (default: the global `WebSocket`; Node 20.10+ needs `--experimental-websocket`). */
  WebSocket?: { new (url: string | URL, protocols?: string | string[]): WebSocket };
}

export interface WaitOptions {
  /** Give up after this many milliseconds (default 120000). */
  timeout?: number;
  /** Milliseconds between polls (default 500). */
  interval?: number;
}

/** A non-2xx answer (status and the server's parsed body), or a transport failure (status 0). */
export class HarmoniaError extends Error {
  name: 'HarmoniaError';
  /** The HTTP status, 0 when no answer came. */
  status: number;
  /** The server's answer, parsed as JSON when it is JSON (else its text). */
  body: any;
  /** `error.code` (or seed 000's `error.type`) from the body, when there is one. */
  code: string | null;
  /** `error.details` from the body, when there is one. */
  details: any;
  method?: string;
  url?: string;
  /** The answer's `X-Request-ID`. */
  requestId: string | null;
}


/**
 * What connectToExecution / subscribeToExecution / subscribeToEvents return: a WebSocket (the
 * same handlers, events, send, close, readyState) that resumes when an open connection drops
 * abnormally (code 1006) before the server ended the stream, skipping the events (by
 * `event_id`) it already delivered.
 */
export class ExecutionSocket extends EventTarget {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly url: string;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  /** The last `event_id` delivered. */
  readonly lastEventId: number | null;
  /** How many times it reconnected. */
  readonly reconnects: number;
  /** Resolves with the close event. */
  readonly closed: Promise<CloseEvent>;
  onopen: ((this: ExecutionSocket, event: Event) => any) | null;
  onmessage: ((this: ExecutionSocket, event: MessageEvent<string>) => any) | null;
  onerror: ((this: ExecutionSocket, event: Event) => any) | null;
  onclose: ((this: ExecutionSocket, event: CloseEvent) => any) | null;
  send(data: string): void;
  /** Closes the stream; no reconnect after this. */
  close(code?: number, reason?: string): void;
}

// Seed 000 ----------------------------------------------------------------------------------

export type Seed000Status = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'canceled';

export interface TaskDefinition {
  id?: string;
  component?: string;
  action?: string;
  input?: JsonObject;
  depends_on?: string[];
  [key: string]: any;
}

export interface WorkflowDefinition {
  name: string;
  description?: string;
  /** A map of task id → task, or a list of tasks with an `id` each. */
  tasks: Record<string, TaskDefinition> | TaskDefinition[];
  input?: JsonObject;
  output?: JsonObject;
  [key: string]: any;
}

export interface CreatedWorkflow {
  workflow_id: string;
  name: string;
  created_at: string;
  [key: string]: any;
}

export interface Workflow extends WorkflowDefinition {
  id: string;
  created_at: string;
  updated_at: string;
}

export interface WorkflowList {
  workflows: Array<{ id: string; name: string; description?: string; created_at: string; updated_at: string; [key: string]: any }>;
  total: number;
  limit: number;
  offset: number;
}

export interface ExecuteWorkflowRequest {
  workflow_id?: string;
  /** Alias of `workflow_id`. */
  workflowId?: string;
  input?: JsonObject;
  /** Alias of `input` (the Python client's name). */
  input_data?: JsonObject;
  metadata?: JsonObject;
}

export interface ExecutionStarted {
  execution_id: string;
  workflow_id: string;
  status: Seed000Status;
  created_at: string;
  [key: string]: any;
}

export interface TaskStatus {
  status: string;
  start_time: string | null;
  end_time: string | null;
  output?: any;
  [key: string]: any;
}

export interface WorkflowStatus {
  execution_id: string;
  workflow_id: string;
  workflow_name: string;
  status: Seed000Status;
  start_time: string | null;
  end_time: string | null;
  task_statuses: Record<string, TaskStatus>;
  input: JsonObject;
  output: any;
  error: any;
  [key: string]: any;
}

export interface ExecutionList {
  executions: Array<{ execution_id: string; workflow_id: string; workflow_name: string; status: string; start_time: string | null; end_time: string | null; [key: string]: any }>;
  total: number;
  limit: number;
  offset: number;
}

export interface ControlAnswer {
  success: boolean;
  execution_id: string;
  status: string;
  [key: string]: any;
}

export interface TemplateDefinition {
  name: string;
  description?: string;
  workflow_definition_id: string;
  parameters?: Record<string, { type?: string; required?: boolean; default?: any; description?: string }>;
  [key: string]: any;
}

/** One message of ws://HOST/ws/executions/{id} for a seed-000 execution. */
export interface ExecutionEvent {
  event_type: string;
  type: string;
  event_id: number;
  execution_id: string;
  task_id: string | null;
  timestamp: string;
  message?: string;
  details: JsonObject;
  data: JsonObject;
  payload: JsonObject;
  [key: string]: any;
}

export class HarmoniaClient {
  /** `new HarmoniaClient({ baseUrl, headers })`, or `new HarmoniaClient(baseUrl)`. */
  constructor(options?: ClientOptions | string);
  readonly baseUrl: string;

  /** Any call: `request('GET', '/api/workflows', { query: { limit: 10 } })`. */
  request<T = any>(method: string, path: string, options?: { body?: any; query?: Query; headers?: Record<string, string> }): Promise<T>;

  createWorkflow(definition: WorkflowDefinition): Promise<CreatedWorkflow>;
  getWorkflow(workflowId: string): Promise<Workflow>;
  updateWorkflow(workflowId: string, definition: WorkflowDefinition): Promise<{ workflow_id: string; name: string; updated_at: string; [key: string]: any }>;
  deleteWorkflow(workflowId: string): Promise<{ success: boolean; message: string }>;
  listWorkflows(params?: { limit?: number; offset?: number; filter?: string } & Query): Promise<WorkflowList>;

  executeWorkflow(request: ExecuteWorkflowRequest): Promise<ExecutionStarted>;
  getWorkflowStatus(executionId: string): Promise<WorkflowStatus>;
  getExecution(executionId: string): Promise<WorkflowStatus>;
  listExecutions(params?: { workflow_id?: string; status?: string; limit?: number; offset?: number } & Query): Promise<ExecutionList>;
  cancelWorkflow(executionId: string): Promise<ControlAnswer>;
  cancelExecution(executionId: string): Promise<ControlAnswer>;
  pauseExecution(executionId: string): Promise<ControlAnswer>;
  resumeExecution(executionId: string): Promise<ControlAnswer>;
  /** Polls getWorkflowStatus until completed, failed or canceled; rejects with HarmoniaError on timeout. */
  waitForCompletion(executionId: string, options?: WaitOptions): Promise<WorkflowStatus>;

  createTemplate(template: TemplateDefinition): Promise<{ template_id: string; name: string; created_at: string; [key: string]: any }>;
  getTemplate(templateId: string): Promise<TemplateDefinition & { id: string; created_at: string; updated_at: string }>;
  listTemplates(params?: { limit?: number; offset?: number } & Query): Promise<{ templates: JsonObject[]; total: number; limit: number; offset: number }>;
  instantiateTemplate(templateId: string, parameterValues?: JsonObject, name?: string): Promise<{ workflow_id: string; template_id: string; name: string; created_at: string; [key: string]: any }>;

  createCheckpoint(executionId: string): Promise<{ checkpoint_id: string; execution_id: string; created_at: string; workflow_status: string; completed_tasks: string[]; [key: string]: any }>;
  getCheckpoint(checkpointId: string): Promise<JsonObject>;
  listCheckpoints(params?: { execution_id?: string; limit?: number; offset?: number } & Query): Promise<{ checkpoints: JsonObject[]; total: number; limit: number; offset: number }>;
  restoreFromCheckpoint(checkpointId: string): Promise<{ execution_id: string; original_execution_id: string; checkpoint_id: string; status: string; [key: string]: any }>;
  saveState(executionId: string, state: JsonObject): Promise<{ success: boolean; execution_id: string; timestamp: string }>;
  loadState(executionId: string): Promise<{ state: JsonObject; last_updated: string }>;

  /**
   * A WebSocket on ws://HOST/ws/executions/{id} (the API key as `?api_key=`): past events, then
   * live ones, as JSON texts (see ExecutionEvent); closed by the server after the final event.
   */
  connectToExecution(executionId: string): ExecutionSocket;
  /** Aborts requests in flight and closes the sockets this client opened. */
  close(): void;
}

// Seed 004 ----------------------------------------------------------------------------------

export type Seed004Status = 'created' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

export interface PlanStep {
  id: string;
  /** `command`, `script`, `http`, `agent`, `mcp`, or `integration.capability`. */
  type: string;
  parameters?: JsonObject;
  depends_on?: string[];
  [key: string]: any;
}

export interface Plan {
  name: string;
  description?: string;
  steps: PlanStep[];
  metadata?: JsonObject;
  [key: string]: any;
}

export interface StepResult {
  id: string;
  type: string;
  status: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  /** A command's stdout (`"Hello, World!\n"`), else the step's output. */
  output: any;
  error: any;
  [key: string]: any;
}

export interface Execution {
  execution_id: string;
  status: Seed004Status;
  created_at: string;
  started_at?: string | null;
  completed_at?: string | null;
  duration_ms?: number | null;
  plan: Plan;
  steps?: StepResult[];
  variables?: JsonObject;
  metadata?: JsonObject;
  [key: string]: any;
}

export interface ExecutionSteps {
  execution_id: string;
  steps: StepResult[];
}

export interface ExecutionOptions {
  variables?: JsonObject;
  metadata?: JsonObject;
}

/** One message of ws://HOST/ws/executions/{id} for a seed-004 execution. */
export interface ExecutionUpdate {
  type: string;
  timestamp: string;
  data: { execution_id: string; step_id?: string; step_type?: string; status?: string; duration_ms?: number; output?: any; [key: string]: any };
  event_id?: number;
}

/** One event of /api/events and ws://HOST/ws/events. */
export interface SynthesisEvent {
  event_id: string | number;
  type: string;
  timestamp: string;
  execution_id: string | null;
  payload: JsonObject;
}

export class SynthesisClient {
  /** `new SynthesisClient('http://localhost:8009')`, `new SynthesisClient(baseUrl, options)` or `new SynthesisClient(options)`. */
  constructor(baseUrl?: string | ClientOptions, options?: Omit<ClientOptions, 'baseUrl'>);
  readonly baseUrl: string;

  request<T = any>(method: string, path: string, options?: { body?: any; query?: Query; headers?: Record<string, string> }): Promise<T>;

  createExecution(plan: Plan, options?: ExecutionOptions): Promise<Execution>;
  startExecution(executionId: string): Promise<{ execution_id: string; status: Seed004Status; started_at: string }>;
  /** Creates an execution of `plan`, starts it, and resolves to its id (it is running by then). */
  executePlan(plan: Plan, options?: ExecutionOptions): Promise<string>;
  getExecution(executionId: string): Promise<Execution>;
  listExecutions(params?: { status?: string; tag?: string; created_by?: string; from_date?: string; to_date?: string; limit?: number; offset?: number } & Query): Promise<{ total: number; offset: number; limit: number; executions: JsonObject[] }>;
  pauseExecution(executionId: string): Promise<{ execution_id: string; status: Seed004Status; paused_at: string }>;
  resumeExecution(executionId: string): Promise<{ execution_id: string; status: Seed004Status; resumed_at: string }>;
  cancelExecution(executionId: string): Promise<{ execution_id: string; status: Seed004Status; cancelled_at: string }>;
  getExecutionSteps(executionId: string): Promise<ExecutionSteps>;
  getExecutionStep(executionId: string, stepId: string): Promise<StepResult & { parameters?: JsonObject }>;
  getExecutionVariables(executionId: string): Promise<JsonObject>;
  /** Polls until completed, failed or cancelled; rejects with HarmoniaError on timeout. */
  waitForExecution(executionId: string, options?: WaitOptions): Promise<Execution>;

  createPlan(plan: Plan): Promise<Plan & { plan_id: string; created_at: string }>;
  listPlans(params?: { tag?: string; created_by?: string; from_date?: string; to_date?: string; limit?: number; offset?: number } & Query): Promise<{ total: number; offset: number; limit: number; plans: JsonObject[] }>;
  getPlan(planId: string): Promise<Plan & { plan_id: string }>;
  updatePlan(planId: string, plan: Plan): Promise<Plan & { plan_id: string }>;
  deletePlan(planId: string): Promise<{ success: boolean; message: string }>;
  /** POST /api/plans/{id}/execute: creates and starts an execution of a stored plan. */
  executeStoredPlan(planId: string, options?: ExecutionOptions): Promise<{ execution_id: string; status: Seed004Status; created_at: string; started_at: string; plan_id: string }>;

  listIntegrations(params?: Query): Promise<JsonObject>;
  getIntegration(integrationId: string): Promise<JsonObject>;
  getIntegrationCapabilities(integrationId: string): Promise<JsonObject>;
  invokeCapability(integrationId: string, capabilityId: string, parameters?: JsonObject): Promise<{ invocation_id: string; status: string; output: any; error: any; duration_ms: number | null; [key: string]: any }>;
  getInvocation(invocationId: string): Promise<JsonObject>;

  listEvents(params?: { type?: string; execution_id?: string; from_date?: string; to_date?: string; limit?: number; offset?: number } & Query): Promise<{ total: number; offset: number; limit: number; events: SynthesisEvent[] }>;
  getEvent(eventId: string | number): Promise<SynthesisEvent>;
  createSubscription(subscription: { types: string[]; filter?: { execution_id?: string }; callback_url: string; expiration?: string; secret?: string }): Promise<JsonObject>;
  listSubscriptions(params?: Query): Promise<JsonObject>;
  deleteSubscription(subscriptionId: string): Promise<{ success: boolean; message: string }>;

  health(): Promise<JsonObject>;
  metrics(): Promise<JsonObject>;

  /** A WebSocket on ws://HOST/ws/executions/{id}: ExecutionUpdate messages, past ones first. */
  subscribeToExecution(executionId: string): ExecutionSocket;
  /** A WebSocket on ws://HOST/ws/events: every SynthesisEvent, live (or after `after_event_id`). */
  subscribeToEvents(options?: { after_event_id?: number }): ExecutionSocket;
  /** Aborts requests in flight and closes the sockets this client opened. */
  close(): void;
}
