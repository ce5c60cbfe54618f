/**
 * Emulated Qibixx-style MDB interface board (protocols.md §2.1) behind the EmulatorBinding: it reads
 * the host's ASCII lines, drives the emulated MDB bus, and answers `p,ACK` / `p,NACK` / `p,<hex>`.
 *
 * Choices where the real board's behaviour is unconfirmed (protocols.md §7), matching the client's
 * defaults in hardware/mdb/board.ts:
 * - peripheral data is ACKed on the bus by the board itself when its CHK is right; a block with a
 *   wrong CHK is not ACKed (so the peripheral repeats it on the next POLL, MDB 4.2 §2.2) and the
 *   host gets `p,NACK` ('stripped' mode) or the raw block with its bad CHK ('included' mode);
 * - both `\n` and `\r\n` are accepted; replies end with `lineEnding` (default '\n');
 * - the board resets (master mode off) when the USB side detaches, while the MDB peripherals, powered
 *   by the machine, keep their state and their unread events.
 *
 * Wire faults at board level: `dropCommands(n)` (board silent: host times out), `sendGarbage(text)`
 * (noise on the serial line), `garbageBeforeReplies(n, text)`, and reply faults on the serial side
 * AFTER the board has ACKed the peripheral's data on the bus (so the peripheral never repeats it):
 * `injectReplyFault(rule)` for chosen replies, or `replyFaults` (a hook asked for every reply, for
 * seeded random faults). A reply fault: noise glued to the line, a garbage line before it, the line
 * lost, a stray well-formed line before or after it, the line twice, or the line late.
 */
import type { Clock } from '../../../src/clock.ts';
import { LineSplitter } from '../../../hardware/mdb/board.ts';
import { checksum, fromHex, toHex } from '../../../hardware/mdb/codec.ts';
import { silentLogger } from '../../../hardware/serial/log.ts';
import type { Logger } from '../../../hardware/serial/log.ts';
import type { WireEmulator } from '../binding.ts';
import type { MdbBusDevice } from './peripheral.ts';

export interface MdbBoardEmulatorOptions {
  readonly clock: Clock;
  /** Default "/dev/ttyACM-mdb". */
  readonly path?: string;
  /** USB ids shown by list(): default the MDB-USB's 16d0:0bd7 (protocols.md §2.1). */
  readonly vendorId?: string;
  readonly productId?: string;
  readonly serialNumber?: string;
  /** Must match the client's `replyChecksum` (default 'stripped'). */
  readonly replyChecksum?: 'stripped' | 'included';
  readonly lineEnding?: '\n' | '\r\n';
  /** Time from a complete command line to the reply (default 2 ms). */
  readonly latencyMs?: number;
  /** How many host lines `lines` keeps (default 10 000; the simulator may run for days). */
  readonly keepLines?: number;
  readonly log?: Logger;
}

/** What happens on the serial side to one reply line (the MDB side has already happened). */
export type ReplyFault =
  /** Noise bytes glued to the front of the reply line (e.g. "~p,530B"). */
  | { readonly kind: 'noise'; readonly text: string }
  /** A garbage line of its own before the reply. */
  | { readonly kind: 'noiseLine'; readonly text: string }
  /** The reply line never reaches the host. */
  | { readonly kind: 'lose' }
  /** A well-formed line that is not the reply, before it (e.g. "p,ACK" before "p,530B"). */
  | { readonly kind: 'strayBefore'; readonly line: string }
  /** A well-formed line that is not the reply, `afterMs` after it. */
  | { readonly kind: 'strayAfter'; readonly line: string; readonly afterMs: number }
  /** The reply line twice, the second `afterMs` after the first. */
  | { readonly kind: 'duplicate'; readonly afterMs: number }
  /** The reply line `ms` late (beyond the host's timeout if `ms` is large). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** The reply lost and a well-formed line that is not the reply in its place (two faults at once). */
  | { readonly kind: 'replace'; readonly line: string };

/** Apply `fault` to the next `times` replies for which `when(command, reply)` holds. */
export interface ReplyFaultRule {
  readonly when: (command: string, reply: string) => boolean;
  readonly fault: ReplyFault;
  times?: number;
}

