/**
 * `vendomat run --config FILE [--log-level L] [--trace-log FILE]`: the controller on real hardware.
 *
 * Opens the devices of the config's `hardware` section (src/cli/hardware.ts), starts polling and
 * the controller on the system clock, logs (pino, JSON) to stderr, and on SIGINT / SIGTERM shuts
 * down cleanly: `controller.stop()` (motors off, payment devices disabled, credit left as it is),
 * then the serial links and the GPIO board are closed, and the exit code is 0.
 *
 * A device that is not there fails the start at once with one line (`vendomat: coin, bill, card:
 * cannot open /dev/ttyACM0 (MDB interface board): ENOENT (no such file or directory)`) and exit
 * code 1; a config whose every port is simulated is refused (use `vendomat sim`).
 *
 * The composition root takes its binding, IO plugin, clock and stop signal from `RunDeps`, so tests
 * run the real command against emulators on a virtual clock.
 */
import { existsSync } from 'node:fs';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { Option, type Command } from 'commander';
import { sleep, type Clock } from '../clock.ts';
import { ConfigError } from '../config/load.ts';
import type { MachineConfig } from '../config/schema.ts';
import { portsUsing, usesRealHardware, type HardwareConfig } from '../config/hardware.ts';
import type { Controller, Logger } from '../controller/controller.ts';
import { openJournaledController, type JournaledController } from '../journal/attach.ts';
import { JournalError } from '../journal/store.ts';
import type { IoPlugin } from '../../hardware/gpio/index.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import { HardwareError, loadMachineWithHardware, openHardwarePorts, systemClock, type HardwarePorts } from './hardware.ts';
import { EXIT, type CliIo } from './main.ts';
import { ownerOnlyFiles } from './files.ts';
import { LOG_FORMATS, createLogSink, createRunLogger, defaultLogFormat, type LogFormat } from './log.ts';
import { systemdNotifier, type Notifier } from './notify.ts';
import { openTraceLog, type TraceLog } from './trace.ts';

export interface RunOptions {
  readonly config?: string;
  readonly logLevel?: string;
  /** text on a terminal, journal under systemd, json otherwise (src/cli/log.ts). */
  readonly logFormat?: LogFormat;
  readonly traceLog?: string;
  /** The journal's directory (default: the config's `journal.dir`, else the data directory). */
  readonly data?: string;
  /** Accept a missing, empty or older journal on purpose (else refused, naming the file). */
  readonly startFresh?: boolean;
}

export interface RunningMachine {
  readonly controller: Controller;
  readonly hardware: HardwarePorts;
}

export interface RunDeps {
  readonly clock?: Clock;
  readonly binding?: BindingInterface;
  /** A ready IO plugin instead of `hardware.gpio.plugin` loaded by name. */
  readonly io?: IoPlugin;
  /** Stops the machine (default: SIGINT or SIGTERM). */
  readonly signal?: AbortSignal;
  /** Called once the controller is running (tests reach the machine through it). */
  readonly onRunning?: (m: RunningMachine) => void;
  /** Longest the clean shutdown may take before links are closed anyway (default 10 s). */
  readonly stopTimeoutMs?: number;
  /** How long the devices get to initialise before the controller starts anyway (default 5 s). */
  readonly startTimeoutMs?: number;
  /** sd_notify (default: systemd's, when $NOTIFY_SOCKET is set). */
  readonly notifier?: Notifier;
}

export const RUN_LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Resolves on the first of SIGINT / SIGTERM (or the injected signal), with its name. */
function stopRequested(signal: AbortSignal | undefined): { readonly promise: Promise<string>; dispose(): void } {
  if (signal) {
    return {
      promise: signal.aborted ? Promise.resolve('abort') : new Promise((r) => signal.addEventListener('abort', () => r('abort'), { once: true })),
      dispose: () => undefined,
    };
  }
  let resolve: (s: string) => void = () => undefined;
  const promise = new Promise<string>((r) => (resolve = r));
  const onInt = (): void => resolve('SIGINT');
  const onTerm = (): void => resolve('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/** Resolves when `p` settles or after `ms` on the clock, whichever is first (true: settled). */
function within(clock: Clock, p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = clock.setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clock.clearTimeout(t);
        resolve(true);
      },
      () => {
        clock.clearTimeout(t);
        resolve(true);
      },
    );
  });
}


