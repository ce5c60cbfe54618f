/**
 * Request/response queue for one bus: exactly one request outstanding at a time (MDB 4.2 §2.4 /
 * protocols.md §1.3: "the VMC must not issue another command until the response is complete"; the
 * same holds for the ASCII interface board, whose replies carry no request id). Timeouts run on the
 * injected Clock, retries follow a typed policy, failures are DeviceErrors with stable codes.
 */
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { DeviceError } from '../../src/ports/index.ts';
import type { DeviceErrorCode } from '../../src/ports/index.ts';

/**
 * Why one attempt failed. `unknown`: an answer came but cannot be trusted (garbled, or more lines
 * than requests), so whether the device acted on the request is not known; retry only requests
 * whose repetition is harmless (reads, settings).
 */
export type RetryReason = 'timeout' | 'checksum' | 'nak' | 'unknown';

/** Which failures are retried, and how often. `retries` counts extra attempts after the first. */
export interface RetryPolicy {
  readonly retries: number;
  readonly retryOn: readonly RetryReason[];
  /** Wait this long before a retry (default 0, or the queue's settle time after a timeout). */
  readonly retryDelayMs?: number;
}

export const NO_RETRY: RetryPolicy = { retries: 0, retryOn: [] };

/** The verdict on one response: a value, or a typed failure reason. */
export type AttemptOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: RetryReason; readonly detail?: string };

export interface QueueRequest<Res, T> {
  /** Short text for errors and traces, e.g. "changer POLL". */
  readonly label: string;
  /** Put the request on the wire. A rejection fails the request at once (no retry). */
  send(): Promise<void>;
  /**
   * Judge a response. Return `undefined` when the response is not an answer to this kind of request
   * (it is then reported back to the caller of `deliver` as unsolicited).
   */
  interpret(res: Res): AttemptOutcome<T> | undefined;
  readonly timeoutMs?: number;
  readonly policy?: RetryPolicy;
  /** Called when an attempt ends, whatever the reason (the transport may clear its own state). */
  readonly onAttemptEnd?: (reason: RetryReason | 'ok' | 'fatal') => void;
}

/** What `deliver` did with a response. */
export type DeliverResult = 'consumed' | 'unsolicited' | 'late';

export interface RequestQueueOptions {
  /** Device/bus name used in DeviceErrors. */
  readonly device: string;
  readonly clock: Clock;
  /** Per-attempt timeout when the request sets none. */
  readonly timeoutMs: number;
  /** Retry policy when the request sets none. */
  readonly policy?: RetryPolicy;
  /**
   * After a timeout, responses arriving within this window are dropped as "late" instead of being
   * taken as the answer to the next request (line protocols carry no request id). Default 20 ms.
   */
  readonly settleMs?: number;
}

const REASON_CODE: Record<RetryReason, DeviceErrorCode> = {
  timeout: 'DEVICE_TIMEOUT',
  checksum: 'PROTOCOL_ERROR',
  nak: 'DEVICE_REJECTED',
  unknown: 'PROTOCOL_ERROR',
};

/** True for a queue failure whose outcome is unknown: the request may or may not have been acted on. */
export function isUnknownOutcome(e: unknown): boolean {
  if (!(e instanceof DeviceError)) return false;
  const d = e.detail as Partial<QueueErrorDetail> | undefined;
  return d?.reason === 'unknown';
}

/** Extra detail carried by queue DeviceErrors. */
export interface QueueErrorDetail {
  readonly label: string;
  readonly reason: RetryReason;
  readonly attempts: number;
  readonly detail?: string;
}

interface Job<Res> {
  readonly req: QueueRequest<Res, unknown>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: DeviceError) => void;
}

interface Current<Res> {
  readonly interpret: (res: Res) => AttemptOutcome<unknown> | undefined;
  readonly settle: (o: AttemptOutcome<unknown> | { readonly ok: false; readonly reason: 'fatal'; readonly error: DeviceError }) => void;
}

export class RequestQueue<Res> {
  private readonly jobs: Job<Res>[] = [];
  private current: Current<Res> | undefined;
  private running = false;
  private active: Job<Res> | undefined;
  private lateUntil = -Infinity;
  private readonly settleMs: number;
  private readonly policy: RetryPolicy;

