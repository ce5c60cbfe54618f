/**
 * ccTalk wire emulators: a coin acceptor and payout hoppers answering on the device side of a
 * ByteLink, in front of port-level devices (wire-common: the world and its faults are reused, the
 * emulators add wire faults).
 */
import type { Clock } from '../../../src/clock.ts';
import type { ByteLink } from '../../../hardware/serial/types.ts';
import type { Logger } from '../../../hardware/serial/log.ts';
import { CctalkAcceptorEmulator, type AcceptorEmulatorOptions } from './acceptor.ts';
import { CctalkHopperEmulator, type HopperEmulatorOptions } from './hopper.ts';

export { CctalkAcceptorEmulator, type AcceptorEmulatorOptions, type EmulatedCoin } from './acceptor.ts';
export {
  CctalkHopperEmulator,
  SimpleHopperModel,
  tubeHopperModel,
  type CoinOutcome,
  type HopperEmulatorOptions,
  type HopperModel,
} from './hopper.ts';
export { CctalkDeviceEmulator, type EmulatorIdentity, type WireFault } from './device.ts';

export interface CctalkEmulatorOptions {
  /** The device side of the link (e.g. the second end of `createLinkPair`). */
  readonly link: ByteLink;
  readonly clock: Clock;
  /** The coin acceptor (address 2 by default), in front of a port-level coin mech. */
  readonly acceptor?: Omit<AcceptorEmulatorOptions, 'link' | 'clock'>;
  /** Hoppers (addresses 3, 4, ... by default, in order). */
  readonly hoppers?: readonly Omit<HopperEmulatorOptions, 'link' | 'clock'>[];
  readonly logger?: Logger;
}

export interface CctalkEmulator {
  readonly acceptor: CctalkAcceptorEmulator | undefined;
  readonly hoppers: readonly CctalkHopperEmulator[];
  /** Power-cycle every device (all event counters back to 0). */
  powerCycle(): void;
  /** Stop answering (the link itself is left to its owner). */
  close(): void;
}

/**
 * Put a ccTalk acceptor and/or hoppers on the device side of `link`. All share the bus and answer
 * only their own address. Hoppers without an address get 3, 4, ... in order.
 *
 * @example
 * const [host, device] = createLinkPair(clock, { echo: true });
 * const emu = createCctalkEmulator({ link: device, clock,
 *   acceptor: { port: simCoinMech, coins: [{ position: 1, value: 50 }, { position: 2, value: 100 }] },
 *   hoppers: [{ model: new SimpleHopperModel(100, 50) }] });
 */
export function createCctalkEmulator(opts: CctalkEmulatorOptions): CctalkEmulator {
  const base = { link: opts.link, clock: opts.clock, ...(opts.logger ? { logger: opts.logger } : {}) };
  const acceptor = opts.acceptor ? new CctalkAcceptorEmulator({ ...base, ...opts.acceptor }) : undefined;
  const hoppers = (opts.hoppers ?? []).map(
    (h, i) => new CctalkHopperEmulator({ ...base, ...h, address: h.address ?? 3 + i }),
  );
  const all = [...(acceptor ? [acceptor] : []), ...hoppers];
  const addresses = new Set<number>();
  for (const d of all) {
    if (addresses.has(d.address)) throw new RangeError(`two ccTalk emulators on address ${d.address}`);
    addresses.add(d.address);
  }
  return {
    acceptor,
    hoppers,
    powerCycle: () => all.forEach((d) => d.powerCycle()),
    close: () => all.forEach((d) => d.close()),
  };
}
