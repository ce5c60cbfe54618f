/**
 * Model-based coverage: paths generated from the statechart itself (xstate/graph) must reach every
 * state and take every transition the definition declares, and each generated path, replayed on a
 * live actor, must end where the model says it does.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createActor,
  getMicrosteps,
  type ActorLogic,
  type AnyEventObject,
  type AnyStateNode,
  type TransitionDefinition,
} from 'xstate';
import { getAdjacencyMap } from 'xstate/graph';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';
import { vmcMachine, type VmcEvent, type VmcInput } from '../../src/controller/machine.ts';
import type { VmcSnapshot } from '../../src/controller/view.ts';
import { demoConfigFile } from '../helpers.ts';

const demo = loadConfigFile(demoConfigFile);
// A small machine makes the graph small: two columns of one product, one of another.
const config = parseConfig({
  ...demo,
  catalog: {
    rows: 1,
    columns: 3,
    slots: [
      { code: 'A1', product: 'Cola', price: 150, capacity: 5, stock: 5 },
      { code: 'A2', product: 'Cola', price: 150, capacity: 5, stock: 5 },
      { code: 'A3', product: 'Water', price: 100, capacity: 5, stock: 1 },
    ],
  },
  policy: { ...demo.policy, saveCreditMs: 60_000, vend: { ...demo.policy.vend, blindAfterFailures: 2 } },
});
const tubes = { 5: 20, 10: 20, 20: 20, 50: 20, 100: 10, 200: 5 };
const input = { config, restore: { tubes } };
// Guards that depend on policy need a second machine configured the other way.
const strictInput = {
  config: parseConfig({ ...config, policy: { ...config.policy, mustBuyBeforeRefund: true, multiVend: true } }),
  restore: { tubes },
};

/**
 * The events that can matter in this snapshot: device results only where a command is pending, and
 * events whose handling does not depend on the sales state only where the customer flow rests
 * (idle, session), which keeps the graph small without losing a transition.
 */
function events(s: VmcSnapshot): VmcEvent[] {
  const ctx = s.context;
  const value = s.value as { sales: unknown };
  const sales = JSON.stringify(value.sales);
  const resting = sales.includes('idle') || sales.includes('session');
  const empty = sales.includes('idle') && ctx.credit === 0 && ctx.card === null;
  // A bill in escrow is settled next (stacked or returned), so escrow never doubles the graph.
  if (ctx.escrow !== null)
    return [
      { type: 'BILL_STACKED', value: 500 },
      { type: 'BILL_RETURNED', value: 500 },
    ];
  const list: VmcEvent[] = [{ type: 'COIN', value: 200, routing: 'tube' }, { type: 'SELECT', column: 'A1' }, { type: 'RETURN' }];
  if (resting || sales.includes('service') || sales.includes('outOfService') || sales.includes('starting'))
    list.push({ type: 'DOOR', open: !s.matches({ door: 'open' }) });
  if (resting || sales.includes('outOfService')) {
    list.push(
      { type: 'CARD_BEGIN', funds: 1000 },
      { type: 'KEY', key: 'A' },
      { type: 'KEY', key: '1' },
      { type: 'KEY', key: 'CLEAR' },
      { type: 'KEY', key: 'RETURN' },
      { type: 'SELECT', column: 'A3' },
    );
  }
  // Events whose handling does not depend on the customer: offered only when nobody is there.
  if (empty || sales.includes('outOfService')) {
    list.push(
      { type: 'COIN', value: 5, routing: 'rejected' },
      { type: 'SLUG', count: 1 },
      { type: 'STORAGE', status: ctx.storage.status === 'ok' ? 'low' : 'ok' },
      { type: 'NOTICE', lines: ['HI'] },
      { type: 'NOTICE_CLEAR' },
      { type: 'TUBES', levels: ctx.tubes },
      { type: 'RECOVERED', checkColumns: ['A3'], payout: { amount: 50, plan: { 50: 1 }, reason: 'refund', paid: {} } },
      { type: 'LINK', device: 'dispenser', status: ctx.links.dispenser === 'online' ? 'offline' : 'online' },
      { type: 'FAULT', device: 'coin', code: 'COIN_JAM', cleared: ctx.faults.COIN_JAM !== undefined },
    );
  }
  if (resting || ctx.vend) list.push({ type: 'BEAM', broken: !ctx.sensing.beamBroken });
  if (resting || ctx.vend || ctx.payout) list.push({ type: 'BILL_ESCROW', value: 500 });
  if (ctx.card) list.push({ type: 'CARD_CANCEL' }, { type: 'CARD_ENDED' });
  if (sales.includes('authorising')) list.push({ type: 'CARD_APPROVED', amount: 150 }, { type: 'CARD_DENIED' });
  if (ctx.vend) {
    const column = ctx.vend.column;
    list.push(
      { type: 'HOME_LEFT', column },
      { type: 'HOME_REACHED', column },
      { type: 'MOTOR_STALLED', column },
      { type: 'MOTOR_ERROR', code: 'DEVICE_OFFLINE' },
    );
  }
  if (ctx.payout) {
    list.push({ type: 'PAYOUT_DONE', paid: ctx.payout.plan, complete: true });
    list.push({ type: 'PAYOUT_DONE', paid: {}, complete: false, faultCode: 'TUBE_EMPTY' });
  }
  if (sales.includes('service'))
    list.push(
      { type: 'SERVICE_CLEAR_FAULTS' },
      { type: 'SERVICE_SETTLE_DEBT', how: 'writtenOff' },
      { type: 'SERVICE_REFILL' },
      { type: 'SERVICE_SET_PRICE', column: 'A3', price: 120 },
      { type: 'SERVICE_TEST_VEND', column: 'A1' },
      { type: 'SERVICE_PAYOUT', plan: { 50: 2 } },
    );
  // Timers: each active `after` becomes an event the traversal can take, as the clock would send it.
  for (const node of s._nodes) for (const t of node.after) list.push({ type: t.eventType } as unknown as VmcEvent);
  return list;
}

