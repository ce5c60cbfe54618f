/**
 * Client for a Qibixx-style MDB interface board (protocols.md §2.1): 115200 8N1 ASCII lines over a
 * ByteLink. The board is the MDB master's hands: it adds the mode bit and CHK to `R,<hex>` commands,
 * answers the 5 ms MDB window itself, and reports `p,ACK`, `p,NACK` (NAK or silence) or `p,<hex>`.
 *
 * Relied-on items that protocols.md §7 lists as unconfirmed (each one is an option here):
 * - whether `p,<hex>` carries the CHK: `replyChecksum` ('stripped' by default, as the client code in
 *   §2.1 suggests 46 hex chars = 23 bytes for a changer SETUP; 'included' verifies and strips it);
 * - whether the board ACKs peripheral data by itself: assumed yes (the host cannot meet 5 ms over USB),
 *   so a reply lost on the serial line cannot be re-requested with RET; hence retries only for
 *   timeouts/garbled replies, and drivers treat POLL results idempotently;
 * - `\n` vs `\r\n`: `lineEnding` ('\n' by default, as in the Qibixx docs); both are accepted on input.
 *
 * Lines that are not well-formed replies are traced as garbage and skipped: the splitter resyncs on
 * the next line end, and the request in flight keeps waiting for its real answer (or times out).
 */
import { BehaviorSubject } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import { DeviceError } from '../../src/ports/index.ts';
import type { LinkState } from '../../src/ports/index.ts';
import type { ByteLink } from '../serial/types.ts';
import { RequestQueue } from '../serial/queue.ts';
import type { AttemptOutcome, RetryPolicy } from '../serial/queue.ts';
import type { FrameTracer } from '../serial/trace.ts';
import { silentLogger } from '../serial/log.ts';
import type { Logger } from '../serial/log.ts';
import { MAX_BLOCK, fromHex, stripChecksum, toHex } from './codec.ts';
import type { MdbCommand } from './codec.ts';

// ------------------------------------------------------------------------------------ line splitting

export type SplitEvent = { readonly kind: 'line'; readonly text: string } | { readonly kind: 'overflow'; readonly dropped: string };

/**
 * Byte stream → lines. CR and LF both end a line (so `\n` and `\r\n` boards both work) and empty
 * lines are skipped. A line longer than `maxLength` is dropped up to the next line end and reported
 * as overflow, so a babbling port cannot grow memory without bound.
 */
export class LineSplitter {
  private buf = '';
  private overflowing = false;

  constructor(readonly maxLength = 256) {}

  push(bytes: Uint8Array): SplitEvent[] {
    const out: SplitEvent[] = [];
    for (const b of bytes) {
      if (b === 0x0a || b === 0x0d) {
        if (this.overflowing) {
          out.push({ kind: 'overflow', dropped: this.buf });
          this.overflowing = false;
        } else if (this.buf.length > 0) {
          out.push({ kind: 'line', text: this.buf });
        }
        this.buf = '';
        continue;
      }
      if (this.buf.length >= this.maxLength) {
        // keep only a short prefix of what is dropped, for the trace
        this.overflowing = true;
        continue;
      }
      this.buf += String.fromCharCode(b);
    }
    return out;
  }

  reset(): void {
    this.buf = '';
    this.overflowing = false;
  }
}

// ------------------------------------------------------------------------------------ reply lines

export type PReply = { readonly kind: 'ack' } | { readonly kind: 'nack' } | { readonly kind: 'data'; readonly bytes: Uint8Array };

export type BoardLine =
  | { readonly kind: 'p'; readonly reply: PReply }
  | { readonly kind: 'm'; readonly ok: boolean }
  | { readonly kind: 'v'; readonly text: string }
  /** A well-formed line from another board mode (c, d, x, ...): not for us. */
  | { readonly kind: 'other'; readonly letter: string; readonly text: string }
  | { readonly kind: 'garbage'; readonly reason: string };

