import { pino, type Logger } from "pino";

export type { Logger };

/** One logger for the process; modules take a child with their name. */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
