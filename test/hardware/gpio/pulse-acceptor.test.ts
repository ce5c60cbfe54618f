import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Subject } from 'rxjs';
import type { CoinCounts, CoinMechEvent, CoinMechPort, LinkState, Minor } from '../../../src/ports/index.ts';
import { isDeviceError } from '../../../src/ports/index.ts';
import type { PulseDiagnostic } from '../../../hardware/gpio/index.ts';
import { COIN, collect, must, rig } from './helpers.ts';

const ALL = [10, 20, 50, 100];

async function coinRig(sim: Parameters<typeof rig>[1] = {}) {
  const r = await rig({ coin: COIN }, sim);
  const coin = must(r.gpio.coin, 'coin');
  const bridge = must(r.sim.coin, 'coin bridge');
  const events = collect(coin.events$);
  const diags = collect(coin.diagnostics$);
  return { ...r, coin, bridge, events, diags };
}

const coins = (events: CoinMechEvent[]): Minor[] => events.flatMap((e) => (e.type === 'coin' ? [e.value] : []));
const faults = (events: CoinMechEvent[]): string[] => events.flatMap((e) => (e.type === 'fault' ? [`${e.code}${e.cleared ? ':cleared' : ''}`] : []));
const noise = (d: PulseDiagnostic[]): string[] => d.flatMap((x) => (x.type === 'noise' ? [x.reason] : []));

describe('PulseCoinAcceptor: counting', () => {
  it('credits each coin of the table from its exact pulse count, routed to the cashbox', async () => {
    const { clock, coin, bridge, events } = await coinRig();
    await coin.setAcceptance(ALL);
    for (const v of [10, 20, 50, 100]) expect(bridge.insertCoin(v)).toBe('accepted');
    await clock.advance(10_000);
    expect(coins(events)).toEqual([10, 20, 50, 100]);
    expect(events.every((e) => e.type !== 'coin' || e.routing === 'cashbox')).toBe(true);
    expect(faults(events)).toEqual([]);
  });

  it('ends a train gapMs after its last pulse, not before', async () => {
    const { clock, coin, bridge, events } = await coinRig({ coinTiming: { validationMs: 100, pulseMs: 50, pauseMs: 50 } });
    await coin.setAcceptance(ALL);
    bridge.insertCoin(50); // 5 pulses: 100..150, 200..250, ..., 500..550
    await clock.advance(550 + 200 - 1); // 1 ms before the gap (200 ms) runs out
    expect(coins(events)).toEqual([]);
    await clock.advance(1);
    expect(coins(events)).toEqual([50]);
  });

  it('keeps trains apart when the acceptor spaces coins beyond the gap (fast successive coins)', async () => {
    const { clock, coin, bridge, events } = await coinRig({ coinTiming: { validationMs: 50, pulseMs: 20, pauseMs: 30, spacingMs: 210 } });
    await coin.setAcceptance(ALL);
    const burst = [100, 10, 10, 50, 20, 100, 10];
    for (const v of burst) bridge.insertCoin(v);
    await clock.advance(20_000);
    expect(coins(events)).toEqual(burst);
  });

  it('merged trains (coins closer than the gap) give an unknown count: a fault, never credit', async () => {
    const { clock, coin, bridge, events, logs } = await coinRig({ coinTiming: { spacingMs: 60 } });
    await coin.setAcceptance(ALL);
    bridge.insertCoin(10);
    bridge.insertCoin(20); // 1 + 2 = 3 pulses: no coin has 3
    await clock.advance(5_000);
    expect(coins(events)).toEqual([]);
    expect(faults(events)).toEqual(['PULSE_COUNT_UNKNOWN', 'PULSE_COUNT_UNKNOWN:cleared']);
    expect(logs.some((l) => l.level === 'error' && l.msg.includes('matches no coin'))).toBe(true);
  });

  it('does not credit a count missing from the table (miscounting acceptor)', async () => {
    const { clock, coin, bridge, events, diags } = await coinRig();
    await coin.setAcceptance(ALL);
    bridge.playTrain(7);
    await clock.advance(5_000);
    expect(coins(events)).toEqual([]);
    expect(diags).toContainEqual({ type: 'train', pulses: 7, value: null, inhibited: false });
    expect(faults(events)).toContain('PULSE_COUNT_UNKNOWN');
  });
});

