// Seed 000 ("Harmonia API Reference"), section "JavaScript Client": the document's example, run
// as written against a live server. Only the base URL and the token are replaced (by
// HARMONIA_URL and HARMONIA_API_KEY); its console output is captured and checked.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { HarmoniaClient, HarmoniaError } from 'harmonia-client';

import { HARMONIA_API_KEY, HARMONIA_URL, captureConsole } from './support.js';

const admin = new HarmoniaClient({ baseUrl: HARMONIA_URL, apiKey: HARMONIA_API_KEY });

before(async () => {
  // The example creates a workflow named 'JavaScript Example'; names are unique, so a previous
  // run's workflow is removed first.
  const { workflows } = await admin.listWorkflows({ filter: 'name:eq:JavaScript Example' });
  for (const workflow of workflows) await admin.deleteWorkflow(workflow.id);
});

after(() => admin.close());

test("the document's JavaScript example runs to workflow_completed and prints the final status", async () => {
  const output = captureConsole();
  try {
    // ---- seed 000, "JavaScript Client", as written (base URL and token replaced) ----
    // Initialize client
    const harmoniaClient = new HarmoniaClient({
      baseUrl: HARMONIA_URL,
      headers: {
        'Authorization': `Bearer ${HARMONIA_API_KEY}`
      }
    });

    // Create workflow
    harmoniaClient.createWorkflow({
      name: 'JavaScript Example',
      description: 'Example workflow from JavaScript',
      tasks: [
        {
          id: 'task1',
          component: 'ergon',
          action: 'execute_command',
          input: { command: 'echo Hello World' }
        }
      ]
    })
    .then(workflow => {
      console.log(`Created workflow: ${workflow.workflow_id}`);

      // Execute workflow
      return harmoniaClient.executeWorkflow({
        workflow_id: workflow.workflow_id
      });
    })
    .then(execution => {
      console.log(`Started execution: ${execution.execution_id}`);

      // Connect to WebSocket for real-time updates
      const ws = harmoniaClient.connectToExecution(execution.execution_id);

      ws.onmessage = (event) => {
        const data = JSON.parse(event.data);
        console.log(`Event: ${data.event_type}`, data);

        if (data.event_type === 'workflow_completed') {
          ws.close();

          // Get final status
          harmoniaClient.getWorkflowStatus(execution.execution_id)
            .then(status => {
              console.log('Final status:', status);
            });
        }
      };
    })
    .catch(error => {
      console.error('Error:', error);
    });
    // ---- end of the document's example ----

    const final = await output.until(
      ({ stream, args }) => stream === 'error' || args[0] === 'Final status:',
    );
    assert.equal(final.stream, 'log', `the example failed: ${output.lines.join('\n')}`);
    const status = final.args[1];

    const created = output.lines.find((line) => line.startsWith('Created workflow: '));
    const started = output.lines.find((line) => line.startsWith('Started execution: '));
    assert.ok(created && started, output.lines.join('\n'));
    const executionId = started.slice('Started execution: '.length);
    assert.equal(status.execution_id, executionId);
    assert.equal(status.workflow_id, created.slice('Created workflow: '.length));
    assert.equal(status.workflow_name, 'JavaScript Example');
    assert.equal(status.status, 'completed');
    assert.equal(status.task_statuses.task1.status, 'completed');
    assert.equal(status.task_statuses.task1.output.result, 'Hello World');
    assert.equal(status.error, null);

    // The socket replayed the run from its start, in order, ending with workflow_completed.
    const events = output.calls
      .filter(({ args }) => typeof args[0] === 'string' && args[0].startsWith('Event: '))
      .map(({ args }) => args[1]);
    const types = events.map((event) => event.event_type);
    for (const expected of ['execution_started', 'task_started', 'task_completed', 'execution_completed']) {
      assert.ok(types.includes(expected), `no ${expected} among ${types.join(', ')}`);
    }
    assert.equal(types.at(-1), 'workflow_completed');
    assert.equal(types[0], 'execution_started');
    assert.ok(events.every((event) => event.execution_id === executionId));
    const ids = events.map((event) => event.event_id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'events out of order');
    const taskCompleted = events.find((event) => event.event_type === 'task_completed');
    assert.equal(taskCompleted.task_id, 'task1');
    assert.equal(output.lines.filter((line) => line.startsWith('ERROR')).length, 0);
  } finally {
    output.restore();
  }
});

test('HarmoniaClient: an unknown execution rejects with HarmoniaError 404 and the server body', async () => {
  const client = new HarmoniaClient({ baseUrl: HARMONIA_URL });  // the key from HARMONIA_API_KEY
  const missing = '00000000-0000-4000-8000-000000000000';
  await assert.rejects(client.getWorkflowStatus(missing), (error) => {
    assert.ok(error instanceof HarmoniaError);
    assert.ok(error instanceof Error);
    assert.equal(error.status, 404);
    assert.equal(error.body.error.type, 'NotFoundError');
    assert.equal(error.code, 'NOT_FOUND');
    assert.match(error.message, /404/);
    assert.match(error.requestId, /\S/);
    return true;
  });
  await assert.rejects(client.getWorkflow(missing), { name: 'HarmoniaError', status: 404 });
});

test('HarmoniaClient: a bad definition is a 400 ValidationError, a refused key a 401', async () => {
  const client = new HarmoniaClient({ baseUrl: HARMONIA_URL, apiKey: HARMONIA_API_KEY });
  await assert.rejects(client.createWorkflow({ name: 'no tasks', tasks: 'nope' }), (error) => {
    assert.equal(error.status, 400);
    assert.equal(error.body.error.type, 'ValidationError');
    return true;
  });
  const stranger = new HarmoniaClient({ baseUrl: HARMONIA_URL, apiKey: 'hmn_not-a-key' });
  await assert.rejects(stranger.listWorkflows(), (error) => {
    assert.equal(error.status, 401);
    assert.equal(error.body.error.type, 'AuthenticationError');
    return true;
  });
});

test('HarmoniaClient: a socket with a refused key does not open', async () => {
  const stranger = new HarmoniaClient({ baseUrl: HARMONIA_URL, apiKey: 'hmn_not-a-key' });
  const ws = stranger.connectToExecution('00000000-0000-4000-8000-000000000000');
  const seen = [];
  await new Promise((resolve) => {
    ws.onopen = () => seen.push('open');
    ws.onerror = () => seen.push('error');
    ws.onclose = (event) => {
      seen.push(`close ${event.code}`);
      resolve();
    };
  });
  assert.deepEqual(seen, ['error', 'close 1006']);
  assert.equal(ws.readyState, WebSocket.CLOSED);
});

test('HarmoniaClient: a clear error when there is no WebSocket', () => {
  const client = new HarmoniaClient({ baseUrl: HARMONIA_URL, WebSocket: null });
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  delete globalThis.WebSocket;
  try {
    assert.throws(() => client.connectToExecution('x'), /needs a WebSocket.*--experimental-websocket/);
  } finally {
    if (saved) Object.defineProperty(globalThis, 'WebSocket', saved);
  }
});
