/**
 * `vendomat doctor --config FILE [--timeout 5s] [--json]`: probes every device of the config's
 * hardware section and prints what answered and what did not, and why:
 *
 * - serial buses: the port opens (else the reason: ENOENT, EACCES, EBUSY, no such USB id);
 * - MDB: the interface board confirms master mode; each peripheral answers RESET / SETUP and its
 *   SETUP (level, currency, scaling, coin or bill values) and identity (level 3 changers) are shown;
 * - ccTalk: the acceptor's and each hopper's identity (manufacturer, category, product, serial);
 * - GPIO: the IO plugin loads, the board reports ready, every input pin reads a level (door, beam,
 *   home switches, keypad columns, coin line), and the LCD takes a test message.
 *
 * Exit code 1 when a required device did not answer (coin, keypad, display, dispenser, drop, door,
 * and bill / card when `devices.*.required`), 0 otherwise; optional devices are warnings.
 */
import { existsSync } from 'node:fs';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { InvalidArgumentError, type Command } from 'commander';
import type { Observable } from 'rxjs';
import { sleep, type Clock } from '../clock.ts';
import { ConfigError } from '../config/load.ts';
import type { MachineConfig } from '../config/schema.ts';
import { HARDWARE_PORTS, type HardwareConfig, type HardwarePort } from '../config/hardware.ts';
import { formatMoney } from '../money/currency.ts';
import type { GpioDevices, IoPlugin } from '../../hardware/gpio/index.ts';
import { loadIoPlugin } from '../../hardware/gpio/index.ts';
import { keypadTracePins } from '../../hardware/gpio/keypad.ts';
import type { CctalkIdentity } from '../../hardware/cctalk/index.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import { HardwareError, buildHostAdapters, loadMachineWithHardware, describeOpenFailure, openGpio, resolveHardware, systemClock, traceIoPlugin, type HostAdapters, type ResolvedHardware } from './hardware.ts';
import { EXIT, type CliIo } from './main.ts';

export interface DoctorCheck {
  /** A port (coin, keypad, ...) or a bus / board ("mdb board", "cctalk bus", "gpio board", "hopper3"). */
  readonly device: string;
  /** mdb, cctalk, pulse, gpio, sim or none. */
  readonly adapter: string;
  /** answered, failed, or skipped (simulated / absent / behind a failed bus). */
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly required: boolean;
  readonly detail: string;
}

export interface DoctorReport {
  readonly machine: string;
  readonly checks: readonly DoctorCheck[];
  /** Required devices that did not answer. */
  readonly missing: readonly string[];
}

export interface DoctorDeps {
  readonly clock?: Clock;
  readonly binding?: BindingInterface;
  readonly io?: IoPlugin;
  /** How long each device gets to answer (default 5 s). */
  readonly timeoutMs?: number;
}

async function waitUntil(clock: Clock, done: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = clock.now() + timeoutMs;
  while (!done()) {
    const left = end - clock.now();
    if (left <= 0) return false;
    await sleep(clock, Math.min(stepMs, left));
  }
  return true;
}

/** The first value of a replaying observable, or undefined if none came synchronously. */
function current<T>(o: Observable<T>): T | undefined {
  let v: T | undefined;
  o.subscribe((x) => (v = x)).unsubscribe();
  return v;
}

