/**
 * ccTalk host side of one serial line: one request at a time (the host is the only master on the
 * bus, protocols.md §3.1), echo removal, reply timeout and retry, NAK/BUSY mapping, frame traces.
 *
 * Request/response runs on the shared `RequestQueue` (hardware/serial/queue.ts) with frames from
 * the ccTalk decoder as responses; traces go to a `FrameTracer` (hardware/serial/trace.ts).
 */
import { BehaviorSubject, type Observable, type Subscription } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import { DeviceError, type LinkState } from '../../src/ports/index.ts';
import { silentLogger, type Logger } from '../serial/log.ts';
import { RequestQueue } from '../serial/queue.ts';
import { FrameTracer } from '../serial/trace.ts';
import type { ByteLink } from '../serial/types.ts';
import { ADDR_HOST, CctalkDecoder, encodeFrame, HDR_BUSY, HDR_NAK, HDR_REPLY, toHex, type CctalkFrame } from './codec.ts';

export type { Logger } from '../serial/log.ts';

export interface CctalkBusOptions {
  /** Host address, 1 by default (protocols.md §3.1). */
  readonly hostAddress?: number;
  /** Time allowed for a reply after the request is sent. Default 150 ms (spec value unconfirmed, §7 item 3). */
  readonly replyTimeoutMs?: number;
  /** Retries after a timeout, for requests that allow it. Default 1. */
  readonly retries?: number;
  /** Retries after BUSY (header 6), and the pause before each. Default 2 and 20 ms. */
  readonly busyRetries?: number;
  readonly busyRetryMs?: number;
  /** Inter-byte timeout for the decoder. Default 50 ms (§3.6; unconfirmed in the spec). */
  readonly interByteTimeoutMs?: number;
  /** Bus name used in traces and errors. Default "cctalk". */
  readonly name?: string;
  /** Where frames are traced; a private 200-frame tracer when absent. */
  readonly tracer?: FrameTracer;
  readonly logger?: Logger;
}

export interface RequestOptions {
  /** Overrides the bus reply timeout. */
  readonly timeoutMs?: number;
  /** Retries after a timeout; pass 0 for commands that must not run twice (dispense). */
  readonly retries?: number;
  /** Replies of the wrong shape (a late reply to an earlier request, say) are skipped, not taken. */
  readonly validate?: (data: Uint8Array) => boolean;
  /** Short meaning for traces, e.g. "read buffered credit". */
  readonly meaning?: string;
}

export interface CctalkBusStats {
  requests: number;
  naks: number;
  busy: number;
  /** Frames that arrived when nothing was asked, late, or from the wrong device. */
  unexpected: number;
}

export class CctalkBus {
  /** The link's state (replayed). */
  readonly state$: Observable<LinkState>;
  readonly stats: CctalkBusStats = { requests: 0, naks: 0, busy: 0, unexpected: 0 };
  readonly decoder: CctalkDecoder;
  readonly tracer: FrameTracer;
  readonly hostAddress: number;
  readonly name: string;
  private readonly queue: RequestQueue<CctalkFrame>;
  private readonly state = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not opened' });
  private readonly subs: Subscription[] = [];
  private readonly log: Logger;
  /** Address of the device whose reply is awaited (address filter for the decoder). */
  private awaiting: number | null = null;
  private closed = false;

  constructor(
    private readonly link: ByteLink,
    private readonly clock: Clock,
    private readonly opts: CctalkBusOptions = {},
  ) {
    this.hostAddress = opts.hostAddress ?? ADDR_HOST;
    this.name = opts.name ?? 'cctalk';
    this.log = opts.logger ?? silentLogger;
    this.tracer = opts.tracer ?? new FrameTracer({ capacity: 200 });
    this.state$ = this.state.asObservable();
    this.queue = new RequestQueue<CctalkFrame>({ device: this.name, clock, timeoutMs: opts.replyTimeoutMs ?? 150 });
    this.decoder = new CctalkDecoder({
      clock,
      interByteTimeoutMs: opts.interByteTimeoutMs ?? 50,
      // A reply is for the host and, while one is awaited, from the device asked.
      accept: (dest, src) => dest === this.hostAddress && (src === undefined || this.awaiting === null || src === this.awaiting),
      onError: (e) => this.trace('rx', e.bytes, undefined, `${e.kind}: ${e.message}`),
    });
    this.subs.push(
      link.data$.subscribe({ next: (chunk) => this.onData(chunk) }),
      link.state$.subscribe({
        next: (s) => {
          this.state.next(s);
          if (s.status !== 'online') {
            this.decoder.reset();
            this.queue.failAll(new DeviceError('DEVICE_OFFLINE', this.name, `link ${s.status}`));
          }
        },
      }),
    );
  }