/** Parse one board line. Pure; never throws. */
export function parseBoardLine(line: string): BoardLine {
  const text = line.trim();
  if (text.length === 0) return { kind: 'garbage', reason: 'empty line' };
  if (!/^[\x20-\x7e]+$/.test(text)) return { kind: 'garbage', reason: 'non-ASCII bytes' };
  const m = /^([a-z]),(.*)$/.exec(text);
  if (!m) return { kind: 'garbage', reason: 'not "<letter>,<payload>"' };
  const letter = m[1] ?? '';
  const payload = m[2] ?? '';
  switch (letter) {
    case 'p': {
      if (payload === 'ACK') return { kind: 'p', reply: { kind: 'ack' } };
      if (payload === 'NACK') return { kind: 'p', reply: { kind: 'nack' } };
      if (payload.length === 0 || payload.length > 2 * MAX_BLOCK) return { kind: 'garbage', reason: `p reply of ${payload.length} hex digits` };
      const bytes = fromHex(payload);
      if (!bytes.ok) return { kind: 'garbage', reason: `p reply: ${bytes.error.message}` };
      return { kind: 'p', reply: { kind: 'data', bytes: bytes.value } };
    }
    case 'm':
      if (payload === 'ACK') return { kind: 'm', ok: true };
      if (payload === 'NACK') return { kind: 'm', ok: false };
      return { kind: 'garbage', reason: `m reply "${payload}"` };
    case 'v':
      return { kind: 'v', text: payload };
    default:
      return { kind: 'other', letter, text: payload };
  }
}

/** The host line for a raw MDB command: `R,<addr>[,<data>]` (protocols.md §2.1). */
export function commandLine(cmd: MdbCommand): string {
  const [first, ...rest] = cmd.bytes;
  const head = `R,${toHex([first ?? 0])}`;
  return rest.length > 0 ? `${head},${toHex(rest)}` : head;
}

// ------------------------------------------------------------------------------------ the board client

/** A peripheral's answer as the board reports it: bare ACK, or a data block (CHK removed). */
export type MdbReply = { readonly kind: 'ack' } | { readonly kind: 'data'; readonly data: Uint8Array };

export interface MdbBoardOptions {
  readonly link: ByteLink;
  readonly clock: Clock;
  readonly tracer?: FrameTracer;
  readonly log?: Logger;
  /** Bus name in traces and errors (default "mdb"). */
  readonly bus?: string;
  /** Whether `p,<hex>` carries the peripheral's CHK (unconfirmed, protocols.md §7). Default 'stripped'. */
  readonly replyChecksum?: 'stripped' | 'included';
  /** Line terminator sent to the board (default '\n'). */
  readonly lineEnding?: '\n' | '\r\n';
  /** Per-attempt answer timeout (default 250 ms: MDB's 5 ms plus USB and board latency, with margin). */
  readonly timeoutMs?: number;
  /** Default retry policy (default: 1 retry on timeout or garbled CHK). NACK is not retried by default. */
  readonly policy?: RetryPolicy;
  /** Longest line accepted before it is dropped as garbage (default 256). */
  readonly maxLineLength?: number;
  /** Retry period for `M,1` (master mode on) while the board does not confirm it (default 1000 ms). */
  readonly initRetryMs?: number;
}

export interface SendOptions {
  readonly timeoutMs?: number;
  readonly policy?: RetryPolicy;
  /** Meaning of the reply for the trace. */
  readonly describe?: (reply: MdbReply) => string;
}

type Inflight = { readonly label: string; readonly describe?: (reply: MdbReply) => string; readonly interpretAs: 'p' | 'm' };

export const DEFAULT_BOARD_POLICY: RetryPolicy = { retries: 1, retryOn: ['timeout', 'checksum'] };

export class MdbBoard {
  readonly bus: string;
  private readonly queue: RequestQueue<BoardLine>;
  private readonly splitter: LineSplitter;
  private readonly log: Logger;
  private readonly stateSubject = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not started' });
  /** online once the link is up and the board confirmed master mode; offline otherwise. */
  readonly state$: Observable<LinkState> = this.stateSubject.asObservable();
  private subs: Subscription[] = [];
  private inflight: Inflight | undefined;
  private linkUp = false;
  private initTimer: unknown;
  private started = false;
  private epoch = 0;