describe('PulseCoinAcceptor: noise', () => {
  it('ignores a glitch shorter than the debounce time', async () => {
    const { clock, bridge, events, diags } = await coinRig();
    bridge.pulse(1);
    await clock.advance(1_000);
    expect(events).toEqual([]);
    expect(noise(diags)).toEqual(['glitch']);
  });

  it('ignores pulses shorter than minPulseMs and longer than maxPulseMs, and logs them', async () => {
    const { clock, bridge, events, diags, logs } = await coinRig();
    bridge.pulse(8);
    bridge.pulse(300, 500);
    await clock.advance(2_000);
    expect(coins(events)).toEqual([]);
    expect(noise(diags)).toEqual(['short', 'long']);
    expect(logs.filter((l) => l.msg === 'coin line noise ignored')).toHaveLength(2);
  });

  it('a noise spike between pulses of a train does not change its count', async () => {
    const { clock, coin, bridge, events, diags } = await coinRig({ coinTiming: { validationMs: 100, pulseMs: 50, pauseMs: 60 } });
    await coin.setAcceptance(ALL);
    bridge.insertCoin(50); // pulses at 100, 210, 320, 430, 540
    bridge.pulse(6, 170); // in the pause after the first pulse
    await clock.advance(3_000);
    expect(coins(events)).toEqual([50]);
    expect(noise(diags)).toEqual(['short']);
  });

  it('a 1 ms dropout inside a pulse does not split it', async () => {
    const { clock, coin, sim, events } = await coinRig();
    await coin.setAcceptance(ALL);
    const io = sim.io;
    io.drive(COIN.pin, 0);
    await clock.advance(25);
    io.drive(COIN.pin, 1);
    await clock.advance(1);
    io.drive(COIN.pin, 0);
    await clock.advance(25);
    io.release(COIN.pin);
    await clock.advance(1_000);
    expect(coins(events)).toEqual([10]);
  });

  it('noise in the gap does not stretch a train into the next coin', async () => {
    const { clock, coin, bridge, events } = await coinRig({ coinTiming: { validationMs: 100, pulseMs: 50, pauseMs: 50, spacingMs: 230 } });
    await coin.setAcceptance(ALL);
    bridge.insertCoin(10); // pulse 100..150; next coin starts at 150 + 230 = 380
    bridge.insertCoin(10);
    bridge.pulse(12, 340); // spike 340..352, right across the end of the 200 ms gap
    await clock.advance(3_000);
    expect(coins(events)).toEqual([10, 10]);
  });

  it('reports a line stuck active and clears it on release, crediting nothing', async () => {
    const { clock, bridge, events } = await coinRig();
    bridge.hold(true);
    await clock.advance(2_100);
    expect(faults(events)).toEqual(['COIN_LINE_STUCK']);
    bridge.hold(false);
    await clock.advance(1_000);
    expect(faults(events)).toEqual(['COIN_LINE_STUCK', 'COIN_LINE_STUCK:cleared']);
    expect(coins(events)).toEqual([]);
  });

  it('property: coins interleaved with short random spikes are credited exactly (seeded)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(10, 20, 50, 100), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 1_000_000 }), async (seq, seed) => {
        const { clock, coin, bridge, events } = await coinRig({ coinTiming: { validationMs: 100, pulseMs: 40, pauseMs: 60, spacingMs: 320 } });
        await coin.setAcceptance(ALL);
        for (const v of seq) bridge.insertCoin(v);
        bridge.noise({ seed, everyMs: [40, 400], widthMs: [1, 12], forMs: seq.length * 1_600 });
        await clock.advance(seq.length * 1_600 + 1_000);
        expect(coins(events)).toEqual(seq);
      }),
      { seed: 20240601, numRuns: 25 },
    );
  });
});