  constructor(private readonly opts: RequestQueueOptions) {
    this.settleMs = opts.settleMs ?? 20;
    this.policy = opts.policy ?? NO_RETRY;
  }

  /** Requests waiting, including the one in flight. */
  get pending(): number {
    return this.jobs.length + (this.active ? 1 : 0);
  }

  /** True while a request is in flight. */
  get busy(): boolean {
    return this.active !== undefined;
  }

  /** Queue a request; resolves with the interpreted value or rejects with a DeviceError. */
  request<T>(req: QueueRequest<Res, T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({ req, resolve: resolve as (v: unknown) => void, reject });
      void this.pump();
    });
  }

  /** Feed a response from the wire to the request in flight. */
  deliver(res: Res): DeliverResult {
    const cur = this.current;
    if (!cur) return this.opts.clock.now() < this.lateUntil ? 'late' : 'unsolicited';
    const outcome = cur.interpret(res);
    if (outcome === undefined) return 'unsolicited';
    cur.settle(outcome);
    return 'consumed';
  }

  /** Fail the request in flight and everything queued (e.g. the link went down). */
  failAll(error: DeviceError): void {
    const queued = this.jobs.splice(0);
    for (const j of queued) j.reject(error);
    this.current?.settle({ ok: false, reason: 'fatal', error });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let job = this.jobs.shift(); job; job = this.jobs.shift()) {
        this.active = job;
        await this.run({
          req: job.req,
          resolve: (v) => {
            this.active = undefined;
            job.resolve(v);
          },
          reject: (e) => {
            this.active = undefined;
            job.reject(e);
          },
        });
      }
    } finally {
      this.running = false;
    }
  }

  private async run(job: Job<Res>): Promise<void> {
    const { req } = job;
    const policy = req.policy ?? this.policy;
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs;
    const maxAttempts = 1 + Math.max(0, Math.floor(policy.retries));
    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(req, timeoutMs);
      if (result.ok) {
        job.resolve(result.value);
        return;
      }
      if (result.reason === 'fatal') {
        job.reject(result.error);
        return;
      }
      if (result.reason === 'timeout') this.lateUntil = this.opts.clock.now() + this.settleMs;
      const retry = attempt < maxAttempts && policy.retryOn.includes(result.reason);
      if (!retry) {
        const detail: QueueErrorDetail = { label: req.label, reason: result.reason, attempts: attempt, detail: result.detail };
        const why = result.detail ? `: ${result.detail}` : '';
        job.reject(new DeviceError(REASON_CODE[result.reason], this.opts.device, `${req.label} failed (${result.reason}${why}) after ${attempt} attempt(s)`, detail));
        return;
      }
      const delay = Math.max(policy.retryDelayMs ?? 0, result.reason === 'timeout' ? this.settleMs : 0);
      if (delay > 0) await new Promise<void>((r) => this.opts.clock.setTimeout(r, delay));
    }
  }

  private attempt(
    req: QueueRequest<Res, unknown>,
    timeoutMs: number,
  ): Promise<
    | { readonly ok: true; readonly value: unknown }
    | { readonly ok: false; readonly reason: RetryReason; readonly detail?: string }
    | { readonly ok: false; readonly reason: 'fatal'; readonly error: DeviceError }
  > {
    return new Promise((resolve) => {
      let done = false;
      const timers: TimerHandle[] = [];
      const finish = (o: Parameters<Current<Res>['settle']>[0]): void => {
        if (done) return;
        done = true;
        for (const t of timers) this.opts.clock.clearTimeout(t);
        this.current = undefined;
        req.onAttemptEnd?.(o.ok ? 'ok' : o.reason);
        resolve(o);
      };
      this.current = { interpret: (res) => req.interpret(res), settle: finish };
      // The timer starts before the write: a write that never completes must time out too.
      timers.push(this.opts.clock.setTimeout(() => finish({ ok: false, reason: 'timeout', detail: `no answer within ${timeoutMs} ms` }), timeoutMs));
      req.send().catch((e: unknown) => {
        const error =
          e instanceof DeviceError
            ? e
            : new DeviceError('DEVICE_OFFLINE', this.opts.device, `${req.label}: write failed: ${e instanceof Error ? e.message : String(e)}`, e);
        finish({ ok: false, reason: 'fatal', error });
      });
    });
  }
}
