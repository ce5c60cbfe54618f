/**
 * `vendomat run` as a systemd service: sd_notify over a fake notify socket (READY, the watchdog
 * pings, STOPPING), the log formats (one line per event for journald, text on a terminal, JSON),
 * repeated warnings summarised, and the files it writes owner-only.
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadMachineWithHardware } from '../../src/cli/hardware.ts';
import { createLogSink, defaultLogFormat, eventText, formatEvent } from '../../src/cli/log.ts';
import type { CliIo } from '../../src/cli/main.ts';
import { NO_NOTIFY, notifySocketAddress, systemdNotifier, watchdogPingMs, type Notifier, type NotifyTransport } from '../../src/cli/notify.ts';
import { registerRunCommand, type RunDeps, type RunningMachine } from '../../src/cli/run.ts';
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createWireWorld } from '../../sim/wire/machine.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PI_MDB = join(ROOT, 'sim/machines/pi-mdb-gpio.yaml');

describe('sd_notify', () => {
  it('not under systemd (no NOTIFY_SOCKET): nothing is sent, nothing is loaded', () => {
    expect(systemdNotifier({ env: {}, transport: () => { throw new Error('must not open a socket'); } })).toBe(NO_NOTIFY);
  });

  it('READY, STATUS, STOPPING as datagrams to the socket; an abstract socket name gets its NUL', () => {
    const sent: { text: string; path: string }[] = [];
    const transport = (): NotifyTransport => ({ send: (m, path) => sent.push({ text: m.toString(), path }), close: () => undefined });
    const n = systemdNotifier({ env: { NOTIFY_SOCKET: '@vendomat-test' }, transport });
    n.ready('selling');
    n.status('two\nlines');
    n.stopping('bye');
    n.close();
    expect(sent.map((s) => s.path)).toEqual(['\0vendomat-test', '\0vendomat-test', '\0vendomat-test']);
    expect(sent[0]?.text).toBe(`READY=1\nSTATUS=selling\nMAINPID=${process.pid}`);
    expect(sent[1]?.text).toBe('STATUS=two lines');
    expect(sent[2]?.text).toBe('STOPPING=1\nSTATUS=bye');
    expect(notifySocketAddress('/run/systemd/notify')).toBe('/run/systemd/notify');
  });

  it('the watchdog pings every half of WATCHDOG_USEC, only for the process it names, and stops on close', () => {
    expect(watchdogPingMs({ WATCHDOG_USEC: '20000000' })).toBe(10_000);
    expect(watchdogPingMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: String(process.pid + 1) })).toBeUndefined();
    expect(watchdogPingMs({ WATCHDOG_USEC: 'soon' })).toBeUndefined();
    const sent: string[] = [];
    const timers: { fn: () => void; ms: number }[] = [];
    let cleared = 0;
    const n = systemdNotifier({
      env: { NOTIFY_SOCKET: '/run/notify', WATCHDOG_USEC: '20000000', WATCHDOG_PID: String(process.pid) },
      transport: () => ({ send: (m) => sent.push(m.toString()), close: () => undefined }),
      setInterval: (fn, ms) => timers.push({ fn, ms }),
      clearInterval: () => cleared++,
    });
    n.startWatchdog();
    expect(timers.map((t) => t.ms)).toEqual([10_000]);
    timers[0]?.fn();
    timers[0]?.fn();
    expect(sent).toEqual(['WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
    n.close();
    expect(cleared).toBe(1);
  });

  it('a socket error is reported, never thrown into the controller', () => {
    const errors: string[] = [];
    const n = systemdNotifier({
      env: { NOTIFY_SOCKET: '/nowhere' },
      transport: () => ({ send: () => { throw new Error('ENOENT'); }, close: () => undefined }),
      onError: (e) => errors.push(e.message),
    });
    expect(() => n.ready()).not.toThrow();
    expect(errors).toEqual(['ENOENT']);
  });

  it('over a real Unix datagram socket (a fake systemd): READY=1 and the watchdog pings arrive', async () => {
    const dgram = createRequire(import.meta.url)('unix-dgram') as {
      createSocket(type: 'unix_dgram', onMessage: (msg: Buffer) => void): { bind(path: string): void; close(): void; on(e: string, f: (e: Error) => void): void };
    };
    const path = join(mkdtempSync(join(tmpdir(), 'vendomat-notify-')), 'notify.sock');
    const got: string[] = [];
    // Resolved by the socket itself once three pings arrived: no polling, no sleep.
    let arrived: () => void = () => undefined;
    const threePings = new Promise<void>((resolve) => (arrived = resolve));
    const server = dgram.createSocket('unix_dgram', (msg) => {
      got.push(msg.toString());
      if (got.filter((m) => m === 'WATCHDOG=1').length >= 3) arrived();
    });
    server.on('error', (e) => got.push(`error ${e.message}`));
    server.bind(path);
    // The watchdog's interval is injected: each tick is driven here, at the period WATCHDOG_USEC asks.
    const ticks: { fn: () => void; ms: number }[] = [];
    const n = systemdNotifier({ env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: '40000' }, setInterval: (fn, ms) => ticks.push({ fn, ms }), clearInterval: () => undefined });
    n.ready('selling');
    n.startWatchdog();
    expect(ticks).toHaveLength(1);
    for (let i = 0; i < 3; i++) ticks[0]?.fn();
    await threePings;
    n.close();
    server.close();
    expect(got[0]).toBe(`READY=1\nSTATUS=selling\nMAINPID=${process.pid}`);
    expect(got.filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(3);
  });
});

describe('log lines', () => {
  const event = { level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), msg: 'device silent', app: 'vendomat', pid: 1, hostname: 'pi', device: 'card', detail: 'no answer' };

  it('journal: one line with the syslog priority prefix; text: time and level; fields as key=value', () => {
    expect(formatEvent(event, 'journal')).toBe('<4>device silent device=card detail="no answer"');
    expect(formatEvent(event, 'text')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}device silent device=card detail="no answer"$/);
    expect(eventText({ msg: 'ok', n: 3, o: { a: 1 } })).toBe('ok n=3 o={"a":1}');
  });

  it('the format follows where the log goes: journald, a terminal, else JSON', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    expect(defaultLogFormat(tty, { JOURNAL_STREAM: '8:1234' })).toBe('journal');
    expect(defaultLogFormat(tty, {})).toBe('text');
    expect(defaultLogFormat(new PassThrough(), {})).toBe('json');
  });

  it('a warning repeated every 1.5 s is written once a minute, with the count of the ones held back', () => {
    let now = 0;
    const clock: Clock = { now: () => now, setTimeout: () => 0 as unknown as TimerHandle, clearTimeout: () => undefined };
    const out: string[] = [];
    const sink = createLogSink({ format: 'journal', out: (l) => out.push(l), clock, windowMs: 60_000 });
    const warn = (): void => sink.write(`${JSON.stringify({ level: 40, time: 0, msg: 'card reader silent', device: 'card' })}\n`);
    for (let t = 0; t < 90_000; t += 1_500) {
      now = t;
      warn();
      if (t === 3_000) sink.write(`${JSON.stringify({ level: 30, time: 0, msg: 'vend ok' })}\n`);
    }
    now = 125_000;
    sink.expire();
    expect(out).toEqual([
      '<4>card reader silent device=card\n',
      '<6>vend ok\n',
      '<4>card reader silent (repeated 39 more times in 60 s, not logged) repeated=39\n',
      '<4>card reader silent device=card\n',
      '<4>card reader silent (repeated 19 more times in 65 s, not logged) repeated=19\n',
    ]);
  });

  it('JSON lines pass through as pino wrote them; the summary is JSON too', () => {
    const clock = new VirtualClock();
    const out: string[] = [];
    const sink = createLogSink({ format: 'json', out: (l) => out.push(l), clock });
    const line = `${JSON.stringify({ level: 50, time: 1, msg: 'board gone' })}\n`;
    sink.write(line);
    sink.write(line);
    sink.flush();
    expect(out[0]).toBe(line);
    expect(JSON.parse(out[1] ?? '')).toMatchObject({ level: 50, msg: 'board gone (repeated 1 more time in 0 s, not logged)', repeated: 1 });
  });
});

describe('vendomat run under systemd (in process, emulated hardware)', () => {
  it('READY once selling, STOPPING on the stop; journal lines on stderr; the journal written owner-only', async () => {
    const data = mkdtempSync(join(tmpdir(), 'vendomat-svc-'));
    const clock = new VirtualClock();
    const { config, hardware } = loadMachineWithHardware(PI_MDB);
    const w = createWireWorld(config, clock, { hardware });
    const stop = new AbortController();
    const calls: string[] = [];
    const notifier: Notifier = {
      ready: (s) => calls.push(`ready ${s ?? ''}`),
      status: (s) => calls.push(`status ${s}`),
      stopping: () => calls.push('stopping'),
      startWatchdog: () => calls.push('watchdog'),
      close: () => calls.push('close'),
    };
    let machine: RunningMachine | undefined;
    const deps: RunDeps = { clock, binding: w.binding, ...(w.gpio ? { io: w.gpio.io } : {}), signal: stop.signal, notifier, onRunning: (m) => (machine = m) };
    let err = '';
    const stderr = new PassThrough();
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const io: CliIo = { stdin: Readable.from(['']), stdout: new PassThrough(), stderr };
    let code: number | undefined;
    const program = new Command('vendomat').exitOverride();
    registerRunCommand(program, io, (c) => (code = c), deps);
    const done = program.parseAsync(['node', 'vendomat', 'run', '--config', PI_MDB, '--data', join(data, 'journal'), '--log-format', 'journal']);
    await clock.runUntil(() => machine !== undefined || code !== undefined, 10_000);
    expect(calls).toEqual([`ready selling: ${config.machine.name}`, 'watchdog']);
    stop.abort();
    await clock.runUntil(() => code !== undefined, 30_000);
    await done;
    await new Promise((r) => setImmediate(r));
    expect(code).toBe(0);
    expect(calls.slice(2)).toEqual(['stopping', 'close']);
    const lines = err.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l).toMatch(/^<[2-7]>\S/);
    expect(lines).toContain('<6>stopped');
    // The journal's directory and files: the operator's alone.
    const dir = join(data, 'journal');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o077, f).toBe(0);
    w.dispose();
    expect(machine?.controller.snapshot.context.credit).toBe(0);
  });
});
