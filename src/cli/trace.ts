/**
 * `vendomat trace --log FILE [--follow] [--bus NAME] [--json]`: shows a frame trace written by a
 * running `vendomat run --trace-log FILE` (or the wire simulator): one JSON object per line, each a
 * FrameTrace (`{"bus":"mdb","dir":"tx","at":...,"raw":"R,0B","meaning":"changer POLL"}`). It prints
 * every record as one formatted line (hardware/serial/trace.ts `formatTrace`), then with --follow
 * keeps printing new records as the file grows, until Ctrl-C. Lines that are not trace records are
 * reported on stderr with their line number and skipped.
 *
 * JSON lines were chosen over formatted text so the log keeps every field (raw bytes, errors) and
 * can be filtered or decoded again later; `--json` passes the records through unchanged.
 */
import { closeSync, createWriteStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import type { Clock } from '../clock.ts';
import type { FrameTrace } from '../../hardware/serial/types.ts';
import { formatTrace, type FrameTracer } from '../../hardware/serial/trace.ts';
import { systemClock } from './hardware.ts';
import { EXIT, type CliIo } from './main.ts';

// ------------------------------------------------------------------ writing

export interface TraceLog {
  /** Records written so far. */
  readonly written: number;
  /** Stop following the tracer and flush the file. */
  close(): Promise<void>;
}

/** Appends every frame the tracer sees to `path`, one JSON object per line. */
export function openTraceLog(tracer: FrameTracer, path: string): TraceLog {
  const out = createWriteStream(path, { flags: 'a' });
  let written = 0;
  let failed: string | undefined;
  out.on('error', (e) => {
    failed = e.message;
  });
  const sub = tracer.trace$.subscribe((t) => {
    if (failed !== undefined) return;
    out.write(`${JSON.stringify(t)}\n`);
    written++;
  });
  return {
    get written() {
      return written;
    },
    close: () =>
      new Promise<void>((resolve) => {
        sub.unsubscribe();
        out.end(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------ reading

/** A parsed trace line: the record, or why the line is not one. */
export type TraceLine = { readonly ok: true; readonly trace: FrameTrace } | { readonly ok: false; readonly error: string };

export function parseTraceLine(text: string): TraceLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  if (typeof o.bus !== 'string' || (o.dir !== 'tx' && o.dir !== 'rx') || typeof o.at !== 'number' || typeof o.raw !== 'string')
    return { ok: false, error: 'not a trace record (needs bus, dir tx|rx, at, raw)' };
  return {
    ok: true,
    trace: {
      bus: o.bus,
      dir: o.dir,
      at: o.at,
      raw: o.raw,
      ...(typeof o.meaning === 'string' ? { meaning: o.meaning } : {}),
      ...(typeof o.error === 'string' ? { error: o.error } : {}),
    },
  };
}

export interface TraceOptions {
  readonly log?: string;
  readonly follow?: boolean;
  readonly bus?: string;
  readonly json?: boolean;
}

export interface TraceDeps {
  /** Polls the file for --follow (default: the system clock). */
  readonly clock?: Clock;
  /** How often --follow looks for new lines (default 200 ms). */
  readonly pollMs?: number;
  /** Ends --follow (default: SIGINT / SIGTERM). */
  readonly signal?: AbortSignal;
}

function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(`${text}\n`);
}

/** Reads complete lines from `path` starting at `offset`; returns them and the offset after the last one. */
function readLines(path: string, offset: number): { lines: string[]; next: number } {
  const size = statSync(path).size;
  if (size <= offset) return { lines: [], next: offset };
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { lines: [], next: offset };
    return { lines: text.slice(0, end).split('\n'), next: offset + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    closeSync(fd);
  }
}

function waitForStop(signal: AbortSignal | undefined): { readonly promise: Promise<void>; dispose(): void } {
  if (signal) {
    return {
      promise: signal.aborted ? Promise.resolve() : new Promise((r) => signal.addEventListener('abort', () => r(), { once: true })),
      dispose: () => undefined,
    };
  }
  let stop: () => void = () => undefined;
  const promise = new Promise<void>((r) => (stop = r));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

export async function runTrace(opts: TraceOptions, io: CliIo, deps: TraceDeps = {}): Promise<number> {
  const path = opts.log;
  if (path === undefined) {
    line(io.stderr, 'vendomat: trace needs --log FILE (write one with `vendomat run --trace-log FILE`)');
    return EXIT.usage;
  }
  if (!existsSync(path)) {
    line(io.stderr, `vendomat: trace log not found: ${path}`);
    return EXIT.usage;
  }
  let lineNo = 0;
  let bad = 0;
  const show = (lines: readonly string[]): void => {
    for (const text of lines) {
      lineNo++;
      if (text.trim() === '') continue;
      const p = parseTraceLine(text);
      if (!p.ok) {
        bad++;
        line(io.stderr, `vendomat: ${path}:${lineNo}: ${p.error}, skipped`);
        continue;
      }
      if (opts.bus !== undefined && p.trace.bus !== opts.bus) continue;
      line(io.stdout, opts.json ? JSON.stringify(p.trace) : formatTrace(p.trace));
    }
  };
  let offset = 0;
  const first = readLines(path, offset);
  show(first.lines);
  offset = first.next;
  if (!opts.follow) return bad > 0 && lineNo === bad ? EXIT.failed : EXIT.ok;

  const clock = deps.clock ?? systemClock;
  const every = deps.pollMs ?? 200;
  const stop = waitForStop(deps.signal);
  let stopped = false;
  let timer: unknown;
  const poll = (): void => {
    timer = undefined;
    if (stopped) return;
    try {
      if (!existsSync(path)) {
        offset = 0;
      } else {
        // A log started afresh (truncated or replaced) is read from its beginning.
        if (statSync(path).size < offset) offset = 0;
        const r = readLines(path, offset);
        show(r.lines);
        offset = r.next;
      }
    } catch (e) {
      line(io.stderr, `vendomat: ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    timer = clock.setTimeout(poll, every);
  };
  timer = clock.setTimeout(poll, every);
  await stop.promise;
  stopped = true;
  if (timer !== undefined) clock.clearTimeout(timer);
  stop.dispose();
  return EXIT.ok;
}

/** Adds `vendomat trace` to the program. */
export function registerTraceCommand(program: Command, io: CliIo, setExit: (code: number) => void, deps: TraceDeps = {}): Command {
  return program
    .command('trace')
    .description('show a frame trace (MDB lines, ccTalk frames, GPIO pin changes) logged by `run --trace-log FILE`')
    .option('--log <file>', 'the trace log (JSON lines) to read')
    .option('--follow', 'keep printing new frames as the log grows (Ctrl-C to stop)')
    .option('--bus <name>', 'only frames of this bus: mdb, cctalk or gpio')
    .option('--json', 'print the records as JSON lines instead of formatted text')
    .action(async (opts: TraceOptions) => {
      setExit(await runTrace(opts, io, deps));
    });
}
