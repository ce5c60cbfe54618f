/**
 * The same soak on every core at once: one independent machine per worker thread, all started
 * together. The targets are stated for a 2-core machine; this is what both cores give,
 * printed beside the one-thread figure.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SoakJob, SoakReply } from './soak-worker.ts';

/** Workers for the all-cores figures: BENCH_WORKERS, or one per core. */
export function workerCount(): number {
  const n = Number(process.env.BENCH_WORKERS ?? availableParallelism());
  return Number.isInteger(n) && n > 0 ? n : 1;
}

export interface ParallelResult {
  readonly workers: number;
  /** Sessions per second of all workers together (total sessions ÷ wall time from go to last done). */
  readonly rate: number;
  /** Each worker's own rate. */
  readonly perWorker: readonly number[];
}

export async function parallelSoak(kind: SoakJob['kind'], sessions: number, warmup: number, workers = availableParallelism()): Promise<ParallelResult> {
  const entry = new URL('./soak-worker.ts', import.meta.url).href;
  const boot = new URL('./worker-boot.mjs', import.meta.url);
  const pool = Array.from({ length: workers }, () => new Worker(boot, { workerData: { entry, kind, sessions, warmup } satisfies SoakJob }));
  const next = (w: Worker): Promise<SoakReply> =>
    new Promise((resolve, reject) => {
      w.once('message', (m: SoakReply) => resolve(m));
      w.once('error', reject);
    });
  try {
    await Promise.all(pool.map(next));
    const done = pool.map(next);
    const t0 = performance.now();
    for (const w of pool) w.postMessage('go');
    const replies = await Promise.all(done);
    const wall = performance.now() - t0;
    return {
      workers,
      rate: ((sessions * workers) / wall) * 1000,
      perWorker: replies.map((r) => (r.type === 'done' ? (sessions / r.ms) * 1000 : 0)),
    };
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
