/**
 * The journal's disk: whether it can still record what money needs (money-model.md: what cannot be
 * recorded is not taken). Two defences, so a full disk never catches a coin in flight:
 *
 * - a free-space floor (`lowBytes`): below it the health is `low`, and no new money is taken while
 *   what is held can still be recorded and honoured. Free space is read (`statfs`) at start and
 *   again only after the appends since the last read could have used a fair share of the margin
 *   left above the floor, so a roomy disk is read rarely and a nearly full one often, never polled;
 * - a reserve file (`journal.reserve`, `reserveBytes` of zeros) kept in the data directory: when a
 *   write fails anyway (another process filled the disk between two reads), the reserve is deleted
 *   and the write retried, so the event in flight, the ones that follow and the out-of-service
 *   state can still be written.
 *
 * `failed` (a write failed even so) is set and cleared by the journal attach, which holds the
 * unwritten events in memory and retries them.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import { closeSync, existsSync, fsyncSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageHealth } from '../ports/index.ts';

export const RESERVE_FILE = 'journal.reserve';

export interface StorageOptions {
  /** Free bytes below which the health is `low` (no new money). Default 16 MiB. */
  readonly lowBytes?: number;
  /** Size of the reserve file, released when a write fails for space. Default 2 MiB; 0: none. */
  readonly reserveBytes?: number;
  /** Free bytes on the file system holding `dir` (tests inject a fake disk). Default `statfs`. */
  readonly freeBytes?: (dir: string) => number;
}

export const DEFAULT_LOW_BYTES = 16 * 1024 * 1024;
export const DEFAULT_RESERVE_BYTES = 2 * 1024 * 1024;
/** Re-read free space at least after this much was written, at most after this little. */
const MAX_CHECK_INTERVAL = 1024 * 1024;
const MIN_CHECK_INTERVAL = 16 * 1024;

function statfsFree(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function sizeOption(name: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`storage.${name} must be a whole number of bytes ≥ 0, got ${String(n)}`);
  return n;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class StorageGuard {
  readonly lowBytes: number;
  readonly reserveBytes: number;
  readonly reservePath: string;
  private readonly freeOf: (dir: string) => number;
  private readonly subject = new BehaviorSubject<StorageHealth>({ status: 'ok' });
  private written = 0;
  private nextCheckAt = 0;
  private lowDetail: string | null = null;
  private failedDetail: string | null = null;
  /** Free bytes at the last read (null: never read or unreadable). */
  lastFree: number | null = null;
  /** Times free space was read (for tests: it is not polled). */
  checks = 0;

  constructor(
    readonly dir: string,
    options: StorageOptions = {},
  ) {
    this.lowBytes = sizeOption('lowBytes', options.lowBytes, DEFAULT_LOW_BYTES);
    this.reserveBytes = sizeOption('reserveBytes', options.reserveBytes, DEFAULT_RESERVE_BYTES);
    this.freeOf = options.freeBytes ?? statfsFree;
    this.reservePath = join(dir, RESERVE_FILE);
  }

  get health$(): Observable<StorageHealth> {
    return this.subject.asObservable();
  }

  get health(): StorageHealth {
    return this.subject.value;
  }

  /** Reads free space now and (re)creates the reserve when there is room for it. */
  check(): StorageHealth {
    this.checks += 1;
    let free: number;
    try {
      free = this.freeOf(this.dir);
    } catch (e) {
      // Cannot tell: take no new money rather than guess.
      this.lastFree = null;
      this.nextCheckAt = this.written + MIN_CHECK_INTERVAL;
      this.lowDetail = `cannot read the free space of ${this.dir}: ${describe(e)}`;
      return this.publish();
    }
    if (this.reserveBytes > 0 && !existsSync(this.reservePath) && free >= this.lowBytes + this.reserveBytes) {
      if (this.makeReserve()) free -= this.reserveBytes;
    }
    this.lastFree = free;
    const margin = free - this.lowBytes;
    this.nextCheckAt = this.written + Math.min(MAX_CHECK_INTERVAL, Math.max(MIN_CHECK_INTERVAL, Math.floor(margin / 4)));
    if (margin < 0) this.lowDetail = `disk nearly full: ${free} bytes free in ${this.dir}, ${this.lowBytes} needed to take money`;
    else if (this.reserveBytes > 0 && !existsSync(this.reservePath)) this.lowDetail = `the journal's reserve ${this.reservePath} is missing and cannot be made (disk full)`;
    else this.lowDetail = null;
    return this.publish();
  }

  /** Counts bytes written; re-reads free space when they may have eaten into the margin. */
  noteWritten(bytes: number): void {
    this.written += Math.max(0, bytes);
    if (this.written >= this.nextCheckAt) this.check();
  }

  /** Deletes the reserve (a write failed for space); true when there was one to free. */
  releaseReserve(): boolean {
    if (this.reserveBytes === 0 || !existsSync(this.reservePath)) return false;
    try {
      rmSync(this.reservePath, { force: true });
    } catch {
      return false;
    }
    this.lowDetail = `the disk filled up: the journal's reserve in ${this.dir} was used; free space there`;
    this.publish();
    return true;
  }

  /** A write failed and events are held in memory (null: all written again). */
  setFailed(detail: string | null): void {
    this.failedDetail = detail;
    if (detail === null) this.check();
    else this.publish();
  }

  close(): void {
    this.subject.complete();
  }

  private makeReserve(): boolean {
    let fd: number | undefined;
    try {
      fd = openSync(this.reservePath, 'w');
      const chunk = Buffer.alloc(Math.min(this.reserveBytes, 64 * 1024));
      for (let left = this.reserveBytes; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      fsyncSync(fd);
      return true;
    } catch {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(this.reservePath, { force: true });
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private publish(): StorageHealth {
    const next: StorageHealth =
      this.failedDetail !== null
        ? { status: 'failed', detail: this.failedDetail }
        : this.lowDetail !== null
          ? { status: 'low', detail: this.lowDetail }
          : { status: 'ok' };
    const prev = this.subject.value;
    if (prev.status !== next.status || (prev.status !== 'ok' && next.status !== 'ok' && prev.detail !== next.detail)) this.subject.next(next);
    return next;
  }
}
