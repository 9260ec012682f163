// Compile-only check of index.d.ts (npm run typecheck): the documents' examples, typed.
import { HarmoniaClient, HarmoniaError, SynthesisClient, type WorkflowStatus } from 'harmonia-client';
import { SynthesisClient as FromSubpath } from 'harmonia-client/synthesis';

const harmoniaClient = new HarmoniaClient({ baseUrl: 'http://localhost:8002', headers: { Authorization: 'Bearer your-token' } });
harmoniaClient
  .createWorkflow({ name: 'JavaScript Example', tasks: [{ id: 'task1', component: 'ergon', action: 'execute_command', input: { command: 'echo Hello World' } }] })
  .then((workflow) => harmoniaClient.executeWorkflow({ workflow_id: workflow.workflow_id }))
  .then((execution) => {
    const ws = harmoniaClient.connectToExecution(execution.execution_id);
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.event_type === 'workflow_completed') {
        ws.close();
        harmoniaClient.getWorkflowStatus(execution.execution_id).then((status: WorkflowStatus) => status.task_statuses);
      }
    };
  })
  .catch((error: unknown) => {
    if (error instanceof HarmoniaError) console.error(error.status, error.body);
  });

async function example(): Promise<void> {
  const client = new SynthesisClient('http://localhost:8009');
  try {
    const executionId: string = await client.executePlan({ name: 'Example Plan', steps: [{ id: 'step1', type: 'command', parameters: { command: 'echo Hello, World!' } }] });
    const ws = client.subscribeToExecution(executionId);
    ws.onmessage = (event) => { if (JSON.parse(event.data).type === 'execution_completed') ws.close(); };
    const result = await client.waitForExecution(executionId);
    console.log(result.status);
    const steps = await client.getExecutionSteps(executionId);
    steps.steps.forEach((step) => console.log(step.id, step.output));
  } finally {
    client.close();
  }
}
void example;
const same: typeof SynthesisClient = FromSubpath;
void same;
