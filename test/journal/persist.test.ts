/**
 * The simulated world across a "power cut" (sim/persist.ts): saved with the journal, restored as a
 * power cycle leaves it, and written in the same transaction as the events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JournalError, openJournal, type Journal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { FlushingClock, PersistError, SIM_WORLD_KEY, WorldPersistence, loadSavedSim, persistedSim, restoreWorld } from '../../sim/persist.ts';
import { SimSession } from '../../sim/session.ts';
import { countsValue } from '../../sim/world.ts';
import { demo, removeDir, tempDir } from './rig.ts';

const dirs: string[] = [];
const journals: Journal[] = [];

function journal(): Journal {
  const d = tempDir();
  dirs.push(d);
  const j = openJournal({ dir: d, clock: new VirtualClock() });
  journals.push(j);
  return j;
}

afterEach(() => {
  for (const j of journals.splice(0)) j.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('restoreWorld: what a power cycle does', () => {
  it('coins in the acceptor fall to the cup, bills in the validator come back, falling products land', async () => {
    const clock = new VirtualClock();
    const a = createSimMachine(demo, clock);
    await a.devices.coin.setAcceptance([50, 100]);
    void a.devices.coin.insertCoin(100); // still being validated at the cut
    const bill = a.devices.bill;
    if (!bill) throw new Error('no bill validator');
    void bill.insertBill(500);
    a.world.productFalls('A1');
    const saved = persistedSim(a, clock.now(), { 'refilled:A1': 3 });

    const b = createSimMachine(demo, new VirtualClock());
    const report = restoreWorld(b, JSON.parse(JSON.stringify(saved)));
    expect(report).toMatchObject({ coinsToCup: 100, billsToWallet: 500, cardReverted: 0, escrow: null });
    expect(report.landed).toEqual([{ column: 'A1', product: 'Crisps Salted' }]);
    expect(b.world.cup[100]).toBe(1);
    expect(b.world.bin).toHaveLength(1);
    expect(b.world.spirals.get('A1')?.count).toBe(9);
    expect(b.world.falling).toEqual([]);
    expect(countsValue(b.world.inFlight.coins)).toBe(0);
    // Nothing was lost: the world's money still adds up.
    expect(b.world.totalMoney()).toBe(b.world.expectedTotalMoney());
    expect(b.world.machineCash()).toBe(a.world.machineCash());
  });

  it('what injected faults held is released; an unsettled card approval is reverted; the door is reported', async () => {
    const clock = new VirtualClock();
    const a = createSimMachine(demo, clock);
    a.world.hideTube(50);
    a.world.hideSpiral('B2');
    a.world.card.approved = 150;
    a.world.door = 'open';
    const saved = persistedSim(a, clock.now(), {});
    const b = createSimMachine(demo, new VirtualClock());
    const report = restoreWorld(b, saved);
    expect(report.cardReverted).toBe(150);
    expect(b.world.card.reverted).toBe(150);
    expect(b.world.tubeCount(50)).toBe(demo.sim.tubes['50']);
    expect(b.world.spirals.get('B2')).toMatchObject({ count: 10, hidden: 0 });
    expect(b.devices.door.state).toBe('open');
    let reported = '';
    b.devices.door.door$.subscribe((d) => (reported = d));
    expect(reported).toBe('open');
  });

  it('a world saved by another machine (a different first fill) is refused', () => {
    const a = createSimMachine(demo, new VirtualClock());
    const other = createSimMachine({ ...demo, sim: { ...demo.sim, tubes: { 5: 1 } } }, new VirtualClock());
    expect(() => restoreWorld(other, persistedSim(a, 0, {}))).toThrow(PersistError);
  });
});

describe('WorldPersistence', () => {
  it('writes only when the world changed, and carries the tallies', () => {
    const j = journal();
    const sim = createSimMachine(demo, new VirtualClock());
    const p = new WorldPersistence(j, sim, { now: () => 5 });
    p.flush();
    const first = j.getSide(SIM_WORLD_KEY);
    expect(first).toBeDefined();
    j.putSide(SIM_WORLD_KEY, 'sentinel');
    p.flush(); // unchanged: no write
    expect(j.getSide(SIM_WORLD_KEY)).toBe('sentinel');
    p.tally('refilled:A1', 2);
    p.flush();
    expect(loadSavedSim(j)?.tallies).toEqual({ 'refilled:A1': 2 });
  });

  it('inside an append\'s transaction the world commits with the event, or not at all', () => {
    const j = journal();
    const sim = createSimMachine(demo, new VirtualClock());
    const p = new WorldPersistence(j, sim, { now: () => 0 });
    sim.world.fillTube(50, 1);
    expect(() =>
      j.transaction(() => {
        j.append({ type: 'tubesRead', levels: {} });
        p.onAppend();
        throw new Error('cut');
      }),
    ).toThrow('cut');
    expect(j.count()).toBe(0);
    expect(loadSavedSim(j)).toBeNull();
  });

  it('flushSoon writes once at the end of the turn; FlushingClock reports each timer', async () => {
    const j = journal();
    const clock = new FlushingClock();
    const sim = createSimMachine(demo, clock);
    const p = new WorldPersistence(j, sim, clock);
    let timers = 0;
    clock.onTimer = () => {
      timers += 1;
      p.flushSoon();
    };
    clock.setTimeout(() => sim.world.fillTube(20, 1), 10);
    await clock.advance(20);
    expect(timers).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(loadSavedSim(j)?.world.tubes[20]).toBe((demo.sim.tubes['20'] ?? 0) + 1);
  });

  it('a damaged saved world is refused with a clear error', async () => {
    const j = journal();
    j.putSide(SIM_WORLD_KEY, '{not json');
    expect(() => loadSavedSim(j)).toThrow(/journal\.db: the saved simulated world .*not valid JSON/);
    j.putSide(SIM_WORLD_KEY, '{"version":9}');
    expect(() => loadSavedSim(j)).toThrow(/not a version 1 world/);
    const dir = tempDir();
    dirs.push(dir);
    const k = openJournal({ dir, clock: new VirtualClock() });
    k.putSide(SIM_WORLD_KEY, '{not json');
    k.close();
    await expect(SimSession.start({ journal: { dir } })).rejects.toThrow(PersistError);
  });
});

describe('WorldPersistence on a full disk', () => {
  it('a world write that fails is kept for the next flush, never thrown out of the timer turn', () => {
    const j = journal();
    const clock = new VirtualClock();
    const sim = createSimMachine(demo, clock);
    let full = true;
    const failing: Journal = {
      ...j,
      path: j.path,
      schemaVersion: j.schemaVersion,
      putSide: (key, value) => {
        if (full) throw new JournalError('JOURNAL_IO', j.path, `side ${key}: database or disk is full`);
        j.putSide(key, value);
      },
    };
    const p = new WorldPersistence(failing, sim, clock);
    expect(() => p.flush()).not.toThrow();
    expect(p.lastError?.message).toMatch(/disk is full/);
    expect(j.getSide(SIM_WORLD_KEY)).toBeUndefined();
    full = false;
    p.flush();
    expect(p.lastError).toBeNull();
    expect(loadSavedSim(j)?.world.money.initialFill).toBe(sim.world.initialFill);
    sim.dispose();
  });
});
