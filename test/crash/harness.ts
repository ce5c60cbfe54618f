/**
 * The crash harness: children run the journaled controller over the simulated world (child.ts) and
 * the parent kills them with SIGKILL at seeded random moments, then restarts each on its own data
 * directory. After every kill the parent checks the files left behind (checks.ts `checkOnDisk`);
 * after every restart the child checks itself once its recovery settled (`checkRecovered`) and
 * reports. Used by crash.test.ts (≥ 200 kills) and by the benchmark (more).
 *
 * Start-up speed: a child is a fresh Node process per "power cut", so the child's TypeScript is
 * bundled once with esbuild (installed with tsx) into one CommonJS file; better-sqlite3 (native)
 * stays external and is found through NODE_PATH. Without esbuild the child runs through tsx
 * (correct, several times slower to start).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { loadConfigFile } from '../../src/config/load.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { foldMachineState, recover } from '../../src/journal/recovery.ts';
import { readUnrecorded } from '../../src/journal/storage.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { openJournal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { loadSavedSim } from '../../sim/persist.ts';
import { createRandom } from '../../sim/random.ts';
import { checkOnDisk } from './checks.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_TS = fileURLToPath(new URL('./child.ts', import.meta.url));

export interface CrashOptions {
  /** Kills in total, spread over the lanes. */
  readonly kills: number;
  /** Children running at the same time, each on its own data directory. Default 4. */
  readonly lanes?: number;
  readonly seed?: number;
  /** Real time a child runs after it reported ready, before the kill: uniform in [min, max]. */
  readonly minRunMs?: number;
  readonly maxRunMs?: number;
  /** Share of kills that land during start-up and recovery instead (before ready). Default 0.15. */
  readonly earlyKillShare?: number;
  /** The machine; default the demo machine. */
  readonly config?: MachineConfig;
  /** Keep the data directories (their paths are in the figures). */
  readonly keep?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface CrashFigures {
  readonly kills: number;
  readonly earlyKills: number;
  readonly lanes: number;
  readonly wallMs: number;
  /** Journal events written over all lanes. */
  readonly events: number;
  /** Restarts whose recovery settled something the cut interrupted. */
  readonly vendCuts: number;
  readonly payoutCuts: number;
  readonly uncertainPayouts: number;
  readonly cardCuts: number;
  readonly escrowCuts: number;
  /** Products a customer got from a vend that the cut left without an outcome (credit kept). */
  readonly productExceptions: number;
  /** Injected "disk full" episodes (journal-write-failure points), by kind. */
  readonly diskFull: { readonly untilReserveFreed: number; readonly stretch: number };
  /** Real time from spawn to "ready" (bundle load, recovery, settle, checks). */
  readonly readyMs: { readonly p50: number; readonly max: number };
  /** Every invariant broken anywhere, with the lane and incarnation; empty when all held. */
  readonly problems: readonly string[];
  readonly dirs: readonly string[];
  readonly runner: 'bundle' | 'tsx';
}