/** Asked for every reply line: a fault to apply, or undefined. */
export type ReplyFaultHook = (command: string, reply: string) => ReplyFault | undefined;

export class MdbBoardEmulator implements WireEmulator {
  readonly path: string;
  readonly vendorId: string;
  readonly productId: string;
  readonly manufacturer = 'Vendomat emulator';
  readonly serialNumber: string;
  /** The most recent lines the host sent, oldest first (for tests and the sniffer). */
  readonly lines: string[] = [];
  private readonly devices = new Map<number, MdbBusDevice>();
  private readonly splitter = new LineSplitter(512);
  private readonly log: Logger;
  private send: ((bytes: Uint8Array) => void) | undefined;
  private chain: Promise<void> = Promise.resolve();
  private master = false;
  private dropping = 0;
  private garbageReplies: { n: number; text: string } = { n: 0, text: '' };
  private generation = 0;
  private readonly replyRules: ReplyFaultRule[] = [];
  /** Seeded random reply faults (sim/wire/faults.ts); rules set with `injectReplyFault` go first. */
  replyFaults: ReplyFaultHook | undefined;
  /** Reply faults applied so far, by kind. */
  readonly replyFaultCount: Record<string, number> = {};
  private pending = 0;

  constructor(private readonly opts: MdbBoardEmulatorOptions) {
    this.path = opts.path ?? '/dev/ttyACM-mdb';
    this.vendorId = opts.vendorId ?? '16d0';
    this.productId = opts.productId ?? '0bd7';
    this.serialNumber = opts.serialNumber ?? 'EMU-MDB-0001';
    this.log = opts.log ?? silentLogger;
  }

  /** Put a peripheral on the emulated MDB bus. */
  addDevice(device: MdbBusDevice): void {
    this.devices.set(device.address & 0xf8, device);
  }

  get masterMode(): boolean {
    return this.master;
  }

  get attached(): boolean {
    return this.send !== undefined;
  }

  /** Lines received and not yet answered (or dropped), plus reply lines scheduled for later. */
  get repliesPending(): number {
    return this.pending;
  }

  // ------------------------------------------------------------------ faults

  /** Ignore the next `n` R commands completely (no reply): the host's timeout path. */
  dropCommands(n = 1): void {
    this.dropping += Math.max(0, Math.floor(n));
  }

