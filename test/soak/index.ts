/**
 * `npm run soak`: money conservation at scale.
 *
 * - wire: customer sessions through the controller, the real MDB/GPIO adapters and the emulators,
 *   with seeded random wire faults (test/wire/conservation.ts has the rule), in chunks of
 *   `--chunk` sessions per wire machine, spread over worker threads (one per core);
 * - port: the port-level conservation property (test/controller/conservation.property.test.ts) at
 *   `--port-runs` runs on each of `--port-seeds` seeds (default: 10× the suite's 1,000, 3 seeds).
 *
 * Prints sessions, faults injected, advisories, violations (with the seed that replays each) and
 * time; exits 1 on any violation.
 *
 *   npm run soak -- --sessions 100000            # wire only
 *   npm run soak -- --sessions 2000 --port-runs 10000 --port-seeds 3
 *   options: --sessions N (wire, default 2000), --chunk N (default 500), --seed S (default 1),
 *            --workers N (default: cores), --port-runs N (default 10000, 0 = skip), --port-seeds N (default 3)
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SoakJob, SoakJobResult } from './worker.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[`SOAK_${name.toUpperCase().replace(/-/g, '_')}`];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > 100_000_000) throw new Error(`--${name}: expected a whole number 0..100000000, got "${raw}"`);
  return n;
}

const sessions = arg('sessions', 2000);
const chunk = Math.max(1, arg('chunk', 500));
const seed = arg('seed', 1);
const workers = Math.max(1, arg('workers', availableParallelism()));
const portRuns = arg('port-runs', 10_000);
const portSeeds = arg('port-seeds', 3);

const entry = new URL('./worker.ts', import.meta.url).href;
const boot = new URL('../bench/worker-boot.mjs', import.meta.url);

const wireJobs: SoakJob[] = [];
for (let first = 0, k = 0; first < sessions; first += chunk, k++) wireJobs.push({ entry, kind: 'wire', seed: seed * 100_003 + k, sessions: Math.min(chunk, sessions - first), first });
// The suite's seed first, then others; each port job is a slice of runs so the workers share them.
const PORT_SEEDS = [20261126, 7, 1337, 42, 99, 2024, 31337];
const portSlice = 1000;
const portJobs: SoakJob[] = [];
for (let s = 0; s < portSeeds; s++)
  for (let done = 0; done < portRuns; done += portSlice) portJobs.push({ entry, kind: 'port', seed: (PORT_SEEDS[s] ?? s + 1) + done, runs: Math.min(portSlice, portRuns - done) });
// Interleaved, so both kinds make progress from the start of a long soak.
const jobs: SoakJob[] = [];
for (let i = 0; i < Math.max(wireJobs.length, portJobs.length); i++) {
  const w = wireJobs[i];
  const p = portJobs[i];
  if (p) jobs.push(p);
  if (w) jobs.push(w);
}

const t0 = performance.now();
const results: SoakJobResult[] = [];
let next = 0;
let lastPrint = 0;
const totals = { wire: { sessions: 0, steps: 0, faults: 0, advisories: 0 }, port: { runs: 0 } };
const injected: Record<string, number> = {};
const violations: string[] = [];

function progress(final = false): void {
  const now = performance.now();
  if (!final && now - lastPrint < 10_000) return;
  lastPrint = now;
  const s = ((now - t0) / 1000).toFixed(0);
  console.log(
    `[${s} s] wire sessions ${totals.wire.sessions}/${sessions} (${totals.wire.steps} steps, ${totals.wire.faults} wire faults, ${totals.wire.advisories} advisories), port runs ${totals.port.runs}/${portRuns * portSeeds}, violations ${violations.length}`,
  );
}

async function worker(): Promise<void> {
  for (let j = jobs[next++]; j; j = jobs[next++]) {
    const job = j;
    const r = await new Promise<SoakJobResult>((resolve, reject) => {
      const w = new Worker(boot, { workerData: job });
      w.once('message', (m: SoakJobResult) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    });
    results.push(r);
    if (r.kind === 'wire') {
      totals.wire.sessions += r.sessions;
      totals.wire.steps += r.steps;
      totals.wire.faults += r.faults;
      totals.wire.advisories += r.advisories;
      for (const [k, v] of Object.entries(r.injected)) injected[k] = (injected[k] ?? 0) + v;
    } else totals.port.runs += r.sessions;
    if (r.violation) {
      violations.push(`${r.kind} (job seed ${r.seed}): ${r.violation}`);
      console.log(`VIOLATION ${r.kind} job seed ${r.seed}:\n${r.violation}`);
    }
    progress();
  }
}

console.log(`Vendomat soak: ${sessions} wire sessions in chunks of ${chunk}, port property ${portRuns} runs × ${portSeeds} seeds, ${workers} worker thread(s)`);
await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, () => worker()));
progress(true);
const wall = (performance.now() - t0) / 1000;
console.log('\n## Soak result');
console.log(`wire sessions          ${totals.wire.sessions} (${totals.wire.steps} checked steps)`);
console.log(`wire faults injected   ${totals.wire.faults} ${JSON.stringify(injected)}`);
console.log(`advisory faults        ${totals.wire.advisories}`);
console.log(`port property runs     ${totals.port.runs} (${portSeeds} seed(s))`);
console.log(`violations             ${violations.length}`);
console.log(`time                   ${wall.toFixed(1)} s wall, ${workers} worker(s)`);
process.exit(violations.length > 0 ? 1 : 0);
