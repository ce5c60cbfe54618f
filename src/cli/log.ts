/**
 * How `vendomat run` logs: pino events, written one line per event in the form the reader needs.
 *
 * - `journal` (chosen under systemd, which sets JOURNAL_STREAM): one line per event with the
 *   syslog priority prefix journald reads (`<4>` for a warning), then the message and its fields as
 *   `key=value`; journald adds the time.
 * - `text` (chosen on a terminal): the local time, the level and the same message and fields.
 * - `json` (`--log-format json`, and when stderr is a file or a pipe): pino's JSON lines as they are.
 *
 * A warning or error repeated with the same message (a silent board is reported every 1.5 s for as
 * long as it stays silent) is written once per `windowMs`; the repeats are counted and summarised
 * in one line when the window ends or the next one is written.
 */
import { pino } from 'pino';
import type { Clock } from '../clock.ts';
import type { Logger } from '../controller/controller.ts';

export const LOG_FORMATS = ['text', 'json', 'journal'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** journal under systemd, text on a terminal, JSON otherwise. */
export function defaultLogFormat(stderr: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): LogFormat {
  if (env.JOURNAL_STREAM !== undefined && env.JOURNAL_STREAM !== '') return 'journal';
  return Reflect.get(stderr, 'isTTY') === true ? 'text' : 'json';
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** sd-daemon(3) priority prefixes. */
const SYSLOG_PRIORITY: Readonly<Record<number, number>> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'app']);

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** One event as a line: `message key=value …` (no level or time). */
export function eventText(event: Readonly<Record<string, unknown>>): string {
  const msg = typeof event.msg === 'string' ? event.msg : '';
  const fields = Object.entries(event)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`);
  return [msg, ...fields].filter((s) => s !== '').join(' ');
}

export function formatEvent(event: Readonly<Record<string, unknown>>, format: Exclude<LogFormat, 'json'>): string {
  const level = typeof event.level === 'number' ? event.level : 30;
  if (format === 'journal') return `<${SYSLOG_PRIORITY[level] ?? 6}>${eventText(event)}`;
  const time = typeof event.time === 'number' ? new Date(event.time) : new Date();
  const hms = `${String(time.getHours()).padStart(2, '0')}:${String(time.getMinutes()).padStart(2, '0')}:${String(time.getSeconds()).padStart(2, '0')}.${String(time.getMilliseconds()).padStart(3, '0')}`;
  return `${hms} ${(LEVEL_NAMES[level] ?? String(level)).toUpperCase().padEnd(5)} ${eventText(event)}`;
}

interface Storm {
  readonly level: number;
  readonly msg: string;
  readonly since: number;
  repeats: number;
}

export interface LogSink {
  /** pino's destination. */
  write(line: string): void;
  /** Summarises the repeats whose window has ended (call it now and then: logging may go quiet). */
  expire(): void;
  /** Writes the summaries of repeats still being counted. */
  flush(): void;
}

/**
 * The destination: formats each event and holds back repeated warnings and errors. `out` receives
 * whole lines (with their newline).
 */
export function createLogSink(opts: { readonly format: LogFormat; readonly out: (line: string) => void; readonly clock: Clock; readonly windowMs?: number }): LogSink {
  const windowMs = opts.windowMs ?? 60_000;
  const storms = new Map<string, Storm>();
  const emit = (event: Record<string, unknown>, raw?: string): void => {
    if (opts.format === 'json') opts.out(raw ?? `${JSON.stringify(event)}\n`);
    else opts.out(`${formatEvent(event, opts.format)}\n`);
  };
  const summarise = (key: string, storm: Storm): void => {
    storms.delete(key);
    if (storm.repeats === 0) return;
    const seconds = Math.round((opts.clock.now() - storm.since) / 1000);
    emit({ level: storm.level, time: Date.now(), msg: `${storm.msg} (repeated ${storm.repeats} more time${storm.repeats === 1 ? '' : 's'} in ${seconds} s, not logged)`, repeated: storm.repeats });
  };
  const expire = (): void => {
    const now = opts.clock.now();
    for (const [key, storm] of storms) if (now - storm.since >= windowMs) summarise(key, storm);
  };
  return {
    expire,
    write(line: string): void {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        opts.out(line.endsWith('\n') ? line : `${line}\n`);
        return;
      }
      const level = typeof event.level === 'number' ? event.level : 30;
      const now = opts.clock.now();
      expire();
      if (level >= 40) {
        const key = `${level}:${String(event.msg)}`;
        const storm = storms.get(key);
        if (storm) {
          storm.repeats++;
          return;
        }
        storms.set(key, { level, msg: String(event.msg), since: now, repeats: 0 });
      }
      emit(event, line);
    },
    flush(): void {
      for (const [key, storm] of storms) summarise(key, storm);
    },
  };
}

/** A pino logger writing through a sink (see createLogSink). */
export function createRunLogger(level: string, sink: LogSink): Logger {
  return pino({ level, base: { app: 'vendomat' } }, { write: (line: string) => sink.write(line) });
}
