/**
 * An in-memory cable between a host driver and one or more device emulators, on the injected
 * Clock: `createLinkPair(clock, opts)` → `[hostSide, deviceSide]`, both `ByteLink`s.
 *
 * - `byteDelayMs`: each byte arrives this long after the previous one left (9600 8N1 is ≈1.04 ms
 *   a byte); 0 delivers each write as one chunk on the next microtask.
 * - `chunkSize`: split deliveries into chunks of at most this many bytes (decoder tests).
 * - `echo`: ccTalk's single-wire bus (protocols.md §3.1): everything the host writes also comes
 *   back on the host's own receive side, in order with the rest of the line.
 * - `unplug()` / `replug()` (on either end, they act on the cable): while unplugged both ends
 *   report `offline`, writes reject with DEVICE_OFFLINE and bytes in flight are lost.
 *
 * The device side is a bus: several emulators may subscribe to its `data$` and write to it.
 */
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import { DeviceError, type LinkState } from '../../src/ports/index.ts';
import type { ByteLink } from '../../hardware/serial/types.ts';

export interface LinkPairOptions {
  /** Per-byte transfer time in ms (default 0: whole writes arrive at once, asynchronously). */
  readonly byteDelayMs?: number;
  /** Deliver in chunks of at most this many bytes (default: whole writes). */
  readonly chunkSize?: number;
  /** Single-wire echo: the host receives its own bytes too (ccTalk). Default false. */
  readonly echo?: boolean;
  /** Start unplugged. Default false. */
  readonly unplugged?: boolean;
  /** Called for every write that goes on the wire (for traces and counting). */
  readonly onWrite?: (from: 'host' | 'device', bytes: Uint8Array) => void;
}

export interface PipeEnd extends ByteLink {
  /** Pull the cable: both ends go offline, writes reject, bytes in flight are lost. */
  unplug(reason?: string): void;
  /** Put it back: both ends online again (unless closed). */
  replug(): void;
  readonly plugged: boolean;
}

const OFFLINE_UNPLUGGED: LinkState = { status: 'offline', reason: 'unplugged' };
const OFFLINE_CLOSED: LinkState = { status: 'offline', reason: 'closed' };

interface Cable {
  plugged: boolean;
  /** Bumped on unplug, so bytes scheduled before it never arrive after a replug. */
  generation: number;
}

class End implements PipeEnd {
  readonly data$: Observable<Uint8Array>;
  readonly state$: Observable<LinkState>;
  private readonly data = new Subject<Uint8Array>();
  private readonly state: BehaviorSubject<LinkState>;
  private closed = false;
  /** Time the line out of this end is busy until (per-byte delay mode). */
  private lineFreeAt = 0;
  peer: End | null = null;

  constructor(
    private readonly who: 'host' | 'device',
    private readonly clock: Clock,
    private readonly cable: Cable,
    private readonly opts: LinkPairOptions,
  ) {
    this.state = new BehaviorSubject<LinkState>(cable.plugged ? { status: 'online' } : OFFLINE_UNPLUGGED);
    this.data$ = this.data.asObservable();
    this.state$ = this.state.asObservable();
  }

  get plugged(): boolean {
    return this.cable.plugged;
  }

  write(bytes: Uint8Array | string): Promise<void> {
    if (this.closed) return Promise.reject(new DeviceError('DEVICE_OFFLINE', `pipe:${this.who}`, 'link closed'));
    if (!this.cable.plugged) return Promise.reject(new DeviceError('DEVICE_OFFLINE', `pipe:${this.who}`, 'cable unplugged'));
    const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes.slice();
    this.opts.onWrite?.(this.who, data);
    const targets: End[] = [];
    if (this.peer) targets.push(this.peer);
    if (this.opts.echo && this.who === 'host') targets.push(this);
    this.transmit(data, targets);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.state.next(OFFLINE_CLOSED);
      this.data.complete();
      this.state.complete();
    }
    return Promise.resolve();
  }

  unplug(reason = 'unplugged'): void {
    if (!this.cable.plugged) return;
    this.cable.plugged = false;
    this.cable.generation++;
    for (const e of this.both()) e.setState({ status: 'offline', reason });
  }

  replug(): void {
    if (this.cable.plugged) return;
    this.cable.plugged = true;
    for (const e of this.both()) {
      e.lineFreeAt = 0;
      e.setState({ status: 'online' });
    }
  }

  private both(): End[] {
    return this.peer ? [this, this.peer] : [this];
  }

  private setState(s: LinkState): void {
    if (!this.closed) this.state.next(s);
  }

  private receive(chunk: Uint8Array): void {
    if (!this.closed) this.data.next(chunk);
  }

  private transmit(data: Uint8Array, targets: readonly End[]): void {
    const gen = this.cable.generation;
    const deliver = (chunk: Uint8Array): void => {
      if (!this.cable.plugged || this.cable.generation !== gen) return;
      for (const t of targets) t.receive(chunk);
    };
    const delay = this.opts.byteDelayMs ?? 0;
    const size = Math.max(1, this.opts.chunkSize ?? data.length);
    if (delay <= 0) {
      queueMicrotask(() => {
        for (let i = 0; i < data.length; i += size) deliver(data.subarray(i, i + size));
      });
      return;
    }
    // Bytes leave one after another; a chunk is delivered when its last byte has arrived.
    const now = this.clock.now();
    let t = Math.max(now, this.lineFreeAt);
    for (let i = 0; i < data.length; i += size) {
      const chunk = data.subarray(i, Math.min(data.length, i + size));
      t += delay * chunk.length;
      this.clock.setTimeout(() => deliver(chunk), t - now);
    }
    this.lineFreeAt = t;
  }
}

/**
 * Two connected in-memory ByteLinks on `clock`. The first is the host's end, the second the
 * device (emulator) end. See the module comment for the options.
 */
export function createLinkPair(clock: Clock, opts: LinkPairOptions = {}): [hostSide: PipeEnd, deviceSide: PipeEnd] {
  const cable: Cable = { plugged: !opts.unplugged, generation: 0 };
  const host = new End('host', clock, cable, opts);
  const device = new End('device', clock, cable, opts);
  host.peer = device;
  device.peer = host;
  return [host, device];
}
