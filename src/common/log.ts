import { pino } from 'pino';

export type LogFields = Record<string, unknown>;

/** The logging surface library code sees; pino's logger satisfies it. */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
  child(fields: LogFields): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface LoggerOptions {
  /** The node's name, on every line. */
  readonly node: string;
  readonly level?: LogLevel;
  /** A file descriptor or path; standard output by default. */
  readonly destination?: number | string;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = pino.destination({ dest: options.destination ?? 1, sync: false });
  return pino({ level: options.level ?? 'info', base: { node: options.node } }, destination);
}

class SilentLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
}

export const silentLogger: Logger = new SilentLogger();