function problemLines(e: ConfigError, io: CliIo): void {
  line(io.stderr, `vendomat: invalid config ${e.source}:`);
  for (const p of e.problems) line(io.stderr, `  - ${p}`);
}

/** The whole `run` command; resolves with the exit code once the machine has stopped. */
export async function runMachine(opts: RunOptions, io: CliIo, deps: RunDeps = {}): Promise<number> {
  const file = opts.config;
  if (file === undefined) {
    line(io.stderr, 'vendomat: run needs --config FILE (a machine config with a hardware section)');
    return EXIT.usage;
  }
  if (!existsSync(file)) {
    line(io.stderr, `vendomat: config file not found: ${file}`);
    return EXIT.usage;
  }
  let config: MachineConfig;
  let hardware: HardwareConfig;
  try {
    ({ config, hardware } = loadMachineWithHardware(file));
  } catch (e) {
    if (e instanceof ConfigError) {
      problemLines(e, io);
      return EXIT.failed;
    }
    throw e;
  }
  if (!usesRealHardware(hardware)) {
    line(io.stderr, `vendomat: ${file} has no real hardware (every port is sim): add a hardware section (docs/hardware.md) or use \`vendomat sim\``);
    return EXIT.usage;
  }
  const clock = deps.clock ?? systemClock;
  ownerOnlyFiles();
  const sink = createLogSink({ format: opts.logFormat ?? defaultLogFormat(io.stderr), out: (l) => void io.stderr.write(l), clock });
  const log = createRunLogger(opts.logLevel ?? 'info', sink);
  // Repeated warnings are summarised when their window ends, also when nothing else is logged.
  const tick = (): void => {
    sink.expire();
    expiring = clock.setTimeout(tick, 60_000);
  };
  let expiring = clock.setTimeout(tick, 60_000);
  const notifier = deps.notifier ?? systemdNotifier({ onError: (e) => log.warn({ error: e.message }, 'sd_notify failed') });
  try {
    return await runWithLog(opts, io, deps, { file, config, hardware, clock, log, notifier });
  } finally {
    clock.clearTimeout(expiring);
    notifier.close();
    sink.flush();
  }
}

interface RunContext {
  readonly file: string;
  readonly config: MachineConfig;
  readonly hardware: HardwareConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly notifier: Notifier;
}