  constructor(private readonly opts: MdbBoardOptions) {
    this.bus = opts.bus ?? 'mdb';
    this.log = opts.log ?? silentLogger;
    this.splitter = new LineSplitter(opts.maxLineLength ?? 256);
    this.queue = new RequestQueue<BoardLine>({
      device: this.bus,
      clock: opts.clock,
      timeoutMs: opts.timeoutMs ?? 250,
      policy: opts.policy ?? DEFAULT_BOARD_POLICY,
    });
  }

  get online(): boolean {
    return this.stateSubject.value.status === 'online';
  }

  get state(): LinkState {
    return this.stateSubject.value;
  }

  /** Start listening on the link; master mode is switched on whenever the link comes up. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.subs.push(this.opts.link.data$.subscribe((bytes) => this.onBytes(bytes)));
    this.subs.push(this.opts.link.state$.subscribe((s) => this.onLinkState(s)));
  }

  stop(): void {
    this.started = false;
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.clearInitTimer();
    this.queue.failAll(new DeviceError('DEVICE_OFFLINE', this.bus, 'board stopped'));
    this.setState({ status: 'offline', reason: 'stopped' });
  }

  /**
   * Send one raw MDB command and wait for the peripheral's answer. NACK (peripheral NAK or silence)
   * rejects with DEVICE_REJECTED unless the policy retries it; no board answer rejects with
   * DEVICE_TIMEOUT; a reply with a bad CHK ('included' mode) with PROTOCOL_ERROR.
   */
  send(cmd: MdbCommand, options: SendOptions = {}): Promise<MdbReply> {
    if (!this.online) return Promise.reject(new DeviceError('DEVICE_OFFLINE', this.bus, `${cmd.name}: interface board offline`));
    const line = commandLine(cmd);
    return this.queue.request<MdbReply>({
      label: cmd.name,
      timeoutMs: options.timeoutMs,
      policy: options.policy,
      send: () => this.writeLine(line, { label: cmd.name, describe: options.describe, interpretAs: 'p' }),
      interpret: (l) => this.interpretP(l),
    });
  }

  /** Bus reset (break) via `R,RESET`: every peripheral resets (MDB 4.2 §2.5). */
  async busReset(): Promise<void> {
    if (!this.online) throw new DeviceError('DEVICE_OFFLINE', this.bus, 'bus reset: interface board offline');
    await this.queue.request<MdbReply>({
      label: 'bus RESET',
      policy: { retries: 0, retryOn: [] },
      send: () => this.writeLine('R,RESET', { label: 'bus RESET', interpretAs: 'p' }),
      interpret: (l) => this.interpretP(l),
    });
  }

  private interpretP(l: BoardLine): AttemptOutcome<MdbReply> | undefined {
    if (l.kind !== 'p') return undefined;
    const r = l.reply;
    if (r.kind === 'ack') return { ok: true, value: { kind: 'ack' } };
    if (r.kind === 'nack') return { ok: false, reason: 'nak', detail: 'peripheral NAK or no answer' };
    if (this.opts.replyChecksum === 'included') {
      const s = stripChecksum(r.bytes);
      if (!s.ok) return { ok: false, reason: 'checksum', detail: s.error.message };
      return { ok: true, value: { kind: 'data', data: s.value } };
    }
    return { ok: true, value: { kind: 'data', data: r.bytes } };
  }

  private async writeLine(line: string, inflight: Inflight): Promise<void> {
    this.inflight = inflight;
    this.trace('tx', line, inflight.label);
    await this.opts.link.write(line + (this.opts.lineEnding ?? '\n'));
  }

  private onLinkState(s: LinkState): void {
    this.epoch++;
    if (s.status === 'online') {
      this.linkUp = true;
      this.splitter.reset();
      void this.enableMaster(this.epoch);
      return;
    }
    this.linkUp = false;
    this.clearInitTimer();
    this.splitter.reset();
    this.queue.failAll(new DeviceError('DEVICE_OFFLINE', this.bus, `serial link ${s.status}`));
    this.setState({ status: 'offline', reason: s.status === 'offline' ? `serial link offline${s.reason ? `: ${s.reason}` : ''}` : `serial link error ${s.code}` });
  }

