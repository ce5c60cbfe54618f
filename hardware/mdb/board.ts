/**
 * Client for a Qibixx-style MDB interface board (protocols.md §2.1): 115200 8N1 ASCII lines over a
 * ByteLink. The board is the MDB master's hands: it adds the mode bit and CHK to `R,<hex>` commands,
 * answers the 5 ms MDB window itself, and reports `p,ACK`, `p,NACK` (NAK or silence) or `p,<hex>`.
 *
 * Relied-on items that protocols.md §7 lists as unconfirmed (each one is an option here):
 * - whether `p,<hex>` carries the CHK: `replyChecksum` ('stripped' by default, as the client code in
 *   §2.1 suggests 46 hex chars = 23 bytes for a changer SETUP; 'included' verifies and strips it);
 * - whether the board ACKs peripheral data by itself: assumed yes (the host cannot meet 5 ms over USB),
 *   so a reply lost on the serial line cannot be re-requested with RET: the data is gone from the
 *   peripheral. A POLL whose reply is lost, garbled or doubled is never simply re-sent as if nothing
 *   happened; its outcome is reported as UNKNOWN and the driver reconciles from the device's state;
 * - `\n` vs `\r\n`: `lineEnding` ('\n' by default, as in the Qibixx docs); both are accepted on input.
 *
 * Exchange discipline (the board answers every command with exactly one line, and never speaks
 * unasked): a reply is matched only to the request in flight, and is taken only after `confirmMs`
 * of silence, so a duplicated or stray line next to it is seen. Then:
 * - one well-formed reply of the expected kind → the answer;
 * - a garbled line, a line of the wrong kind, or a second line for one command → outcome unknown
 *   (`isUnknownOutcome`), decided once the line has been quiet for `settleMs`;
 * - a line with no request in flight is never an answer; it is traced as unsolicited (or late) and
 *   the exchange that ended just before it is reported on `suspect$`, since the line count shows
 *   one of its lines may have been taken for the other;
 * - after any of these, nothing is sent until the line has been quiet for `settleMs` (resync).
 *
 * Cashless traffic (address 0x10 / 0x60) is redacted in traces and logs by default: the reply's
 * first byte (the response code) and its length stay, the rest (funds, amounts, card ids) is masked.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { sleep } from '../../src/clock.ts';
import { DeviceError } from '../../src/ports/index.ts';
import type { LinkState } from '../../src/ports/index.ts';
import type { ByteLink } from '../serial/types.ts';
import { RequestQueue } from '../serial/queue.ts';
import type { AttemptOutcome, RetryPolicy, RetryReason } from '../serial/queue.ts';
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
  /**
   * Default retry policy (default: 1 retry on timeout, garbled CHK or unknown outcome: right for
   * reads and settings). NACK is not retried by default. Commands that move money set their own.
   */
  readonly policy?: RetryPolicy;
  /** Longest line accepted before it is dropped as garbage (default 256). */
  readonly maxLineLength?: number;
  /** Retry period for `M,1` (master mode on) while the board does not confirm it (default 1000 ms). */
  readonly initRetryMs?: number;
  /** A reply is taken after this long with no second line (default 3 ms; the board answers once). */
  readonly confirmMs?: number;
  /**
   * A line sooner than this after the command was written cannot be its answer: the MDB exchange
   * alone (command, CHK and the peripheral's ACK at 9600 baud, 11 bits a byte) takes > 3 ms.
   * Default 2 ms.
   */
  readonly minReplyMs?: number;
  /** Line silence that ends a garbled exchange and must precede the next command after an anomaly (default 20 ms). */
  readonly settleMs?: number;
  /** A stray line this soon after an exchange ended makes that exchange suspect (default: the timeout). */
  readonly suspectWindowMs?: number;
  /** Mask cashless replies in traces and logs (default true). */
  readonly redactCashless?: boolean;
}

export interface SendOptions {
  readonly timeoutMs?: number;
  readonly policy?: RetryPolicy;
  /** Meaning of the reply for the trace. */
  readonly describe?: (reply: MdbReply) => string;
  /** Called when each attempt ends (e.g. to expect the answer to a repeat). */
  readonly onAttemptEnd?: (reason: RetryReason | 'ok' | 'fatal') => void;
}

/** An exchange that ended but may have been misread: a stray or late line came right after it. */
export interface SuspectExchange {
  readonly seq: number;
  /** The MDB address byte the command went to (undefined for board commands). */
  readonly address: number | undefined;
  readonly label: string;
  readonly why: string;
}

