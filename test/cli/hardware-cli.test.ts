/**
 * `vendomat run`, `vendomat doctor` and `vendomat trace` (src/cli/{run,doctor,trace}.ts).
 *
 * In process, the real commands run against emulated hardware on a virtual clock: the EmulatorBinding
 * and SimIO of `createWireWorld` stand in for the serial ports and the GPIO header, and the test
 * drives the clock while a command runs. Two real child processes check what needs a real process:
 * `run` failing fast when the configured serial port does not exist, and SIGTERM → clean stop →
 * exit 0 (against emulators on the real clock).
 */
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadMachineWithHardware } from '../../src/cli/hardware.ts';
import type { CliIo } from '../../src/cli/main.ts';
import { registerDoctorCommand, type DoctorDeps } from '../../src/cli/doctor.ts';
import { registerRunCommand, type RunDeps, type RunningMachine } from '../../src/cli/run.ts';
import { openTraceLog, parseTraceLine, registerTraceCommand, type TraceDeps } from '../../src/cli/trace.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { SimIO } from '../../sim/wire/gpio/index.ts';
import { ByteLinkEmulator, createWireWorld, type WireWorld } from '../../sim/wire/machine.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MACHINES = join(ROOT, 'sim/machines');
const PI_MDB = join(MACHINES, 'pi-mdb-gpio.yaml');
const PI_CCTALK = join(MACHINES, 'pi-cctalk.yaml');
const DEMO = join(MACHINES, 'demo.yaml');
const TMP = mkdtempSync(join(tmpdir(), 'vendomat-hw-'));

function tmpFile(name: string, text: string): string {
  const p = join(TMP, name);
  writeFileSync(p, text);
  return p;
}

interface Captured {
  readonly io: CliIo;
  out(): string;
  err(): string;
}

function capture(): Captured {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdin: Readable.from(['']), stdout, stderr }, out: () => out, err: () => err };
}

type Register<D> = (program: Command, io: CliIo, setExit: (code: number) => void, deps: D) => Command;

/** Starts a command in process; `code` is set once it has finished. */
function start<D>(register: Register<D>, deps: D, argv: readonly string[]) {
  const c = capture();
  const state: { code: number | undefined; error: unknown } = { code: undefined, error: undefined };
  const program = new Command('vendomat').exitOverride().configureOutput({ writeOut: (s) => c.io.stdout.write(s), writeErr: (s) => c.io.stderr.write(s) });
  register(program, c.io, (code) => (state.code = code), deps);
  const done = program.parseAsync(['node', 'vendomat', ...argv]).catch((e: unknown) => {
    state.error = e;
    state.code ??= -1;
  });
  return { ...c, state, done };
}

async function finish(clock: VirtualClock, run: ReturnType<typeof start>, limitMs = 60_000): Promise<number> {
  await clock.runUntil(() => run.state.code !== undefined, limitMs);
  await run.done;
  // Output streams hand on their data asynchronously.
  await new Promise((r) => setImmediate(r));
  if (run.state.error) throw run.state.error;
  return run.state.code ?? -99;
}

function world(file: string, clock: VirtualClock, mutate?: (w: WireWorld) => void): WireWorld {
  const { config, hardware } = loadMachineWithHardware(file);
  const w = createWireWorld(config, clock, { hardware });
  mutate?.(w);
  return w;
}

function pinoLines(text: string): { msg?: string; level?: number; [k: string]: unknown }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string });
}

// ------------------------------------------------------------------ run

// `run` journals to the data directory: give every test (and the children it starts) its own.
beforeEach(() => {
  process.env.VENDOMAT_DATA = mkdtempSync(join(tmpdir(), 'vendomat-run-'));
});

