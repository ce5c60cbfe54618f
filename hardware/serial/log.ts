/**
 * The smallest logger the serial and MDB layers need. The signature matches pino's
 * (`logger.warn({ fields }, 'message')`), so a pino logger can be passed straight in.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => undefined;

/** Drops everything; the default when no logger is injected. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
