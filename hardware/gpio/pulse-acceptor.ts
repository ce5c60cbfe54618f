/**
 * A pulse-output coin acceptor (CH-92x, DG600F, ...) on a GPIO input: each accepted coin sends a
 * train of N pulses and N maps to a value (protocols.md §4). The acceptor decides and routes
 * physically, so every recognised coin is money in the cashbox; this port can only count.
 *
 * Counting, all on the Clock:
 * - glitch filter: a level must hold `debounceMs` before it is an edge (edges keep their real time);
 * - a pulse is valid when `minPulseMs ≤ width ≤ maxPulseMs`; anything else is noise, logged and
 *   never counted (static / touching ground adds phantom pulses: field-notes.md §5 item 7);
 * - a train ends `gapMs` after its last valid pulse, once the line is quiet; then value = pulses[count]
 *   (noise in the gap does not stretch the train into the next coin's);
 * - an unknown count is never credited: it is reported as a momentary fault PULSE_COUNT_UNKNOWN
 *   (raised and cleared) so the journal records that a coin may have gone to the cashbox uncounted;
 * - the line held active for `stuckMs` raises COIN_LINE_STUCK until it releases.
 * Limits: coins closer together than `gapMs` merge into one train (protocols.md §4 pitfall); keep the
 * acceptor's own coin spacing above `gapMs`.
 *
 * Acceptance: the inhibit line is all-or-nothing, so `setAcceptance` enables the acceptor when any
 * requested value is one it can report, and inhibits it otherwise. A coin that arrives anyway (in
 * flight when the line switched) is still credited: it is physically in the cashbox.
 */
import { Subject, type Observable } from 'rxjs';
import type { TimerHandle } from '../../src/clock.ts';
import { DeviceError, type CoinCounts, type CoinMechEvent, type CoinMechPort, type LinkState, type Minor, type PayoutResult } from '../../src/ports/index.ts';
import { DebouncedInput, type GpioBoard, inverse } from './board.ts';
import type { PulseCoinOptions } from './config.ts';

/** Diagnostics for the service screen and tests: what the counter saw, beyond the port events. */
export type PulseDiagnostic =
  | { readonly type: 'noise'; readonly widthMs: number; readonly reason: 'glitch' | 'short' | 'long' }
  | { readonly type: 'train'; readonly pulses: number; readonly value: Minor | null; readonly inhibited: boolean };

export class PulseCoinAcceptor implements CoinMechPort {
  readonly name: string;
  readonly link$: Observable<LinkState>;
  private readonly events = new Subject<CoinMechEvent>();
  readonly events$: Observable<CoinMechEvent> = this.events.asObservable();
  private readonly diag = new Subject<PulseDiagnostic>();
  readonly diagnostics$: Observable<PulseDiagnostic> = this.diag.asObservable();

  private readonly input: DebouncedInput;
  private readonly returnInput: DebouncedInput | undefined;
  private readonly inhibitPin: number | undefined;
  private readonly valueByCount = new Map<number, Minor>();
  private count = 0;
  private pulseStart: number | undefined;
  private gapTimer: TimerHandle | undefined;
  private stuckTimer: TimerHandle | undefined;
  private stuck = false;
  private enabled = false;
  /** The gap has run out but the line was busy: end the train as soon as it is quiet. */
  private trainDue = false;

  constructor(
    private readonly board: GpioBoard,
    private readonly opts: PulseCoinOptions,
    name = 'coin',
  ) {
    this.name = name;
    this.link$ = board.link$;
    for (const [n, v] of Object.entries(opts.pulses)) this.valueByCount.set(Number(n), v);
    if (opts.inhibit) {
      this.inhibitPin = board.pin(opts.inhibit.pin);
      // Inhibited until the controller says otherwise: no coin is taken before anyone can count it.
      board.write(this.inhibitPin, opts.inhibit.activeLevel);
    }
    this.input = new DebouncedInput(
      board,
      board.pin(opts.pin),
      { pull: opts.pull, activeLevel: opts.activeLevel, debounceMs: opts.debounceMs },
      (active, at, initial) => this.onEdge(active, at, initial),
      (_active, widthMs) => this.noise(widthMs, 'glitch'),
    );
    const rb = opts.returnButton;
    this.returnInput = rb
      ? new DebouncedInput(board, board.pin(rb.pin), { pull: rb.pull, activeLevel: rb.activeLevel, debounceMs: rb.debounceMs }, (active, _at, initial) => {
          if (active && !initial) this.events.next({ type: 'returnPressed' });
        })
      : undefined;
  }