/**
 * Abstract the context to what changes behaviour, so the graph stays small: the notice region and
 * exact amounts are left out; counts are capped.
 */
function serialize(s: VmcSnapshot): string {
  const c = s.context;
  const { notice: _notice, ...value } = s.value as Record<string, unknown>;
  const marks = Object.values(c.catalog).filter((col) => col.mark !== 'ok' || col.stock === 0).length;
  return JSON.stringify([
    value,
    c.credit === 0 ? 0 : c.credit < 150 ? 1 : 2,
    c.card !== null,
    c.vend ? [c.vend.attempt, c.vend.payment, c.vend.tried.length > 1] : null,
    c.payout !== null,
    c.escrow !== null,
    Math.min(Object.keys(c.faults).length, 1),
    c.faults.VS?.detail ?? null,
    Math.min(marks, 1),
    Math.min(c.sensing.noDropStreak, 3),
    // A drop is the beam breaking and then clearing: the broken half-way state is its own state.
    c.sensing.beamBroken,
  ]);
}

/** The machine as plain actor logic: the graph helpers cannot infer its emitted-event type. */
const logic = vmcMachine as unknown as ActorLogic<VmcSnapshot, VmcEvent, VmcInput>;

const traversal = { events, serializeState: serialize, limit: 1_000_000, input } as const;

function allStateNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allStateNodes(child))];
}

function transitionKey(t: TransitionDefinition<never, AnyEventObject>): string {
  const guard = typeof t.guard === 'string' ? t.guard : t.guard ? 'guarded' : '';
  const targets = (t.target ?? []).map((n) => n.id).join(',');
  return `${t.source.id} --${t.eventType}[${guard}]--> ${targets}`;
}

function declaredTransitions(): Map<string, number> {
  const keys = new Map<string, number>();
  for (const node of allStateNodes(vmcMachine.root)) {
    const all = [...node.transitions.values()].flat().concat(node.always ?? []);
    for (const t of all) keys.set(transitionKey(t as TransitionDefinition<never, AnyEventObject>), 0);
  }
  return keys;
}

/** For the policy-dependent guards only the customer's money flow matters. */
function strictEvents(s: VmcSnapshot): VmcEvent[] {
  const ctx = s.context;
  const list: VmcEvent[] = [{ type: 'COIN', value: 200, routing: 'tube' }, { type: 'SELECT', column: 'A1' }, { type: 'RETURN' }];
  if (ctx.vend) list.push({ type: 'HOME_LEFT', column: ctx.vend.column }, { type: 'HOME_REACHED', column: ctx.vend.column }, { type: 'BEAM', broken: !ctx.sensing.beamBroken });
  if (ctx.payout) list.push({ type: 'PAYOUT_DONE', paid: ctx.payout.plan, complete: true });
  return list;
}

/** Storage that fails with a customer present: the credit waits (no vend, no payout) until ok. */
function storageEvents(s: VmcSnapshot): VmcEvent[] {
  const ctx = s.context;
  const list: VmcEvent[] = [
    { type: 'COIN', value: 200, routing: 'tube' },
    { type: 'SELECT', column: 'A1' },
    { type: 'RETURN' },
    { type: 'STORAGE', status: ctx.storage.status === 'failed' ? 'ok' : 'failed' },
    { type: 'DOOR', open: !s.matches({ door: 'open' }) },
    // A blocking fault with credit held takes the machine out of service, where RETURN still counts.
    { type: 'FAULT', device: 'coin', code: 'COIN_JAM', cleared: ctx.faults.COIN_JAM !== undefined },
  ];
  if (ctx.vend) list.push({ type: 'HOME_LEFT', column: ctx.vend.column }, { type: 'HOME_REACHED', column: ctx.vend.column });
  if (ctx.payout) list.push({ type: 'PAYOUT_DONE', paid: ctx.payout.plan, complete: true });
  return list;
}

