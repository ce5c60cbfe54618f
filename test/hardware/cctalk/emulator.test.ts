import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { createLinkPair } from '../../../sim/wire/pipe.ts';
import { createCctalkEmulator, SimpleHopperModel, type CctalkEmulator } from '../../../sim/wire/cctalk/index.ts';
import { toHex } from '../../../hardware/cctalk/codec.ts';
import { EURO_COINS, FakeCoinMech } from './helpers.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));

/** A bare host: writes raw bytes and returns what came back (no echo on this link). */
function rawRig(hopperCoins = 5): {
  clock: VirtualClock;
  mech: FakeCoinMech;
  emu: CctalkEmulator;
  model: SimpleHopperModel;
  ask(request: string, waitMs?: number): Promise<string>;
} {
  const clock = new VirtualClock();
  const [host, device] = createLinkPair(clock);
  const mech = new FakeCoinMech();
  const model = new SimpleHopperModel(100, hopperCoins);
  const emu = createCctalkEmulator({
    link: device,
    clock,
    acceptor: { port: mech, coins: EURO_COINS },
    hoppers: [{ model, payoutPerCoinMs: 100, payoutTimeoutMs: 1000 }],
  });
  let got: number[] = [];
  host.data$.subscribe((c) => got.push(...c));
  return {
    clock,
    mech,
    emu,
    model,
    ask: async (request, waitMs = 10) => {
      got = [];
      await host.write(hex(request));
      await clock.advance(waitMs);
      return toHex(got);
    },
  };
}

function acc(e: CctalkEmulator): NonNullable<CctalkEmulator['acceptor']> {
  if (!e.acceptor) throw new Error('no acceptor');
  return e.acceptor;
}

describe('ccTalk acceptor emulator on the wire (protocols.md §3.2–3.4 examples)', () => {
  it('answers simple poll, serial number and equipment category exactly as the spec examples', async () => {
    const r = rawRig();
    expect(await r.ask('02 00 01 FE FF')).toBe('01 00 02 00 FD');
    expect(await r.ask('02 00 01 F2 0B')).toBe('01 03 02 00 4E 61 BC 8F');
    expect(await r.ask('02 00 01 F5 08')).toBe('01 0D 02 00 43 6F 69 6E 20 41 63 63 65 70 74 6F 72 16');
  });

  it('answers coin ids, "......" for an empty position, NAK for position 0', async () => {
    const r = rawRig();
    // "EU010A"
    expect(await r.ask('02 01 01 B8 01 43')).toBe('01 06 02 00 45 55 30 31 30 41 8B');
    expect(await r.ask('02 01 01 B8 09 3B')).toBe('01 06 02 00 2E 2E 2E 2E 2E 2E E3');
    expect(await r.ask('02 01 01 B8 00 44')).toBe('01 00 02 05 F8');
  });

  it('ignores packets for other addresses and packets with a bad checksum', async () => {
    const r = rawRig();
    expect(await r.ask('07 00 01 FE FA')).toBe('');
    expect(await r.ask('02 00 01 FE FE')).toBe('');
  });

  it('keeps a 5-result ring, newest first; the oldest falls off; the counter wraps 255 → 1', async () => {
    const r = rawRig();
    const a = acc(r.emu);
    a.setCounter(253);
    for (const [p, path] of [[1, 0], [2, 0], [3, 1], [4, 0], [5, 0], [1, 2]] as const) a.pushEvent(p, path);
    expect(a.eventCounter).toBe(4);
    // 253 + 6 events = 254, 255, 1, 2, 3, 4. counter 4, results: (1,2) (5,0) (4,0) (3,1) (2,0); (1,0) fell off.
    expect(await r.ask('02 00 01 E5 18')).toBe('01 0B 02 00 04 01 02 05 00 04 00 03 01 02 00 DC');
  });

  it('inhibits: 231 + 228 drive the port acceptance; a power cycle inhibits everything again', async () => {
    const r = rawRig();
    expect(await r.ask('02 02 01 E7 0C 00 08')).toBe('01 00 02 00 FD');
    expect([...r.mech.accepted]).toEqual([]);
    expect(await r.ask('02 01 01 E4 01 17')).toBe('01 00 02 00 FD');
    expect([...r.mech.accepted].sort((x, y) => x - y)).toEqual([50, 100]);
    r.emu.powerCycle();
    expect([...r.mech.accepted]).toEqual([]);
    expect(acc(r.emu).eventCounter).toBe(0);
  });

  it('turns port events into buffer entries: credit, reject, jam, return lever', async () => {
    const r = rawRig();
    await r.ask('02 02 01 E7 FF 00 15');
    await r.ask('02 01 01 E4 01 17');
    r.mech.insert(200);
    r.mech.insert(5);
    r.mech.jam();
    r.mech.pressReturn();
    // counter 4: (0,254) (0,14) (0,1) (5,0) (0,0)
    expect(await r.ask('02 00 01 E5 18')).toBe('01 0B 02 00 04 00 FE 00 0E 00 01 05 00 00 00 DC');
  });

  it('reset device (1): ACK first, then the counter is 0', async () => {
    const r = rawRig();
    acc(r.emu).pushEvent(1, 0);
    expect(await r.ask('02 00 01 01 FC')).toBe('01 00 02 00 FD');
    expect(acc(r.emu).eventCounter).toBe(0);
  });
});

