/**
 * The `vendomat` command line (commander 14):
 *   vendomat sim [--config FILE] [--script FILE|DIR [--junit FILE]] [--data DIR] [--wire] [--json] [--plain] [--seed N] [--log-level L]
 *   vendomat diagram
 *   vendomat config check FILE
 *
 * Exit codes: 0 ok, 1 a failed expectation or an invalid config/scenario, 2 a usage error (unknown
 * command or option, bad option value, missing file). Errors are one clear line (or one line per
 * config problem), never a stack trace. Logs (pino) go to stderr, and only with --log-level.
 *
 * The CLI is the composition root, so it is the one place in src/ that wires the simulator in.
 */
import { existsSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import type { Logger } from '../controller/controller.ts';
import { statechartToMermaid } from '../controller/diagram.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { runRepl } from '../../sim/repl.ts';
import { ScenarioError } from '../../sim/scenario.ts';
import { SimSession, loadDemoConfig } from '../../sim/session.ts';
import { isWireSimMachine } from '../../sim/wire/machine.ts';
import { registerAuditCommands } from './audit.ts';
import { registerDoctorCommand } from './doctor.ts';
import { registerRunCommand } from './run.ts';
import { openTraceLog, registerTraceCommand } from './trace.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

export interface SimOptions {
  readonly config?: string;
  readonly script?: string;
  readonly json?: boolean;
  readonly plain?: boolean;
  readonly seed?: number;
  readonly logLevel?: string;
  readonly wire?: boolean;
  readonly traceLog?: string;
  readonly data?: string;
  readonly junit?: string;
}

export type SimMode = 'script' | 'plain' | 'ui';

/**
 * Which front end `vendomat sim` runs: a scenario with --script; the full-screen terminal UI when
 * both ends are a terminal; otherwise (--plain, --json, a pipe) the line mode.
 */
export function chooseSimMode(opts: SimOptions, io: CliIo): SimMode {
  if (opts.script !== undefined) return 'script';
  if (opts.plain || opts.json || io.stdin.isTTY !== true || io.stdout.isTTY !== true) return 'plain';
  return 'ui';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseSeed(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('the seed must be a whole number.');
  return Number(value);
}

/** A usage problem found after commander's own parsing (bad file path, ...). */
class UsageError extends Error {}

/** pino on stderr, stamped with the simulator's virtual time (`vt`, ms) next to the wall time. */
function makeLogger(level: string | undefined, clock: VirtualClock): Logger | undefined {
  if (level === undefined || level === 'silent') return undefined;
  return pino({ level, base: undefined, mixin: () => ({ vt: clock.now() }) }, pino.destination(2));
}

function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
}

async function runSim(opts: SimOptions, io: CliIo): Promise<number> {
  const clock = new VirtualClock();
  const logger = makeLogger(opts.logLevel, clock);
  if (opts.config !== undefined) requireFile(opts.config, 'config file');
  if (chooseSimMode(opts, io) === 'script') {
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
  const session = await SimSession.start({
    config,
    journal: opts.data !== undefined ? { dir: opts.data } : {},
    ...(opts.wire ? { wire: true } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(logger ? { logger } : {}),
    clock,
  });
  if (chooseSimMode(opts, io) === 'ui') {
    // The UI closes the session itself when the user quits.
    const { fromSession, runTerminalUi } = await import('../../sim/ui/index.ts');
    await runTerminalUi({ config, machine: fromSession(session) });
    return EXIT.ok;
  }
  const traceLog =
    opts.traceLog !== undefined && isWireSimMachine(session.sim) ? openTraceLog(session.sim.tracer, opts.traceLog) : undefined;
  try {
    await runRepl({ session, input: io.stdin, output: io.stdout, interactive: io.stdin.isTTY === true && !opts.json, json: opts.json ?? false });
  } finally {
    await session.close();
    await traceLog?.close();
  }
  return EXIT.ok;
}

function configCheck(file: string, io: CliIo): number {
  requireFile(file, 'config file');
  const config = loadConfigFile(file);
  const slots = config.catalog.slots.length;
  line(io.stdout, `ok: ${file} (${config.machine.name}, ${slots} column${slots === 1 ? '' : 's'}, ${config.currency.code})`);
  return EXIT.ok;
}

/** Reports an error from a command as clear lines and returns its exit code. */
function report(e: unknown, io: CliIo): number {
  if (e instanceof UsageError) {
    line(io.stderr, `vendomat: ${e.message}`);
    return EXIT.usage;
  }
  if (e instanceof ConfigError) {
    line(io.stderr, `vendomat: invalid config ${e.source}:`);
    for (const p of e.problems) line(io.stderr, `  - ${p}`);
    return EXIT.failed;
  }
  if (e instanceof ScenarioError) {
    if (e.kind === 'read') {
      line(io.stderr, `vendomat: ${e.message}`);
      return EXIT.usage;
    }
    line(io.stderr, `vendomat: invalid scenario ${e.source}:`);
    for (const p of e.problems) line(io.stderr, `  - ${p}`);
    return EXIT.failed;
  }
  line(io.stderr, `vendomat: ${e instanceof Error ? e.message : String(e)}`);
  return EXIT.failed;
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('vendomat')
    .description('Vending-machine controller and simulator')
    .exitOverride()
    .showHelpAfterError('(run `vendomat --help` for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  program
    .command('sim')
    .description('run the controller on the simulated machine: a line mode on stdin, or a scenario with --script')
    .option('--config <file>', 'machine config (default: the demo machine)')
    .option('--script <file|dir>', 'run a scenario file, or every scenario of a folder, and report (exit 1 when an expectation fails)')
    .option('--junit <file>', 'with --script: also write a JUnit XML report')
    .option('--json', 'machine-readable output (a JSON result, or one JSON line per command)')
    .option('--plain', 'plain line mode instead of the full-screen UI (chosen anyway when not on a terminal)')
    .option('--seed <n>', 'random seed for the simulated world', parseSeed)
    .option('--data <dir>', 'journal (and simulated world) directory; a later run continues from it (default: a temporary one, removed on exit)')
    .option('--wire', 'every device emulated at the wire: the real MDB/ccTalk/GPIO adapters talk to emulators')
    .option('--trace-log <file>', 'with --wire: append every frame to this file (see `vendomat trace`)')
    .addOption(new Option('--log-level <level>', 'log to stderr at this level').choices(LOG_LEVELS))
    .action(async (opts: SimOptions) => {
      try {
        setExit(await runSim(opts, io));
      } catch (e) {
        setExit(report(e, io));
      }
    });

  program
    .command('diagram')
    .description('print the statechart as a Mermaid stateDiagram-v2, generated from the machine definition')
    .action(() => {
      io.stdout.write(statechartToMermaid());
      setExit(EXIT.ok);
    });

  const config = program.command('config').description('machine config tools');
  config
    .command('check <file>')
    .description('validate a machine config; print each problem with its path')
    .action((file: string) => {
      try {
        setExit(configCheck(file, io));
      } catch (e) {
        setExit(report(e, io));
      }
    });

  registerRunCommand(program, io, setExit);
  registerDoctorCommand(program, io, setExit);
  registerTraceCommand(program, io, setExit);
  registerAuditCommands(program, io);
  return program;
}

/** Runs the CLI on `argv` (as in process.argv) and resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'node' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      return EXIT.usage;
    }
    return report(e, io);
  }
  return code;
}
