/**
 * The simulator's line mode with a journal (`vendomat sim --data DIR`) and the service menu: the
 * PIN, tube fills, payouts, counters, the interim reset and the fault history.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkConservation } from '../../src/audit/ledger.ts';
import { parseConfig } from '../../src/config/load.ts';
import { SimSession, loadDemoConfig } from '../../sim/session.ts';
import { countsValue } from '../../sim/world.ts';

const sessions: SimSession[] = [];
const dirs: string[] = [];

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vendomat-simdata-'));
  dirs.push(d);
  return d;
}

async function session(opts: Parameters<typeof SimSession.start>[0] = {}): Promise<SimSession> {
  const s = await SimSession.start(opts);
  sessions.push(s);
  return s;
}

afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function run(s: SimSession, ...lines: string[]): Promise<Awaited<ReturnType<SimSession['exec']>>[]> {
  const out = [];
  for (const l of lines) out.push(await s.exec(l));
  return out;
}

const withPin = parseConfig({ ...loadDemoConfig(), service: { pin: '1234' } });

describe('a journaled session', () => {
  it('refuses a data directory whose journal came back empty, naming the file; --start-fresh starts a new machine on purpose', async () => {
    const d = dir();
    const a = await session({ journal: { dir: d } });
    await run(a, 'coin 2.00');
    expect(a.view().credit).toBe(200);
    await a.close();
    sessions.splice(sessions.indexOf(a), 1);
    writeFileSync(join(d, 'journal.db'), '');
    await expect(SimSession.start({ journal: { dir: d } })).rejects.toThrow(/journal\.db: the journal is missing or empty.*\[JOURNAL_MISSING\]/);
    const b = await session({ journal: { dir: d, startFresh: true } });
    expect(b.view().credit).toBe(0);
    const ledger = b.journaled?.state().ledger;
    expect(ledger?.inserted).toBe(0);
    if (ledger) expect(checkConservation(ledger)).toEqual([]);
  });

  it('continues where the last one on the same directory stopped: credit, world and counters', async () => {
    const d = dir();
    const a = await session({ journal: { dir: d } });
    await run(a, 'coin 2.00', 'press A1', 'coin 1.00');
    expect(a.view().credit).toBe(100);
    const cup = countsValue(a.sim.world.cup);
    const bin = a.sim.world.bin.length;
    const tubes = { ...a.sim.world.tubes };
    await a.close();

    const b = await session({ journal: { dir: d } });
    expect(b.view().credit).toBe(100);
    expect(countsValue(b.sim.world.cup)).toBe(cup);
    expect(b.sim.world.bin.length).toBe(bin);
    expect(b.sim.world.tubes).toEqual(tubes);
    expect(b.view().stock.A1).toBe(9);
    expect(b.counters().historical.paidVends.count).toBe(1);
    expect(b.counters().historical.powerOutages).toBe(1);
    expect(b.statusLines().join('\n')).toContain(`journal  ${d}`);
    expect(b.clock.now()).toBeGreaterThanOrEqual(a.clock.now());
    const jc = b.journaled;
    expect(jc).not.toBeNull();
    expect(checkConservation(jc?.state().ledger ?? ({} as never))).toEqual([]);
    // The start's own events are in the session log.
    expect(b.log.some((e) => e.event.type === 'serviceAction' && e.event.action === 'powerUp')).toBe(true);
  });

  it('without a directory the journal lives in a temporary one, removed on close', async () => {
    const s = await SimSession.start({ journal: {} });
    const d = s.dataDir;
    expect(d).not.toBeNull();
    expect(existsSync(join(d ?? '', 'journal.db'))).toBe(true);
    await s.close();
    expect(existsSync(d ?? '')).toBe(false);
  });

  it('an unjournaled session still counts and reads its counters', async () => {
    const s = await session();
    expect(s.dataDir).toBeNull();
    await run(s, 'coin 2.00', 'press A1', 'door open');
    const [counters] = await run(s, 'service counters');
    expect(counters?.ok).toBe(true);
    expect(counters?.output.join('\n')).toMatch(/paid vends\s+1 × €1\.20\s+1 × €1\.20/);
    expect(s.log.some((e) => e.event.type === 'serviceAction' && e.event.action === 'countersRead')).toBe(true);
  });
});

describe('service PIN', () => {
  it('locks the menu until the PIN is typed; a wrong PIN shows WRONG PIN and is journalled', async () => {
    const s = await session({ config: withPin, journal: {} });
    await run(s, 'door open');
    expect(s.display).toEqual(['SERVICE MODE', 'ENTER PIN']);
    const [refused] = await run(s, 'service refill');
    expect(refused?.ok).toBe(false);
    expect(refused?.output[0]).toMatch(/locked; type the service PIN/);

    const [wrong] = await run(s, 'service pin 9999');
    expect(wrong?.ok).toBe(false);
    expect(wrong?.output).toEqual(['service pin: WRONG PIN']);
    expect(s.display[0]).toBe('WRONG PIN');
    // A wrong PIN makes the keypad wait (service.lockout.backoffMs) before it takes digits again.
    await run(s, 'wait 3s');

    await run(s, 'press 12');
    expect(s.display).toEqual(['SERVICE MODE', 'PIN **']);
    await run(s, 'press CLEAR');
    expect(s.display).toEqual(['SERVICE MODE', 'ENTER PIN']);

    const [right] = await run(s, 'service pin 1234');
    expect(right?.ok).toBe(true);
    expect(s.display[1]).toBe('DOOR OPEN');
    const [refill] = await run(s, 'service refill A1');
    expect(refill?.ok).toBe(true);
    // A test vend leaves and comes back to service: still unlocked.
    const [test] = await run(s, 'service test-vend A2');
    expect(test?.ok).toBe(true);
    expect((await s.exec('service price A1 1.50')).ok).toBe(true);

    const actions = [...(s.journaled?.journal.readTypes(['serviceAction']) ?? [])].map((e) => (e.event.type === 'serviceAction' ? e.event.action : ''));
    expect(actions).toEqual(expect.arrayContaining(['wrongPin', 'unlock']));

    // Closing the door locks it again.
    await run(s, 'door close', 'door open');
    expect(s.display).toEqual(['SERVICE MODE', 'ENTER PIN']);
    expect((await s.exec('service clear-faults')).ok).toBe(false);
  });

  it('a machine without a PIN opens the menu at once', async () => {
    const s = await session();
    await run(s, 'door open');
    const [pin] = await run(s, 'service pin 1234');
    expect(pin?.output).toEqual(['service pin: this machine needs no PIN, the service menu is open']);
    expect((await s.exec('service refill')).ok).toBe(true);
  });

  it('the PIN in the config must be 4 to 8 digits; a YAML number is read as its digits', () => {
    expect(parseConfig({ ...loadDemoConfig(), service: { pin: 4321 } }).service.pin).toBe('4321');
    expect(() => parseConfig({ ...loadDemoConfig(), service: { pin: '12' } })).toThrow(/service\.pin: must be 4 to 8 digits/);
    expect(() => parseConfig({ ...loadDemoConfig(), service: { pin: '12ab' } })).toThrow(/service\.pin/);
  });
});

describe('service menu commands', () => {
  it('service fill puts coins into the tubes through the acceptor: tube fills, never credit', async () => {
    const s = await session({ journal: {} });
    const before = s.sim.world.tubeCount(50);
    const [open, fill] = await run(s, 'door open', 'service fill 50 20');
    expect(open?.ok).toBe(true);
    expect(fill?.ok).toBe(true);
    expect(fill?.output[0]).toBe('service: filled €10.00 (50×20) into the tubes');
    expect(fill?.events.filter((e) => e.event.type === 'tubeFilled')).toHaveLength(20);
    expect(s.sim.world.tubeCount(50)).toBe(before + 20);
    expect(s.view().credit).toBe(0);
    expect(s.counters().historical.serviceFills).toEqual({ count: 20, value: 1000 });
    expect(s.journaled?.state().ledger.inserted).toBe(0);
    // The acceptor is off again in service.
    expect(s.sim.devices.coin.accepted).toEqual([]);
  });

  it('service fill refuses coins of another currency', async () => {
    const s = await session();
    await run(s, 'door open');
    const [r] = await run(s, 'service fill 3 2');
    expect(r?.ok).toBe(false);
    expect(r?.output[0]).toMatch(/not coins of EUR: 3/);
  });

  it('service payout takes a coin and a count, or terms', async () => {
    const s = await session();
    await run(s, 'door open');
    const [a, b] = await run(s, 'service payout 50 10', 'service payout 20x2 10x1');
    expect(a?.output).toEqual(['service: paid out €5.00 (50×10)']);
    expect(b?.output).toEqual(['service: paid out €0.50 (20×2 10×1)']);
    expect(s.counters().historical.servicePayouts.value).toBe(550);
  });

  it('service counters shows interim and total; reset-interim journals an audit read that zeroes the interim set', async () => {
    const s = await session({ journal: {} });
    await run(s, 'coin 2.00', 'press A1', 'door open');
    const [shown] = await run(s, 'service counters');
    expect(shown?.output[0]).toMatch(/^counter\s+since reset\s+total$/);
    const [reset] = await run(s, 'service reset-interim');
    expect(reset?.output).toEqual(['service: interim counters reset (journalled as an audit read)']);
    expect(s.counters().interim.paidVends.count).toBe(0);
    expect(s.counters().historical.paidVends.count).toBe(1);
    expect(s.counters().historical.auditReads).toBe(1);
    const last = [...(s.journaled?.journal.readTypes(['serviceAction']) ?? [])].map((e) => e.event);
    expect(last.slice(-2)).toEqual([
      { type: 'serviceAction', action: 'countersRead' },
      { type: 'serviceAction', action: 'auditRead', detail: 'interim counters reset in service' },
    ]);
  });

  it('service faults lists the history from the journal and what is open now', async () => {
    const s = await session({ journal: {} });
    await run(s, 'fault motor-stall A4 once', 'coin 2.00', 'press A4', 'door open');
    const [faults] = await run(s, 'service faults');
    const text = faults?.output.join('\n') ?? '';
    expect(text).toMatch(/fault history \(1 event\)/);
    expect(text).toMatch(/fault HSA4 raised/);
    expect(text).toMatch(/open now: HSA4 \(dispenser\)/);
    await run(s, 'service clear-faults');
    const [again] = await run(s, 'service faults');
    expect(again?.output.join('\n')).toMatch(/fault HSA4 cleared[\s\S]*open now: none/);
  });

  it('parses the new service commands and refuses bad ones clearly', async () => {
    const s = await session();
    for (const [line, message] of [
      ['service pin 12ab', /service pin: '12ab' is not a PIN/],
      ['service fill fifty', /service fill: 'fifty' is not <coin>x<count>/],
      ['service counters now', /service: expected one of/],
    ] as const) {
      const r = await s.exec(line);
      expect(r.ok).toBe(false);
      expect(r.output[0]).toMatch(message);
    }
  });
});
