/**
 * One soak job in a worker thread (started through test/bench/worker-boot.mjs, which registers the
 * TypeScript loader): wire sessions on one wire machine, or one port-level property run. Replies
 * with its result and the wall time it took.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runWireSessions } from '../wire/conservation.ts';
import { runPortProperty } from './port-conservation.ts';

export type SoakJob =
  | { readonly entry: string; readonly kind: 'wire'; readonly seed: number; readonly sessions: number; readonly first: number }
  | { readonly entry: string; readonly kind: 'port'; readonly seed: number; readonly runs: number };

export interface SoakJobResult {
  readonly kind: 'wire' | 'port';
  readonly seed: number;
  readonly sessions: number;
  readonly steps: number;
  readonly faults: number;
  readonly injected: Readonly<Record<string, number>>;
  readonly advisories: number;
  readonly violation?: string;
  readonly ms: number;
}

const port = parentPort;
if (!port) throw new Error('test/soak/worker.ts runs in a worker thread');
const job = workerData as SoakJob;
const t0 = performance.now();
let result: SoakJobResult;
if (job.kind === 'wire') {
  const r = await runWireSessions({ seed: job.seed, sessions: job.sessions, first: job.first });
  result = { kind: 'wire', seed: job.seed, sessions: job.sessions, steps: r.steps, faults: r.faultsInjected, injected: r.injected, advisories: r.advisories, ...(r.violation ? { violation: r.violation } : {}), ms: performance.now() - t0 };
} else {
  const r = await runPortProperty(job.seed, job.runs);
  result = { kind: 'port', seed: job.seed, sessions: job.runs, steps: 0, faults: 0, injected: {}, advisories: 0, ...(r.failure ? { violation: r.failure } : {}), ms: performance.now() - t0 };
}
port.postMessage(result);
