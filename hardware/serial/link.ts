/**
 * `SerialLink`: a ByteLink over serialport's `SerialPortStream` with an injected binding.
 *
 * node-serialport has no auto-reconnect and unplug detection is unreliable on some platforms
 * (field-notes.md §5 item 6: serialport #648, #1330, #1834), so this class owns the whole link life:
 * open by path or by USB vendor/product id (re-resolved on every attempt, because a replugged
 * adapter may come back as another /dev/ttyACMn), detect unplug from the stream's close/error (and,
 * optionally, by polling `list()`), report `offline` on `state$`, reconnect with capped exponential
 * backoff on the injected Clock, and report `online` again once reopened.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface, PortInfo } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { DeviceError } from '../../src/ports/index.ts';
import type { LinkState } from '../../src/ports/index.ts';
import type { ByteLink } from './types.ts';
import { silentLogger } from './log.ts';
import type { Logger } from './log.ts';

/** Where to find the port: a fixed path, or a USB adapter by its ids (hex strings, e.g. "16d0"). */
export type SerialTarget =
  | { readonly path: string }
  | { readonly vendorId: string; readonly productId: string; readonly serialNumber?: string };

export interface BackoffOptions {
  /** First retry delay (default 250 ms). */
  readonly initialMs: number;
  /** Upper bound on the delay (default 10 s). */
  readonly maxMs: number;
  /** Growth per failed attempt (default 2). */
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, factor: 2 };

export interface SerialLinkOptions {
  readonly target: SerialTarget;
  /** Clock for the reconnect backoff and the presence check. */
  readonly clock: Clock;
  /** Default 115200 (the Qibixx-style MDB board, protocols.md §2.1). */
  readonly baudRate?: number;
  /**
   * The serialport binding. Default: the platform binding from `serialport` (bindings-cpp,
   * auto-detected), loaded lazily so tests and the simulator never touch native code.
   */
  readonly binding?: BindingInterface;
  /** Name used in logs and DeviceErrors (default: the target path or "vid:pid"). */
  readonly name?: string;
  readonly backoff?: Partial<BackoffOptions>;
  /**
   * When > 0, call `binding.list()` this often and treat a vanished port as unplugged. Useful where
   * the OS does not fail the pending read on unplug. Default 0 (off).
   */
  readonly presenceCheckMs?: number;
  readonly log?: Logger;
}

/** Delay before reconnect attempt `n` (1-based): initial × factor^(n-1), capped at max. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const n = Math.max(1, Math.floor(attempt));
  const d = opts.initialMs * opts.factor ** (n - 1);
  return Math.min(opts.maxMs, Number.isFinite(d) ? Math.round(d) : opts.maxMs);
}

/** Case-insensitive hex id compare ("16D0" = "16d0" = "0x16d0"). */
function sameId(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const norm = (s: string): string => s.toLowerCase().replace(/^0x/, '').replace(/^0+(?=.)/, '');
  return norm(a) === norm(b);
}

/** Find the port for a target among `list()` results. */
export function matchPort(ports: readonly PortInfo[], target: SerialTarget): PortInfo | undefined {
  if ('path' in target) return ports.find((p) => p.path === target.path);
  return ports.find(
    (p) =>
      sameId(p.vendorId, target.vendorId) &&
      sameId(p.productId, target.productId) &&
      (target.serialNumber === undefined || p.serialNumber === target.serialNumber),
  );
}

async function loadDefaultBinding(): Promise<BindingInterface> {
  const mod = await import('serialport');
  return mod.SerialPort.binding;
}

export class SerialLink implements ByteLink {
  private readonly dataSubject = new Subject<Uint8Array>();
  private readonly stateSubject = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not opened' });
  readonly data$: Observable<Uint8Array> = this.dataSubject.asObservable();
  readonly state$: Observable<LinkState> = this.stateSubject.asObservable();
  readonly name: string;

  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private binding: BindingInterface | undefined;
  private stream: SerialPortStream | undefined;
  private path: string | undefined;
  private failures = 0;
  private started = false;
  private closed = false;
  private connecting = false;
  private retryTimer: TimerHandle | undefined;
  private presenceTimer: TimerHandle | undefined;

  constructor(private readonly opts: SerialLinkOptions) {
    this.clock = opts.clock;
    this.log = opts.log ?? silentLogger;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.binding = opts.binding;
    this.name = opts.name ?? ('path' in opts.target ? opts.target.path : `${opts.target.vendorId}:${opts.target.productId}`);
  }

  /** Current state (also replayed on `state$`). */
  get state(): LinkState {
    return this.stateSubject.value;
  }

  /** The port path in use, once resolved. */
  get currentPath(): string | undefined {
    return this.path;
  }

  /**
   * Start the link: the first open attempt runs now; failures are retried with backoff forever
   * (until `close()`). Resolves after the first attempt, whatever its outcome; watch `state$`.
   */
  async open(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    await this.connect();
  }

  async write(bytes: Uint8Array | string): Promise<void> {
    const s = this.stream;
    if (!s || !s.isOpen) throw new DeviceError('DEVICE_OFFLINE', this.name, 'serial port is not open');
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
    await new Promise<void>((resolve, reject) => {
      s.write(buf, (err) => {
        if (err) reject(new DeviceError('DEVICE_OFFLINE', this.name, `write failed: ${err.message}`, err));
        else resolve();
      });
    });
  }