describe('vendomat run (in process, emulated hardware, virtual clock)', () => {
  async function running(file = PI_MDB, extra: readonly string[] = []) {
    const clock = new VirtualClock();
    const w = world(file, clock);
    const stop = new AbortController();
    let machine: RunningMachine | undefined;
    const deps: RunDeps = { clock, binding: w.binding, ...(w.gpio ? { io: w.gpio.io } : {}), signal: stop.signal, onRunning: (m) => (machine = m) };
    const run = start(registerRunCommand, deps, ['run', '--config', file, ...extra]);
    await clock.runUntil(() => machine !== undefined || run.state.code !== undefined, 10_000);
    await clock.runUntil(() => machine?.hardware.adapters.mdb?.coin?.state === 'ready' || run.state.code !== undefined, 10_000);
    await clock.advance(100);
    return { clock, w, stop, run, machine: () => machine };
  }

  it('runs the controller on the hardware: a coin inserted at the acceptor becomes credit', async () => {
    const { clock, w, stop, run, machine } = await running();
    const m = machine();
    if (!m) throw new Error(`not running: ${run.err()}`);
    expect(w.sim.devices.coin.accepted).toEqual([5, 10, 20, 50, 100, 200]);
    expect(w.gpio?.lcd?.lines().map((l) => l.trimEnd())).toEqual(['INSERT MONEY', 'OR TAP CARD']);
    void w.sim.devices.coin.insertCoin(200);
    await clock.runUntil(() => m.controller.snapshot.context.credit === 200, 5_000);
    expect(w.gpio?.lcd?.lines()[0]?.trimEnd()).toBe('CREDIT E2.00');
    stop.abort();
    expect(await finish(clock, run)).toBe(0);
  });

  it('a stop request: motors off, payment devices disabled, credit kept, links closed, exit 0', async () => {
    const { clock, w, stop, run, machine } = await running();
    const m = machine();
    if (!m) throw new Error(`not running: ${run.err()}`);
    void w.sim.devices.coin.insertCoin(200);
    await clock.runUntil(() => m.controller.snapshot.context.credit === 200, 5_000);
    // Mid-vend: the motor is turning when the stop comes.
    w.sim.devices.keypad.type('A1');
    await clock.runUntil(() => w.sim.world.motor.running !== null, 5_000);
    expect(w.sim.world.motor.running).toBe('A1');
    stop.abort();
    expect(await finish(clock, run)).toBe(0);
    expect(w.sim.world.motor.running).toBeNull();
    expect(w.gpio?.motors?.isRunning('A1')).toBe(false);
    expect(w.sim.devices.coin.accepted).toEqual([]);
    expect(w.sim.devices.card?.isEnabled).toBe(false);
    // The vend never finished: the customer's €2.00 is still credit, nothing was paid out.
    expect(m.controller.snapshot.context.credit).toBe(200);
    expect(m.controller.snapshot.context.vend?.column).toBe('A1');
    expect(w.sim.world.cup).toEqual({});
    expect(w.binding.openPort('/dev/ttyACM0')).toBeUndefined();
    const msgs = pinoLines(run.err()).map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(['running', 'stopping: motors off, payment devices disabled, credit kept', 'stopped']));
    w.dispose();
  });

  it('credit in the machine when it stops is kept, not paid back', async () => {
    const { clock, w, stop, run, machine } = await running();
    const m = machine();
    if (!m) throw new Error(`not running: ${run.err()}`);
    void w.sim.devices.coin.insertCoin(100);
    await clock.runUntil(() => m.controller.snapshot.context.credit === 100, 5_000);
    stop.abort();
    expect(await finish(clock, run)).toBe(0);
    expect(m.controller.snapshot.context.credit).toBe(100);
    expect(w.sim.world.cup).toEqual({});
    const stopping = pinoLines(run.err()).find((l) => l.msg?.startsWith('stopping'));
    expect(stopping?.credit).toBe(100);
    w.dispose();
  });

  it('--trace-log appends every frame as a JSON line that `trace` reads back', async () => {
    const log = join(TMP, 'run-trace.jsonl');
    const { clock, stop, run } = await running(PI_MDB, ['--trace-log', log]);
    stop.abort();
    expect(await finish(clock, run)).toBe(0);
    await new Promise((r) => setImmediate(r));
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.every((l) => parseTraceLine(l).ok)).toBe(true);
    const t = start(registerTraceCommand, {} as TraceDeps, ['trace', '--log', log, '--bus', 'mdb']);
    await t.done;
    expect(t.state.code).toBe(0);
    expect(t.out()).toMatch(/^\s+0\.000 mdb +>> M,1 +master mode on$/m);
    expect(t.out()).toContain('changer SETUP');
    expect(t.out()).not.toContain(' gpio ');
  });

  it('runs a ccTalk machine too (9600 baud bus, hopper for change)', async () => {
    const clock = new VirtualClock();
    const w = world(PI_CCTALK, clock);
    const stop = new AbortController();
    let machine: RunningMachine | undefined;
    const run = start(registerRunCommand, { clock, binding: w.binding, ...(w.gpio ? { io: w.gpio.io } : {}), signal: stop.signal, onRunning: (m) => (machine = m) } as RunDeps, ['run', '--config', PI_CCTALK]);
    await clock.runUntil(() => machine !== undefined, 10_000);
    await clock.advance(500);
    void w.sim.devices.coin.insertCoin(50);
    await clock.runUntil(() => machine?.controller.snapshot.context.credit === 50, 5_000);
    expect(machine?.controller.snapshot.context.credit).toBe(50);
    stop.abort();
    expect(await finish(clock, run)).toBe(0);
    w.dispose();
  });

  it('a device that does not answer delays the start by at most 5 s, then the machine runs without it', async () => {
    const clock = new VirtualClock();
    const w = world(PI_MDB, clock, (x) => x.mdb?.validator?.mute(true));
    const stop = new AbortController();
    let machine: RunningMachine | undefined;
    const run = start(registerRunCommand, { clock, binding: w.binding, ...(w.gpio ? { io: w.gpio.io } : {}), signal: stop.signal, onRunning: (m) => (machine = m) } as RunDeps, ['run', '--config', PI_MDB]);
    await clock.runUntil(() => machine !== undefined, 10_000);
    expect(clock.now()).toBeGreaterThanOrEqual(5_000);
    expect(clock.now()).toBeLessThan(5_100);
    expect(pinoLines(run.err()).find((l) => l.msg === 'starting while these devices are still coming up')?.ports).toEqual(['bill']);
    // bill is optional: coins and cards still sell.
    void w.sim.devices.coin.insertCoin(100);
    await clock.runUntil(() => machine?.controller.snapshot.context.credit === 100, 5_000);
    expect(machine?.controller.snapshot.context.credit).toBe(100);
    stop.abort();
    expect(await finish(clock, run)).toBe(0);
    w.dispose();
  });

  it('an unplugged MDB board: one line naming the ports and why, exit 1, no stack trace', async () => {
    const clock = new VirtualClock();
    const w = world(PI_MDB, clock, (x) => x.binding.unplug(x.mdbPath ?? ''));
    const run = start(registerRunCommand, { clock, binding: w.binding, ...(w.gpio ? { io: w.gpio.io } : {}) } as RunDeps, ['run', '--config', PI_MDB, '--log-level', 'silent']);
    expect(await finish(clock, run)).toBe(1);
    expect(run.err()).toBe('vendomat: coin, bill, card: cannot open /dev/ttyACM0 (MDB interface board): ENOENT (no such file or directory)\n');
    w.dispose();
  });

  it('a GPIO board that never gets ready: exit 1 naming the GPIO ports', async () => {
    const clock = new VirtualClock();
    const w = world(PI_MDB, clock);
    const run = start(registerRunCommand, { clock, binding: w.binding, io: new SimIO({ clock, ready: 'never' }) } as RunDeps, ['run', '--config', PI_MDB, '--log-level', 'silent']);
    expect(await finish(clock, run)).toBe(1);
    expect(run.err()).toMatch(/^vendomat: keypad, dispenser, drop, door, display: GPIO board: IO plugin "SimIO" not ready after 10000 ms\n$/);
    w.dispose();
  });

  it('refuses a config without real hardware, a missing file and a bad hardware section', async () => {
    const clock = new VirtualClock();
    const demo = start(registerRunCommand, { clock } as RunDeps, ['run', '--config', DEMO]);
    expect(await finish(clock, demo)).toBe(2);
    expect(demo.err()).toMatch(/has no real hardware \(every port is sim\).*vendomat sim/);
    const missing = start(registerRunCommand, { clock } as RunDeps, ['run', '--config', join(TMP, 'nope.yaml')]);
    expect(await finish(clock, missing)).toBe(2);
    expect(missing.err()).toMatch(/config file not found/);
    const none = start(registerRunCommand, { clock } as RunDeps, ['run']);
    expect(await finish(clock, none)).toBe(2);
    const text = readFileSync(PI_MDB, 'utf8').replace('plugin: pi-io', 'plugin: wiringpi').replace('rowPins: [GPIO12, GPIO23, GPIO24, GPIO25]', 'rowPins: [GPIO12, GPIO23, GPIO24, GPIO4]');
    const bad = start(registerRunCommand, { clock } as RunDeps, ['run', '--config', tmpFile('bad-hw.yaml', text)]);
    expect(await finish(clock, bad)).toBe(1);
    expect(bad.err()).toMatch(/invalid config .*bad-hw\.yaml:/);
    expect(bad.err()).toMatch(/- hardware\.gpio\.plugin: /);
    expect(bad.err()).toMatch(/- hardware\.gpio\.dispenser\.rowPins\[3\]: pin GPIO4 is already used by keypad\.rowPins\.0/);
  });
});

