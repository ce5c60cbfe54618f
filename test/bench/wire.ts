/**
 * Wire-level benchmark pieces, printed beside the port-level ones (test/bench/index.ts):
 *
 * - codec throughput: MDB board lines and ccTalk frames decoded per second, against what a bus
 *   can carry at all (at 9600 baud a bus moves < 1,000 frames/s);
 * - byte-in → port-event latency, p50 / p99, in REAL time through the full adapter stack
 *   (emulator → EmulatorBinding → SerialLink → MdbBoard → MDB changer driver → `events$`);
 * - CPU used by an idle machine polling its MDB devices (real clock, a few real seconds);
 * - a wire-level virtual-time soak: complete customer sessions per second through the wire machine.
 *
 * Environment: BENCH_WIRE_SESSIONS (default 300) sessions for the soak, BENCH_WIRE_IDLE_S (default
 * 3) seconds for the idle CPU figure, BENCH_WIRE_LATENCY_N (default 300) latency samples.
 */
import { fileURLToPath } from 'node:url';
import { BehaviorSubject, Subject } from 'rxjs';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { Controller } from '../../src/controller/controller.ts';
import { salesState } from '../../src/controller/view.ts';
import { ONLINE, type CoinCounts, type CoinMechEvent, type CoinMechPort, type LinkState, type Minor, type PayoutResult } from '../../src/ports/index.ts';
import { systemClock } from '../../src/cli/hardware.ts';
import { LineSplitter, createMdbDevices, openMdbSerialLink, parseBoardLine } from '../../hardware/mdb/index.ts';
import { decodeChangerPoll, encodeChangerStatuses, fromHex, toHex } from '../../hardware/mdb/codec.ts';
import { CctalkDecoder, encodeFrame } from '../../hardware/cctalk/codec.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { EmulatorBinding, type WireEmulator } from '../../sim/wire/binding.ts';
import { createMdbEmulator } from '../../sim/wire/mdb/index.ts';
import { bootWireMachine, createWireSimMachine, whileRunning, type WireSimMachine } from '../../sim/wire/machine.ts';
import { restock } from './soak.ts';
import { parallelSoak, workerCount } from './parallel.ts';