  /** Close for good: no more reconnects. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimers();
    const s = this.stream;
    this.stream = undefined;
    if (s && s.isOpen) await new Promise<void>((resolve) => s.close(() => resolve()));
    this.setState({ status: 'offline', reason: 'closed' });
  }

  private async connect(): Promise<void> {
    if (this.closed || this.stream || this.connecting) return;
    this.connecting = true;
    try {
      const binding = this.binding ?? (this.binding = await loadDefaultBinding());
      const path = await this.resolvePath(binding);
      if (this.closed) return;
      const stream = new SerialPortStream({
        binding,
        path,
        baudRate: this.opts.baudRate ?? 115_200,
        dataBits: 8,
        stopBits: 1,
        parity: 'none',
        autoOpen: false,
      });
      // Registered before open: an error event without a listener would crash the process.
      stream.on('error', (err: Error) => this.onStreamError(stream, err));
      stream.on('close', (err: Error | null) => this.onStreamClose(stream, err));
      stream.on('data', (chunk: Buffer) => this.dataSubject.next(new Uint8Array(chunk)));
      await new Promise<void>((resolve, reject) => stream.open((err) => (err ? reject(err) : resolve())));
      if (this.closed) {
        stream.close();
        return;
      }
      this.stream = stream;
      this.path = path;
      this.failures = 0;
      this.log.info({ link: this.name, path }, 'serial link open');
      this.setState({ status: 'online' });
      this.schedulePresenceCheck();
    } catch (e) {
      this.failures++;
      const msg = e instanceof Error ? e.message : String(e);
      const delay = backoffDelay(this.failures, this.backoff);
      this.log.warn({ link: this.name, err: msg, retryInMs: delay, attempt: this.failures }, 'serial link open failed');
      this.setState({ status: 'offline', reason: `open failed: ${msg}` });
      this.scheduleReconnect(delay);
    } finally {
      this.connecting = false;
    }
  }

  private async resolvePath(binding: BindingInterface): Promise<string> {
    const t = this.opts.target;
    if ('path' in t) return t.path;
    const ports = await binding.list();
    const hit = matchPort(ports, t);
    if (!hit) throw new Error(`no port with USB id ${t.vendorId}:${t.productId}${t.serialNumber ? ` serial ${t.serialNumber}` : ''}`);
    return hit.path;
  }

  private onStreamError(stream: SerialPortStream, err: Error): void {
    this.log.warn({ link: this.name, err: err.message }, 'serial port error');
    // An error on a port that is no longer open is a disconnect the close event may not report.
    if (stream === this.stream && !stream.isOpen) this.lost(stream, err.message);
  }

  private onStreamClose(stream: SerialPortStream, err: Error | null): void {
    if (stream !== this.stream) return;
    this.lost(stream, err?.message ?? 'port closed');
  }

  private lost(stream: SerialPortStream, reason: string): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    stream.removeAllListeners('data');
    if (this.presenceTimer !== undefined) this.clock.clearTimeout(this.presenceTimer);
    this.presenceTimer = undefined;
    if (this.closed) return;
    this.log.warn({ link: this.name, reason }, 'serial link lost');
    this.setState({ status: 'offline', reason });
    this.failures = 0;
    this.scheduleReconnect(backoffDelay(1, this.backoff));
  }

  private scheduleReconnect(delay: number): void {
    if (this.closed) return;
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
  }

  private schedulePresenceCheck(): void {
    const every = this.opts.presenceCheckMs ?? 0;
    if (every <= 0 || this.closed) return;
    this.presenceTimer = this.clock.setTimeout(() => {
      this.presenceTimer = undefined;
      void this.checkPresence();
    }, every);
  }

  private async checkPresence(): Promise<void> {
    const stream = this.stream;
    const binding = this.binding;
    if (!stream || !binding) return;
    let present = true;
    try {
      const ports = await binding.list();
      present = ports.some((p) => p.path === this.path);
    } catch (e) {
      // A failing list() says nothing about our port; keep it.
      this.log.debug({ link: this.name, err: e instanceof Error ? e.message : String(e) }, 'presence check failed');
    }
    if (stream !== this.stream) return;
    if (!present) {
      this.log.warn({ link: this.name, path: this.path }, 'serial port vanished from list()');
      this.lost(stream, 'port vanished');
      if (stream.isOpen) stream.close();
      return;
    }
    this.schedulePresenceCheck();
  }

  private clearTimers(): void {
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    if (this.presenceTimer !== undefined) this.clock.clearTimeout(this.presenceTimer);
    this.retryTimer = undefined;
    this.presenceTimer = undefined;
  }

  private setState(s: LinkState): void {
    // Only status changes are emitted: retries that fail for a new reason are logged, not re-emitted,
    // so consumers see one offline → online edge per outage. The first reason is kept ("closed" wins).
    const cur = this.stateSubject.value;
    const placeholder = cur.status === 'offline' && cur.reason === 'not opened';
    const closing = s.status === 'offline' && s.reason === 'closed' && !(cur.status === 'offline' && cur.reason === 'closed');
    if (cur.status !== s.status || placeholder || closing) this.stateSubject.next(s);
  }
}
