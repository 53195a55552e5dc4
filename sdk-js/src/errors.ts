// Every error and warning of the recorder starts with "phi-replay: " and names the
// option, key or code and the problem, never a value (which could be PHI).

export const failure = (message: string): Error => new Error('phi-replay: ' + message);