// ------------------------------------------------------------------ doctor

describe('vendomat doctor (in process, emulated hardware)', () => {
  async function doctor(file: string, mutate?: (w: WireWorld) => void, extra: readonly string[] = [], io?: SimIO) {
    const clock = new VirtualClock();
    const w = world(file, clock, mutate);
    const deps: DoctorDeps = { clock, binding: w.binding, ...(io ? { io } : w.gpio ? { io: w.gpio.io } : {}) };
    const run = start(registerDoctorCommand, deps, ['doctor', '--config', file, ...extra]);
    const code = await finish(clock, run);
    w.dispose();
    return { code, out: run.out(), err: run.err(), at: clock.now() };
  }

  it('every device answers: SETUP, identity and the GPIO self-test are shown, exit 0', async () => {
    const r = await doctor(PI_MDB);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/✓ mdb board \(mdb\) +\/dev\/ttyACM0 opened at 115200 baud; master mode on/);
    expect(r.out).toMatch(/✓ coin \(mdb\) +changer level 3, currency 978, scaling 5, coins €0\.05 €0\.10 €0\.20 €0\.50 €1\.00 €2\.00; VMT EMU-CHANGER serial 000000000001 version 0100/);
    expect(r.out).toMatch(/✓ bill \(mdb\) +validator level 1, currency 978, bills €5\.00 €10\.00 €20\.00, stacker 500, escrow/);
    expect(r.out).toMatch(/✓ card \(mdb\) +cashless reader level 1/);
    expect(r.out).toMatch(/✓ gpio board \(gpio\) +SimIO ready/);
    expect(r.out).toMatch(/✓ keypad \(gpio\) +4×4 matrix, columns read col0=1 col1=1 col2=1 col3=1/);
    expect(r.out).toMatch(/✓ dispenser \(gpio\) +4×7 motor matrix off; home sense reads 1/);
    expect(r.out).toMatch(/✓ door \(gpio\) +door closed/);
    expect(r.out).toMatch(/✓ drop \(gpio\) +beam clear/);
    expect(r.out).toMatch(/✓ display \(gpio\) +PCF8574 2×16 LCD written/);
    expect(r.out).toMatch(/^result: every required device answered$/m);
  });

  it('a mute optional device (card reader) is a warning: exit 0', async () => {
    const r = await doctor(PI_MDB, (w) => w.mdb?.reader?.mute(true), ['--timeout', '2s']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/✗ card \(mdb\) +no answer within 2\.0 s \(driver still in \w+\) \(optional\)/);
    expect(r.at).toBeLessThan(3_000);
  });

  it('a board whose peripherals are all silent: each one fails, the board itself answered', async () => {
    const r = await doctor(PI_MDB, (w) => w.mdb?.dropCommands(1_000_000), ['--timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✓ mdb board \(mdb\) +\/dev\/ttyACM0 opened at 115200 baud; master mode on/);
    expect(r.out).toMatch(/✗ bill \(mdb\) +no answer within 1\.0 s \(driver still in drain\) \(optional\)/);
    expect(r.out).toMatch(/^result: 1 required device did not answer: coin$/m);
  });

  it('a mute required device (coin changer): exit 1 naming it', async () => {
    const r = await doctor(PI_MDB, (w) => w.mdb?.changer?.mute(true), ['--timeout', '1500ms']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ coin \(mdb\) +no answer within 1\.5 s/);
    expect(r.out).toMatch(/^result: 1 required device did not answer: coin$/m);
  });

  it('a USB adapter with no board behind it (never confirms master mode): its devices are not probed', async () => {
    const r = await doctor(
      PI_MDB,
      (w) => {
        const path = w.mdbPath ?? '';
        w.binding.unregister(path);
        w.binding.register(new ByteLinkEmulator({ path }));
      },
      ['--timeout', '1s'],
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ mdb board \(mdb\) +\/dev\/ttyACM0 opened at 115200 baud, but the interface board did not confirm master mode \(M,1\)/);
    expect(r.out).toMatch(/✗ coin \(mdb\) +not probed: the MDB interface board is not answering/);
  });

  it('an unplugged board: the open failure, exit 1', async () => {
    const r = await doctor(PI_MDB, (w) => w.binding.unplug(w.mdbPath ?? ''));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ mdb board \(mdb\) +cannot open \/dev\/ttyACM0: ENOENT \(no such file or directory\)/);
    expect(r.out).toMatch(/result: 2 required devices did not answer: mdb board, coin/);
  });

  it('ccTalk: the acceptor and the hopper identify themselves', async () => {
    const r = await doctor(PI_CCTALK);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/✓ cctalk bus \(cctalk\) +USB 0403:6001 opened at 9600 baud/);
    expect(r.out).toMatch(/✓ coin \(cctalk\) +coin acceptor \(address 2\): VND Coin Acceptor SIM-CA serial \d+ rev 1\.0/);
    expect(r.out).toMatch(/✓ hopper3 \(cctalk\) +hopper for €0\.10 \(address 3\): VND/);
    expect(r.out).toMatch(/- bill \(none\) +not fitted/);
  });

  it('a dead ccTalk acceptor: exit 1', async () => {
    const r = await doctor(PI_CCTALK, (w) => w.cctalk?.acceptor?.setDead(true), ['--timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ coin \(cctalk\) +coin acceptor \(address 2\): no answer within 1\.0 s/);
  });

  it('a GPIO board that is not ready: every GPIO port fails, exit 1', async () => {
    const clock = new VirtualClock();
    const r = await doctor(PI_MDB, undefined, ['--timeout', '1s'], new SimIO({ clock, ready: 'never' }));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/✗ gpio board \(gpio\) +IO plugin "SimIO" not ready after 10000 ms/);
    expect(r.out).toMatch(/✗ keypad \(gpio\) +not probed: the GPIO board is not ready/);
  });

  it('--json gives the report as data; bad input gives usage or config errors', async () => {
    const r = await doctor(PI_MDB, undefined, ['--json']);
    const report = JSON.parse(r.out) as { machine: string; checks: { device: string; status: string }[]; missing: string[] };
    expect(report.missing).toEqual([]);
    expect(report.checks.find((c) => c.device === 'coin')?.status).toBe('ok');
    const clock = new VirtualClock();
    const missing = start(registerDoctorCommand, { clock } as DoctorDeps, ['doctor', '--config', join(TMP, 'nope.yaml')]);
    expect(await finish(clock, missing)).toBe(2);
    const badTimeout = start(registerDoctorCommand, { clock } as DoctorDeps, ['doctor', '--config', PI_MDB, '--timeout', 'soon']);
    await badTimeout.done;
    expect(badTimeout.err()).toMatch(/cannot read 'soon' as a timeout/);
    const broken = start(registerDoctorCommand, { clock } as DoctorDeps, ['doctor', '--config', tmpFile('broken.yaml', 'hardware: { coin: cctalk }\n')]);
    expect(await finish(clock, broken)).toBe(1);
    expect(broken.err()).toMatch(/- hardware\.serial\.cctalk: required/);
  });
});

