// Seed 004 ("Synthesis API Reference"), section "JavaScript Client": the document's example, run
// as written against a live server. Only the base URL is replaced (by HARMONIA_URL); the client
// takes its key from HARMONIA_API_KEY. Its console output is captured and checked.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SynthesisClient } from 'synthesis-client';
import { HarmoniaError } from 'harmonia-client';
import { SynthesisClient as FromSubpath } from 'harmonia-client/synthesis';

import { HARMONIA_URL, captureConsole } from './support.js';

test("the document's JavaScript example completes with step1's 'Hello, World!'", async () => {
  const output = captureConsole();
  try {
    // ---- seed 004, "JavaScript Client", as written (base URL replaced) ----
    async function example() {
      // Create client
      const client = new SynthesisClient(HARMONIA_URL);

      try {
        // Create and execute a simple plan
        const executionId = await client.executePlan({
          name: 'Example Plan',
          description: 'An example execution plan',
          steps: [
            {
              id: 'step1',
              type: 'command',
              parameters: {
                command: 'echo Hello, World!'
              }
            }
          ]
        });

        // Subscribe to real-time updates
        const ws = client.subscribeToExecution(executionId);

        ws.onmessage = function(event) {
          const data = JSON.parse(event.data);
          console.log(`Event: ${data.type}`);

          if (data.type === 'execution_completed') {
            ws.close();
          }
        };

        // Wait for completion
        const result = await client.waitForExecution(executionId);

        console.log(`Execution completed with status: ${result.status}`);

        // Get step outputs
        const steps = await client.getExecutionSteps(executionId);
        steps.steps.forEach(step => {
          console.log(`Step ${step.id} output: ${step.output}`);
        });

      } finally {
        // Close client
        client.close();
      }
    }

    await example();
    // ---- end of the document's example ----

    const events = output.lines.filter((line) => line.startsWith('Event: '));
    const rest = output.lines.filter((line) => !line.startsWith('Event: '));
    assert.deepEqual(rest, [
      'Execution completed with status: completed',
      'Step step1 output: Hello, World!\n',
    ]);
    // The subscription delivered the run from its start (waitForExecution lets it finish).
    const types = events.map((line) => line.slice('Event: '.length));
    assert.equal(types[0], 'execution_started', types.join(', '));
    assert.equal(types.at(-1), 'execution_completed', types.join(', '));
    for (const expected of ['step_started', 'step_output', 'step_completed']) {
      assert.ok(types.includes(expected), `no ${expected} among ${types.join(', ')}`);
    }
  } finally {
    output.restore();
  }
});

test('SynthesisClient: executePlan leaves the execution running; the socket carries step output', async () => {
  const client = new SynthesisClient(HARMONIA_URL);
  try {
    const executionId = await client.executePlan(
      { name: 'JS two steps', steps: [
        { id: 'greet', type: 'command', parameters: { command: 'echo Hello, World!' } },
        { id: 'again', type: 'command', parameters: { command: 'echo again' }, depends_on: ['greet'] },
      ] },
      { variables: { var1: 'value1' } },
    );
    const execution = await client.getExecution(executionId);
    assert.notEqual(execution.status, 'created', 'executePlan must start the execution');
    const messages = [];
    const ws = client.subscribeToExecution(executionId);
    ws.onmessage = (event) => messages.push(JSON.parse(event.data));
    const closed = await new Promise((resolve) => { ws.onclose = resolve; });
    assert.equal(closed.code, 1000);
    assert.equal(messages.at(-1).type, 'execution_completed');
    assert.equal(messages.at(-1).data.status, 'completed');
    assert.ok(messages.every((message) => message.data.execution_id === executionId));
    const outputs = messages.filter((message) => message.type === 'step_completed');
    assert.deepEqual(outputs.map((message) => message.data.step_id), ['greet', 'again']);
    assert.equal(outputs[0].data.output, 'Hello, World!\n');

    const result = await client.waitForExecution(executionId, { timeout: 30000, interval: 200 });
    assert.equal(result.status, 'completed');
    const step = await client.getExecutionStep(executionId, 'again');
    assert.equal(step.output, 'again\n');
    const variables = await client.getExecutionVariables(executionId);
    assert.equal(variables.var1 ?? variables.variables?.var1, 'value1');
  } finally {
    client.close();
  }
});

test('SynthesisClient: errors reject with HarmoniaError, status and body', async () => {
  const client = new SynthesisClient(HARMONIA_URL);
  const missing = '00000000-0000-4000-8000-000000000000';
  await assert.rejects(client.getExecutionSteps(missing), (error) => {
    assert.ok(error instanceof HarmoniaError);
    assert.equal(error.status, 404);
    assert.equal(error.body.error.code, 'not_found');
    assert.equal(error.code, 'not_found');
    return true;
  });
  await assert.rejects(client.executePlan({ name: 'no steps', steps: [] }), (error) => {
    assert.equal(error.status, 400);
    assert.equal(error.code, 'validation_error');
    assert.ok(error.details.some((detail) => /steps$/.test(detail.field)), JSON.stringify(error.body));
    return true;
  });
  const stranger = new SynthesisClient(HARMONIA_URL, { apiKey: 'hmn_not-a-key' });
  await assert.rejects(stranger.listPlans(), { name: 'HarmoniaError', status: 401 });
});

test("the package's ./synthesis subpath and the synthesis-client name are the same class", () => {
  assert.equal(FromSubpath, SynthesisClient);
});