  /** `M,1` until the board confirms, retried on the clock while the link stays up. */
  private async enableMaster(epoch: number): Promise<void> {
    if (!this.started || !this.linkUp || epoch !== this.epoch) return;
    try {
      await this.queue.request<true>({
        label: 'master mode on',
        policy: { retries: 1, retryOn: ['timeout'] },
        send: () => this.writeLine('M,1', { label: 'master mode on', interpretAs: 'm' }),
        interpret: (l) => (l.kind === 'm' ? (l.ok ? { ok: true, value: true } : { ok: false, reason: 'nak', detail: 'm,NACK' }) : undefined),
      });
      if (epoch !== this.epoch) return;
      this.log.info({ bus: this.bus }, 'MDB board in master mode');
      this.setState({ status: 'online' });
    } catch (e) {
      if (epoch !== this.epoch) return;
      const msg = e instanceof Error ? e.message : String(e);
      this.log.warn({ bus: this.bus, err: msg }, 'MDB board did not confirm master mode');
      this.setState({ status: 'error', code: 'DEVICE_TIMEOUT', detail: msg });
      this.clearInitTimer();
      this.initTimer = this.opts.clock.setTimeout(() => void this.enableMaster(epoch), this.opts.initRetryMs ?? 1000);
    }
  }

  private onBytes(bytes: Uint8Array): void {
    for (const ev of this.splitter.push(bytes)) {
      if (ev.kind === 'overflow') {
        this.trace('rx', ev.dropped.slice(0, 64), undefined, `line longer than ${this.splitter.maxLength} chars dropped`);
        continue;
      }
      const parsed = parseBoardLine(ev.text);
      if (parsed.kind === 'garbage') {
        this.log.debug({ bus: this.bus, line: ev.text, reason: parsed.reason }, 'garbage line ignored');
        this.trace('rx', ev.text, undefined, `garbage: ${parsed.reason}`);
        continue;
      }
      const inflight = this.inflight;
      const verdict = this.queue.deliver(parsed);
      if (verdict === 'consumed') {
        this.trace('rx', ev.text, this.meaning(parsed, inflight));
        this.inflight = undefined;
      } else {
        this.log.debug({ bus: this.bus, line: ev.text, verdict }, 'reply not matched to a request');
        this.trace('rx', ev.text, undefined, verdict === 'late' ? 'late reply (after timeout), dropped' : 'unsolicited line');
      }
    }
  }

  private meaning(l: BoardLine, inflight: Inflight | undefined): string | undefined {
    if (!inflight) return undefined;
    if (l.kind === 'p' && l.reply.kind === 'nack') return `${inflight.label}: NACK`;
    if (l.kind === 'p' && l.reply.kind !== 'nack' && inflight.describe) {
      const r = l.reply;
      const reply: MdbReply = r.kind === 'ack' ? { kind: 'ack' } : { kind: 'data', data: r.bytes };
      const checked = this.opts.replyChecksum === 'included' && reply.kind === 'data' ? stripChecksum(reply.data) : undefined;
      if (checked && !checked.ok) return `${inflight.label}: ${checked.error.message}`;
      return `${inflight.label}: ${inflight.describe(checked?.ok ? { kind: 'data', data: checked.value } : reply)}`;
    }
    if (l.kind === 'p' && l.reply.kind === 'ack') return `${inflight.label}: ACK`;
    return inflight.label;
  }

  private trace(dir: 'tx' | 'rx', raw: string, meaning?: string, error?: string): void {
    const t = this.opts.tracer;
    if (!t) return;
    t.record({ bus: this.bus, dir, at: this.opts.clock.now(), raw, ...(meaning ? { meaning } : {}), ...(error ? { error } : {}) });
  }

  private clearInitTimer(): void {
    if (this.initTimer !== undefined) this.opts.clock.clearTimeout(this.initTimer);
    this.initTimer = undefined;
  }

  private setState(s: LinkState): void {
    const cur = this.stateSubject.value;
    if (cur.status !== s.status || (cur.status === 'offline' && s.status === 'offline' && s.reason === 'stopped')) this.stateSubject.next(s);
  }
}
