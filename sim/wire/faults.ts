/**
 * Seeded, reproducible wire faults for the MDB link of a wire world (sim/wire/machine.ts): what a
 * real interface-board link meets, on top of the port-level device faults (sim/faults.ts).
 *
 * - reply faults, drawn for every reply line the board sends with probability `replyRate`: noise
 *   glued to the line, a garbage line before it, the line lost, a stray well-formed line before or
 *   after it, the line twice, the line slow (within the host's timeout) or late (after it);
 * - events, one at a time by `inject()` (or a chosen kind): a stray line out of nowhere, the board
 *   silent for a few commands, a peripheral power cycle (it resets and forgets what it had not
 *   reported), the USB cable pulled and put back.
 *
 * Everything is drawn from one `Random` (sim/random.ts), so a seed replays the same faults at the
 * same points of the same run. Counters say what was injected (for soak reports).
 */
import type { Clock } from '../../src/clock.ts';
import { createRandom, type Random } from '../random.ts';
import type { ReplyFault } from './mdb/board.ts';
import type { MdbEmulator } from './mdb/index.ts';
import type { EmulatorBinding } from './binding.ts';

export type WireFaultEvent = 'stray' | 'silence' | 'powerCycle' | 'unplug';

export const WIRE_FAULT_EVENTS: readonly WireFaultEvent[] = ['stray', 'silence', 'powerCycle', 'unplug'];

export interface WireFaultOptions {
  readonly seed: number;
  /** Probability that a reply line meets a fault (default 0.02). */
  readonly replyRate?: number;
  /** The host's answer timeout, so "slow" stays under it and "late" goes over it (default 250 ms). */
  readonly hostTimeoutMs?: number;
}

export interface WireFaultTarget {
  readonly mdb: MdbEmulator;
  readonly binding: EmulatorBinding;
  readonly mdbPath: string;
}

/** Well-formed lines that are nobody's answer: ACKs, NACKs and POLL data of every device. */
const STRAY_LINES = ['p,ACK', 'p,NACK', 'p,5301', 'p,530B', 'p,0B', 'p,90', 'p,80', 'p,0300C8', 'p,050096', 'p,07', 'm,ACK'];
const NOISE = ['~', '\u0000', '\u00ff', '#', '\u0007~', 'p'];

export class WireFaults {
  /** Faults injected so far, by kind. */
  readonly injected: Record<string, number> = {};
  private readonly random: Random;
  private readonly replyRate: number;
  private readonly timeoutMs: number;
  private active = false;

  constructor(
    private readonly target: WireFaultTarget,
    private readonly clock: Clock,
    opts: WireFaultOptions,
  ) {
    this.random = createRandom(opts.seed);
    this.replyRate = opts.replyRate ?? 0.02;
    this.timeoutMs = opts.hostTimeoutMs ?? 250;
  }

  /** Total faults injected. */
  get total(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
  }

  /** Start drawing reply faults. */
  start(): void {
    this.active = true;
    this.target.mdb.replyFaults = (_cmd, _reply) => (this.active && this.random.chance(this.replyRate) ? this.count(this.replyFault()) : undefined);
  }

  /** Stop drawing reply faults (events already scheduled still happen). */
  stop(): void {
    this.active = false;
    this.target.mdb.replyFaults = undefined;
  }

  /** One wire event now: the kind given, or one drawn at random. Returns what was done. */
  inject(kind: WireFaultEvent = this.random.pick(WIRE_FAULT_EVENTS)): string {
    const { mdb, binding, mdbPath } = this.target;
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
    switch (kind) {
      case 'stray': {
        const line = this.random.pick(STRAY_LINES);
        mdb.sendLine(line);
        return `stray line ${line}`;
      }
      case 'silence': {
        const n = this.random.int(1, 3);
        mdb.dropCommands(n);
        return `board silent for ${n} command(s)`;
      }
      case 'powerCycle': {
        const devices = [mdb.changer, mdb.validator, mdb.reader].filter((d) => d !== undefined);
        if (devices.length === 0) return 'no device to power-cycle';
        const d = this.random.pick(devices);
        d.powerCycle();
        return `power cycle of the device at ${d.address.toString(16)}h`;
      }
      case 'unplug': {
        const ms = this.random.int(50, 3000);
        binding.unplug(mdbPath);
        this.clock.setTimeout(() => binding.replug(mdbPath), ms);
        return `USB unplugged for ${ms} ms`;
      }
    }
  }

  private count(f: ReplyFault): ReplyFault {
    const k = f.kind === 'delay' ? (f.ms > this.timeoutMs ? 'late' : 'slow') : f.kind;
    this.injected[k] = (this.injected[k] ?? 0) + 1;
    return f;
  }

  private replyFault(): ReplyFault {
    const r = this.random;
    switch (r.int(0, 7)) {
      case 0:
        return { kind: 'noise', text: r.pick(NOISE) };
      case 1:
        return { kind: 'noiseLine', text: r.pick(['#~?!', 'p,ZZ', '\u0000\u0000', 'x'.repeat(300)]) };
      case 2:
        return { kind: 'lose' };
      case 3:
        return { kind: 'strayBefore', line: r.pick(STRAY_LINES) };
      case 4:
        return { kind: 'strayAfter', line: r.pick(STRAY_LINES), afterMs: r.int(0, 30) };
      case 5:
        return { kind: 'duplicate', afterMs: r.int(0, 30) };
      case 6:
        return { kind: 'delay', ms: r.int(20, this.timeoutMs - 20) };
      default:
        return { kind: 'delay', ms: r.int(this.timeoutMs + 10, this.timeoutMs * 3) };
    }
  }
}