describe('ccTalk hopper emulator on the wire (Flow 18 examples, protocols.md §3.5)', () => {
  it('test → enable → dispense (serial mode) → status, byte for byte', async () => {
    const r = rawRig();
    // First read after power-up: power-up + payout disabled; the power-up bit is cleared by reading.
    expect(await r.ask('03 00 01 A3 59')).toBe('01 01 03 00 C0 3B');
    // The manual's "80" reply, with the checksum corrected (the printed BA is wrong).
    expect(await r.ask('03 00 01 A3 59')).toBe('01 01 03 00 80 7B');
    expect(await r.ask('03 01 01 A4 A5 B2')).toBe('01 00 03 00 FC');
    expect(await r.ask('03 04 01 A7 DF D7 0A 01 90')).toBe('01 01 03 00 01 FA');
    expect(await r.ask('03 00 01 A6 56')).toBe('01 04 03 00 01 01 00 00 F6');
    await r.clock.advance(200);
    expect(await r.ask('03 00 01 A6 56')).toBe('01 04 03 00 01 00 01 00 F6');
    expect(r.model.count).toBe(4);
  });

  it('refuses to dispense while disabled or with the wrong serial (NAK), and while paying (BUSY)', async () => {
    const r = rawRig();
    expect(await r.ask('03 04 01 A7 DF D7 0A 01 90')).toBe('01 00 03 05 F7');
    await r.ask('03 01 01 A4 A5 B2');
    expect(await r.ask('03 04 01 A7 DF D7 0B 01 8F')).toBe('01 00 03 05 F7');
    expect(await r.ask('03 04 01 A7 DF D7 0A 03 8E')).toBe('01 01 03 00 01 FA');
    expect(await r.ask('03 04 01 A7 DF D7 0A 01 90')).toBe('01 00 03 06 F6');
    expect(r.model.count).toBe(5);
  });

  it('an empty hopper stops after its payout timeout with the timeout flag and the unpaid count', async () => {
    const r = rawRig(1);
    await r.ask('03 01 01 A4 A5 B2');
    await r.ask('03 04 01 A7 DF D7 0A 03 8E');
    await r.clock.advance(2000);
    // counter 1, remaining 0, paid 1, unpaid 2
    expect(await r.ask('03 00 01 A6 56')).toBe('01 04 03 00 01 00 01 02 F4');
    expect(await r.ask('03 00 01 A3 59')).toBe('01 01 03 00 42 B9');
  });

  it('emergency stop (172) replies with the coins not paid and stops the motor', async () => {
    const r = rawRig(10);
    await r.ask('03 01 01 A4 A5 B2');
    await r.ask('03 04 01 A7 DF D7 0A 05 8C');
    await r.clock.advance(150);
    expect(await r.ask('03 00 01 AC 50')).toBe('01 01 03 00 04 F7');
    await r.clock.advance(2000);
    expect(r.model.count).toBe(9);
  });
});

describe('wire faults', () => {
  it('noAnswer, badChecksum, garbage, nak and busy each affect the next request only', async () => {
    const r = rawRig();
    const a = acc(r.emu);
    a.injectFault({ kind: 'noAnswer' });
    expect(await r.ask('02 00 01 FE FF')).toBe('');
    a.injectFault({ kind: 'badChecksum' });
    expect(await r.ask('02 00 01 FE FF')).toBe('01 00 02 00 FE');
    a.injectFault({ kind: 'garbage', bytes: [0xaa, 0x01] });
    expect(await r.ask('02 00 01 FE FF')).toBe('AA 01 01 00 02 00 FD');
    a.injectFault({ kind: 'garbage', bytes: [0x55], replace: true });
    expect(await r.ask('02 00 01 FE FF')).toBe('55');
    a.injectFault({ kind: 'nak' });
    expect(await r.ask('02 00 01 FE FF')).toBe('01 00 02 05 F8');
    a.injectFault({ kind: 'busy' });
    expect(await r.ask('02 00 01 FE FF')).toBe('01 00 02 06 F7');
    expect(await r.ask('02 00 01 FE FF')).toBe('01 00 02 00 FD');
  });

  it('a dead device answers nothing until revived', async () => {
    const r = rawRig();
    const a = acc(r.emu);
    a.setDead(true);
    expect(await r.ask('02 00 01 FE FF')).toBe('');
    a.setDead(false);
    expect(await r.ask('02 00 01 FE FF')).toBe('01 00 02 00 FD');
  });

  it('seeded random garbage is reproducible', async () => {
    const a = rawRig();
    const b = rawRig();
    acc(a.emu).injectFault({ kind: 'garbage' });
    acc(b.emu).injectFault({ kind: 'garbage' });
    const x = await a.ask('02 00 01 FE FF');
    expect(x).toBe(await b.ask('02 00 01 FE FF'));
    expect(x.endsWith('01 00 02 00 FD')).toBe(true);
    expect(x.length).toBeGreaterThan('01 00 02 00 FD'.length);
  });

  it('refuses two emulators on one address', () => {
    const clock = new VirtualClock();
    const [, device] = createLinkPair(clock);
    expect(() =>
      createCctalkEmulator({
        link: device,
        clock,
        hoppers: [
          { model: new SimpleHopperModel(100, 1), address: 3 },
          { model: new SimpleHopperModel(50, 1), address: 3 },
        ],
      }),
    ).toThrow(/address 3/);
  });
});
