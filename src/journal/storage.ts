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
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageHealth } from '../ports/index.ts';

export const RESERVE_FILE = 'journal.reserve';
/**
 * Space kept, already allocated, for events that could not be written when the journal closes:
 * overwritten in place (no new space needed), imported at the next start. See `saveUnrecorded`.
 */
export const UNRECORDED_FILE = 'journal.unrecorded';
export const UNRECORDED_BYTES = 64 * 1024;

/** What `journal.unrecorded` holds: events to append after event `afterSeq` (chain link `chain`). */
export interface Unrecorded {
  readonly afterSeq: number;
  readonly chain: string;
  readonly events: readonly { readonly event: unknown; readonly at: unknown }[];
}

/** Reads `journal.unrecorded` in `dir`: null when absent or blank; throws when it cannot be parsed. */
export function readUnrecorded(dir: string): Unrecorded | null {
  const file = join(dir, UNRECORDED_FILE);
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8').replace(/\0+$/u, '').trim();
  if (text === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${describe(e)}); the file was left untouched`);
  }
  if (typeof v !== 'object' || v === null || !('afterSeq' in v) || !('chain' in v) || !('events' in v) || !Number.isSafeInteger(v.afterSeq) || typeof v.chain !== 'string' || !Array.isArray(v.events))
    throw new Error(`${file}: not a list of unrecorded events; the file was left untouched`);
  return { afterSeq: Number(v.afterSeq), chain: v.chain, events: v.events as Unrecorded['events'] };
}

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
      if (this.makeZeros(this.reservePath, this.reserveBytes)) free -= this.reserveBytes;
    }
    if (!existsSync(this.unrecordedPath) && free >= this.lowBytes + UNRECORDED_BYTES) {
      if (this.makeZeros(this.unrecordedPath, UNRECORDED_BYTES)) free -= UNRECORDED_BYTES;
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

  get unrecordedPath(): string {
    return join(this.dir, UNRECORDED_FILE);
  }

  /**
   * Writes events that could not be recorded into `journal.unrecorded`, in place over its
   * preallocated zeros (so a full disk can still take them). False when they do not fit or the
   * file is missing or cannot be written.
   */
  saveUnrecorded(u: Unrecorded): boolean {
    const text = Buffer.from(`${JSON.stringify(u)}\n`);
    if (!existsSync(this.unrecordedPath) || text.length > UNRECORDED_BYTES) return false;
    return this.overwrite(text);
  }

  /** Blanks `journal.unrecorded` in place (its events are in the journal now). */
  clearUnrecorded(): void {
    if (existsSync(this.unrecordedPath)) this.overwrite(Buffer.alloc(0));
  }

  private overwrite(text: Buffer): boolean {
    let fd: number | undefined;
    try {
      fd = openSync(this.unrecordedPath, 'r+');
      const block = Buffer.alloc(UNRECORDED_BYTES);
      text.copy(block);
      writeSync(fd, block, 0, block.length, 0);
      fsyncSync(fd);
      return true;
    } catch {
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private makeZeros(path: string, bytes: number): boolean {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'w');
      const chunk = Buffer.alloc(Math.min(bytes, 64 * 1024));
      for (let left = bytes; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      fsyncSync(fd);
      return true;
    } catch {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(path, { force: true });
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