/** What the board hands the queue: a line, or its verdict that the answer cannot be known. */
type BoardVerdict = BoardLine | { readonly kind: 'unknown'; readonly why: string };

interface Exchange {
  readonly seq: number;
  readonly label: string;
  readonly address: number | undefined;
  readonly describe?: (reply: MdbReply) => string;
  readonly interpretAs: 'p' | 'm';
  readonly redact: boolean;
  /** The exchange that ended before this one was written (suspect too if this one goes wrong). */
  readonly prev: Ended | undefined;
  readonly sentAt: number;
  state: 'waiting' | 'held' | 'garbled';
  held: BoardLine | undefined;
  why: string;
  timer: TimerHandle | undefined;
}

interface Ended {
  readonly seq: number;
  readonly label: string;
  readonly address: number | undefined;
  readonly redact: boolean;
  readonly at: number;
  readonly how: string;
}

export const DEFAULT_BOARD_POLICY: RetryPolicy = { retries: 1, retryOn: ['timeout', 'checksum', 'unknown'] };

const CASHLESS_BASES = new Set([0x10, 0x60]);

/** Cashless replies keep their response code and length; the rest (funds, amounts, ids) is masked. */
export function redactReplyText(text: string): string {
  const m = /^p,([0-9A-Fa-f]{2})([0-9A-Fa-f]*)$/.exec(text);
  if (m) return `p,${m[1] ?? ''}${'*'.repeat((m[2] ?? '').length)}`;
  if (text === 'p,ACK' || text === 'p,NACK') return text;
  return text.replace(/[0-9A-Fa-f]/g, '*');
}

export class MdbBoard {
  readonly bus: string;
  private readonly queue: RequestQueue<BoardVerdict>;
  private readonly splitter: LineSplitter;
  private readonly log: Logger;
  private readonly stateSubject = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not started' });
  /** online once the link is up and the board confirmed master mode; offline otherwise. */
  readonly state$: Observable<LinkState> = this.stateSubject.asObservable();
  private readonly suspectSubject = new Subject<SuspectExchange>();
  /** Exchanges already answered that a later stray line makes doubtful: their drivers reconcile. */
  readonly suspect$: Observable<SuspectExchange> = this.suspectSubject.asObservable();
  private subs: Subscription[] = [];
  private ex: Exchange | undefined;
  private last: Ended | undefined;
  private seq = 0;
  private quietUntil = -Infinity;
  private linkUp = false;
  private initTimer: unknown;
  private started = false;
  private epoch = 0;
  private readonly confirmMs: number;
  private readonly settleMs: number;
  private readonly timeoutMs: number;
  /** Counters for diagnostics and soak reports. */
  readonly stats = { exchanges: 0, unknown: 0, stray: 0, suspect: 0 };

  constructor(private readonly opts: MdbBoardOptions) {
    this.bus = opts.bus ?? 'mdb';
    this.log = opts.log ?? silentLogger;
    this.splitter = new LineSplitter(opts.maxLineLength ?? 256);
    this.confirmMs = opts.confirmMs ?? 3;
    this.settleMs = opts.settleMs ?? 20;
    this.timeoutMs = opts.timeoutMs ?? 250;
    this.queue = new RequestQueue<BoardVerdict>({
      device: this.bus,
      clock: opts.clock,
      timeoutMs: this.timeoutMs,
      settleMs: this.settleMs,
      policy: opts.policy ?? DEFAULT_BOARD_POLICY,
    });
  }

  get online(): boolean {
    return this.stateSubject.value.status === 'online';
  }

  get state(): LinkState {
    return this.stateSubject.value;
  }

