/**
 * ccTalk adapters: one bus, a coin acceptor and optional payout hoppers, exposed to the
 * controller as one `CoinMechPort`.
 */
import type { Clock } from '../../src/clock.ts';
import type { Logger } from '../serial/log.ts';
import type { ByteLink } from '../serial/types.ts';
import { CctalkCoinAcceptor, type CctalkAcceptorOptions } from './acceptor.ts';
import { CctalkBus, type CctalkBusOptions } from './bus.ts';
import { CctalkHopper, type CctalkHopperOptions } from './hopper.ts';
import { createCctalkCoinMech, type CctalkCoinMech } from './payout-pool.ts';

export { CctalkBus, type CctalkBusOptions, type RequestOptions } from './bus.ts';
export { CctalkCoinAcceptor, type AcceptedCoin, type CctalkAcceptorOptions, type CctalkIdentity, type CoinPosition } from './acceptor.ts';
export { CctalkHopper, type CctalkHopperOptions, type HopperPayout, type HopperStatus } from './hopper.ts';
export { CctalkPayoutPool, createCctalkCoinMech, type CctalkCoinMech } from './payout-pool.ts';
export * from './codec.ts';
export * from './events.ts';
export { cctalkBlockSchema } from './options.ts';

export interface CctalkDevicesOptions {
  readonly bus?: Omit<CctalkBusOptions, 'logger'>;
  readonly acceptor?: Omit<CctalkAcceptorOptions, 'logger'>;
  /** One entry per hopper; addresses default to 3, 4, ... in order. */
  readonly hoppers?: readonly Omit<CctalkHopperOptions, 'logger'>[];
  /** Start the acceptor's poll loop and initialise the hoppers now (default true). */
  readonly autoStart?: boolean;
  readonly logger?: Logger;
}

export interface CctalkDevices {
  readonly bus: CctalkBus;
  readonly acceptor: CctalkCoinAcceptor;
  readonly hoppers: readonly CctalkHopper[];
  /** The acceptor plus the hopper pool as the controller's `CoinMechPort`. */
  readonly coinMech: CctalkCoinMech;
  /** Start polling (no-op when already started). */
  start(): void;
  /** Stop polling, close the bus and the link. */
  close(): Promise<void>;
}

/**
 * Build the ccTalk host stack on `link` (a `SerialLink` at 9600 8N1, or the host end of
 * `createLinkPair` in tests): a bus, the coin acceptor and the hoppers, and `coinMech`, the
 * `CoinMechPort` for the controller. Hoppers with a `sorterPath` are fed by the acceptor's sorter
 * (coins routed there count as `tube`). Everything runs on `clock`.
 *
 * @example
 * const cc = createCctalkDevices({ link, clock, options: {
 *   acceptor: { denominations: [10, 20, 50, 100, 200] },
 *   hoppers: [{ coinValue: 100, initialCount: 50, sorterPath: 1 }, { coinValue: 50, initialCount: 50 }] } });
 * ports.coin = cc.coinMech;
 */
export function createCctalkDevices(args: { link: ByteLink; clock: Clock; options?: CctalkDevicesOptions }): CctalkDevices {
  const { link, clock } = args;
  const options = args.options ?? {};
  const logger = options.logger ? { logger: options.logger } : {};
  const bus = new CctalkBus(link, clock, { ...options.bus, ...logger });
  const acceptor = new CctalkCoinAcceptor(bus, clock, { ...options.acceptor, ...logger });
  const hoppers = (options.hoppers ?? []).map(
    (h, i) => new CctalkHopper(bus, clock, { ...h, address: h.address ?? 3 + i, ...logger }),
  );
  const coinMech = createCctalkCoinMech({ acceptor, hoppers, ...logger });
  const start = (): void => {
    acceptor.start();
    // Identity and serial now, so the first payout need not wait; failures retry on first use.
    for (const h of hoppers) h.init().catch(() => undefined);
  };
  if (options.autoStart ?? true) start();
  return {
    bus,
    acceptor,
    hoppers,
    coinMech,
    start,
    close: async () => {
      acceptor.stop();
      coinMech.close();
      await bus.close();
    },
  };
}
