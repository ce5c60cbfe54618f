/**
 * The statechart's context must stay a fast-properties object after XState copies it on an
 * assign (`Object.assign({}, context, patch)`): with 20 or more keys V8 turns the copy into a
 * dictionary, which made every assign about 20 times slower and every read of the context slower
 * too. This is a behaviour of the running V8, so it is checked on the object itself.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { loadConfigFile } from '../../src/config/load.ts';
import { vmcMachine, type VmcEvent } from '../../src/controller/machine.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { demoConfigFile } from '../helpers.ts';

setFlagsFromString('--allow-natives-syntax');
// Compiled after the flag is set, in a fresh script, so the natives syntax is accepted.
const hasFastProperties = runInNewContext('(o) => %HasFastProperties(o)') as (o: object) => boolean;

const noDevices = {
  startMotor() {},
  stopMotor() {},
  payout() {},
  stackBill() {},
  returnBill() {},
  cardRequestVend() {},
  cardVendSucceeded() {},
  cardVendFailed() {},
  cardEndSession() {},
};

describe('statechart context shape', () => {
  it('stays a fast object through a whole sale', () => {
    const config = loadConfigFile(demoConfigFile);
    const actor = createActor(vmcMachine.provide({ actions: noDevices }), { clock: new VirtualClock(), input: { config } }).start();
    const sale: VmcEvent[] = [
      { type: 'TUBES', levels: { 5: 20, 10: 20, 20: 20, 50: 20, 100: 20, 200: 20 } },
      { type: 'COIN', value: 200, routing: 'tube' },
      { type: 'KEY', key: 'A' },
      { type: 'KEY', key: '1' },
      { type: 'HOME_LEFT', column: 'A1' },
      { type: 'HOME_REACHED', column: 'A1' },
      { type: 'BEAM', broken: true },
      { type: 'BEAM', broken: false },
    ];
    const seen: boolean[] = [];
    for (const e of sale) {
      actor.send(e);
      seen.push(hasFastProperties(actor.getSnapshot().context));
    }
    // The sale really went through the assigns that copy the context.
    expect(actor.getSnapshot().context.catalog.A1?.stock).toBe((config.catalog.slots.find((s) => s.code === 'A1')?.stock ?? 0) - 1);
    expect(seen).toEqual(sale.map(() => true));
    actor.stop();
  });

  it('detects a slow object (the check itself works)', () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 30; i++) wide[`k${i}`] = i;
    expect(hasFastProperties(Object.assign({}, wide, { k0: 1 }))).toBe(false);
    expect(hasFastProperties({ a: 1, b: 2 })).toBe(true);
  });
});
