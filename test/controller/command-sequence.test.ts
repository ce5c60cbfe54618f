/**
 * The controller shell runs the device commands of one device in order, each after the previous one
 * settled: a card sale's VEND SUCCESS must be answered before SESSION COMPLETE goes out, or a real
 * reader sees the second out of sequence (and ending a session with a vend still open means VEND
 * FAILURE: a refund for a product that was delivered).
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { Controller } from '../../src/controller/controller.ts';
import type { CashlessEvent, CashlessPort } from '../../src/ports/index.ts';
import { ONLINE } from '../../src/ports/index.ts';
import { BehaviorSubject } from 'rxjs';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { demoConfigFile } from '../helpers.ts';

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve: () => void = () => {};
  let reject: (e: unknown) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A reader whose commands finish only when the test says so; `calls` records when each began. */
class SlowReader implements CashlessPort {
  readonly name = 'card';
  readonly link$ = new BehaviorSubject(ONLINE).asObservable();
  readonly events = new Subject<CashlessEvent>();
  readonly events$ = this.events.asObservable();
  readonly calls: string[] = [];
  readonly pending: Deferred[] = [];
  private run(what: string): Promise<void> {
    this.calls.push(what);
    const d = deferred();
    this.pending.push(d);
    return d.promise;
  }
  enable(on: boolean): Promise<void> {
    this.calls.push(`enable ${on}`);
    return Promise.resolve();
  }
  requestVend(price: number, item: number): Promise<void> {
    return this.run(`requestVend ${price} ${item}`);
  }
  vendSucceeded(item: number): Promise<void> {
    return this.run(`vendSucceeded ${item}`);
  }
  vendFailed(): Promise<void> {
    return this.run('vendFailed');
  }
  endSession(): Promise<void> {
    return this.run('endSession');
  }
}

async function rig() {
  const config = loadConfigFile(demoConfigFile);
  const clock = new VirtualClock();
  const sim = createSimMachine(config, clock);
  const reader = new SlowReader();
  const controller = new Controller({ config, ports: { ...sim.ports, card: reader }, clock });
  await controller.start();
  await clock.advance(0);
  return { clock, sim, reader, controller };
}

const flush = async (clock: VirtualClock): Promise<void> => {
  for (let i = 0; i < 5; i++) await clock.advance(0);
};

describe('device command sequence', () => {
  it('SESSION COMPLETE is not sent until VEND SUCCESS has been answered', async () => {
    const { clock, sim, reader, controller } = await rig();
    reader.events.next({ type: 'sessionBegin', funds: 2000 });
    sim.devices.keypad.type('A1');
    await flush(clock);
    expect(reader.calls.filter((c) => !c.startsWith('enable'))).toEqual(['requestVend 120 11']);
    reader.pending.shift()?.resolve();
    reader.events.next({ type: 'vendApproved', amount: 120 });
    // The spiral turns, the product drops.
    await clock.runUntil(() => reader.calls.some((c) => c.startsWith('vendSucceeded')), 30_000);
    await flush(clock);
    const vendCalls = (): string[] => reader.calls.filter((c) => !c.startsWith('enable'));
    // VEND SUCCESS is on the wire; SESSION COMPLETE waits for its answer.
    expect(vendCalls()).toEqual(['requestVend 120 11', 'vendSucceeded 11']);
    await clock.advance(5_000);
    expect(vendCalls()).toEqual(['requestVend 120 11', 'vendSucceeded 11']);
    reader.pending.shift()?.resolve();
    await flush(clock);
    expect(vendCalls()).toEqual(['requestVend 120 11', 'vendSucceeded 11', 'endSession']);
    reader.pending.shift()?.resolve();
    await flush(clock);
    expect(sim.world.bin.map((b) => b.column)).toEqual(['A1']);
    expect(Object.keys(controller.snapshot.context.faults)).toEqual([]);
    expect(controller.snapshot.context.credit).toBe(0);
    await controller.stop();
  });

  it('a command that fails does not stop the ones after it', async () => {
    const { clock, sim, reader, controller } = await rig();
    reader.events.next({ type: 'sessionBegin', funds: 2000 });
    sim.devices.keypad.type('A1');
    await flush(clock);
    reader.pending.shift()?.reject(new Error('wire cut'));
    await flush(clock);
    // The failed request reads as a denial; the customer can end the session and it is ended.
    expect(controller.snapshot.context.vend).toBeNull();
    sim.devices.coin.pressReturn();
    await flush(clock);
    expect(reader.calls.filter((c) => !c.startsWith('enable'))).toEqual(['requestVend 120 11', 'endSession']);
    reader.pending.shift()?.resolve();
    await flush(clock);
    expect(controller.snapshot.context.card).toBeNull();
    expect(controller.snapshot.context.credit).toBe(0);
    expect(sim.world.bin).toEqual([]);
    await controller.stop();
  });
});