function requiredPort(config: MachineConfig, port: HardwarePort): boolean {
  if (port === 'bill' || port === 'card') return config.devices[port].required;
  return true;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function identityText(id: CctalkIdentity | null): string {
  if (!id) return 'no identity';
  return `${id.manufacturer} ${id.category} ${id.productCode}${id.serial !== null ? ` serial ${id.serial}` : ''} rev ${id.softwareRevision}`;
}

/** ISO 4217 numeric from the packed BCD MDB sends (0x1978 → 978). */
function bcd(n: number): string {
  return n.toString(16).replace(/^1/, '');
}

/** Probes every configured device; never throws for a device problem (those are checks). */
export async function probeHardware(config: MachineConfig, hardware: HardwareConfig, deps: DoctorDeps = {}, source?: string): Promise<DoctorReport> {
  const resolved: ResolvedHardware = resolveHardware(config, hardware, source);
  const clock = deps.clock ?? systemClock;
  const timeoutMs = deps.timeoutMs ?? 5_000;
  const tracer = new FrameTracer({ capacity: 500 });
  const host: HostAdapters = buildHostAdapters(resolved, { clock, tracer, ...(deps.binding ? { binding: deps.binding } : {}) });
  const checks: DoctorCheck[] = [];
  const money = (v: number): string => formatMoney(v, config.currency);
  const add = (c: DoctorCheck): void => {
    checks.push(c);
  };
  const present = (p: HardwarePort): boolean => (p === 'bill' || p === 'card' ? config.devices[p].present && hardware[p] !== 'none' : true);
  let gpio: GpioDevices | undefined;
  try {
    // ---- serial buses
    const busUp: Record<'mdb' | 'cctalk', boolean> = { mdb: false, cctalk: false };
    for (const bus of ['mdb', 'cctalk'] as const) {
      const spec = resolved[bus]?.bus;
      const link = host.links[bus];
      if (!spec || !link) continue;
      await link.open();
      const required = spec.ports.some((p) => requiredPort(config, p));
      if (link.state.status === 'online') {
        busUp[bus] = true;
        add({ device: bus === 'mdb' ? 'mdb board' : 'cctalk bus', adapter: bus, status: 'ok', required, detail: `${spec.where} opened at ${spec.baudRate} baud` });
      } else {
        const why = link.state.status === 'offline' ? link.state.reason : link.state.code;
        add({ device: bus === 'mdb' ? 'mdb board' : 'cctalk bus', adapter: bus, status: 'failed', required, detail: `cannot open ${spec.where}: ${describeOpenFailure(why)}` });
      }
    }
    host.start();

    // ---- MDB
    const mdb = host.mdb;
    if (mdb && busUp.mdb) {
      const boardUp = await waitUntil(clock, () => mdb.board.online, Math.min(timeoutMs, 3_000));
      const board = checks.find((c) => c.device === 'mdb board');
      if (board && !boardUp) {
        checks[checks.indexOf(board)] = { ...board, status: 'failed', detail: `${board.detail}, but the interface board did not confirm master mode (M,1): ${mdb.board.state.status === 'error' ? mdb.board.state.detail ?? mdb.board.state.code : 'no answer'}` };
      } else if (board) {
        checks[checks.indexOf(board)] = { ...board, detail: `${board.detail}; master mode on` };
      }
      const drivers = [
        ['coin', mdb.coin],
        ['bill', mdb.bill],
        ['card', mdb.card],
      ] as const;
      if (boardUp) await waitUntil(clock, () => drivers.every(([, d]) => !d || d.state === 'ready'), timeoutMs);
      for (const [port, d] of drivers) {
        if (!d) continue;
        const required = requiredPort(config, port);
        if (!boardUp) {
          add({ device: port, adapter: 'mdb', status: 'failed', required, detail: 'not probed: the MDB interface board is not answering' });
          continue;
        }
        if (d.state !== 'ready') {
          add({ device: port, adapter: 'mdb', status: 'failed', required, detail: `no answer within ${secs(timeoutMs)} (driver still in ${d.state})` });
          continue;
        }
        let detail = '';
        if (port === 'coin' && mdb.coin) {
          const s = mdb.coin.setup;
          const id = mdb.coin.identification;
          detail = `changer level ${s?.level ?? '?'}, currency ${s ? bcd(s.currency) : '?'}, scaling ${s?.scaling ?? '?'}, coins ${mdb.coin.coinValues.filter((v) => v > 0).map(money).join(' ')}${id ? `; ${id.manufacturer} ${id.model.trim()} serial ${id.serial.trim()} version ${id.version}` : ''}`;
        } else if (port === 'bill' && mdb.bill) {
          const s = mdb.bill.setup;
          detail = `validator level ${s?.level ?? '?'}, currency ${s ? bcd(s.currency) : '?'}, bills ${mdb.bill.billValues.filter((v) => v > 0).map(money).join(' ')}, stacker ${s?.stackerCapacity ?? '?'}${s?.escrow ? ', escrow' : ''}`;
        } else if (port === 'card' && mdb.card) {
          const r = mdb.card.readerConfig;
          detail = `cashless reader level ${r?.level ?? '?'}, currency ${r ? bcd(r.currency) : '?'}, max response ${r?.maxResponseSeconds ?? '?'} s`;
        }
        add({ device: port, adapter: 'mdb', status: 'ok', required, detail });
      }
    } else if (mdb) {
      for (const [port, d] of [
        ['coin', mdb.coin],
        ['bill', mdb.bill],
        ['card', mdb.card],
      ] as const)
        if (d) add({ device: port, adapter: 'mdb', status: 'failed', required: requiredPort(config, port), detail: 'not probed: the MDB serial port did not open' });
    }

    // ---- ccTalk
    const cc = host.cctalk;
    if (cc) {
      const required = requiredPort(config, 'coin');
      if (!busUp.cctalk) {
        add({ device: 'coin', adapter: 'cctalk', status: 'failed', required, detail: 'not probed: the ccTalk serial port did not open' });
      } else {
        const acceptorUp = await waitUntil(clock, () => current(cc.acceptor.link$)?.status === 'online', timeoutMs);
        add({
          device: 'coin',
          adapter: 'cctalk',
          status: acceptorUp ? 'ok' : 'failed',
          required,
          detail: acceptorUp ? `coin acceptor (address ${cc.acceptor.address}): ${identityText(cc.acceptor.identity)}` : `coin acceptor (address ${cc.acceptor.address}): no answer within ${secs(timeoutMs)}`,
        });
        for (const h of cc.hoppers) {
          const up = await waitUntil(clock, () => h.identity !== null, timeoutMs);
          add({
            device: h.name,
            adapter: 'cctalk',
            status: up ? 'ok' : 'failed',
            // Change cannot be paid without the hoppers, but coins can still be taken.
            required: false,
            detail: up ? `hopper for ${money(h.coinValue)} (address ${h.address}): ${identityText(h.identity)}` : `hopper for ${money(h.coinValue)} (address ${h.address}): no answer within ${secs(timeoutMs)}`,
          });
        }
      }
    }

    // ---- GPIO
    const g = resolved.gpio;
    if (g) {
      const required = g.ports.some((p) => requiredPort(config, p));
      let io: IoPlugin | undefined = deps.io;
      let failure: string | undefined;
      if (!io) {
        if (!g.plugin) failure = 'no GPIO plugin configured (hardware.gpio.plugin: gpiochip, pi-io or raspi-io)';
        else {
          try {
            io = await loadIoPlugin(g.plugin, g.pluginOptions);
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            failure = /not installed/.test(msg) ? `GPIO plugin ${g.plugin} is not installed (npm install ${g.plugin} on the Pi)` : msg.replace(/^gpio:\s*/, '');
          }
        }
      }
      if (io && !failure) {
        try {
          gpio = await openGpio(g, traceIoPlugin(io, tracer, clock, keypadTracePins(g.options.keypad, io)), clock);
        } catch (e) {
          failure = e instanceof HardwareError ? e.reason.replace(/^GPIO board:\s*/, '') : e instanceof Error ? e.message : String(e);
        }
      }
      if (!gpio) {
        add({ device: 'gpio board', adapter: 'gpio', status: 'failed', required, detail: failure ?? 'not ready' });
        for (const p of g.ports) add({ device: p, adapter: hardware[p], status: 'failed', required: requiredPort(config, p), detail: 'not probed: the GPIO board is not ready' });
      } else {
        add({ device: 'gpio board', adapter: 'gpio', status: 'ok', required, detail: `${io?.name ?? 'IO plugin'} ready (${io?.pins.length ?? 0} pins)` });
        checks.push(...(await gpioChecks(config, g, gpio, clock, money)));
      }
    }

    // ---- ports left on the simulator or absent
    for (const p of HARDWARE_PORTS) {
      if (hardware[p] === 'sim' && present(p)) add({ device: p, adapter: 'sim', status: 'skipped', required: false, detail: 'simulated, not probed' });
      if (hardware[p] === 'none' || !present(p)) add({ device: p, adapter: 'none', status: 'skipped', required: false, detail: 'not fitted' });
    }
  } finally {
    await host.stop();
    gpio?.close();
  }
  const missing = checks.filter((c) => c.status === 'failed' && c.required).map((c) => c.device);
  return { machine: config.machine.name, checks, missing };
}

/** GPIO self-test: every input reads a level; the LCD takes a message. */
async function gpioChecks(
  config: MachineConfig,
  g: NonNullable<ResolvedHardware['gpio']>,
  gpio: GpioDevices,
  clock: Clock,
  money: (v: number) => string,
): Promise<DoctorCheck[]> {
  const o = g.options;
  const board = gpio.board;
  const watches = new Map<string, { readonly value: 0 | 1 | undefined; unwatch(): void }>();
  const watch = (what: string, pin: number | string, pull: 'up' | 'down' | 'none'): void => {
    watches.set(what, board.watch(board.pin(pin), pull, () => undefined));
  };
  if (o.coin) watch('coin', o.coin.pin, o.coin.pull);
  if (o.keypad) o.keypad.colPins.forEach((p, i) => watch(`keypad col${i}`, p, o.keypad?.pull ?? 'up'));
  if (o.dispenser) {
    const home = o.dispenser.home;
    if (home.mode === 'shared') watch('dispenser home', home.pin, o.dispenser.pull);
    else for (const [code, p] of Object.entries(home.pins)) watch(`dispenser home ${code}`, p, o.dispenser.pull);
  }
  if (o.drop) watch('drop', o.drop.pin, o.drop.pull);
  if (o.door) watch('door', o.door.pin, o.door.pull);
  await waitUntil(clock, () => [...watches.values()].every((w) => w.value !== undefined), 500);
  const read = (prefix: string): { ok: boolean; text: string } => {
    const ws = [...watches.entries()].filter(([k]) => k.startsWith(prefix));
    const ok = ws.every(([, w]) => w.value !== undefined);
    const level = (w: { readonly value: 0 | 1 | undefined }): string => (w.value === undefined ? '?' : String(w.value));
    const [only] = ws;
    if (ws.length === 1 && only && only[0] === prefix) return { ok, text: level(only[1]) };
    return { ok, text: ws.map(([k, w]) => `${k.slice(prefix.length).trim()}=${level(w)}`).join(' ') };
  };
  const out: DoctorCheck[] = [];
  const check = (device: HardwarePort, ok: boolean, detail: string): void => {
    out.push({ device, adapter: device === 'coin' ? 'pulse' : 'gpio', status: ok ? 'ok' : 'failed', required: true, detail });
  };
  if (o.coin && gpio.coin) {
    const r = read('coin');
    const active = watches.get('coin')?.value === (o.coin.activeLevel === 'high' ? 1 : 0);
    check('coin', r.ok, r.ok ? `pulse acceptor line reads ${r.text}${active ? ' (active: stuck or a coin passing)' : ' (idle)'}; coins ${Object.values(o.coin.pulses).map(money).join(' ')}` : 'pulse acceptor line did not read');
  }
  if (o.keypad && gpio.keypad) {
    const r = read('keypad');
    check('keypad', r.ok, r.ok ? `${o.keypad.rowPins.length}×${o.keypad.colPins.length} matrix, columns read ${r.text}` : `columns did not read (${r.text})`);
  }
  if (o.dispenser && gpio.dispenser) {
    const r = read('dispenser home');
    check('dispenser', r.ok, r.ok ? `${o.dispenser.rowPins.length}×${o.dispenser.colPins.length} motor matrix off; home sense reads ${r.text}` : `home switch input did not read (${r.text})`);
  }
  if (o.drop && gpio.drop) {
    const beam = current(gpio.drop.beam$);
    check('drop', beam !== undefined, beam === undefined ? 'beam input did not read' : `beam ${beam ? 'BROKEN (blocked or misaligned?)' : 'clear'}`);
  }
  if (o.door && gpio.door) {
    const door = current(gpio.door.door$);
    check('door', door !== undefined, door === undefined ? 'door switch did not read' : `door ${door}`);
  }
  if (o.lcd && gpio.display) {
    try {
      await gpio.display.show(['VENDOMAT DOCTOR', 'SELF-TEST'].map((l) => l.slice(0, config.display.cols)));
      check('display', true, `${o.lcd.controller} ${o.lcd.rows}×${o.lcd.cols} LCD written ("VENDOMAT DOCTOR")`);
    } catch (e) {
      check('display', false, `LCD write failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  for (const w of watches.values()) w.unwatch();
  return out;
}

export interface DoctorOptions {
  readonly config?: string;
  readonly timeout?: number;
  readonly json?: boolean;
}

function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(`${text}\n`);
}

/** "5s", "500ms", "5000" → ms. */
export function parseTimeout(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`cannot read '${text}' as a timeout (use e.g. 5s or 500ms).`);
  return Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1));
}

export function formatDoctorReport(r: DoctorReport, file: string): string[] {
  const width = Math.max(10, ...r.checks.map((c) => c.device.length + c.adapter.length + 3));
  const out = [`vendomat doctor: ${r.machine} (${file})`];
  for (const c of r.checks) {
    const mark = c.status === 'ok' ? '✓' : c.status === 'failed' ? '✗' : '-';
    const tail = c.status === 'failed' && !c.required ? ' (optional)' : '';
    out.push(`  ${mark} ${`${c.device} (${c.adapter})`.padEnd(width)} ${c.detail}${tail}`);
  }
  out.push(r.missing.length === 0 ? 'result: every required device answered' : `result: ${r.missing.length} required device${r.missing.length === 1 ? '' : 's'} did not answer: ${r.missing.join(', ')}`);
  return out;
}

export async function runDoctor(opts: DoctorOptions, io: CliIo, deps: DoctorDeps = {}): Promise<number> {
  const file = opts.config;
  if (file === undefined) {
    line(io.stderr, 'vendomat: doctor needs --config FILE');
    return EXIT.usage;
  }
  if (!existsSync(file)) {
    line(io.stderr, `vendomat: config file not found: ${file}`);
    return EXIT.usage;
  }
  let report: DoctorReport;
  try {
    const { config, hardware } = loadMachineWithHardware(file);
    report = await probeHardware(config, hardware, { ...deps, ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}) }, file);
  } catch (e) {
    if (e instanceof ConfigError) {
      line(io.stderr, `vendomat: invalid config ${e.source}:`);
      for (const p of e.problems) line(io.stderr, `  - ${p}`);
      return EXIT.failed;
    }
    line(io.stderr, `vendomat: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.failed;
  }
  if (opts.json) line(io.stdout, JSON.stringify(report, null, 2));
  else for (const l of formatDoctorReport(report, file)) line(io.stdout, l);
  return report.missing.length === 0 ? EXIT.ok : EXIT.failed;
}

/** Adds `vendomat doctor` to the program. */
export function registerDoctorCommand(program: Command, io: CliIo, setExit: (code: number) => void, deps: DoctorDeps = {}): Command {
  return program
    .command('doctor')
    .description('probe every device of the config\'s hardware section and say what answered (exit 1 when a required one did not)')
    .option('--config <file>', 'machine config with a hardware section')
    .option('--timeout <time>', 'how long each device gets to answer, e.g. 5s (default) or 800ms', parseTimeout)
    .option('--json', 'print the report as JSON')
    .action(async (opts: DoctorOptions) => {
      setExit(await runDoctor(opts, io, deps));
    });
}