  /** True while the inhibit line lets coins in. */
  get accepting(): boolean {
    return this.enabled;
  }

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.board.assertOnline(this.name);
    const known = values.filter((v) => [...this.valueByCount.values()].includes(v));
    const unknown = values.filter((v) => !known.includes(v));
    if (unknown.length > 0) this.board.log.debug({ device: this.name, unknown }, 'pulse acceptor cannot report these values; ignored');
    if (known.length > 0 && known.length < new Set(this.valueByCount.values()).size)
      // The inhibit line cannot refuse single denominations; the controller must still cope with any coin.
      this.board.log.debug({ device: this.name, requested: values }, 'pulse acceptor enables all its coins (inhibit is all-or-nothing)');
    this.enabled = known.length > 0;
    if (this.inhibitPin !== undefined && this.opts.inhibit) {
      const inhibitLevel = this.opts.inhibit.activeLevel;
      this.board.write(this.inhibitPin, this.enabled ? inverse(inhibitLevel) : inhibitLevel);
    }
  }

  /** A pulse acceptor has no tubes. */
  async tubeLevels(): Promise<CoinCounts> {
    return {};
  }

  async dispense(_plan: CoinCounts): Promise<PayoutResult> {
    throw new DeviceError('NOT_SUPPORTED', this.name, 'a pulse coin acceptor cannot pay out');
  }

  /** Detach from the pins (the board stays open). */
  close(): void {
    this.input.dispose();
    this.returnInput?.dispose();
    this.clearGap();
    if (this.stuckTimer !== undefined) this.board.clock.clearTimeout(this.stuckTimer);
    this.stuckTimer = undefined;
    this.events.complete();
    this.diag.complete();
  }

  private onEdge(active: boolean, at: number, initial: boolean): void {
    const clock = this.board.clock;
    if (active) {
      // The gap timer keeps running: it counts from the last valid pulse, so noise cannot stretch a
      // train into the next coin's (it only defers the decision while the line is busy).
      // A line already active at start is not a pulse we can measure; only the stuck check applies.
      this.pulseStart = initial ? undefined : at;
      const heldFor = clock.now() - at;
      this.stuckTimer = clock.setTimeout(() => {
        this.stuckTimer = undefined;
        this.stuck = true;
        this.board.log.error({ device: this.name, ms: this.opts.stuckMs }, 'coin signal line stuck active');
        this.events.next({ type: 'fault', code: 'COIN_LINE_STUCK' });
      }, Math.max(0, this.opts.stuckMs - heldFor));
      return;
    }
    if (this.stuckTimer !== undefined) clock.clearTimeout(this.stuckTimer);
    this.stuckTimer = undefined;
    if (this.stuck) {
      this.stuck = false;
      this.events.next({ type: 'fault', code: 'COIN_LINE_STUCK', cleared: true });
    }
    const start = this.pulseStart;
    this.pulseStart = undefined;
    if (start !== undefined && !initial) {
      const width = at - start;
      if (width < this.opts.minPulseMs) this.noise(width, 'short');
      else if (width > this.opts.maxPulseMs) this.noise(width, 'long');
      else {
        this.count++;
        this.armGap(at);
        return;
      }
    }
    this.endTrainIfQuiet();
  }

  /** End the train `gapMs` after the last valid pulse, once the line is quiet (not active, no edge pending). */
  private armGap(from: number): void {
    const clock = this.board.clock;
    this.clearGap();
    this.trainDue = false;
    this.gapTimer = clock.setTimeout(() => {
      this.gapTimer = undefined;
      // Something is on the line right now: decide when it is over (see onEdge / noise).
      if (this.input.pending || this.input.active) this.trainDue = true;
      else this.endTrain();
    }, Math.max(0, from + this.opts.gapMs - clock.now()));
  }

  /** The gap ran out while the line was busy; end the train now if the line has gone quiet. */
  private endTrainIfQuiet(): void {
    if (this.trainDue && !this.input.pending && !this.input.active) this.endTrain();
  }

  private clearGap(): void {
    if (this.gapTimer !== undefined) this.board.clock.clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private endTrain(): void {
    this.trainDue = false;
    const n = this.count;
    if (n === 0) return;
    this.count = 0;
    const value = this.valueByCount.get(n);
    const inhibited = !this.enabled;
    this.diag.next({ type: 'train', pulses: n, value: value ?? null, inhibited });
    if (value === undefined) {
      this.board.log.error({ device: this.name, pulses: n }, 'pulse train matches no coin; not credited');
      this.events.next({ type: 'fault', code: 'PULSE_COUNT_UNKNOWN' });
      this.events.next({ type: 'fault', code: 'PULSE_COUNT_UNKNOWN', cleared: true });
      return;
    }
    if (inhibited) this.board.log.warn({ device: this.name, value }, 'coin counted while inhibited (in flight); credited, it is in the cashbox');
    this.events.next({ type: 'coin', value, routing: 'cashbox' });
  }

  private noise(widthMs: number, reason: 'glitch' | 'short' | 'long'): void {
    this.board.log.warn({ device: this.name, widthMs, reason }, 'coin line noise ignored');
    this.diag.next({ type: 'noise', widthMs, reason });
    if (reason === 'glitch') this.endTrainIfQuiet();
  }
}