  get online(): boolean {
    return this.state.getValue().status === 'online';
  }

  /**
   * Send `header` with `data` to `dest`; resolve with the reply's data. Rejects with a DeviceError:
   * DEVICE_OFFLINE, DEVICE_TIMEOUT, DEVICE_REJECTED (NAK), DEVICE_BUSY, PROTOCOL_ERROR.
   */
  async request(dest: number, header: number, data: ArrayLike<number> = [], opts: RequestOptions = {}): Promise<Uint8Array> {
    const label = `${this.name}@${dest} ${opts.meaning ?? `header ${header}`}`;
    const bytes = encodeFrame({ dest, src: this.hostAddress, header, data: Uint8Array.from(data) });
    const busyRetries = this.opts.busyRetries ?? 2;
    for (let attempt = 0; ; attempt++) {
      const frame = await this.queue.request<CctalkFrame>({
        label,
        timeoutMs: opts.timeoutMs ?? this.opts.replyTimeoutMs ?? 150,
        policy: { retries: opts.retries ?? this.opts.retries ?? 1, retryOn: ['timeout'] },
        send: () => this.send(dest, bytes, opts.meaning ?? `header ${header}`),
        interpret: (f) => {
          if (f.src !== dest) return undefined;
          if (f.header === HDR_REPLY && opts.validate && !opts.validate(f.data)) return undefined;
          return { ok: true, value: f };
        },
      });
      if (frame.header === HDR_REPLY) return frame.data;
      if (frame.header === HDR_NAK) {
        this.stats.naks++;
        throw new DeviceError('DEVICE_REJECTED', this.name, `${label}: NAK`);
      }
      if (frame.header !== HDR_BUSY) throw new DeviceError('PROTOCOL_ERROR', this.name, `${label}: reply header ${frame.header}`);
      this.stats.busy++;
      if (attempt >= busyRetries) throw new DeviceError('DEVICE_BUSY', this.name, `${label}: BUSY`);
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.opts.busyRetryMs ?? 20));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.failAll(new DeviceError('DEVICE_OFFLINE', this.name, 'bus closed'));
    for (const s of this.subs) s.unsubscribe();
    await this.link.close();
  }

  private async send(dest: number, bytes: Uint8Array, meaning: string): Promise<void> {
    if (this.closed || !this.online) throw new DeviceError('DEVICE_OFFLINE', this.name, 'link is not online');
    // Whatever is still held belongs to an exchange that is over (timed out): drop it.
    this.decoder.reset();
    this.decoder.expectEcho(bytes);
    this.awaiting = dest;
    this.stats.requests++;
    this.trace('tx', bytes, meaning);
    await this.link.write(bytes);
  }

  private onData(chunk: Uint8Array): void {
    for (const f of this.decoder.push(chunk)) {
      const raw = encodeFrame(f);
      const verdict = this.queue.deliver(f);
      if (verdict === 'consumed') {
        this.trace('rx', raw, `reply header ${f.header}, ${f.data.length} data bytes`);
        continue;
      }
      this.stats.unexpected++;
      this.trace('rx', raw, undefined, `${verdict} frame ignored`);
      this.log.warn({ bus: this.name, raw: toHex(raw), verdict }, 'ccTalk: frame ignored');
    }
  }

  private trace(dir: 'tx' | 'rx', bytes: Uint8Array, meaning?: string, error?: string): void {
    if (this.closed) return;
    this.tracer.record({
      bus: this.name,
      dir,
      at: this.clock.now(),
      raw: toHex(bytes),
      ...(meaning !== undefined ? { meaning } : {}),
      ...(error !== undefined ? { error } : {}),
    });
  }
}