function row(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(46)} ${value.padStart(16)}  ${note}`);
}

const DEMO = fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url));

// ------------------------------------------------------------------ codecs

function codecThroughput(): void {
  // MDB: a changer POLL reply line as the board sends it, split, parsed and decoded.
  const reply = `p,${toHex(encodeChangerStatuses([{ kind: 'deposited', coinType: 4, route: 'tube', tubeCount: 12 }, { kind: 'deposited', coinType: 5, route: 'cashbox', tubeCount: 0 }]))}\n`;
  const bytes = Uint8Array.from(reply, (c) => c.charCodeAt(0));
  const n = 200_000;
  const splitter = new LineSplitter();
  let decoded = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (const ev of splitter.push(bytes)) {
      if (ev.kind !== 'line') continue;
      const l = parseBoardLine(ev.text);
      if (l.kind === 'p' && l.reply.kind === 'data') decoded += decodeChangerPoll(l.reply.bytes).statuses.length;
    }
  }
  const mdbRate = n / ((performance.now() - t0) / 1000);
  // ccTalk: a read-buffered-credit reply (11 data bytes) encoded and decoded.
  const frame = encodeFrame({ dest: 1, src: 2, header: 0, data: Uint8Array.from([7, 3, 1, 2, 1, 5, 0, 0, 0, 0, 0]) });
  const decoder = new CctalkDecoder();
  let frames = 0;
  const t1 = performance.now();
  for (let i = 0; i < n; i++) frames += decoder.push(frame).length;
  const ccRate = n / ((performance.now() - t1) / 1000);
  // Encoding the host side of a ccTalk exchange as well.
  const t2 = performance.now();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += encodeFrame({ dest: 2, src: 1, header: 229, data: new Uint8Array(0) }).length;
  const ccEnc = n / ((performance.now() - t2) / 1000);
  if (decoded === 0 || frames !== n || sink === 0 || !fromHex('00').ok) throw new Error('codec bench decoded nothing');
  console.log('\n## Codec throughput (one core)');
  row('MDB board lines decoded per second', mdbRate.toFixed(0), '(split + parse + changer POLL decode)');
  row('ccTalk frames decoded per second', ccRate.toFixed(0), '(11-byte buffered-credit reply)');
  row('ccTalk frames encoded per second', ccEnc.toFixed(0));
  row('bus capacity at 9600 baud', '< 1,000/s', 'ccTalk ≤ 192 frames/s (5+ bytes, 10 bits each); MDB ≤ ~400 exchanges/s');
}

// ------------------------------------------------------------------ latency, real time

/** A coin mech whose events the bench emits by hand. */
class BenchCoinMech implements CoinMechPort {
  readonly name = 'coin';
  readonly link$ = new BehaviorSubject<LinkState>(ONLINE);
  readonly events = new Subject<CoinMechEvent>();
  readonly events$ = this.events.asObservable();
  async setAcceptance(_values: readonly Minor[]): Promise<void> {}
  async tubeLevels(): Promise<CoinCounts> {
    return { 5: 10, 10: 10, 20: 10, 50: 10, 100: 10, 200: 10 };
  }
  async dispense(plan: CoinCounts): Promise<PayoutResult> {
    return { paid: plan, complete: true };
  }
}

/** Stamps the moment the board emulator hands a changer POLL reply with data to the binding. */
class Stamping implements WireEmulator {
  lastLine = '';
  stamp: number | undefined;
  constructor(readonly inner: WireEmulator) {}
  get path(): string {
    return this.inner.path;
  }
  get vendorId(): string | undefined {
    return this.inner.vendorId;
  }
  get productId(): string | undefined {
    return this.inner.productId;
  }
  attach(send: (bytes: Uint8Array) => void): void {
    this.inner.attach((bytes) => {
      const text = String.fromCharCode(...bytes);
      if (this.lastLine === 'R,0B' && text.startsWith('p,') && !text.startsWith('p,ACK') && !text.startsWith('p,NACK')) this.stamp = performance.now();
      send(bytes);
    });
  }
  detach(): void {
    this.inner.detach();
  }
  onData(bytes: Uint8Array): void {
    const text = String.fromCharCode(...bytes).trim();
    if (text.length > 0) this.lastLine = text.split('\n').pop() ?? '';
    this.inner.onData(bytes);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function realLatency(): Promise<void> {
  const samples = Number(process.env.BENCH_WIRE_LATENCY_N ?? 300);
  const clock = systemClock;
  const coin = new BenchCoinMech();
  const emu = createMdbEmulator({ coin, clock, options: { latencyMs: 0 } });
  const stamping = new Stamping(emu);
  const binding = new EmulatorBinding();
  binding.register(stamping);
  const link = openMdbSerialLink({ clock, binding, target: { path: emu.path } });
  const mdb = createMdbDevices({ link, clock, options: { bill: false, card: false, coin: { pollActiveMs: 5, pollIdleMs: 5 } } });
  const changer = mdb.coin;
  if (!changer) throw new Error('no changer');
  mdb.start();
  await link.open();
  const until = async (pred: () => boolean, ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (!pred()) {
      if (performance.now() > end) throw new Error('latency bench: timed out');
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  await until(() => changer.state === 'ready', 5_000);
  const lat: number[] = [];
  let got: (() => void) | undefined;
  const sub = changer.events$.subscribe((e) => {
    if (e.type !== 'coin' || stamping.stamp === undefined) return;
    lat.push(performance.now() - stamping.stamp);
    stamping.stamp = undefined;
    got?.();
  });
  for (let i = 0; i < samples; i++) {
    const arrived = new Promise<void>((r) => (got = r));
    coin.events.next({ type: 'coin', value: 100, routing: 'tube' });
    await arrived;
  }
  sub.unsubscribe();
  await mdb.stop();
  await link.close();
  emu.dispose();
  const sorted = [...lat].sort((a, b) => a - b);
  console.log('\n## Byte-in → port-event latency, real time (emulator → binding → SerialLink → board → driver → events$)');
  row('samples', String(sorted.length), 'one coin status per changer POLL reply');
  row('p50', `${percentile(sorted, 50).toFixed(3)} ms`);
  row('p99', `${percentile(sorted, 99).toFixed(3)} ms`);
  row('max', `${(sorted.at(-1) ?? NaN).toFixed(3)} ms`, 'the POLL interval (5 ms here, 50–200 ms by default) comes on top');
}

// ------------------------------------------------------------------ idle CPU, real clock

async function idleCpu(): Promise<void> {
  const seconds = Number(process.env.BENCH_WIRE_IDLE_S ?? 3);
  const config = loadConfigFile(DEMO);
  const m = createWireSimMachine(config, systemClock);
  const start = performance.now();
  while (!m.isReady()) {
    if (performance.now() - start > 10_000) throw new Error('idle bench: the wire machine did not boot');
    await new Promise((r) => setTimeout(r, 10));
  }
  const controller = new Controller({ config, ports: m.ports, clock: systemClock });
  await controller.start();
  // Past the fast polling that follows start-up events (activeHoldMs, 5 s by default).
  await new Promise((r) => setTimeout(r, 5_500));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let frames = 0;
  const sub = m.tracer.trace$.subscribe((t) => {
    if (t.bus === 'mdb') frames++;
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  sub.unsubscribe();
  await controller.stop();
  await m.close();
  const pct = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  console.log(`\n## Idle machine polling its MDB devices, real clock, ${seconds} s`);
  row('CPU, % of one core', `${pct.toFixed(2)} %`, 'controller + MDB/GPIO adapters + the emulators (all in this process)');
  row('MDB frames per second', (frames / (wall / 1000)).toFixed(0), 'changer, validator and reader POLLed every 200 ms (+ replies)');
}