// ------------------------------------------------------------------ trace

describe('vendomat trace', () => {
  it('prints each record as one formatted line; --bus filters; --json passes records through', async () => {
    const path = join(TMP, 'a.jsonl');
    const tracer = new FrameTracer();
    const log = openTraceLog(tracer, path);
    tracer.record({ bus: 'mdb', dir: 'tx', at: 1_000, raw: 'R,0B', meaning: 'changer POLL' });
    tracer.record({ bus: 'cctalk', dir: 'rx', at: 1_020, raw: '01 00 02 00 FD', error: 'bad checksum' });
    tracer.record({ bus: 'gpio', dir: 'tx', at: 1_030, raw: '17=1' });
    await log.close();
    expect(log.written).toBe(3);
    const all = start(registerTraceCommand, {} as TraceDeps, ['trace', '--log', path]);
    await all.done;
    expect(all.state.code).toBe(0);
    expect(all.out().split('\n').filter(Boolean)).toEqual([
      '     1.000 mdb    >> R,0B                     changer POLL',
      '     1.020 cctalk << 01 00 02 00 FD           !! bad checksum',
      '     1.030 gpio   >> 17=1',
    ]);
    const mdb = start(registerTraceCommand, {} as TraceDeps, ['trace', '--log', path, '--bus', 'cctalk', '--json']);
    await mdb.done;
    expect(JSON.parse(mdb.out())).toEqual({ bus: 'cctalk', dir: 'rx', at: 1_020, raw: '01 00 02 00 FD', error: 'bad checksum' });
  });

  it('reports lines that are not trace records with their line number and goes on', async () => {
    const path = tmpFile('mixed.jsonl', ['{"bus":"mdb","dir":"tx","at":5,"raw":"M,1"}', 'garbage', '{"bus":"mdb","dir":"up","at":1,"raw":"x"}', '[1]', '{"bus":"mdb","dir":"rx","at":7,"raw":"m,ACK"}', ''].join('\n'));
    const r = start(registerTraceCommand, {} as TraceDeps, ['trace', '--log', path]);
    await r.done;
    expect(r.state.code).toBe(0);
    expect(r.out().split('\n').filter(Boolean)).toHaveLength(2);
    expect(r.err()).toContain(`${path}:2: not JSON, skipped`);
    expect(r.err()).toContain(`${path}:3: not a trace record`);
    expect(r.err()).toContain(`${path}:4: not a JSON object`);
  });

  it('--follow prints records appended later, on its clock, until stopped; a restarted log is read again', async () => {
    const path = tmpFile('live.jsonl', '{"bus":"mdb","dir":"tx","at":0,"raw":"M,1"}\n');
    const clock = new VirtualClock();
    const stop = new AbortController();
    const r = start(registerTraceCommand, { clock, pollMs: 100, signal: stop.signal } as TraceDeps, ['trace', '--log', path, '--follow']);
    await clock.advance(0);
    expect(r.out()).toContain('M,1');
    appendFileSync(path, '{"bus":"mdb","dir":"rx","at":2,"raw":"m,ACK"}\n{"bus":"mdb","dir":"tx","at":3,"ra');
    await clock.advance(100);
    expect(r.out()).toContain('m,ACK');
    expect(r.out()).not.toContain('at":3');
    appendFileSync(path, 'w":"R,0B"}\n');
    await clock.advance(100);
    expect(r.out()).toContain('R,0B');
    writeFileSync(path, '{"bus":"gpio","dir":"tx","at":9,"raw":"4=1"}\n');
    await clock.advance(100);
    expect(r.out()).toContain('4=1');
    expect(r.state.code).toBeUndefined();
    stop.abort();
    expect(await finish(clock, r)).toBe(0);
  });

  it('without --log, or with a missing file: a usage error', async () => {
    const none = start(registerTraceCommand, {} as TraceDeps, ['trace']);
    await none.done;
    expect(none.state.code).toBe(2);
    expect(none.err()).toMatch(/trace needs --log FILE/);
    const missing = start(registerTraceCommand, {} as TraceDeps, ['trace', '--log', join(TMP, 'nope.jsonl')]);
    await missing.done;
    expect(missing.state.code).toBe(2);
    expect(missing.err()).toMatch(/trace log not found/);
  });

  it('parseTraceLine keeps the known fields only', () => {
    expect(parseTraceLine('{"bus":"mdb","dir":"tx","at":1,"raw":"x","meaning":"m","extra":true}')).toEqual({ ok: true, trace: { bus: 'mdb', dir: 'tx', at: 1, raw: 'x', meaning: 'm' } });
    expect(parseTraceLine('{"bus":"mdb","dir":"tx","at":"1","raw":"x"}').ok).toBe(false);
  });
});

