/**
 * Several ccTalk hoppers acting as one payout pool, and the acceptor + pool as one `CoinMechPort`.
 *
 * A payout plan (denomination → coins) is paid hopper by hopper; when a hopper comes up short
 * (empty, jam, timeout), the missing VALUE is re-planned over the hoppers still usable with
 * `makeChange` (fewest coins, src/money/change.ts), until it is paid or cannot be. `paid` always
 * holds exactly the coins the hoppers reported as paid, so it may differ from the plan's mix
 * while `complete` is true (same value, other coins).
 *
 * When no exact re-plan exists the pool stops and reports short; the controller records the
 * rest as debt (money-model.md). It does not pay a best-effort smaller amount on its own.
 */
import { merge, Subject, type Observable, type Subscription } from 'rxjs';
import { makeChange } from '../../src/money/change.ts';
import {
  DeviceError,
  type CoinCounts,
  type CoinMechEvent,
  type CoinMechPort,
  type LinkState,
  type Minor,
  type PayoutResult,
} from '../../src/ports/index.ts';
import { silentLogger, type Logger } from '../serial/log.ts';
import type { CctalkCoinAcceptor } from './acceptor.ts';
import type { CctalkHopper } from './hopper.ts';

function valueOf(counts: CoinCounts): number {
  let v = 0;
  for (const [d, c] of Object.entries(counts)) v += Number(d) * c;
  return v;
}

export interface PayoutPoolOptions {
  readonly logger?: Logger;
}

export class CctalkPayoutPool {
  /** `tubes` after every level change and `fault` for hopper problems (code `HOPPER_EMPTY:hopper3`). */
  readonly events$: Observable<CoinMechEvent>;
  private readonly events = new Subject<CoinMechEvent>();
  private readonly subs: Subscription[] = [];
  private readonly log: Logger;
  private busy = false;

  constructor(
    readonly hoppers: readonly CctalkHopper[],
    opts: PayoutPoolOptions = {},
  ) {
    this.log = opts.logger ?? silentLogger;
    this.events$ = this.events.asObservable();
    for (const h of hoppers)
      this.subs.push(
        h.faults$.subscribe((f) =>
          this.events.next(f.cleared ? { type: 'fault', code: `${f.code}:${f.hopper}`, cleared: true } : { type: 'fault', code: `${f.code}:${f.hopper}` }),
        ),
      );
  }

  /** Coins believed available, by denomination, over the hoppers that are usable. */
  levels(exclude: ReadonlySet<CctalkHopper> = new Set()): CoinCounts {
    const out: Record<number, number> = {};
    // Every denomination with a hopper is listed, 0 when none of its hoppers can pay.
    for (const h of this.hoppers) out[h.coinValue] = (out[h.coinValue] ?? 0) + (exclude.has(h) || !h.usable ? 0 : h.count);
    return out;
  }

  /** A coin the acceptor's sorter dropped into a hopper (`path` feeds it). False when none matches. */
  addFromSorter(path: number, value: Minor): boolean {
    const h = this.hoppers.find((x) => x.sorterPath === path && x.coinValue === value);
    if (!h) return false;
    h.addCoins(1);
    this.events.next({ type: 'tubes', levels: this.levels() });
    return true;
  }

  /** Plan `amount` with the fewest coins over the current levels, then pay it. */
  async payAmount(amount: Minor): Promise<PayoutResult> {
    const plan = makeChange(amount, this.levels());
    if (plan === null) return { paid: {}, complete: amount === 0, faultCode: 'PAYOUT_FAILED' };
    return this.dispense(plan);
  }

  /** Pay `plan`; re-plan the missing value over the other hoppers when one comes up short. */
  async dispense(plan: CoinCounts): Promise<PayoutResult> {
    for (const [d, c] of Object.entries(plan))
      if (!Number.isSafeInteger(Number(d)) || Number(d) <= 0 || !Number.isSafeInteger(c) || c < 0)
        throw new DeviceError('DEVICE_REJECTED', 'payout', `bad payout plan entry ${d}: ${String(c)}`);
    if (this.busy) throw new DeviceError('DEVICE_BUSY', 'payout', 'a payout is already running');
    this.busy = true;
    try {
      return await this.run(plan);
    } finally {
      this.busy = false;
      this.events.next({ type: 'tubes', levels: this.levels() });
    }
  }