  /** A reply is being confirmed, or a doubtful exchange is waiting for the line to go quiet. */
  get settling(): boolean {
    return this.ex !== undefined && this.ex.state !== 'waiting';
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
   * DEVICE_TIMEOUT; a reply with a bad CHK ('included' mode) with PROTOCOL_ERROR; an answer that
   * cannot be trusted with PROTOCOL_ERROR for which `isUnknownOutcome` is true.
   */
  send(cmd: MdbCommand, options: SendOptions = {}): Promise<MdbReply> {
    if (!this.online) return Promise.reject(new DeviceError('DEVICE_OFFLINE', this.bus, `${cmd.name}: interface board offline`));
    const line = commandLine(cmd);
    const address = cmd.bytes[0];
    const redact = this.opts.redactCashless !== false && address !== undefined && CASHLESS_BASES.has(address & 0xf8);
    return this.queue.request<MdbReply>({
      label: cmd.name,
      timeoutMs: options.timeoutMs,
      policy: options.policy,
      send: () => this.writeLine(line, { label: cmd.name, address, describe: options.describe, interpretAs: 'p', redact }),
      interpret: (l) => this.interpretP(l),
      onAttemptEnd: (reason) => {
        this.attemptEnded(reason);
        options.onAttemptEnd?.(reason);
      },
    });
  }

  /** Bus reset (break) via `R,RESET`: every peripheral resets (MDB 4.2 §2.5). */
  async busReset(): Promise<void> {
    if (!this.online) throw new DeviceError('DEVICE_OFFLINE', this.bus, 'bus reset: interface board offline');
    await this.queue.request<MdbReply>({
      label: 'bus RESET',
      policy: { retries: 0, retryOn: [] },
      send: () => this.writeLine('R,RESET', { label: 'bus RESET', address: undefined, interpretAs: 'p', redact: false }),
      interpret: (l) => this.interpretP(l),
      onAttemptEnd: (reason) => this.attemptEnded(reason),
    });
  }

  private interpretP(l: BoardVerdict): AttemptOutcome<MdbReply> | undefined {
    if (l.kind === 'unknown') return { ok: false, reason: 'unknown', detail: l.why };
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

  private async writeLine(
    line: string,
    o: { readonly label: string; readonly address: number | undefined; readonly describe?: (reply: MdbReply) => string; readonly interpretAs: 'p' | 'm'; readonly redact: boolean },
  ): Promise<void> {
    // After an anomaly, nothing goes out until the line has been quiet (resync on line count).
    const wait = this.quietUntil - this.opts.clock.now();
    if (wait > 0) await sleep(this.opts.clock, wait);
    this.stats.exchanges++;
    this.ex = { ...o, seq: ++this.seq, prev: this.last, sentAt: this.opts.clock.now(), state: 'waiting', held: undefined, why: '', timer: undefined };
    this.trace('tx', line, o.label);
    await this.opts.link.write(line + (this.opts.lineEnding ?? '\n'));
  }

  /** The queue ended the attempt in flight (answered, timed out, failed): close the exchange. */
  private attemptEnded(reason: RetryReason | 'ok' | 'fatal'): void {
    const ex = this.ex;
    if (!ex) return;
    if (ex.timer !== undefined) this.opts.clock.clearTimeout(ex.timer);
    this.ex = undefined;
    const now = this.opts.clock.now();
    this.last = { seq: ex.seq, label: ex.label, address: ex.address, redact: ex.redact, at: now, how: reason };
    if (reason === 'timeout' || reason === 'unknown' || reason === 'fatal') this.quietUntil = Math.max(this.quietUntil, now + this.settleMs);
    if (reason === 'unknown') this.stats.unknown++;
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
        policy: { retries: 1, retryOn: ['timeout', 'unknown'] },
        send: () => this.writeLine('M,1', { label: 'master mode on', address: undefined, interpretAs: 'm', redact: false }),
        interpret: (l) =>
          l.kind === 'unknown' ? { ok: false, reason: 'unknown', detail: l.why } : l.kind === 'm' ? (l.ok ? { ok: true, value: true } : { ok: false, reason: 'nak', detail: 'm,NACK' }) : undefined,
        onAttemptEnd: (reason) => this.attemptEnded(reason),
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
        // An over-long line is a line too: garbage for the exchange in flight.
        this.onLine(ev.dropped.slice(0, 64), { kind: 'garbage', reason: `line longer than ${this.splitter.maxLength} chars dropped` });
        continue;
      }
      this.onLine(ev.text, parseBoardLine(ev.text));
    }
  }

