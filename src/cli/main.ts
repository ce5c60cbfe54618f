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
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

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
  /** With `data`: accept a missing, empty or older journal there on purpose. */
  readonly startFresh?: boolean;
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
  const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('the seed must be a whole number (a safe integer).');
  return n;
}

/** The package's version, from the package.json above this file (sources) or above dist/ (build). */
export function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'));
      if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === 'vendomat' && 'version' in pkg && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next level up
    }
  }
  return 'unknown';
}

/**
 * The commands whose modules are heavy (serial, GPIO, the journal's SQLite, the simulator): main()
 * imports only the one named on the command line, so `vendomat --help` loads commander and little
 * else. A command not loaded is listed with its description only.
 */
const LAZY_COMMANDS = {
  run: 'run the controller on the real hardware of the config\'s hardware section (Ctrl-C / SIGTERM: clean stop)',
  doctor: 'probe every device of the config\'s hardware section and say what answered (exit 1 when a required one did not)',
  trace: 'show a frame trace (MDB lines, ccTalk frames, GPIO pin changes) logged by `run --trace-log FILE`',
  audit: 'the audit from the journal: a readable report, a DEX/UCS file (--dex), or a DEX file checked (--parse)',
} as const;
type LazyCommand = keyof typeof LAZY_COMMANDS;

/** Registers a loaded command on the program. */
export type Registrar = (program: Command, io: CliIo, setExit: (code: number) => void) => void;
export type LoadedCommands = Partial<Record<LazyCommand, Registrar>>;

async function loadCommand(name: LazyCommand): Promise<Registrar> {
  switch (name) {
    case 'run':
      return (await import('./run.ts')).registerRunCommand;
    case 'doctor':
      return (await import('./doctor.ts')).registerDoctorCommand;
    case 'trace':
      return (await import('./trace.ts')).registerTraceCommand;
    case 'audit': {
      const { registerAuditCommands } = await import('./audit.ts');
      return (program, io) => registerAuditCommands(program, io);
    }
  }
}

/** The command named in `argv` (as in process.argv), if it is one of the lazily loaded ones. */
function lazyCommandIn(argv: readonly string[]): LazyCommand | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  // `vendomat help run` shows run's own options, so run's module is needed for it too.
  const name = words[0] === 'help' ? words[1] : words[0];
  return name !== undefined && Object.hasOwn(LAZY_COMMANDS, name) ? (name as LazyCommand) : undefined;
}

async function failed(e: unknown, io: CliIo): Promise<number> {
  const { report } = await import('./errors.ts');
  return report(e, io);
}

export function buildProgram(io: CliIo, setExit: (code: number) => void, loaded: LoadedCommands = {}): Command {
  const program = new Command('vendomat')
    .description('Vending-machine controller and simulator')
    .version(packageVersion(), '-V, --version', 'print the version')
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
    .option('--start-fresh', 'with --data: accept a missing, empty or older journal there on purpose (otherwise refused: its credit and books would be lost)')
    .option('--wire', 'every device emulated at the wire: the real MDB/ccTalk/GPIO adapters talk to emulators')
    .option('--trace-log <file>', 'with --wire: append every frame to this file (see `vendomat trace`)')
    .addOption(new Option('--log-level <level>', 'log to stderr at this level').choices(LOG_LEVELS))
    .action(async (opts: SimOptions) => {
      try {
        const { runSim } = await import('./sim.ts');
        setExit(await runSim(opts, io));
      } catch (e) {
        setExit(await failed(e, io));
      }
    });

  program
    .command('diagram')
    .description('print the statechart as a Mermaid stateDiagram-v2, generated from the machine definition')
    .action(async () => {
      const { statechartToMermaid } = await import('../controller/diagram.ts');
      io.stdout.write(statechartToMermaid());
      setExit(EXIT.ok);
    });

  const config = program.command('config').description('machine config tools');
  config
    .command('check <file>')
    .description('validate a machine config; print each problem with its path')
    .action(async (file: string) => {
      try {
        const { configCheck } = await import('./check.ts');
        setExit(configCheck(file, io));
      } catch (e) {
        setExit(await failed(e, io));
      }
    });

  for (const name of Object.keys(LAZY_COMMANDS) as LazyCommand[]) {
    const register = loaded[name];
    if (register) register(program, io, setExit);
    else program.command(name).description(LAZY_COMMANDS[name]).allowUnknownOption().allowExcessArguments();
  }
  return program;
}

/** Runs the CLI on `argv` (as in process.argv) and resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let code: number = EXIT.ok;
  const lazy = lazyCommandIn(argv);
  const loaded: LoadedCommands = lazy !== undefined ? { [lazy]: await loadCommand(lazy) } : {};
  const program = buildProgram(
    io,
    (c) => {
      code = c;
    },
    loaded,
  );
  try {
    await program.parseAsync([...argv], { from: 'node' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help asked for (`--help`, `help run`) is ok; help shown because no command was given is not.
      if ((e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') && e.exitCode === 0) return EXIT.ok;
      return EXIT.usage;
    }
    return failed(e, io);
  }
  return code;
}
