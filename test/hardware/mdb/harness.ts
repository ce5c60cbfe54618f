/**
 * The full MDB stack on a VirtualClock: port-level doubles → MDB emulators → emulated interface
 * board → EmulatorBinding → real SerialLink → MdbBoard → MDB drivers.
 */
import { VirtualClock } from '../../../sim/clock.ts';
import { EmulatorBinding } from '../../../sim/wire/binding.ts';
import { createMdbEmulator } from '../../../sim/wire/mdb/index.ts';
import type { MdbEmulator, MdbEmulatorOptions } from '../../../sim/wire/mdb/index.ts';
import { createMdbDevices, openMdbSerialLink } from '../../../hardware/mdb/index.ts';
import type { MdbDevicesOptions } from '../../../hardware/mdb/index.ts';
import type { MdbBillValidator } from '../../../hardware/mdb/validator.ts';
import type { MdbCashless } from '../../../hardware/mdb/cashless.ts';
import type { MdbCoinChanger } from '../../../hardware/mdb/changer.ts';
import type { MdbBoard } from '../../../hardware/mdb/board.ts';
import { FrameTracer, formatTrace } from '../../../hardware/serial/trace.ts';
import type { SerialLink } from '../../../hardware/serial/link.ts';
import type { BillEvent, CashlessEvent, CoinMechEvent, LinkState } from '../../../src/ports/index.ts';
import { FakeBillValidator, FakeCashless, FakeCoinMech } from './doubles.ts';
import { collect } from '../serial/helpers.ts';

export const COINS = [5, 10, 20, 50, 100, 200];
export const BILLS = [500, 1000, 2000];

export interface RigOptions {
  readonly tubes?: Record<number, number>;
  readonly replyChecksum?: 'stripped' | 'included';
  readonly emulator?: Partial<MdbEmulatorOptions>;
  readonly devices?: MdbDevicesOptions;
  readonly cardBalance?: number;
  /** Coins a tube of the fake mech holds before coins go to the cash box (default 50). */
  readonly tubeCapacity?: number;
}

export interface Rig {
  readonly clock: VirtualClock;
  readonly binding: EmulatorBinding;
  readonly emu: MdbEmulator;
  readonly link: SerialLink;
  readonly tracer: FrameTracer;
  readonly board: MdbBoard;
  readonly coin: MdbCoinChanger;
  readonly bill: MdbBillValidator;
  readonly card: MdbCashless;
  readonly fakeCoin: FakeCoinMech;
  readonly fakeBill: FakeBillValidator;
  readonly fakeCard: FakeCashless;
  readonly coinEvents: CoinMechEvent[];
  readonly billEvents: BillEvent[];
  readonly cardEvents: CashlessEvent[];
  readonly coinLink: LinkState[];
  readonly billLink: LinkState[];
  readonly cardLink: LinkState[];
  /** Start the drivers and open the link, without waiting for anything. */
  start(): Promise<void>;
  /** Start everything and run until all three devices are online. */
  boot(): Promise<void>;
  /** Advance until `pred` holds (fails the test after `limitMs` of virtual time). */
  until(pred: () => boolean, limitMs?: number): Promise<void>;
  /** Advance the clock until the promise settles; resolve/reject like it. */
  run<T>(p: Promise<T>, limitMs?: number): Promise<T>;
  /** Like `run`, but returns the rejection (or undefined when it resolved). */
  fails(p: Promise<unknown>, limitMs?: number): Promise<unknown>;
  /** The trace as text (for debugging a failing test). */
  dump(last?: number): string;
  stop(): Promise<void>;
}

export function mdbRig(o: RigOptions = {}): Rig {
  const clock = new VirtualClock();
  const fakeCoin = new FakeCoinMech(clock, o.tubes ?? { 5: 20, 10: 20, 20: 20, 50: 10, 100: 5, 200: 2 }, o.tubeCapacity ?? 50);
  const fakeBill = new FakeBillValidator(clock);
  const fakeCard = new FakeCashless(clock, o.cardBalance ?? 500);
  const emu = createMdbEmulator({
    coin: fakeCoin,
    bill: fakeBill,
    card: fakeCard,
    clock,
    options: { coins: COINS, bills: BILLS, replyChecksum: o.replyChecksum, ...o.emulator },
  });
  const binding = new EmulatorBinding();
  binding.register(emu);
  const tracer = new FrameTracer({ capacity: 5000 });
  const link = openMdbSerialLink({ clock, binding, backoff: { initialMs: 100, maxMs: 1000 } });
  const mdb = createMdbDevices({
    link,
    clock,
    tracer,
    options: { currencyDecimals: 2, ...o.devices, board: { replyChecksum: o.replyChecksum, ...o.devices?.board } },
  });
  const { coin, bill, card, board } = mdb;
  if (!coin || !bill || !card) throw new Error('rig needs all three devices');
  const until = async (pred: () => boolean, limitMs = 60_000): Promise<void> => {
    const ok = await clock.runUntil(pred, limitMs);
    if (!ok) throw new Error(`condition not reached within ${limitMs} ms of virtual time\n${rig.dump(40)}`);
  };
  const rig: Rig = {
    clock,
    binding,
    emu,
    link,
    tracer,
    board,
    coin,
    bill,
    card,
    fakeCoin,
    fakeBill,
    fakeCard,
    coinEvents: collect(coin.events$),
    billEvents: collect(bill.events$),
    cardEvents: collect(card.events$),
    coinLink: collect(coin.link$),
    billLink: collect(bill.link$),
    cardLink: collect(card.link$),
    async start() {
      mdb.start();
      await link.open();
    },
    async boot() {
      await rig.start();
      await until(() => coin.state === 'ready' && bill.state === 'ready' && card.state === 'ready', 10_000);
    },
    until,
    async run<T>(p: Promise<T>, limitMs = 60_000): Promise<T> {
      let out: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
      p.then(
        (value) => {
          out = { ok: true, value };
        },
        (error: unknown) => {
          out = { ok: false, error };
        },
      );
      await until(() => out !== undefined, limitMs);
      if (!out) throw new Error('unreachable');
      if (!out.ok) throw out.error;
      return out.value;
    },
    async fails(p: Promise<unknown>, limitMs = 60_000): Promise<unknown> {
      try {
        await rig.run(p, limitMs);
        return undefined;
      } catch (e) {
        return e;
      }
    },
    dump(last = 60) {
      return tracer
        .recent(last)
        .map((t) => formatTrace(t))
        .join('\n');
    },
    async stop() {
      await mdb.stop();
      await link.close();
      emu.dispose();
    },
  };
  return rig;
}

/** Settle a promise into a value or a DeviceError-ish error, for assertions after clock advances. */
export function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown } {
  const s: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (v) => {
      s.done = true;
      s.value = v;
    },
    (e: unknown) => {
      s.done = true;
      s.error = e;
    },
  );
  return s;
}