  private onLine(text: string, parsed: BoardLine): void {
    if (parsed.kind === 'other') {
      // Another board mode's line (c, d, x, ...): not an MDB master reply, never counted as one.
      this.trace('rx', text, undefined, 'line from another board mode, ignored');
      return;
    }
    const ex = this.ex;
    if (!ex) {
      this.stray(text, parsed);
      return;
    }
    const raw = ex.redact ? redactReplyText(text) : text;
    if (ex.state === 'garbled') {
      this.trace('rx', raw, undefined, `discarded: ${ex.label} outcome unknown`);
      this.armQuiet(ex);
      return;
    }
    if (ex.state === 'held') {
      this.garble(ex, 'two lines for one command');
      this.trace('rx', raw, undefined, `extra line: ${ex.label} outcome unknown`);
      return;
    }
    if (parsed.kind === 'garbage') {
      this.log.debug({ bus: this.bus, line: raw, reason: parsed.reason }, 'garbled reply');
      this.garble(ex, `garbled reply (${parsed.reason})`);
      this.trace('rx', raw, undefined, `garbage: ${parsed.reason}; ${ex.label} outcome unknown`);
      return;
    }
    if (this.opts.clock.now() - ex.sentAt < (this.opts.minReplyMs ?? 2)) {
      this.garble(ex, 'a line sooner than the MDB exchange can take');
      this.trace('rx', raw, undefined, `too early to be the answer to ${ex.label}; outcome unknown`);
      return;
    }
    if (parsed.kind !== ex.interpretAs) {
      this.garble(ex, `"${parsed.kind}," line is not a reply to ${ex.label}`);
      this.trace('rx', raw, undefined, `not a reply to ${ex.label}; outcome unknown`);
      return;
    }
    ex.state = 'held';
    ex.held = parsed;
    this.trace('rx', raw, this.meaning(parsed, ex));
    ex.timer = this.opts.clock.setTimeout(() => {
      ex.timer = undefined;
      if (this.ex !== ex || ex.state !== 'held' || !ex.held) return;
      this.queue.deliver(ex.held);
    }, this.confirmMs);
  }

  /** The exchange's answer cannot be trusted: decide "unknown" once the line is quiet. */
  private garble(ex: Exchange, why: string): void {
    ex.state = 'garbled';
    ex.held = undefined;
    ex.why = why;
    // If the previous exchange's reply was really this one's (a line too many before it), it is doubtful too.
    const p = ex.prev;
    if (p && this.opts.clock.now() - p.at <= (this.opts.suspectWindowMs ?? this.timeoutMs)) this.suspect(p, `the next exchange (${ex.label}) got ${why}`);
    this.armQuiet(ex);
  }

  private armQuiet(ex: Exchange): void {
    if (ex.timer !== undefined) this.opts.clock.clearTimeout(ex.timer);
    ex.timer = this.opts.clock.setTimeout(() => {
      ex.timer = undefined;
      if (this.ex !== ex) return;
      this.queue.deliver({ kind: 'unknown', why: ex.why });
    }, this.settleMs);
  }

  /** A line with no request in flight: never an answer. */
  private stray(text: string, parsed: BoardLine): void {
    const now = this.opts.clock.now();
    this.quietUntil = Math.max(this.quietUntil, now + this.settleMs);
    this.stats.stray++;
    const l = this.last;
    const recent = l !== undefined && now - l.at <= (this.opts.suspectWindowMs ?? this.timeoutMs);
    const raw = recent && l.redact ? redactReplyText(text) : text;
    const late = recent && l.how === 'timeout';
    this.log.debug({ bus: this.bus, line: raw, kind: parsed.kind }, late ? 'late reply dropped' : 'unsolicited line');
    const what = parsed.kind === 'garbage' ? `garbage: ${parsed.reason}; no request in flight` : late ? 'late reply (after timeout), dropped' : 'unsolicited line';
    this.trace('rx', raw, undefined, what);
    if (recent) this.suspect(l, late ? 'its reply came after the timeout' : 'a stray line came right after it');
  }

  private suspect(e: Ended, why: string): void {
    this.stats.suspect++;
    this.log.warn({ bus: this.bus, exchange: e.seq, label: e.label, why }, 'MDB exchange suspect: reconciling');
    this.suspectSubject.next({ seq: e.seq, address: e.address, label: e.label, why });
  }

  private meaning(l: BoardLine, ex: Exchange): string | undefined {
    if (l.kind === 'p' && l.reply.kind === 'nack') return `${ex.label}: NACK`;
    if (l.kind === 'p' && l.reply.kind !== 'nack' && ex.describe) {
      const r = l.reply;
      const reply: MdbReply = r.kind === 'ack' ? { kind: 'ack' } : { kind: 'data', data: r.bytes };
      const checked = this.opts.replyChecksum === 'included' && reply.kind === 'data' ? stripChecksum(reply.data) : undefined;
      if (checked && !checked.ok) return `${ex.label}: ${checked.error.message}`;
      return `${ex.label}: ${ex.describe(checked?.ok ? { kind: 'data', data: checked.value } : reply)}`;
    }
    if (l.kind === 'p' && l.reply.kind === 'ack') return `${ex.label}: ACK`;
    return ex.label;
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
