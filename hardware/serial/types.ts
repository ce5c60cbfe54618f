/**
 * The byte link every serial protocol driver sits on. The real implementation opens a port through
 * the `serialport` package (with an injectable binding, so the simulator's emulators can stand in for
 * the hardware); tests may also use an in-memory pair.
 */
import type { Observable } from 'rxjs';
import type { LinkState } from '../../src/ports/index.ts';

export interface ByteLink {
  /** Raw bytes as they arrive, chunked arbitrarily. */
  readonly data$: Observable<Uint8Array>;
  /** online once open, offline while unplugged / reconnecting. Current value replayed on subscribe. */
  readonly state$: Observable<LinkState>;
  write(bytes: Uint8Array | string): Promise<void>;
  close(): Promise<void>;
}

/** One traced frame on a bus: what went which way, when, and what it meant. */
export interface FrameTrace {
  readonly bus: string;
  readonly dir: 'tx' | 'rx';
  readonly at: number;
  readonly raw: string;
  readonly meaning?: string;
  readonly error?: string;
}