describe('PulseCoinAcceptor: acceptance and inhibit', () => {
  it('starts inhibited; the inhibit pin follows setAcceptance (any known value enables)', async () => {
    const { coin, sim, bridge } = await coinRig();
    const inhibitLevel = () => sim.io.output(COIN.inhibit.pin);
    expect(inhibitLevel()).toBe(1); // activeLevel 'high' inhibits
    expect(bridge.inhibited).toBe(true);
    await coin.setAcceptance([50]);
    expect(inhibitLevel()).toBe(0);
    expect(coin.accepting).toBe(true);
    await coin.setAcceptance([]);
    expect(inhibitLevel()).toBe(1);
    await coin.setAcceptance([200, 500]); // values this acceptor never reports
    expect(inhibitLevel()).toBe(1);
    expect(coin.accepting).toBe(false);
  });

  it('honours an active-low inhibit input', async () => {
    const r = await rig({ coin: { ...COIN, inhibit: { pin: 5, activeLevel: 'low' } } });
    const coin = must(r.gpio.coin);
    expect(r.sim.io.output(5)).toBe(0);
    await coin.setAcceptance(ALL);
    expect(r.sim.io.output(5)).toBe(1);
  });

  it('an inhibited acceptor returns coins: no pulses, no credit', async () => {
    const { clock, bridge, events } = await coinRig();
    expect(bridge.insertCoin(100)).toBe('rejected');
    await clock.advance(3_000);
    expect(events).toEqual([]);
  });

  it('a coin already in flight when inhibited is still credited (it is in the cashbox)', async () => {
    const { clock, coin, bridge, events, logs } = await coinRig();
    await coin.setAcceptance(ALL);
    bridge.insertCoin(20);
    await coin.setAcceptance([]);
    await clock.advance(3_000);
    expect(coins(events)).toEqual([20]);
    expect(logs.some((l) => l.level === 'warn' && l.msg.includes('while inhibited'))).toBe(true);
  });

  it('cannot pay out and has no tubes', async () => {
    const { coin } = await coinRig();
    await expect(coin.dispense({ 10: 1 })).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
    expect(await coin.tubeLevels()).toEqual({});
  });

  it('rejects setAcceptance with DEVICE_OFFLINE once the board is unplugged', async () => {
    const { coin, sim } = await coinRig();
    const links = collect(coin.link$);
    sim.io.unplug();
    const err: unknown = await coin.setAcceptance(ALL).catch((e: unknown) => e);
    expect(isDeviceError(err) && err.code).toBe('DEVICE_OFFLINE');
    expect(links.at(-1)).toEqual({ status: 'offline', reason: 'closed' });
  });

  it('reports the coin-return button', async () => {
    const { clock, bridge, events } = await coinRig();
    bridge.pressReturn(100);
    await clock.advance(500);
    expect(events).toEqual([{ type: 'returnPressed' }]);
  });
});

describe('CoinPulseBridge following a port-level coin mech', () => {
  /** A minimal port double: the customer side emits coins; acceptance is recorded. */
  class FakeMech implements CoinMechPort {
    readonly name = 'coin';
    readonly link$ = new Subject<LinkState>();
    readonly events$ = new Subject<CoinMechEvent>();
    acceptance: Minor[][] = [];
    async setAcceptance(values: readonly Minor[]): Promise<void> {
      this.acceptance.push([...values]);
    }
    async tubeLevels(): Promise<CoinCounts> {
      return {};
    }
    async dispense(): Promise<never> {
      throw new Error('not used');
    }
  }

  it('turns the port device coins into pulses and mirrors the inhibit line as acceptance', async () => {
    const { clock, coin, bridge, events } = await coinRig();
    const mech = new FakeMech();
    bridge.attach(mech);
    expect(mech.acceptance).toEqual([[]]); // inhibited at start
    await coin.setAcceptance(ALL);
    expect(mech.acceptance.at(-1)).toEqual([10, 20, 50, 100]);
    mech.events$.next({ type: 'coin', value: 50, routing: 'tube' });
    mech.events$.next({ type: 'coin', value: 20, routing: 'rejected' }); // refused at the slot: no pulses
    await clock.advance(3_000);
    expect(coins(events)).toEqual([50]);
  });
});