async function runWithLog(opts: RunOptions, io: CliIo, deps: RunDeps, ctx: RunContext): Promise<number> {
  const { file, config, hardware, clock, log, notifier } = ctx;
  const tracer = new FrameTracer({ capacity: 2_000 });
  let traceLog: TraceLog | undefined;
  let hw: HardwarePorts;
  try {
    hw = await openHardwarePorts(config, hardware, {
      clock,
      logger: log,
      tracer,
      source: file,
      ...(deps.binding ? { binding: deps.binding } : {}),
      ...(deps.io ? { io: deps.io } : {}),
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      problemLines(e, io);
      return EXIT.failed;
    }
    if (e instanceof HardwareError) {
      log.error({ ports: e.ports, reason: e.reason }, 'hardware not available');
      line(io.stderr, `vendomat: ${e.message}`);
      return EXIT.failed;
    }
    line(io.stderr, `vendomat: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.failed;
  }
  if (opts.traceLog !== undefined) traceLog = openTraceLog(tracer, opts.traceLog);
  const stop = stopRequested(deps.signal);
  let journaled: JournaledController | undefined;
  let closeFailed = false;
  try {
    hw.start();
    // Let the devices initialise first (MDB RESET/SETUP, ccTalk identity), so the controller does
    // not start by reporting them offline; one that takes longer comes online while running.
    const end = clock.now() + (deps.startTimeoutMs ?? 5_000);
    while (hw.notReady().length > 0 && clock.now() < end) await sleep(clock, 20);
    const late = hw.notReady();
    if (late.length > 0) log.warn({ ports: late }, 'starting while these devices are still coming up');
    // The journal makes a power cut harmless: credit, debts, counters and in-flight moves survive.
    journaled = await openJournaledController({
      config,
      ports: hw.ports,
      clock,
      logger: log,
      ...(opts.data !== undefined ? { dataDir: opts.data } : {}),
      ...(opts.startFresh === true ? { startFresh: true } : {}),
    });
    const controller = journaled.controller;
    log.info({ journal: journaled.journal.path, credit: controller.snapshot.context.credit }, 'journal open, state recovered');
    const sim = portsUsing(hardware, 'sim').filter((p) => (p !== 'bill' || config.devices.bill.present) && (p !== 'card' || config.devices.card.present));
    log.info({ machine: config.machine.name, config: file, ...(sim.length > 0 ? { simulated: sim } : {}) }, 'running');
    notifier.ready(`selling: ${config.machine.name}${late.length > 0 ? `; still coming up: ${late.join(', ')}` : ''}`);
    notifier.startWatchdog();
    deps.onRunning?.({ controller, hardware: hw });
    const why = await stop.promise;
    notifier.stopping(`stopping (${why})`);
    log.info({ signal: why, credit: controller.snapshot.context.credit }, 'stopping: motors off, payment devices disabled, credit kept');
  } catch (e) {
    // A corrupt or foreign journal: refuse to sell rather than lose the books; the file is kept.
    if (!(e instanceof JournalError)) throw e;
    line(io.stderr, `vendomat: ${e.message}`);
    return EXIT.failed;
  } finally {
    stop.dispose();
    const limit = deps.stopTimeoutMs ?? 10_000;
    try {
      if (journaled && !(await within(clock, journaled.close(), limit)))
        log.warn({ ms: limit }, 'controller did not stop in time; closing the hardware anyway');
    } catch (e) {
      // E.g. events that could not be recorded (a full disk), listed in the log: say so and exit failed.
      line(io.stderr, `vendomat: ${e instanceof Error ? e.message : String(e)}`);
      closeFailed = true;
    }
    await hw.close();
    await traceLog?.close();
  }
  log.info({}, 'stopped');
  return closeFailed ? EXIT.failed : EXIT.ok;
}

/** Adds `vendomat run` to the program. */
export function registerRunCommand(program: Command, io: CliIo, setExit: (code: number) => void, deps: RunDeps = {}): Command {
  return program
    .command('run')
    .description('run the controller on the real hardware of the config\'s hardware section (Ctrl-C / SIGTERM: clean stop)')
    .option('--config <file>', 'machine config with a hardware section')
    .addOption(new Option('--log-level <level>', 'log level (stderr)').choices(RUN_LOG_LEVELS).default('info'))
    .addOption(new Option('--log-format <format>', 'text (default on a terminal), journal (default under systemd: one line per event) or json').choices(LOG_FORMATS))
    .option('--data <dir>', "the journal's directory (default: the config's journal.dir, else $VENDOMAT_DATA or ~/.local/share/vendomat)")
    .option('--trace-log <file>', 'append every MDB line, ccTalk frame and GPIO pin change here (read it with `vendomat trace`)')
    .option('--start-fresh', 'accept a missing, empty or older journal on purpose (otherwise refused: its credit and books would be lost)')
    .action(async (opts: RunOptions) => {
      try {
        setExit(await runMachine(opts, io, deps));
      } catch (e) {
        line(io.stderr, `vendomat: ${e instanceof Error ? e.message : String(e)}`);
        setExit(EXIT.failed);
      }
    });
}
