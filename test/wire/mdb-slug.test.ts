/**
 * A slug at the wire level (issue repro: `coin 0.30`, `wait 5m`, `coin 2.00` on the wire machine):
 * the changer reports it as POLL status 001yyyyy (MDB 4.2 §5.3); the driver makes it a counted slug
 * event, not a fault, and the machine keeps selling.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { Controller } from '../../src/controller/controller.ts';
import type { CoinMechEvent } from '../../src/ports/index.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { bootWireMachine, createWireSimMachine, whileRunning } from '../../sim/wire/machine.ts';

const demo = loadConfigFile(fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url)));

describe('a slug on the wire machine', () => {
  it('is counted, raises no fault, and the next coin is credit', async () => {
    const clock = new VirtualClock();
    const m = createWireSimMachine(demo, clock);
    await bootWireMachine(m, clock);
    const controller = new Controller({ config: demo, ports: m.ports, clock });
    await whileRunning(clock, controller.start());
    const coinEvents: CoinMechEvent[] = [];
    m.ports.coin.events$.subscribe((e) => coinEvents.push(e));
    void m.devices.coin.insertCoin(30); // no such coin: the changer can only say "slug"
    await clock.advance(300_000);
    void m.devices.coin.insertCoin(200);
    await clock.advance(2_000);
    await clock.runUntil(() => m.quiet(), 5_000);
    expect(coinEvents.filter((e) => e.type === 'slug')).toEqual([{ type: 'slug', count: 1 }]);
    expect(coinEvents.filter((e) => e.type === 'fault')).toEqual([]);
    expect(controller.snapshot.context.credit).toBe(200);
    expect(Object.keys(controller.snapshot.context.faults ?? {})).toEqual([]);
    expect(m.world.cup).toEqual({ 30: 1 });
    await whileRunning(clock, controller.stop());
    await whileRunning(clock, m.close());
  });
});
