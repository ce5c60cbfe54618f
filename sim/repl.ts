/**
 * The plain interactive line mode: one command per line from any readable stream (a TTY or a pipe),
 * run through `SimSession.exec`, with the display and the new domain events printed after each.
 * `quit`, `exit` or the end of the input end it. Bad input prints a one-line message, never a
 * stack trace. With `json`, each command's result is one JSON line instead (for scripts).
 */
import { createInterface } from 'node:readline';
import type { CommandResult, SimSession } from './session.ts';
import { describeEvent, displayBox, formatTime, money } from './session.ts';

export interface ReplOptions {
  readonly session: SimSession;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** A person is typing (TTY): show a prompt and do not echo the commands. */
  readonly interactive?: boolean;
  /** One JSON object per command instead of text. */
  readonly json?: boolean;
}

const QUIT = new Set(['quit', 'exit', 'q']);
const QUIET_EVENTS: ReadonlySet<string> = new Set(['tubesRead']);
/** Commands whose output already says everything (no display box after them). */
const NO_BOX = new Set(['help', 'status', '']);

/** Text printed for one command result (without the echo of the command). */
export function formatResult(session: SimSession, r: CommandResult): string[] {
  const out: string[] = [];
  const word = r.line.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  for (const l of r.output) out.push(r.ok ? `  ${l}` : `  ! ${l}`);
  if (r.ok && !NO_BOX.has(word) && !word.startsWith('#')) {
    for (const l of displayBox(r.display, session.sim.devices.display.cols)) out.push(`  ${l}`);
  }
  for (const e of r.events) {
    if (QUIET_EVENTS.has(e.event.type)) continue;
    out.push(`  · ${formatTime(e.at)} ${describeEvent(e.event, session.currency)}`);
  }
  return out;
}

/** Where the journal is and what the start recovered, for the banner. */
export function journalLines(session: SimSession): string[] {
  const jc = session.journaled;
  if (jc === null || session.dataDir === null) return [];
  const rec = jc.report.recovery;
  const lines = [`Journal: ${session.dataDir} (${rec.lastSeq === 0 ? 'new' : `${rec.lastSeq} events recovered`})`];
  const r = jc.report;
  const m = (v: number): string => money(v, session.currency);
  if (r.vend) lines.push(`  recovered: the vend on ${r.vend.column} had no outcome; credit kept, column marked for a check`);
  if (r.payout) lines.push(`  recovered: a payout was cut part-way; paid ${m(r.payout.paidValue)}, owed ${m(r.payout.unpaid)} (as debt)`);
  if (r.card) lines.push(`  recovered: the card approval for ${r.card.column} had no outcome; reverted`);
  if (r.escrow !== null) lines.push(`  recovered: a bill of ${m(r.escrow)} was in escrow; handed back`);
  return lines;
}

function banner(session: SimSession): string[] {
  const m = session.config.machine;
  return [
    `Vendomat simulator: ${m.name} (${m.serial}), virtual time ${formatTime(session.clock.now())}`,
    ...journalLines(session),
    'Type `help` for the commands, `quit` to leave.',
    ...displayBox(session.display, session.sim.devices.display.cols).map((l) => `  ${l}`),
  ];
}

/** Runs the line mode until quit/exit/end of input. Resolves when done; never rejects on bad input. */
export async function runRepl(opts: ReplOptions): Promise<void> {
  const { session, input, output } = opts;
  const interactive = opts.interactive ?? false;
  const write = (lines: readonly string[]): void => {
    if (lines.length > 0) output.write(`${lines.join('\n')}\n`);
  };
  if (!opts.json) write(banner(session));
  const rl = createInterface({ input, ...(interactive ? { output, terminal: true, prompt: 'vendomat> ' } : { terminal: false }) });
  // Ctrl-C at the prompt leaves like `quit` (without a listener readline would only pause).
  rl.on('SIGINT', () => rl.close());
  if (interactive) rl.prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (QUIT.has(line.toLowerCase())) break;
      const r = await session.exec(line);
      if (opts.json) {
        output.write(`${JSON.stringify(r)}\n`);
      } else {
        if (!interactive && line !== '') write([`[${formatTime(r.startedAt)}] > ${line}`]);
        write(formatResult(session, r));
      }
      if (interactive) rl.prompt();
    }
  } finally {
    rl.close();
  }
  if (interactive && !opts.json) write(['bye']);
}
