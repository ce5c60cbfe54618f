/**
 * `npm run bench`: prints each figure with the baseline it is compared to, in the same run.
 * Speed and memory targets live here, never in timed tests.
 *
 * Options (environment): BENCH_SESSIONS (default 20000) sessions for the rate; BENCH_LONG
 * (default 1000000) sessions for the heap-growth check; set BENCH_LONG=0 to skip it;
 * BENCH_WORKERS (default: the number of cores) machines run at once for the all-cores soak figures,
 * 1 to skip them.
 */
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/load.ts';
import { makeChange } from '../../src/money/change.ts';
import { createRandom } from '../../sim/random.ts';
import { createRig, runBaseline, runSession } from './soak.ts';
import { runJournalBench } from './journal.ts';
import { runStartupBench } from './startup.ts';
import { runWireBench } from './wire.ts';
import { parallelSoak, workerCount } from './parallel.ts';

const demo = loadConfigFile(fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url)));
const gc = (globalThis as { gc?: () => void }).gc;
const workers = workerCount();

function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1_048_576;
}

function row(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(46)} ${value.padStart(16)}  ${note}`);
}

async function portSoak(): Promise<void> {
  const sessions = Number(process.env.BENCH_SESSIONS ?? 20_000);
  const long = Number(process.env.BENCH_LONG ?? 1_000_000);
  const columns = demo.catalog.slots.map((s) => s.code);
  const rig = await createRig(demo);

  // Warm up, and record one session's statechart events for the baseline.
  for (let i = 0; i < 500; i++) await runSession(rig, i, columns);
  rig.record = true;
  await runSession(rig, 500, columns);
  rig.record = false;
  const perSession = rig.recorded.length;

  const virtualStart = rig.clock.now();
  const t0 = performance.now();
  for (let i = 0; i < sessions; i++) await runSession(rig, 501 + i, columns);
  const ms = performance.now() - t0;
  const rate = (sessions / ms) * 1000;
  const virtualHours = (rig.clock.now() - virtualStart) / 3_600_000;

  const baseMs = runBaseline(rig.recorded, sessions);
  const baseRate = (sessions / baseMs) * 1000;

  console.log('\n## Port-level virtual-time soak (controller + simulated devices, one virtual clock)');
  row('sessions', String(sessions), `(${perSession} statechart events each)`);
  row('complete sessions per second', rate.toFixed(0), 'target ≥ 10,000/s');
  row('machine time simulated', `${virtualHours.toFixed(1)} h`, `in ${(ms / 1000).toFixed(1)} s of wall time`);
  row('baseline: bare XState machine, same events', `${baseRate.toFixed(0)}/s`, 'statechart floor');
  row('ratio baseline / ours', `${(baseRate / rate).toFixed(1)}×`, 'the price of the real controller');
  const perEvent = (totalMs: number) => `${((totalMs * 1000) / (sessions * perSession)).toFixed(1)} µs`;
  row('per statechart event: ours / bare XState', `${perEvent(ms)} / ${perEvent(baseMs)}`, `the 10,000/s target leaves ${(100 / perSession).toFixed(1)} µs per event`);
  if (workers > 1) {
    const par = await parallelSoak('port', Math.ceil(sessions / workers), 500, workers);
    row(`all ${par.workers} cores, one machine per worker thread`, `${par.rate.toFixed(0)}/s`, `per worker ${par.perWorker.map((r) => r.toFixed(0)).join(' / ')}; target ≥ 10,000/s`);
  }

  if (long > 0) {
    const start = 501 + sessions;
    let done = 0;
    const upTo = async (n: number) => {
      for (; done < n; done++) await runSession(rig, start + done, columns);
    };
    await upTo(10_000);
    const heap10k = heapMb();
    const t1 = performance.now();
    await upTo(long);
    const longMs = performance.now() - t1;
    const heapLong = heapMb();
    console.log(`\n## Heap growth over a long soak${gc ? '' : ' (run with --expose-gc for exact figures)'}`);
    row('heap after 10,000 sessions', `${heap10k.toFixed(1)} MB`);
    row(`heap after ${long.toLocaleString('en')} sessions`, `${heapLong.toFixed(1)} MB`, `growth ${(heapLong - heap10k).toFixed(1)} MB`);
    row('long soak rate', `${(((long - 10_000) / longMs) * 1000).toFixed(0)}/s`);
  }
  await rig.controller.stop();
  rig.sim.dispose();
}

function changeMaking(): void {
  const rnd = createRandom(7);
  const coins = demo.currency.coins; // 6 denominations
  const tubes: Record<number, number> = {};
  for (const c of coins) tubes[c] = 60 + rnd.int(0, 40);
  const amounts = Array.from({ length: 10_000 }, () => rnd.int(1, 400) * 5);
  for (const a of amounts.slice(0, 500)) makeChange(a, tubes);
  const t0 = performance.now();
  let paid = 0;
  for (const a of amounts) if (makeChange(a, tubes)) paid++;
  const us = ((performance.now() - t0) * 1000) / amounts.length;
  // Baseline: plain greedy (what a naive controller does; wrong for some coin sets).
  const t1 = performance.now();
  for (const a of amounts) {
    let rest = a;
    for (let i = coins.length - 1; i >= 0; i--) {
      const c = coins[i] ?? 1;
      rest -= Math.min(Math.floor(rest / c), tubes[c] ?? 0) * c;
    }
  }
  const greedyUs = ((performance.now() - t1) * 1000) / amounts.length;
  console.log('\n## Change-making (6 denominations, change up to €20.00, 60–100 coins a tube)');
  row('fewest-coin bounded change, per call', `${us.toFixed(2)} µs`, `${paid}/${amounts.length} payable`);
  row('baseline: greedy, per call', `${greedyUs.toFixed(2)} µs`, 'not always right');
}

async function terminalUi(): Promise<void> {
  const { measureUi } = await import('../../sim/ui/index.ts');
  const small = await measureUi({ frames: 40 });
  const large = await measureUi({ frames: 20, size: { cols: 160, rows: 50 } });
  console.log('\n## Terminal UI (in process; the start-up section below times it as a process)');
  row('config load to first frame', `${small.firstFrameMs.toFixed(0)} ms`, 'target < 1,000 ms');
  row('frame render 80×24', `${small.frameMs.toFixed(1)} ms`, 'baseline: 50 ms frame budget (20 frames/s)');
  row('frame render 160×50', `${large.frameMs.toFixed(1)} ms`);
}

console.log(`Vendomat benchmark — node ${process.version}, ${process.platform}/${process.arch}`);
changeMaking();
await portSoak();
await runWireBench();
await terminalUi();
await runJournalBench();
await runStartupBench();
