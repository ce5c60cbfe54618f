/**
 * Frame tracing for every serial bus: a live stream (for a sniffer view or a log sink) and a bounded
 * ring buffer of the most recent frames (for a fault report: "what was on the wire just before").
 */
import { Subject } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import type { FrameTrace } from './types.ts';

export interface FrameTracerOptions {
  /** Frames kept in the ring buffer (default 500). */
  readonly capacity?: number;
}

export class FrameTracer {
  private readonly subject = new Subject<FrameTrace>();
  private readonly ring: (FrameTrace | undefined)[];
  private next = 0;
  private count = 0;
  /** Every traced frame, live. */
  readonly trace$: Observable<FrameTrace> = this.subject.asObservable();
  readonly capacity: number;

  constructor(options: FrameTracerOptions = {}) {
    const cap = options.capacity ?? 500;
    this.capacity = Number.isInteger(cap) && cap > 0 ? cap : 500;
    this.ring = new Array<FrameTrace | undefined>(this.capacity);
  }

  record(t: FrameTrace): void {
    this.ring[this.next] = t;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.subject.next(t);
  }

  /** The most recent frames, oldest first (at most `limit`, default all that are kept). */
  recent(limit = this.capacity): FrameTrace[] {
    const n = Math.max(0, Math.min(limit, this.count));
    const out: FrameTrace[] = [];
    for (let i = n; i > 0; i--) {
      const t = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (t) out.push(t);
    }
    return out;
  }

  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.count = 0;
  }
}

/** Printable form of raw wire text: control and non-ASCII bytes escaped, so one frame is one line. */
export function escapeRaw(raw: string): string {
  let out = '';
  for (const ch of raw) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\n') out += '\\n';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c > 0x7e) out += c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out;
}

/**
 * One line of text per frame, for logs and the live sniffer:
 * `    12.345 mdb    >> R,0B                     changer POLL`
 */
export function formatTrace(t: FrameTrace): string {
  const secs = (t.at / 1000).toFixed(3).padStart(10);
  const arrow = t.dir === 'tx' ? '>>' : '<<';
  const raw = escapeRaw(t.raw);
  const parts = [`${secs} ${t.bus.padEnd(6)} ${arrow} ${raw.padEnd(24)}`];
  if (t.meaning) parts.push(t.meaning);
  if (t.error) parts.push(`!! ${t.error}`);
  return parts.join(' ').trimEnd();
}

/** Live sniffer: writes every traced frame (optionally filtered) as one formatted line. */
export function sniff(
  tracer: FrameTracer,
  write: (line: string) => void,
  filter: (t: FrameTrace) => boolean = () => true,
): Subscription {
  return tracer.trace$.subscribe((t) => {
    if (filter(t)) write(formatTrace(t));
  });
}
