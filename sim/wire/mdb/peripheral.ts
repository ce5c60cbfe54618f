/**
 * What every emulated MDB peripheral shares: command decoding, the POLL status queue, the
 * "repeat unacknowledged data" rule (MDB 4.2 §2.2: data the VMC did not ACK is sent again at the
 * next opportunity), JUST RESET after a reset, and wire faults (silence, wrong CHK, power cycle).
 *
 * Subclasses are front-ends over port-level devices (sim/devices or test doubles): they turn port
 * events into queued statuses and master commands into port calls.
 */
import { MAX_BLOCK, checksum, decodeCommand } from '../../../hardware/mdb/codec.ts';
import type { MasterCommand } from '../../../hardware/mdb/codec.ts';
import { silentLogger } from '../../../hardware/serial/log.ts';
import type { Logger } from '../../../hardware/serial/log.ts';

/** What a peripheral puts on the bus after a command. `block` carries its CHK (possibly wrong). */
export type PeripheralAnswer =
  | { readonly kind: 'ack' }
  | { readonly kind: 'nak' }
  | { readonly kind: 'silent' }
  | { readonly kind: 'block'; readonly block: Uint8Array };

/** A device on the emulated bus, as the interface-board emulator sees it. */
export interface MdbBusDevice {
  /** Base address (0x08, 0x10, 0x30, ...). */
  readonly address: number;
  /** A command for this device: address byte + data, CHK already checked by the board. */
  command(bytes: Uint8Array): Promise<PeripheralAnswer>;
  /** The master ACKed the last data block. */
  acknowledged(): void;
  /** Bus reset (break): like RESET. */
  busReset(): void;
}

/** Handler result for non-POLL commands: ACK, NAK, or data (the base adds the CHK). */
export type CommandResult = { readonly kind: 'ack' } | { readonly kind: 'nak' } | { readonly kind: 'data'; readonly data: Uint8Array };

export const ACKED: CommandResult = { kind: 'ack' };
export const NAKED: CommandResult = { kind: 'nak' };

export abstract class EmulatedPeripheral implements MdbBusDevice {
  /** Messages waiting for the next POLL (each one whole status message). */
  private readonly queue: number[][] = [];
  /** The last POLL data block until the master ACKs it. */
  private unacked: Uint8Array | undefined;
  private pendingReset = true;
  private muted = false;
  private badChecksums = 0;
  /** The last commands seen (at most 500), for tests and the sniffer ("what did the VMC send me?"). */
  readonly received: MasterCommand[] = [];
  protected readonly log: Logger;

  protected constructor(
    readonly address: number,
    /** The status that means "I was reset" in this device's POLL coding. */
    private readonly justResetMessage: readonly number[],
    /** Largest POLL data block this device sends (16 for changer/validator, MDB 4.2 §5/§6). */
    private readonly maxPollBytes: number,
    log?: Logger,
  ) {
    this.log = log ?? silentLogger;
  }

  // ------------------------------------------------------------------ wire faults

  /** No answer at all (as if unpowered or disconnected from the bus) while on. */
  mute(on: boolean): void {
    this.muted = on;
  }

  get isMuted(): boolean {
    return this.muted;
  }

  /** The next `n` data blocks go out with a wrong CHK. */
  corruptChecksums(n = 1): void {
    this.badChecksums += Math.max(0, Math.floor(n));
  }

  /**
   * A power blip: everything not yet reported is lost (as on real hardware: this is why the driver
   * must drain POLL before it sends RESET), and the next POLL says JUST RESET.
   */
  powerCycle(): void {
    this.queue.length = 0;
    this.unacked = undefined;
    this.pendingReset = true;
    this.onReset('power');
  }

  /** Statuses waiting to be polled (for tests). */
  get queuedMessages(): number {
    return this.queue.length + (this.unacked ? 1 : 0);
  }

  // ------------------------------------------------------------------ bus side

  async command(bytes: Uint8Array): Promise<PeripheralAnswer> {
    if (this.muted) return { kind: 'silent' };
    const parsed = decodeCommand(bytes);
    if (!parsed.ok) {
      this.log.warn({ device: this.address, err: parsed.error.message }, 'emulated peripheral got a bad command');
      return { kind: 'nak' };
    }
    const c = parsed.value;
    this.received.push(c);
    if (this.received.length > 500) this.received.splice(0, this.received.length - 500);
    if ('cmd' in c && c.cmd === 'poll') return this.pollAnswer();
    if ('cmd' in c && c.cmd === 'reset') {
      this.queue.length = 0;
      this.unacked = undefined;
      this.pendingReset = true;
      this.onReset('command');
      return { kind: 'ack' };
    }
    const r = await this.handle(c);
    if (r.kind === 'data') return { kind: 'block', block: this.toBlock(r.data) };
    return r;
  }

  acknowledged(): void {
    this.unacked = undefined;
  }

  busReset(): void {
    if (this.muted) return;
    this.queue.length = 0;
    this.unacked = undefined;
    this.pendingReset = true;
    this.onReset('bus');
  }

  // ------------------------------------------------------------------ for subclasses

  /** Queue one status message for the next POLL. */
  protected enqueue(message: readonly number[]): void {
    if (message.length === 0) return;
    this.queue.push([...message]);
  }

  /** Statuses sent on every POLL while a condition lasts (payout busy, acceptor unplugged...). */
  protected persistent(): number[][] {
    return [];
  }

  protected abstract handle(c: MasterCommand): Promise<CommandResult>;

  /** The device was reset (RESET command, bus reset or power cycle): back to power-up settings. */
  protected abstract onReset(why: 'command' | 'bus' | 'power'): void;

  // ------------------------------------------------------------------ internals

  private pollAnswer(): PeripheralAnswer {
    if (this.unacked) return { kind: 'block', block: this.withChk(this.unacked) };
    const parts: number[] = [];
    if (this.pendingReset) {
      this.pendingReset = false;
      parts.push(...this.justResetMessage);
    }
    for (const p of this.persistent()) if (parts.length + p.length <= this.maxPollBytes) parts.push(...p);
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (!next || parts.length + next.length > this.maxPollBytes) break;
      parts.push(...next);
      this.queue.shift();
    }
    if (parts.length === 0) return { kind: 'ack' };
    this.unacked = Uint8Array.from(parts);
    return { kind: 'block', block: this.withChk(this.unacked) };
  }

  private toBlock(data: Uint8Array): Uint8Array {
    return this.withChk(data.subarray(0, MAX_BLOCK - 1));
  }

  private withChk(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length + 1);
    out.set(data);
    let chk = checksum(data);
    if (this.badChecksums > 0) {
      this.badChecksums--;
      chk = (chk + 1) & 0xff;
    }
    out[data.length] = chk;
    return out;
  }
}