function storageSerialize(s: VmcSnapshot): string {
  const c = s.context;
  const { notice: _notice, ...value } = s.value as Record<string, unknown>;
  return JSON.stringify([value, c.credit > 0, c.vend !== null, c.payout !== null, c.faults.COIN_JAM !== undefined, c.storage.status]);
}

/** A machine with a service PIN: the locked service menu and its keypad entry. */
// Restored with three wrong PINs on record, so the lockout decision shows as its own transition.
const pinInput = { config: parseConfig({ ...config, service: { pin: '1234' } }), restore: { tubes, pin: { failures: 3, lockouts: 0, lockedOut: false } } };

function pinEvents(s: VmcSnapshot): VmcEvent[] {
  const list: VmcEvent[] = [{ type: 'DOOR', open: !s.matches({ door: 'open' }) }];
  if (s.matches({ door: 'open' }))
    for (const key of ['1', '2', '3', '4', '9', 'CLEAR'] as const) list.push({ type: 'KEY', key });
  if (s.matches({ sales: { service: 'unlocked' } })) list.push({ type: 'SERVICE_CLEAR_FAULTS' });
  list.push({ type: 'PIN_FAILED' });
  for (const node of s._nodes) for (const t of node.after) list.push({ type: t.eventType } as unknown as VmcEvent);
  return list;
}

function pinSerialize(s: VmcSnapshot): string {
  const p = s.context.pin;
  return JSON.stringify([s.value, p.entry, p.unlocked, Math.min(p.failures, 3), Math.min(p.lockouts, 2), p.lockedOut]);
}

type Adjacency = Record<string, { state: VmcSnapshot; transitions: Record<string, { event: VmcEvent; state: VmcSnapshot }> }>;

describe('model-based coverage of the statechart', () => {
  let main: Adjacency = {};
  let adjacency: Array<Adjacency[string]> = [];
  beforeAll(() => {
    main = getAdjacencyMap(logic, traversal) as Adjacency;
    adjacency = [
      ...Object.values(main),
      ...Object.values(getAdjacencyMap(logic, { ...traversal, events: strictEvents, input: strictInput }) as Adjacency),
      ...Object.values(getAdjacencyMap(logic, { ...traversal, events: pinEvents, serializeState: pinSerialize, input: pinInput }) as Adjacency),
      ...Object.values(getAdjacencyMap(logic, { ...traversal, events: storageEvents, serializeState: storageSerialize }) as Adjacency),
    ];
  }, 180_000);

  it('reaches every state', () => {
    const all = allStateNodes(vmcMachine.root).map((n) => n.id);
    const reached = new Set<string>();
    for (const { state } of adjacency) for (const n of (state as VmcSnapshot)._nodes) reached.add(n.id);
    // States passed through by eventless transitions only show up in the microsteps.
    outer: for (const { state, transitions } of adjacency) {
      for (const { event } of Object.values(transitions)) {
        for (const [micro] of getMicrosteps(vmcMachine, state as VmcSnapshot, event as VmcEvent))
          for (const n of micro._nodes) reached.add(n.id);
        if (all.every((id) => reached.has(id))) break outer;
      }
    }
    const missing = all.filter((id) => !reached.has(id));
    expect(missing).toEqual([]);
  });

  it('takes every declared transition', () => {
    const covered = declaredTransitions();
    for (const { state, transitions } of adjacency) {
      for (const { event } of Object.values(transitions)) {
        const data = vmcMachine.getTransitionData(state as VmcSnapshot, event as VmcEvent);
        for (const t of data) {
          const key = transitionKey(t as unknown as TransitionDefinition<never, AnyEventObject>);
          if (covered.has(key)) covered.set(key, (covered.get(key) ?? 0) + 1);
        }
      }
    }
    // Eventless (`always`) transitions are covered through the states they lead to (test above).
    const missing = [...covered.entries()].filter(([k, n]) => n === 0 && !k.includes('--[')).map(([k]) => k);
    expect(missing).toEqual([]);
  });

  it('replays generated paths on a live actor and ends in the predicted state', () => {
    // Shortest paths from the initial state, by breadth-first search over the adjacency map.
    const start = Object.keys(main)[0];
    expect(start).toBeDefined();
    const paths = new Map<string, VmcEvent[]>([[start ?? '', []]]);
    const queue = [start ?? ''];
    for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
      const here = paths.get(key) ?? [];
      for (const { event, state } of Object.values(main[key]?.transitions ?? {})) {
        const next = serialize(state);
        if (!paths.has(next)) {
          paths.set(next, [...here, event]);
          queue.push(next);
        }
      }
    }
    expect(paths.size).toBe(Object.keys(main).length);
    const sample = [...paths.entries()].filter((_, i) => i % 97 === 0);
    for (const [key, events] of sample) {
      const actor = createActor(vmcMachine, { input }).start();
      for (const e of events) actor.send(e);
      expect(serialize(actor.getSnapshot())).toBe(key);
      actor.stop();
    }
  });
});