  private async run(plan: CoinCounts): Promise<PayoutResult> {
    const target = valueOf(plan);
    const paid: Record<number, number> = {};
    const failed = new Set<CctalkHopper>();
    let lastFault: string | undefined;
    let queue: CoinCounts = plan;
    // Every round either pays the rest or blocks at least one more hopper, so this terminates.
    for (let round = 0; round <= this.hoppers.length; round++) {
      let progress = false;
      const denoms = Object.keys(queue).map(Number).sort((a, b) => b - a);
      for (const d of denoms) {
        let need = queue[d] ?? 0;
        const candidates = this.hoppers
          .filter((h) => h.coinValue === d && !failed.has(h) && h.usable)
          .sort((a, b) => b.count - a.count);
        for (const h of candidates) {
          if (need <= 0) break;
          // The count is an estimate; the last candidate is asked for all that is left anyway.
          const ask = h === candidates[candidates.length - 1] ? need : Math.min(need, h.count);
          const r = await h.dispense(ask);
          if (r.paid > 0) {
            paid[d] = (paid[d] ?? 0) + r.paid;
            need -= r.paid;
            progress = true;
          }
          if (!r.complete) {
            failed.add(h);
            lastFault = r.faultCode;
            progress = true;
          }
        }
      }
      const short = target - valueOf(paid);
      if (short === 0) return { paid, complete: true };
      if (!progress) break;
      const next = makeChange(short, this.levels(failed));
      if (next === null) {
        this.log.warn({ short, levels: this.levels(failed) }, 'ccTalk pool: the rest cannot be paid exactly');
        break;
      }
      this.log.warn({ short, plan: next, fault: lastFault }, 'ccTalk pool: re-planning the rest of a payout');
      queue = next;
    }
    return { paid, complete: false, faultCode: lastFault ?? 'PAYOUT_FAILED' };
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    this.events.complete();
  }
}

export interface CctalkCoinMechParts {
  readonly acceptor: CctalkCoinAcceptor;
  readonly hoppers: readonly CctalkHopper[];
  readonly logger?: Logger;
}

export interface CctalkCoinMech extends CoinMechPort {
  readonly acceptor: CctalkCoinAcceptor;
  readonly pool: CctalkPayoutPool;
  close(): void;
}

/**
 * The acceptor and the hoppers as one `CoinMechPort`: acceptance and credit from the acceptor,
 * `tubeLevels` and `dispense` from the hopper pool. Hoppers with a `sorterPath` are registered
 * with the acceptor, so coins sorted into them are reported as `tube` and counted into the hopper.
 * Link state is the acceptor's (hopper trouble shows as faults and short payouts).
 */
export function createCctalkCoinMech(parts: CctalkCoinMechParts): CctalkCoinMech {
  const { acceptor, hoppers } = parts;
  const pool = new CctalkPayoutPool(hoppers, parts.logger ? { logger: parts.logger } : {});
  const paths: Record<number, Minor> = {};
  for (const h of hoppers) if (h.sorterPath !== undefined) paths[h.sorterPath] = h.coinValue;
  acceptor.routeSorterPaths(paths);
  const sub = acceptor.credits$.subscribe((c) => {
    if (c.routing === 'tube') pool.addFromSorter(c.path, c.value);
  });
  const link$: Observable<LinkState> = acceptor.link$;
  return {
    name: acceptor.name,
    acceptor,
    pool,
    link$,
    events$: merge(acceptor.events$, pool.events$),
    setAcceptance: (values) => acceptor.setAcceptance(values),
    tubeLevels: () => Promise.resolve(pool.levels()),
    dispense: (plan) => pool.dispense(plan),
    close: () => {
      sub.unsubscribe();
      pool.close();
    },
  };
}
