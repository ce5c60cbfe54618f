/**
 * Test rig for the ccTalk driver against the ccTalk emulators over an in-memory link, on a
 * VirtualClock. `FakeCoinMech` is a minimal port-level coin mech (the emulator's back end).
 */
import { BehaviorSubject, Subject } from 'rxjs';
import { VirtualClock } from '../../../sim/clock.ts';
import { createLinkPair, type LinkPairOptions, type PipeEnd } from '../../../sim/wire/pipe.ts';
import { createCctalkEmulator, SimpleHopperModel, type CctalkEmulator } from '../../../sim/wire/cctalk/index.ts';
import type { EmulatedCoin } from '../../../sim/wire/cctalk/index.ts';
import {
  createCctalkDevices,
  type CctalkDevices,
  type CctalkDevicesOptions,
  type CctalkHopperOptions,
} from '../../../hardware/cctalk/index.ts';
import {
  ONLINE,
  type CoinCounts,
  type CoinMechEvent,
  type CoinMechPort,
  type LinkState,
  type Minor,
  type PayoutResult,
} from '../../../src/ports/index.ts';

export class FakeCoinMech implements CoinMechPort {
  readonly name = 'fake-coin';
  readonly events = new Subject<CoinMechEvent>();
  readonly events$ = this.events.asObservable();
  readonly link$ = new BehaviorSubject<LinkState>(ONLINE).asObservable();
  accepted = new Set<Minor>();
  /** Accepted coins of these values go to a tube (the rest to the cashbox). */
  tubeValues = new Set<Minor>();
  acceptanceCalls = 0;

  setAcceptance(values: readonly Minor[]): Promise<void> {
    this.acceptanceCalls++;
    this.accepted = new Set(values);
    return Promise.resolve();
  }
  tubeLevels(): Promise<CoinCounts> {
    return Promise.resolve({});
  }
  dispense(_plan: CoinCounts): Promise<PayoutResult> {
    return Promise.resolve({ paid: {}, complete: false, faultCode: 'NOT_SUPPORTED' });
  }
  /** The customer inserts a coin: credited when enabled, else rejected. */
  insert(value: Minor): boolean {
    const ok = this.accepted.has(value);
    const routing = !ok ? 'rejected' : this.tubeValues.has(value) ? 'tube' : 'cashbox';
    this.events.next({ type: 'coin', value, routing });
    return ok;
  }
  jam(): void {
    this.events.next({ type: 'fault', code: 'COIN_JAM' });
  }
  pressReturn(): void {
    this.events.next({ type: 'returnPressed' });
  }
}

export const EURO_COINS: readonly EmulatedCoin[] = [
  { position: 1, value: 10 },
  { position: 2, value: 20 },
  { position: 3, value: 50 },
  { position: 4, value: 100 },
  { position: 5, value: 200 },
];
export const EURO = [10, 20, 50, 100, 200];

export interface RigOptions {
  readonly link?: LinkPairOptions;
  readonly hoppers?: readonly { value: Minor; coins: number; hostCount?: number; sorterPath?: number }[];
  readonly devices?: Omit<CctalkDevicesOptions, 'hoppers'>;
  readonly sorterPaths?: Readonly<Record<number, number>>;
  readonly payoutPerCoinMs?: number;
  /** Extra options for every host-side hopper driver. */
  readonly hopperOptions?: Partial<Omit<CctalkHopperOptions, 'coinValue'>>;
}

export interface Rig {
  readonly clock: VirtualClock;
  readonly host: PipeEnd;
  readonly device: PipeEnd;
  readonly mech: FakeCoinMech;
  readonly emu: CctalkEmulator;
  readonly models: SimpleHopperModel[];
  readonly cc: CctalkDevices;
  readonly events: CoinMechEvent[];
  readonly links: LinkState[];
  /** Values of coins credited (tube or cashbox), in order. */
  credited(): Minor[];
  faults(): string[];
  /** Advance until the acceptor is online (and initialised). */
  ready(): Promise<void>;
}

export function rig(o: RigOptions = {}): Rig {
  const clock = new VirtualClock();
  const [host, device] = createLinkPair(clock, { echo: true, ...o.link });
  const mech = new FakeCoinMech();
  for (const v of Object.keys(o.sorterPaths ?? {})) mech.tubeValues.add(Number(v));
  const models = (o.hoppers ?? []).map((h) => new SimpleHopperModel(h.value, h.coins));
  const emu = createCctalkEmulator({
    link: device,
    clock,
    acceptor: { port: mech, coins: EURO_COINS, ...(o.sorterPaths ? { sorterPaths: o.sorterPaths } : {}) },
    hoppers: models.map((model) => ({ model, payoutPerCoinMs: o.payoutPerCoinMs ?? 150 })),
  });
  const cc = createCctalkDevices({
    link: host,
    clock,
    options: {
      ...o.devices,
      acceptor: { denominations: EURO, ...o.devices?.acceptor },
      hoppers: (o.hoppers ?? []).map((h) => ({
        ...o.hopperOptions,
        coinValue: h.value,
        initialCount: h.hostCount ?? h.coins,
        ...(h.sorterPath !== undefined ? { sorterPath: h.sorterPath } : {}),
      })),
    },
  });
  const events: CoinMechEvent[] = [];
  const links: LinkState[] = [];
  cc.coinMech.events$.subscribe((e) => events.push(e));
  cc.coinMech.link$.subscribe((s) => links.push(s));
  let online = false;
  cc.coinMech.link$.subscribe((s) => (online = s.status === 'online'));
  return {
    clock,
    host,
    device,
    mech,
    emu,
    models,
    cc,
    events,
    links,
    credited: () => events.flatMap((e) => (e.type === 'coin' && e.routing !== 'rejected' ? [e.value] : [])),
    faults: () => events.flatMap((e) => (e.type === 'fault' && !e.cleared ? [e.code] : [])),
    ready: async () => {
      await clock.runUntil(() => online, 10_000);
      if (!online) throw new Error('acceptor never came online');
    },
  };
}

/** The acceptor emulator, which every rig has. */
export function acceptorEmu(r: Rig): NonNullable<CctalkEmulator['acceptor']> {
  const a = r.emu.acceptor;
  if (!a) throw new Error('rig without acceptor emulator');
  return a;
}

/** Run the virtual clock until `p` settles (every reply is a timer); rejects like `p`. */
export async function settle<T>(clock: VirtualClock, p: Promise<T>, limitMs = 120_000): Promise<T> {
  let done = false;
  const tracked = p.finally(() => {
    done = true;
  });
  tracked.catch(() => undefined);
  await clock.runUntil(() => done, limitMs);
  if (!done) throw new Error(`promise did not settle within ${limitMs} virtual ms`);
  return tracked;
}
