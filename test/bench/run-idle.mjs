// One bounded `vendomat run` for the start-up benchmark (test/bench/startup.ts): the real run
// command on a hardware config, its serial binding and IO plugin answered by the wire emulators
// in this same process (no hardware here), on the real clock. After `settleMs` it measures CPU
// over `measureMs`, prints one JSON line and stops the machine.
//
//   node test/bench/run-idle.mjs dist CONFIG [world-only]         (the build)
//   node --import tsx test/bench/run-idle.mjs src CONFIG          (the sources through tsx)
//
// `world-only` builds the emulated machine without the controller: its figures are the emulators'
// share, to subtract from a full run's.
/* global AbortController */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';

const [from, config, mode] = process.argv.slice(2);
const settleMs = Number(process.env.BENCH_IDLE_SETTLE_MS ?? 3_000);
const measureMs = Number(process.env.BENCH_IDLE_MS ?? 5_000);
const ext = from === 'dist' ? '.js' : '.ts';
const base = new URL(from === 'dist' ? '../../dist/' : '../../', import.meta.url);
const mod = (p) => import(new URL(p + ext, base).href);

const started = performance.now();
const [{ loadMachineWithHardware, systemClock }, { createWireWorld }] = await Promise.all([mod('src/cli/hardware'), mod('sim/wire/machine')]);
const { config: machine, hardware } = loadMachineWithHardware(config);
const world = createWireWorld(machine, systemClock, { hardware });
const stop = new AbortController();

async function measure(readyMs) {
  await sleep(settleMs);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(measureMs);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  globalThis.gc?.();
  console.log(JSON.stringify({ readyMs, rssMb: process.memoryUsage().rss / 1_048_576, cpuPercent: ((cpu.user + cpu.system) / 1000 / wall) * 100 }));
}

if (mode === 'world-only') {
  await measure(performance.now() - started);
  world.dispose();
} else {
  const { runMachine } = await mod('src/cli/run');
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const code = await runMachine({ config, logLevel: 'warn' }, io, {
    binding: world.binding,
    io: world.gpio.io,
    signal: stop.signal,
    onRunning: () => void measure(performance.now() - started).then(() => stop.abort()),
  });
  world.dispose();
  process.exitCode = code;
}
