/**
 * Journal figures for `npm run bench` (called from index.ts as `await runJournalBench()`):
 * append latency on this disk, the price of the journal on complete sessions (on vs off, same run),
 * recovery time and file size for a journal of 100,000 sales (with and without a snapshot), and
 * the crash harness with more kills than the test runs.
 *
 * Options (environment): BENCH_JOURNAL_APPENDS (default 2000), BENCH_JOURNAL_SESSIONS (default 300
 * journaled sessions; the unjournaled run does ten times as many), BENCH_JOURNAL_SALES (default
 * 100000), BENCH_CRASH_KILLS (default 1000; 0 skips the crash harness).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/load.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { recover, takeSnapshot } from '../../src/journal/recovery.ts';
import { DEFAULT_JOURNAL_FILE, openJournal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { runCrashHarness } from '../crash/harness.ts';
import { createRig, runSession } from './soak.ts';

const demo = loadConfigFile(fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url)));

function row(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(46)} ${value.padStart(16)}  ${note}`);
}

function env(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  return Number.isFinite(v) && v >= 0 ? v : fallback;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `vendomat-bench-${tag}-`));
}

function fileBytes(path: string): number {
  let total = 0;
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      total += statSync(p).size;
    } catch {
      // not there: nothing to add
    }
  }
  return total;
}

function appendLatency(): void {
  const n = env('BENCH_JOURNAL_APPENDS', 2_000);
  const dir = tempDir('append');
  const clock = new VirtualClock();
  const j = openJournal({ dir, clock });
  try {
    const events: MachineEvent[] = [
      { type: 'coinInserted', value: 100, routing: 'tube' },
      { type: 'vendStarted', column: 'A1', price: 120, payment: 'cash', attempt: 1 },
      { type: 'payoutPlanned', amount: 80, plan: { 50: 1, 20: 1, 10: 1 }, reason: 'change' },
    ];
    const plain: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      j.append(events[i % events.length] ?? { type: 'cardSessionEnded' }, i);
      plain.push(performance.now() - t);
    }
    // With a 2 KB side write in the same transaction (the simulator's world, sim/persist.ts).
    const side = 'x'.repeat(2_000);
    const withSide: number[] = [];
    for (let i = 0; i < Math.min(n, 500); i++) {
      const t = performance.now();
      j.transaction(() => {
        j.append({ type: 'coinInserted', value: 50, routing: 'tube' }, i);
        j.putSide('world', side);
      });
      withSide.push(performance.now() - t);
    }
    plain.sort((a, b) => a - b);
    withSide.sort((a, b) => a - b);
    const p = j.pragmas();
    console.log(`\n## Journal append (SQLite WAL, synchronous=${p.synchronous === 2 ? 'FULL' : p.synchronous}: one fsync per event)`);
    row('append latency p50', `${pct(plain, 0.5).toFixed(2)} ms`, `${n} appends on ${tmpdir()}`);
    row('append latency p99', `${pct(plain, 0.99).toFixed(2)} ms`);
    row('append + 2 KB side state p50 / p99', `${pct(withSide, 0.5).toFixed(2)} / ${pct(withSide, 0.99).toFixed(2)} ms`, 'the simulator world in the same transaction');
  } finally {
    j.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function sessionsOnOff(): Promise<void> {
  const journaled = env('BENCH_JOURNAL_SESSIONS', 300);
  if (journaled === 0) return;
  const columns = demo.catalog.slots.map((s) => s.code);
  const measure = async (sessions: number, journalDir?: string): Promise<{ rate: number; events: number }> => {
    const rig = await createRig(demo, journalDir !== undefined ? { journalDir } : {});
    for (let i = 0; i < 50; i++) await runSession(rig, i, columns);
    const before = rig.journaled?.journal.count() ?? 0;
    const t0 = performance.now();
    for (let i = 0; i < sessions; i++) await runSession(rig, 50 + i, columns);
    const ms = performance.now() - t0;
    const events = (rig.journaled?.journal.count() ?? 0) - before;
    if (rig.journaled) await rig.journaled.close();
    else await rig.controller.stop();
    rig.sim.dispose();
    return { rate: (sessions / ms) * 1000, events };
  };
  const off = await measure(journaled * 10);
  const dir = tempDir('sessions');
  try {
    const on = await measure(journaled, dir);
    console.log('\n## Complete sessions with the journal on and off (port-level soak rig, same run)');
    row('sessions per second, journal off', off.rate.toFixed(0), `${journaled * 10} sessions`);
    row('sessions per second, journal on', on.rate.toFixed(0), `${journaled} sessions, ${(on.events / journaled).toFixed(1)} events each, each fsynced`);
    row('ratio off / on', `${(off.rate / on.rate).toFixed(0)}×`, 'the price of durability: the disk, not the controller');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One cash sale as the controller journals it (8 events), with a refill every 500 sales. */
