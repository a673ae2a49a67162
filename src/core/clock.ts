/** Wall-clock time in milliseconds since the epoch; injected so time-dependent logic is testable. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