interface Runner {
  readonly kind: 'bundle' | 'tsx';
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Loads the bundle through V8's code cache: compiling the bundle is a fifth of a child's start-up,
 * and every "power cut" starts a child. The first child to finish writes the cache.
 */
const LOADER = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const file = path.join(__dirname, 'child.cjs');
const cacheFile = file + '.v8cache';
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch {}
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  process.once('exit', () => {
    try { const tmp = cacheFile + '.' + process.pid; fs.writeFileSync(tmp, script.createCachedData()); fs.renameSync(tmp, cacheFile); } catch {}
  });
}
const m = new Module(file, module);
m.filename = file;
m.paths = Module._nodeModulePaths(path.dirname(file));
script.runInThisContext().call(m.exports, m.exports, (id) => m.require(id), m, file, path.dirname(file));
`;

let runnerPromise: Promise<Runner> | null = null;

async function bundleChild(): Promise<Runner> {
  const env = { ...process.env, NODE_PATH: join(ROOT, 'node_modules') };
  try {
    const esbuild = await import('esbuild');
    const outDir = join(tmpdir(), `vendomat-crash-child-${process.pid}`);
    mkdirSync(outDir, { recursive: true });
    process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
    const outfile = join(outDir, 'child.cjs');
    await esbuild.build({
      entryPoints: [CHILD_TS],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['better-sqlite3'],
      minify: true,
      outfile,
      logLevel: 'silent',
    });
    const loader = join(outDir, 'loader.cjs');
    writeFileSync(loader, LOADER);
    return { kind: 'bundle', args: [loader], env };
  } catch {
    return { kind: 'tsx', args: ['--import', 'tsx', CHILD_TS], env };
  }
}

/** One clean life on a fresh machine, so the bundle's code cache exists before the first kill. */
async function warmUp(runner: Runner): Promise<void> {
  if (runner.kind !== 'bundle') return;
  const dir = mkdtempSync(join(tmpdir(), 'vendomat-crash-warm-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(loadConfigFile(join(ROOT, 'sim/machines/demo.yaml'))));
    await live(runner, dir, 1, 0, 'verify');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The child's command line (bundled and warmed once per process). */
export function childRunner(): Promise<Runner> {
  runnerPromise ??= bundleChild().then(async (r) => {
    await warmUp(r);
    return r;
  });
  return runnerPromise;
}

interface Ready {
  readonly type: 'ready';
  readonly incarnation: number;
  readonly problems: readonly string[];
  readonly products: { readonly exceptions: number };
  readonly events: number;
  readonly recovered: {
    readonly vend: boolean;
    readonly payout: { readonly certain: boolean } | null;
    readonly card: boolean;
    readonly escrow: number | null;
  };
}

interface LifeResult {
  readonly ready: Ready | null;
  readonly readyMs: number | null;
  readonly error: string | null;
  readonly exitedByItself: boolean;
  readonly stderr: string;
  readonly diskFull: { untilReserveFreed: number; stretch: number };
}

function isReady(v: unknown): v is Ready {
  return typeof v === 'object' && v !== null && 'type' in v && v.type === 'ready';
}

/** One life: spawn, (wait for ready,) wait, SIGKILL — or, with `verify`, wait for a clean exit. */
function live(runner: Runner, dir: string, seed: number, incarnation: number, killAfter: { early: boolean; ms: number } | 'verify'): Promise<LifeResult> {
  return new Promise((resolve) => {
    const args = [...runner.args, dir, String(seed), String(incarnation), ...(killAfter === 'verify' ? ['verify'] : [])];
    const started = performance.now();
    const child = spawn(process.execPath, args, { env: runner.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let ready: Ready | null = null;
    let readyMs: number | null = null;
    let error: string | null = null;
    let stderr = '';
    let killed = false;
    const diskFull = { untilReserveFreed: 0, stretch: 0 };
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      killed = true;
      child.kill('SIGKILL');
    };
    if (killAfter !== 'verify' && killAfter.early) timer = setTimeout(kill, killAfter.ms);
    // A child that hangs is a failure too, not a stuck test.
    const guard = setTimeout(() => {
      error ??= `no exit within 60 s (incarnation ${incarnation})`;
      kill();
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4_000) stderr += d.toString();
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (isReady(msg)) {
        ready = msg;
        readyMs = performance.now() - started;
        if (killAfter !== 'verify' && !killAfter.early) timer = setTimeout(kill, killAfter.ms);
      } else if (typeof msg === 'object' && msg !== null && 'type' in msg && msg.type === 'diskFull') {
        if ('kind' in msg && msg.kind === 'untilReserveFreed') diskFull.untilReserveFreed += 1;
        else diskFull.stretch += 1;
      } else if (typeof msg === 'object' && msg !== null && 'type' in msg && msg.type === 'error') {
        error = 'message' in msg ? String(msg.message) : 'child error';
      }
    });
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      clearTimeout(guard);
      if (killAfter === 'verify' && code !== 0) error ??= `verify run exited with ${String(code)}`;
      resolve({ ready, readyMs, error, exitedByItself: !killed, stderr, diskFull });
    });
  });
}

function onDisk(dir: string): string[] {
  const journal = openJournal({ dir, clock: new VirtualClock() });
  try {
    // Events held in memory at the kill are in the unrecorded file (the next start journals them):
    // they are on disk, so they count, folded after the journal's own when they follow it.
    let state = recover(journal).state;
    const u = readUnrecorded(dir);
    if (u !== null) {
      const written = journal.lastSeq() - u.afterSeq;
      if (written < 0 || written > u.events.length) return [`${dir}: the unrecorded file follows event #${u.afterSeq}, the journal ends at #${journal.lastSeq()}`];
      // The child wrote them as MachineEvents (attach.ts keepUnrecorded); the import checks them too.
      state = foldMachineState(u.events.slice(written).map((e) => e.event as MachineEvent), state);
    }
    return checkOnDisk(state, loadSavedSim(journal)).problems;
  } finally {
    journal.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

export async function runCrashHarness(opts: CrashOptions): Promise<CrashFigures> {
  const lanes = opts.lanes ?? 4;
  const seed = opts.seed ?? 1;
  const minRun = opts.minRunMs ?? 20;
  const maxRun = opts.maxRunMs ?? 250;
  const earlyShare = opts.earlyKillShare ?? 0.15;
  const base = opts.config ?? loadConfigFile(join(ROOT, 'sim/machines/demo.yaml'));
  // Frequent snapshots: recovery stays short, and snapshots get written under the kills too.
  const config: MachineConfig = { ...base, journal: { ...base.journal, snapshotEvery: Math.min(base.journal.snapshotEvery, 100) } };
  const runner = await childRunner();
  const t0 = performance.now();
  const problems: string[] = [];
  const readyTimes: number[] = [];
  const totals = { kills: 0, earlyKills: 0, vendCuts: 0, payoutCuts: 0, uncertainPayouts: 0, cardCuts: 0, escrowCuts: 0, events: 0, exceptions: 0 };
  const diskFull = { untilReserveFreed: 0, stretch: 0 };
  const dirs: string[] = [];

  const lane = async (index: number, kills: number): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), `vendomat-crash-${index}-`));
    dirs.push(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const random = createRandom(seed * 7919 + index);
    const laneSeed = seed * 100 + index;
    const note = (inc: number, what: string): void => {
      problems.push(`lane ${index} life ${inc}: ${what}`);
    };
    const account = (r: LifeResult, inc: number): void => {
      if (r.readyMs !== null) readyTimes.push(r.readyMs);
      diskFull.untilReserveFreed += r.diskFull.untilReserveFreed;
      diskFull.stretch += r.diskFull.stretch;
      if (r.error !== null) note(inc, `${r.error}${r.stderr ? `\n${r.stderr}` : ''}`);
      const ready = r.ready;
      if (ready === null) return;
      for (const p of ready.problems) note(inc, p);
      if (ready.recovered.vend) totals.vendCuts += 1;
      if (ready.recovered.payout) {
        totals.payoutCuts += 1;
        if (!ready.recovered.payout.certain) totals.uncertainPayouts += 1;
      }
      if (ready.recovered.card) totals.cardCuts += 1;
      if (ready.recovered.escrow !== null) totals.escrowCuts += 1;
    };
    let inc = 0;
    for (; inc < kills; inc++) {
      const early = random.chance(earlyShare);
      const ms = early ? random.int(0, 300) : random.int(minRun, maxRun);
      const r = await live(runner, dir, laneSeed, inc, { early, ms });
      account(r, inc);
      if (r.exitedByItself && r.error === null) note(inc, 'the child stopped by itself');
      totals.kills += 1;
      if (early && r.ready === null) totals.earlyKills += 1;
      try {
        for (const p of onDisk(dir)) note(inc, `after the kill: ${p}`);
      } catch (e) {
        note(inc, `after the kill the journal could not be read: ${e instanceof Error ? e.message : String(e)}`);
      }
      opts.log?.(`lane ${index}: ${inc + 1}/${kills} kills`);
    }
    // A last, clean life: recover, settle, check, close.
    const last = await live(runner, dir, laneSeed, inc, 'verify');
    account(last, inc);
    if (last.ready === null) note(inc, 'the verify run never reported');
    else {
      totals.events += last.ready.events;
      totals.exceptions += last.ready.products.exceptions;
    }
  };

  const perLane = Array.from({ length: lanes }, (_, i) => Math.floor(opts.kills / lanes) + (i < opts.kills % lanes ? 1 : 0));
  try {
    await Promise.all(perLane.map((k, i) => lane(i, k)));
  } finally {
    if (opts.keep !== true) for (const d of dirs) if (existsSync(d)) rmSync(d, { recursive: true, force: true });
  }
  const sorted = [...readyTimes].sort((a, b) => a - b);
  return {
    kills: totals.kills,
    earlyKills: totals.earlyKills,
    lanes,
    wallMs: performance.now() - t0,
    events: totals.events,
    vendCuts: totals.vendCuts,
    payoutCuts: totals.payoutCuts,
    uncertainPayouts: totals.uncertainPayouts,
    cardCuts: totals.cardCuts,
    escrowCuts: totals.escrowCuts,
    productExceptions: totals.exceptions,
    diskFull,
    readyMs: { p50: percentile(sorted, 0.5), max: sorted[sorted.length - 1] ?? 0 },
    problems,
    dirs,
    runner: runner.kind,
  };
}
