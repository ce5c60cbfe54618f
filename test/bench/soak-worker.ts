/**
 * One soak in a worker thread (test/bench/parallel.ts): builds its own machine, warms up, reports
 * ready, waits for the go, runs its sessions and reports the wall time they took.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/load.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createRig, runSession } from './soak.ts';
import { closeWireRig, createWireRig, soakConfig, wireSession } from './wire.ts';

export interface SoakJob {
  readonly entry: string;
  readonly kind: 'port' | 'wire';
  readonly sessions: number;
  readonly warmup: number;
}

export type SoakReply = { readonly type: 'ready' } | { readonly type: 'done'; readonly ms: number };

const job = workerData as SoakJob;
const port = parentPort;
if (!port) throw new Error('soak-worker runs in a worker thread');

const go = new Promise<void>((resolve) => port.once('message', () => resolve()));
const reply = (r: SoakReply): void => port.postMessage(r);

/** One machine to soak: a session by number, and how to shut it down. */
interface Soak {
  session(n: number): Promise<void>;
  close(): Promise<void>;
}

async function portSoak(): Promise<Soak> {
  const config = loadConfigFile(fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url)));
  const columns = config.catalog.slots.map((s) => s.code);
  const rig = await createRig(config);
  return {
    session: (n) => runSession(rig, n, columns),
    close: async () => {
      await rig.controller.stop();
      rig.sim.dispose();
    },
  };
}

async function wireSoak(): Promise<Soak> {
  const config = soakConfig();
  const columns = config.catalog.slots.map((s) => s.code);
  const rig = await createWireRig(config, new VirtualClock());
  return { session: (n) => wireSession(rig, n, columns), close: () => closeWireRig(rig) };
}

const soak = job.kind === 'port' ? await portSoak() : await wireSoak();
for (let i = 0; i < job.warmup; i++) await soak.session(i);
reply({ type: 'ready' });
await go;
const t0 = performance.now();
for (let i = 0; i < job.sessions; i++) await soak.session(job.warmup + i);
reply({ type: 'done', ms: performance.now() - t0 });
await soak.close();