  /** Put raw noise on the serial line now (no line end is added). */
  sendGarbage(text: string | Uint8Array): void {
    this.send?.(typeof text === 'string' ? Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff) : text);
  }

  /** Apply a fault to chosen replies (default: the next one that matches). */
  injectReplyFault(rule: ReplyFaultRule): void {
    this.replyRules.push({ ...rule, times: rule.times ?? 1 });
  }

  /** Send one whole line to the host now, unasked (a stray line). */
  sendLine(line: string): void {
    this.write(line);
  }

  /** Send a garbage line before each of the next `n` replies. */
  garbageBeforeReplies(n: number, text = '#~?!'): void {
    this.garbageReplies = { n: Math.max(0, Math.floor(n)), text };
  }

  // ------------------------------------------------------------------ WireEmulator

  attach(send: (bytes: Uint8Array) => void): void {
    this.generation++;
    this.send = send;
    this.splitter.reset();
  }

  detach(): void {
    this.generation++;
    this.send = undefined;
    this.master = false;
    this.splitter.reset();
  }

  onData(bytes: Uint8Array): void {
    for (const ev of this.splitter.push(bytes)) {
      if (ev.kind !== 'line') continue;
      const line = ev.text.trim();
      this.lines.push(line);
      const keep = this.opts.keepLines ?? 10_000;
      if (this.lines.length > keep) this.lines.splice(0, this.lines.length - keep);
      const gen = this.generation;
      this.pending++;
      // One command at a time, in order, like the real board's serial command loop.
      this.chain = this.chain
        .then(() => this.process(line, gen))
        .catch((e: unknown) => {
          this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'MDB board emulator failed on a line');
        })
        .finally(() => {
          this.pending--;
        });
    }
  }

  // ------------------------------------------------------------------ internals

  private async process(line: string, gen: number): Promise<void> {
    const reply = await this.answer(line);
    if (reply === undefined) return;
    await new Promise<void>((r) => this.opts.clock.setTimeout(r, this.opts.latencyMs ?? 2));
    if (gen !== this.generation) return; // the host went away meanwhile: the reply is lost
    if (this.garbageReplies.n > 0) {
      this.garbageReplies.n--;
      this.write(this.garbageReplies.text);
    }
    const fault = this.replyFaultFor(line, reply);
    if (!fault) {
      this.write(reply);
      return;
    }
    this.replyFaultCount[fault.kind] = (this.replyFaultCount[fault.kind] ?? 0) + 1;
    const later = (ms: number, text: string): void => {
      this.pending++;
      this.opts.clock.setTimeout(() => {
        this.pending--;
        if (gen === this.generation) this.write(text);
      }, ms);
    };
    switch (fault.kind) {
      case 'noise':
        this.write(fault.text + reply);
        return;
      case 'noiseLine':
        this.write(fault.text);
        this.write(reply);
        return;
      case 'lose':
        return;
      case 'replace':
        this.write(fault.line);
        return;
      case 'strayBefore':
        this.write(fault.line);
        this.write(reply);
        return;
      case 'strayAfter':
        this.write(reply);
        later(fault.afterMs, fault.line);
        return;
      case 'duplicate':
        this.write(reply);
        later(fault.afterMs, reply);
        return;
      case 'delay':
        later(fault.ms, reply);
        return;
    }
  }

  private replyFaultFor(command: string, reply: string): ReplyFault | undefined {
    const i = this.replyRules.findIndex((r) => (r.times ?? 0) > 0 && r.when(command, reply));
    const rule = this.replyRules[i];
    if (rule) {
      rule.times = (rule.times ?? 1) - 1;
      if (rule.times <= 0) this.replyRules.splice(i, 1);
      return rule.fault;
    }
    return this.replyFaults?.(command, reply);
  }

  private write(line: string): void {
    const text = line + (this.opts.lineEnding ?? '\n');
    this.send?.(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  }

  private async answer(line: string): Promise<string | undefined> {
    if (line === 'V') return 'v,VENDOMAT-MDB-EMU,1.0';
    if (line === 'M,1' || line === 'M,0') {
      this.master = line === 'M,1';
      return 'm,ACK';
    }
    if (!line.startsWith('R,')) {
      this.log.debug({ line }, 'MDB board emulator: unknown command');
      return undefined; // unknown commands are ignored (unconfirmed what the real board says)
    }
    if (this.dropping > 0) {
      this.dropping--;
      return undefined;
    }
    if (!this.master) return 'p,NACK';
    if (line === 'R,RESET') {
      for (const d of this.devices.values()) d.busReset();
      return 'p,ACK';
    }
    const m = /^R,([0-9A-Fa-f]{2})(?:,([0-9A-Fa-f]*))?$/.exec(line);
    const head = m ? fromHex(m[1] ?? '') : undefined;
    const data = m ? fromHex(m[2] ?? '') : undefined;
    if (!head?.ok || !data?.ok) return 'p,NACK';
    const bytes = new Uint8Array(1 + data.value.length);
    bytes.set(head.value, 0);
    bytes.set(data.value, 1);
    const device = this.devices.get((bytes[0] ?? 0) & 0xf8);
    if (!device) return 'p,NACK'; // nobody at that address: silence on the bus
    const a = await device.command(bytes);
    switch (a.kind) {
      case 'ack':
        return 'p,ACK';
      case 'nak':
      case 'silent':
        return 'p,NACK';
      case 'block': {
        const body = a.block.subarray(0, a.block.length - 1);
        const good = checksum(body) === a.block[a.block.length - 1];
        if (good) device.acknowledged();
        if (this.opts.replyChecksum === 'included') return `p,${toHex(a.block)}`;
        return good ? `p,${toHex(body)}` : 'p,NACK';
      }
    }
  }
}
