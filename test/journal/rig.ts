/**
 * A journaled controller on the simulated machine with a virtual clock, for the attach tests. A
 * "power cut" is simply leaving a rig behind: its clock is never advanced again and its journal
 * connection is closed without a clean stop; the next rig opens the same directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { salesState } from '../../src/controller/view.ts';
import { openJournaledController, type JournaledController, type JournaledControllerOptions } from '../../src/journal/attach.ts';
import type { MachineEvent, MachineEventType } from '../../src/controller/events.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine, type SimMachine } from '../../sim/machine.ts';
import { persistedSim, restoreWorld } from '../../sim/persist.ts';
import { demoConfigFile } from '../helpers.ts';

export const demo = loadConfigFile(demoConfigFile);

export function configWith(patch: Record<string, unknown>): MachineConfig {
  return parseConfig({ ...demo, ...patch });
}

export interface Rig {
  readonly clock: VirtualClock;
  readonly sim: SimMachine;
  readonly jc: JournaledController;
  readonly dir: string;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vendomat-attach-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface BootOptions extends Partial<Omit<JournaledControllerOptions, 'ports' | 'clock'>> {
  /** The physical world to continue from (a rig that was cut off). */
  readonly from?: Rig;
  readonly config?: MachineConfig;
}

/** Starts a journaled controller on a fresh simulated machine (continuing `from`'s world) in `dir`. */
export async function boot(dir: string, opts: BootOptions = {}): Promise<Rig> {
  const config = opts.config ?? demo;
  const clock = new VirtualClock(opts.from ? opts.from.clock.now() + 1_000 : 0);
  const sim = createSimMachine(config, clock);
  if (opts.from) restoreWorld(sim, persistedSim(opts.from.sim, opts.from.clock.now(), {}));
  const { from: _from, config: _config, ...rest } = opts;
  const jc = await openJournaledController({ config, ports: sim.ports, clock, dataDir: dir, ...rest });
  await clock.advance(10);
  return { clock, sim, jc, dir };
}

/** A power cut: nothing more happens on this rig, and its journal is closed without a clean stop. */
export function cut(rig: Rig): void {
  rig.sim.dispose();
  rig.jc.journal.close();
}

export async function coins(rig: Rig, ...values: number[]): Promise<void> {
  for (const v of values) void rig.sim.devices.coin.insertCoin(v);
  await rig.clock.advance(rig.sim.config.sim.timing.coinValidationMs + 10);
}

/** Runs until no sale step is in progress (vend, payout, card approval). */
export async function settle(rig: Rig, limitMs = 60_000): Promise<void> {
  await rig.clock.runUntil(() => {
    const s = rig.jc.controller.snapshot;
    const st = salesState(s);
    return (st === 'idle' || st === 'session' || st === 'service' || st === 'outOfService') && !rig.sim.devices.coin.busy &&
      rig.sim.world.motor.running === null &&
      rig.sim.world.falling.length === 0 &&
      rig.sim.world.escrow === null &&
      Object.values(rig.sim.world.inFlight.bills).every((n) => n === 0);
  }, limitMs);
  await rig.clock.advance(100);
}

/** Every journalled event, in order. */
export function journalled(rig: Rig): MachineEvent[] {
  return [...rig.jc.journal.readAll()].map((e) => e.event);
}

export function types(events: readonly MachineEvent[]): MachineEventType[] {
  return events.map((e) => e.type);
}

export function count(events: readonly MachineEvent[], pred: (e: MachineEvent) => boolean): number {
  return events.filter(pred).length;
}
