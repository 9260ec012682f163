export { SynthesisClient, HarmoniaError, SynthesisClient as default } from '../index.js';
export type * from '../index.js';