function saleEvents(i: number): MachineEvent[] {
  const column = `${String.fromCharCode(65 + (i % 6))}${1 + (i % 8)}`;
  const tubes = { 5: 40, 10: 40, 20: 40, 50: 30, 100: 20, 200: 10 };
  const out: MachineEvent[] = [
    { type: 'coinInserted', value: 200, routing: 'tube' },
    { type: 'vendStarted', column, price: 120, payment: 'cash', attempt: 1 },
    { type: 'vendSucceeded', column, price: 120, payment: 'cash' },
    { type: 'stockChanged', column, stock: 9 - (i % 9), why: 'vend' },
    { type: 'payoutPlanned', amount: 80, plan: { 50: 1, 20: 1, 10: 1 }, reason: 'change' },
    { type: 'tubesRead', levels: tubes },
    { type: 'payoutDone', amount: 80, paid: { 50: 1, 20: 1, 10: 1 }, paidValue: 80, reason: 'change' },
  ];
  if (i % 500 === 499) out.push({ type: 'door', state: 'open' }, { type: 'stockChanged', column, stock: 10, why: 'refill' }, { type: 'door', state: 'closed' });
  else out.push({ type: 'cardSessionEnded' });
  return out;
}

function recoveryFigures(): void {
  const sales = env('BENCH_JOURNAL_SALES', 100_000);
  if (sales === 0) return;
  const dir = tempDir('recovery');
  const clock = new VirtualClock();
  const j = openJournal({ dir, clock });
  try {
    const t0 = performance.now();
    let batch: { event: MachineEvent; at: number }[] = [];
    for (let i = 0; i < sales; i++) {
      for (const event of saleEvents(i)) batch.push({ event, at: i * 60_000 });
      if (batch.length >= 20_000) {
        j.appendMany(batch);
        batch = [];
      }
    }
    if (batch.length > 0) j.appendMany(batch);
    const writeMs = performance.now() - t0;
    const events = j.count();
    j.close();
    const path = join(dir, DEFAULT_JOURNAL_FILE);
    // Reopen (checkpoints the WAL into the file on close) and measure.
    const k = openJournal({ dir, clock });
    const t1 = performance.now();
    const full = recover(k, { fullReplay: true });
    const fullMs = performance.now() - t1;
    takeSnapshot(k, { state: full.state, lastSeq: full.lastSeq });
    // The snapshot a running controller leaves: at most snapshotEvery events behind the end.
    for (let i = 0; i < 125; i++) for (const event of saleEvents(sales + i)) k.append(event);
    const t2 = performance.now();
    const fromSnap = recover(k);
    const snapMs = performance.now() - t2;
    const sameAsFull = JSON.stringify(fromSnap.state) === JSON.stringify(recover(k, { fullReplay: true }).state);
    k.close();
    const bytes = fileBytes(path);
    console.log(`\n## Recovery and size for ${sales.toLocaleString('en')} sales (${events.toLocaleString('en')} events)`);
    row('write (batched appends, test setup only)', `${(writeMs / 1000).toFixed(1)} s`);
    row('recovery, full replay', `${fullMs.toFixed(0)} ms`, `${((events / fullMs) * 1000).toFixed(0)} events/s`);
    row('recovery from a snapshot', `${snapMs.toFixed(1)} ms`, `${fromSnap.replayed} events replayed; equals full replay: ${sameAsFull ? 'yes' : 'NO'}`);
    row('database size per 100,000 sales', `${((bytes / sales) * 100_000 / 1_048_576).toFixed(1)} MB`, `${(bytes / events).toFixed(0)} bytes per event`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function crashFigures(): Promise<void> {
  const kills = env('BENCH_CRASH_KILLS', 1_000);
  if (kills === 0) return;
  const f = await runCrashHarness({ kills, lanes: 4, seed: 11 });
  console.log(`\n## Crash harness (SIGKILL at random points, restart on the same data directory)`);
  row('kills', String(f.kills), `${f.earlyKills} during start-up/recovery, ${f.lanes} lanes, ${f.runner}`);
  row('wall time', `${(f.wallMs / 1000).toFixed(1)} s`, `${(f.wallMs / f.kills).toFixed(0)} ms per kill`);
  row('invariant violations', String(f.problems.length), f.problems.length === 0 ? 'all held after every kill and restart' : (f.problems[0] ?? ''));
  row('vends settled after a cut', String(f.vendCuts), `${f.productExceptions} of them had dropped the product (credit kept)`);
  row('payouts settled after a cut', String(f.payoutCuts), `${f.uncertainPayouts} uncertain`);
  row('card approvals / escrowed bills settled', `${f.cardCuts} / ${f.escrowCuts}`);
  row('restart to ready, p50 / max', `${f.readyMs.p50.toFixed(0)} / ${f.readyMs.max.toFixed(0)} ms`, 'process start, recovery, settle, checks');
  row('journal events written', String(f.events));
}

/** Prints the journal benchmark rows (index.ts format). */
export async function runJournalBench(): Promise<void> {
  appendLatency();
  await sessionsOnOff();
  recoveryFigures();
  await crashFigures();
}
