/** The Mermaid diagram is generated from the machine: every state and transition must be in it. */
import { and, createMachine, not, setup, type AnyStateNode, type AnyTransitionDefinition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { guardLabel, mermaidId, statechartToMermaid } from '../../src/controller/diagram.ts';
import { vmcMachine } from '../../src/controller/machine.ts';

/** Walks the machine independently of diagram.ts. */
function walk(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap((c) => walk(c))];
}

const text = statechartToMermaid();
const lines = text.split('\n');
const nodes = walk(vmcMachine.root);

describe('statechartToMermaid on the vending statechart', () => {
  it('is a stateDiagram-v2 that enters the root', () => {
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines[1]).toBe('  [*] --> vmc');
  });

  it('declares every state of the machine, each once', () => {
    expect(nodes.length).toBeGreaterThan(20);
    for (const n of nodes) {
      const id = n.path.length === 0 ? 'vmc' : n.path.join('_');
      const decl = lines.filter((l) => new RegExp(`^\\s*state "[^"]*" as ${id}( \\{)?$`).test(l));
      expect(decl, `state ${n.id}`).toHaveLength(1);
    }
  });

  it('separates the parallel regions with --', () => {
    const regions = Object.keys(vmcMachine.root.states);
    expect(lines.filter((l) => l.trim() === '--')).toHaveLength(regions.length - 1);
    expect(text).toContain('state "vmc (parallel)" as vmc {');
  });

  it('draws the initial state of every compound state', () => {
    for (const n of nodes.filter((x) => x.type === 'compound')) {
      const initial = n.initial.target[0];
      expect(initial).toBeDefined();
      if (initial) expect(text).toContain(`[*] --> ${initial.path.join('_')}`);
    }
  });

  it('has an edge (or a note line) for every transition, with after timers and always guards', () => {
    let checked = 0;
    for (const n of nodes) {
      const from = n.path.join('_');
      const expectTransition = (t: AnyTransitionDefinition, trigger: string): void => {
        checked += 1;
        const targets = (t.target ?? []) as readonly AnyStateNode[];
        if (targets.length === 0) {
          const where = n.type === 'atomic' ? lines.filter((l) => l.trim().startsWith(`${from} --> ${from} : ${trigger}`)) : lines.filter((l) => l.trim().startsWith(trigger));
          expect(where.length, `${n.id} ${trigger}`).toBeGreaterThan(0);
          return;
        }
        for (const target of targets) {
          const edge = lines.filter((l) => l.trim().startsWith(`${from} --> ${target.path.join('_')} : ${trigger}`));
          expect(edge.length, `${n.id} --${trigger}--> ${target.id}`).toBeGreaterThan(0);
        }
      };
      for (const [eventType, list] of n.transitions as Map<string, AnyTransitionDefinition[]>) {
        if (eventType.startsWith('xstate.after.')) continue;
        for (const t of list) expectTransition(t, eventType);
      }
      for (const t of n.after as (AnyTransitionDefinition & { delay: unknown })[]) expectTransition(t, `after ${String(t.delay)}`);
      for (const t of n.always ?? []) expectTransition(t, 'always');
    }
    expect(checked).toBeGreaterThan(60);
  });

  it('labels timers by their delay name and eventless transitions by their guard names', () => {
    expect(text).toContain('sales_vending_starting --> sales_vending_jammed : after leaveHome / faultNeverLeftHome');
    expect(text).toContain('sales_session_waiting --> sales_creditExpired : after saveCredit [saveCreditEnabled]');
    expect(text).toContain('sales_idle --> sales_outOfService : always [mustStop]');
    expect(text).toContain('sales_session --> sales_idle : always [!hasCustomer]');
    expect(text).toContain('sales_vending_watching --> sales_vending_delivered : always [dropSeen]');
  });

  it('keeps every label free of characters that end or break a Mermaid label', () => {
    for (const l of lines.filter((x) => x.includes(' --> ') && x.includes(' : '))) {
      const labelText = l.slice(l.indexOf(' : ') + 3);
      expect(labelText, l).not.toMatch(/[:;#"]/);
      expect(l, l).toMatch(/^\s*[A-Za-z0-9_]+ --> [A-Za-z0-9_]+ : \S/);
    }
    for (const l of lines.filter((x) => x.trim().startsWith('state '))) expect(l).toMatch(/^\s*state "[^"]+" as [A-Za-z0-9_]+( \{)?$/);
  });

  it('balances its braces', () => {
    expect(text.split('{').length).toBe(text.split('}').length);
  });
});

describe('statechartToMermaid on a small machine', () => {
  const small = setup({
    guards: { ready: () => true, armed: () => false },
    actions: { noop: () => {} },
    delays: { tick: 100 },
  }).createMachine({
    id: 'toy',
    type: 'parallel',
    states: {
      lamp: {
        initial: 'off',
        states: {
          off: { on: { FLIP: { target: 'on', guard: and(['ready', not('armed')]) } } },
          on: { after: { tick: 'off', 500: { target: 'off' } }, on: { PING: { actions: 'noop' } } },
        },
      },
      motor: {
        initial: 'idle',
        on: { RESET: { actions: 'noop' } },
        states: { idle: { always: { guard: 'ready', target: 'done' } }, done: { type: 'final' } },
      },
    },
  });

  it('renders guards, timers, self-loops, notes and final states', () => {
    const out = statechartToMermaid(small.root);
    expect(out).toContain('lamp_off --> lamp_on : FLIP [ready && !armed]');
    expect(out).toContain('lamp_on --> lamp_off : after tick');
    expect(out).toContain('lamp_on --> lamp_off : after 500ms');
    expect(out).toContain('lamp_on --> lamp_on : PING / noop');
    expect(out).toContain('motor_idle --> motor_done : always [ready]');
    expect(out).toContain('motor_done --> [*]');
    expect(out).toMatch(/note right of motor\n\s+handled here without leaving the state\n\s+RESET \/ noop\n\s+end note/);
    expect(out.match(/^\s*--$/gm)).toHaveLength(1);
  });

  it('ids are paths joined with _', () => {
    expect(mermaidId(small.root)).toBe('toy');
    const on = small.root.states.lamp?.states.on;
    expect(on && mermaidId(on)).toBe('lamp_on');
  });
});

describe('guardLabel', () => {
  it('names named, combined and inline guards', () => {
    expect(guardLabel('canRetry')).toBe('canRetry');
    expect(guardLabel(not('x'))).toBe('!x');
    expect(guardLabel(and(['a', 'b']))).toBe('a && b');
    expect(guardLabel(({ context }: { context: { n: number } }) => context.n > 1)).toMatch(/context\.n ?> ?1/);
    expect(guardLabel(undefined)).toBeUndefined();
    const plain = createMachine({ on: { A: { guard: () => true } } });
    expect(typeof plain.root.transitions.get('A')?.[0]?.guard).toBe('function');
  });
});