// ------------------------------------------------------------------ wire-level soak, virtual time

/**
 * The demo machine with fuller tubes (MDB tube counts stop at 255, MDB 4.2 §5 TUBE STATUS, so no
 * deeper), topped up at every service visit.
 */
export function soakConfig(): MachineConfig {
  const demo = loadConfigFile(DEMO);
  const tubes = Object.fromEntries(demo.currency.coins.map((c) => [String(c), 200]));
  return parseConfig({ ...demo, sim: { ...demo.sim, tubes, tubeCapacity: 250 } }, 'wire soak');
}

export interface WireRig {
  readonly m: WireSimMachine;
  readonly clock: VirtualClock;
  readonly controller: Controller;
}

export async function wireSession(rig: WireRig, n: number, columns: readonly string[]): Promise<void> {
  const { m, clock, controller } = rig;
  const column = columns[n % columns.length] ?? 'A1';
  const price = controller.snapshot.context.catalog[column]?.price ?? 0;
  void m.devices.coin.insertCoin(200);
  if (price > 200) void m.devices.coin.insertCoin(100);
  const paid = price > 200 ? 300 : 200;
  if (!(await clock.runUntil(() => controller.snapshot.context.credit >= paid && m.quiet(), 10_000))) throw new Error(`session ${n}: credit never arrived`);
  m.devices.keypad.type(column);
  const done = await clock.runUntil(() => {
    const s = controller.snapshot;
    return salesState(s) === 'idle' && s.context.payout === null && s.context.vend === null && m.quiet() && !m.devices.coin.busy && m.world.motor.running === null;
  }, 60_000);
  if (!done) throw new Error(`session ${n} (${column}) did not finish: ${JSON.stringify(controller.snapshot.value)} display ${m.devices.display.lines.join('/')}`);
  m.world.takeFromBin();
  m.world.takeFromCup();
  if ((n + 1) % columns.length === 0) {
    m.devices.door.open();
    await clock.runUntil(() => salesState(controller.snapshot) === 'service' && m.quiet(), 5_000);
    restock(m, controller);
    m.devices.door.close();
    await clock.runUntil(() => salesState(controller.snapshot) === 'idle' && m.quiet(), 5_000);
  }
}