// ------------------------------------------------------------------ real processes

const NODE_TSX = [process.execPath, '--import', 'tsx'];

/** A tiny program around `runMachine`, the body of the `run` command (main.ts does not register it yet). */
function childScript(name: string, body: string): string {
  const url = (p: string): string => pathToFileURL(join(ROOT, p)).href;
  return tmpFile(
    name,
    [
      `import { runMachine } from '${url('src/cli/run.ts')}';`,
      `import { loadMachineWithHardware, systemClock } from '${url('src/cli/hardware.ts')}';`,
      `import { createWireWorld } from '${url('sim/wire/machine.ts')}';`,
      body,
    ].join('\n'),
  );
}

describe('vendomat run (real processes)', () => {
  it('fails fast with one line when the configured serial port does not exist (real serialport binding)', async () => {
    const config = tmpFile(
      'absent-board.yaml',
      readFileSync(DEMO, 'utf8') + ['hardware:', '  coin: mdb', '  serial:', '    mdb: { path: /dev/ttyVENDOMAT-ABSENT }', ''].join('\n'),
    );
    const script = childScript(
      'run-real.mts',
      [
        `const [config, level] = process.argv.slice(2);`,
        `process.exitCode = await runMachine({ config, logLevel: level }, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });`,
      ].join('\n'),
    );
    const t0 = Date.now();
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(NODE_TSX[0] ?? 'node', [...NODE_TSX.slice(1), script, config, 'silent'], { cwd: ROOT, timeout: 30_000 }, (error, _out, err) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, err }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.err).toBe('vendomat: coin: cannot open /dev/ttyVENDOMAT-ABSENT (MDB interface board): ENOENT (no such file or directory)\n');
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('SIGTERM stops the machine cleanly (motors off, payment disabled, credit kept) and exits 0', async () => {
    const script = childScript(
      'run-signal.mts',
      [
        `const file = process.argv[2];`,
        `const { config, hardware } = loadMachineWithHardware(file);`,
        `// The emulated machine, on the real clock, stands in for the hardware behind the real ports.`,
        `const world = createWireWorld(config, systemClock, { hardware });`,
        `let machine;`,
        `const code = await runMachine({ config: file }, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }, {`,
        `  binding: world.binding, io: world.gpio.io,`,
        `  onRunning: (m) => {`,
        `    machine = m;`,
        `    const wait = () => (m.hardware.adapters.mdb.coin.state === 'ready' ? insert() : setTimeout(wait, 20));`,
        `    const insert = () => { void world.sim.devices.coin.insertCoin(100); const credited = () => (m.controller.snapshot.context.credit === 100 ? console.log('CREDITED') : setTimeout(credited, 20)); credited(); };`,
        `    wait();`,
        `  },`,
        `});`,
        `console.log('RESULT ' + JSON.stringify({ code, credit: machine?.controller.snapshot.context.credit, accepted: world.sim.devices.coin.accepted, card: world.sim.devices.card?.isEnabled, motor: world.sim.world.motor.running, cup: world.sim.world.cup }));`,
        `world.dispose();`,
        `process.exitCode = code;`,
      ].join('\n'),
    );
    const child = spawn(NODE_TSX[0] ?? 'node', [...NODE_TSX.slice(1), script, PI_MDB], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('CREDITED') && !child.killed) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, err).toBe(0);
    const result = JSON.parse(out.slice(out.indexOf('RESULT ') + 7).split('\n')[0] ?? '{}') as Record<string, unknown>;
    expect(result).toEqual({ code: 0, credit: 100, accepted: [], card: false, motor: null, cup: {} });
    const msgs = pinoLines(err).map((l) => `${String(l.msg)}${l.signal ? ` ${String(l.signal)}` : ''}`);
    expect(msgs).toEqual(expect.arrayContaining(['running', 'stopping: motors off, payment devices disabled, credit kept SIGTERM', 'stopped']));
  });
});
