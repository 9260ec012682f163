// `synthesis-client`, as seed 004's example imports it: SynthesisClient from harmonia-client.
export { SynthesisClient, HarmoniaError, default } from '../src/synthesis.js';