async function wireSoak(): Promise<void> {
  const sessions = Number(process.env.BENCH_WIRE_SESSIONS ?? 300);
  const config = soakConfig();
  const clock = new VirtualClock();
  let timers = 0;
  const setTimer = clock.setTimeout.bind(clock);
  clock.setTimeout = (fn: () => void, ms: number) => {
    timers++;
    return setTimer(fn, ms);
  };
  const rig = await createWireRig(config, clock);
  const columns = config.catalog.slots.map((s) => s.code);
  for (let i = 0; i < 20; i++) await wireSession(rig, i, columns);
  const v0 = clock.now();
  timers = 0;
  const t0 = performance.now();
  for (let i = 0; i < sessions; i++) await wireSession(rig, 20 + i, columns);
  const ms = performance.now() - t0;
  const perSession = timers / sessions;
  console.log('\n## Wire-level virtual-time soak (controller + real MDB/GPIO adapters + emulators, one virtual clock)');
  row('sessions', String(sessions), 'two coins or one, a vend, change (MDB DISPENSE), service every 48');
  row('complete sessions per second', ((sessions / ms) * 1000).toFixed(0), 'target ≥ 1,000/s');
  row('machine time simulated', `${((clock.now() - v0) / 3_600_000).toFixed(2)} h`, `in ${(ms / 1000).toFixed(1)} s of wall time`);
  row('virtual timers per session', perSession.toFixed(0), 'mostly MDB: 3 devices POLLed every 50 ms while a customer is there, 2 ms board latency');
  row('wall time per virtual timer', `${((ms * 1000) / timers).toFixed(1)} µs`, `all the work a timer triggers; the bare VirtualClock costs ${virtualClockFloorUs().toFixed(1)} µs`);
  row('ceiling at this timer count, bare clock', `${(1e6 / (perSession * virtualClockFloorUs())).toFixed(0)}/s`, 'why ≥ 1,000/s is out of reach without a cheaper clock');
  await closeWireRig(rig);
  const workers = workerCount();
  if (workers > 1) {
    const par = await parallelSoak('wire', Math.ceil(sessions / workers), 20, workers);
    row(`all ${par.workers} cores, one machine per worker thread`, `${par.rate.toFixed(0)}/s`, `per worker ${par.perWorker.map((r) => r.toFixed(0)).join(' / ')}`);
  }
}

/** The wire machine booted, with a controller on its ports, ready for sessions. */
export async function createWireRig(config: MachineConfig, clock: VirtualClock): Promise<WireRig> {
  const m = createWireSimMachine(config, clock);
  await bootWireMachine(m, clock);
  const controller = new Controller({ config, ports: m.ports, clock });
  await whileRunning(clock, controller.start());
  return { m, clock, controller };
}

export async function closeWireRig(rig: WireRig): Promise<void> {
  await whileRunning(rig.clock, rig.controller.stop());
  await whileRunning(rig.clock, rig.m.close());
}

/** µs per timer of a VirtualClock firing empty timers (it flushes promise jobs with setImmediate per timer). */
let floorUs: number | undefined;
function virtualClockFloorUs(): number {
  return floorUs ?? NaN;
}

async function measureClockFloor(): Promise<void> {
  const clock = new VirtualClock();
  const n = 50_000;
  let fired = 0;
  const tick = (): void => {
    fired++;
    if (fired < n) clock.setTimeout(tick, 10);
  };
  clock.setTimeout(tick, 10);
  const t0 = performance.now();
  await clock.runAll(n * 10 + 100);
  floorUs = ((performance.now() - t0) * 1000) / fired;
}

/** Runs every wire-level piece, printing rows like test/bench/index.ts. */
export async function runWireBench(): Promise<void> {
  codecThroughput();
  await realLatency();
  await idleCpu();
  await measureClockFloor();
  await wireSoak();
}

// Run directly: node --import tsx test/bench/wire.ts
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await runWireBench();
