/**
 * `vendomat sim`: the controller on the simulated machine (scenario, line mode or terminal UI).
 * Loaded by main.ts only when this command runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfigFile } from '../config/load.ts';
import type { Logger } from '../controller/controller.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { runRepl } from '../../sim/repl.ts';
import { SimSession, loadDemoConfig } from '../../sim/session.ts';
import { isWireSimMachine } from '../../sim/wire/machine.ts';
import { UsageError, line, requireFile } from './errors.ts';
import { EXIT, chooseSimMode, type CliIo, type SimOptions } from './main.ts';
import { openTraceLog } from './trace.ts';

/** pino on stderr, stamped with the simulator's virtual time (`vt`, ms) next to the wall time. */
function makeLogger(level: string | undefined, clock: VirtualClock): Logger | undefined {
  if (level === undefined || level === 'silent') return undefined;
  return pino({ level, base: undefined, mixin: () => ({ vt: clock.now() }) }, pino.destination(2));
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * Signals that arrive while the session starts: without this a Ctrl-C (or the terminal closing)
 * in the first moments killed the process before the session could remove its temporary journal
 * directory. The UI and the line mode take over signal handling once they run.
 */
function holdSignals(): { readonly signalled: () => boolean; release(): void } {
  let got = false;
  const on = (): void => {
    got = true;
  };
  for (const s of STOP_SIGNALS) process.on(s, on);
  return {
    signalled: () => got,
    release: () => {
      for (const s of STOP_SIGNALS) process.off(s, on);
    },
  };
}

/**
 * The journal directory of a run without --data: a temporary one, removed however the process ends
 * short of SIGKILL (closing the session, a signal, or a reader of our output going away, which
 * ends the process from the bin's EPIPE handler).
 */
function temporaryDataDir(): { readonly dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'vendomat-sim-'));
  const remove = (): void => {
    process.off('exit', remove);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', remove);
  return { dir, remove };
}

export async function runSim(opts: SimOptions, io: CliIo): Promise<number> {
  const clock = new VirtualClock();
  const logger = makeLogger(opts.logLevel, clock);
  if (opts.config !== undefined) requireFile(opts.config, 'config file');
  const mode = chooseSimMode(opts, io);
  if (mode === 'script') {
    const script = opts.script ?? '';
    requireFile(script, 'scenario file');
    const { runScripts, ScriptUsageError } = await import('./scenarios.ts');
    try {
      const passed = await runScripts({ ...opts, script, ...(logger ? { logger } : {}), clock }, (text) => line(io.stdout, text));
      return passed ? EXIT.ok : EXIT.failed;
    } catch (e) {
      throw e instanceof ScriptUsageError ? new UsageError(e.message) : e;
    }
  }
  const config = opts.config !== undefined ? loadConfigFile(opts.config) : loadDemoConfig();
  const held = holdSignals();
  const temporary = opts.data === undefined ? temporaryDataDir() : undefined;
  let session: SimSession | undefined;
  const cleanups: (() => void)[] = [];
  try {
    session = await SimSession.start({
      config,
      journal: { dir: opts.data ?? temporary?.dir, ...(opts.data !== undefined && opts.startFresh === true ? { startFresh: true } : {}) },
      ...(opts.wire ? { wire: true } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(logger ? { logger } : {}),
      clock,
    });
    if (held.signalled()) return EXIT.ok;
    if (mode === 'ui') {
      const { fromSession, runTerminalUi } = await import('../../sim/ui/index.ts');
      held.release();
      await runTerminalUi({ config, machine: fromSession(session) });
      return EXIT.ok;
    }
    const traceLog = opts.traceLog !== undefined && isWireSimMachine(session.sim) ? openTraceLog(session.sim.tracer, opts.traceLog) : undefined;
    held.release();
    // The line mode ends on quit or the end of its input; a signal ends the process as it always
    // did, through process.exit so the temporary directory is removed on the way out.
    const onSignal = (sig: NodeJS.Signals): void => process.exit(128 + (SIGNAL_NUMBERS[sig] ?? 15));
    for (const sig of STOP_SIGNALS) process.once(sig, onSignal);
    cleanups.push(() => {
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    });
    try {
      await runRepl({ session, input: io.stdin, output: io.stdout, interactive: io.stdin.isTTY === true && !opts.json, json: opts.json ?? false });
    } finally {
      await traceLog?.close();
    }
    return EXIT.ok;
  } finally {
    // Idempotent: the UI may have closed it already.
    await session?.close();
    temporary?.remove();
    held.release();
    for (const c of cleanups) c();
  }
}
