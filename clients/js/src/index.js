export { HarmoniaClient } from './harmonia.js';
export { SynthesisClient } from './synthesis.js';
export { HarmoniaError } from './http.js';
export { ExecutionSocket } from './socket.js';
