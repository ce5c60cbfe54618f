/**
 * The statechart as a Mermaid `stateDiagram-v2`, generated from the machine definition itself
 * (never drawn by hand, so it cannot drift). Every state node is declared; every transition is an
 * edge labelled with its event (`after <delay>` for timers, `always` for eventless ones), its guard
 * in brackets and its named actions after a slash. Parallel regions are composite states separated
 * by `--`. Targetless transitions become self-loops on atomic states and a note on composite ones.
 *
 * Mermaid syntax limits respected here: state ids are the node path joined with `_` (no `-`, `{` or
 * spaces); label text never contains `:`, `;`, `#` or a double quote (they end or break a label).
 */
import type { AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { vmcMachine } from './machine.ts';

/** Mermaid id of a state node: its path joined with `_`, or the machine id for the root. */
export function mermaidId(node: AnyStateNode): string {
  return node.path.length === 0 ? safeId(node.id) : node.path.map(safeId).join('_');
}

function safeId(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Text safe inside a Mermaid label or state description. */
function safeText(s: string): string {
  return s
    .replace(/[:;]/g, ',')
    .replace(/#/g, '')
    .replace(/"/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

const MAX_INLINE = 48;

/** An inline guard has no name: show the start of its expression, so the label still says something. */
function inlineLabel(fn: { toString(): string }): string {
  const src = fn.toString();
  const arrow = src.indexOf('=>');
  let body = arrow >= 0 ? src.slice(arrow + 2).trim() : 'inline guard';
  if (body.startsWith('{')) body = 'inline guard';
  body = body.replace(/\s+/g, ' ');
  return body.length > MAX_INLINE ? `${body.slice(0, MAX_INLINE - 1)}…` : body;
}

interface GuardFn {
  readonly name?: string;
  readonly guards?: readonly unknown[];
  readonly stateValue?: unknown;
  toString(): string;
}

/** A readable guard: its name, `!g` / `a && b` / `a || b` for combinators, `in <state>` for stateIn. */
export function guardLabel(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as GuardFn;
    const parts = Array.isArray(g.guards) ? g.guards.map((x) => guardLabel(x) ?? '?') : undefined;
    if (g.name === 'not' && parts) return `!${parts[0] ?? '?'}`;
    if (g.name === 'and' && parts) return parts.join(' && ');
    if (g.name === 'or' && parts) return parts.join(' || ');
    if (g.name === 'stateIn' && g.stateValue !== undefined) return `in ${typeof g.stateValue === 'string' ? g.stateValue : JSON.stringify(g.stateValue)}`;
    return inlineLabel(g);
  }
  if (typeof guard === 'object' && 'type' in guard && typeof (guard as { type: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

function actionNames(t: AnyTransitionDefinition): string[] {
  const names: string[] = [];
  for (const a of t.actions) {
    let name: string | undefined;
    if (typeof a === 'string') name = a;
    else if (a && typeof a === 'object' && 'type' in a && typeof a.type === 'string') name = a.type;
    // Inline actions (enqueueActions, assign) have no name worth printing.
    if (name && !name.startsWith('xstate.')) names.push(name);
  }
  return names;
}

function delayLabel(delay: unknown): string {
  if (typeof delay === 'number') return `${delay}ms`;
  if (typeof delay === 'string') return delay;
  return '(computed delay)';
}

function label(trigger: string, t: AnyTransitionDefinition): string {
  const g = guardLabel(t.guard);
  const acts = actionNames(t);
  let text = trigger;
  if (g) text += ` [${g}]`;
  if (t.reenter && t.target?.some((x) => x === t.source)) text += ' (reenter)';
  if (acts.length > 0) text += ` / ${acts.join(', ')}`;
  return safeText(text);
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
}

/** Children in document order. */
function children(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states as Record<string, AnyStateNode>).sort((a, b) => a.order - b.order);
}

/** Every state node, depth first, root included. */
export function allStateNodes(root: AnyStateNode): AnyStateNode[] {
  return [root, ...children(root).flatMap((c) => allStateNodes(c))];
}

/** The node whose document holds an edge between these two: their deepest common proper ancestor. */
function edgeHome(a: AnyStateNode, b: AnyStateNode, byPath: ReadonlyMap<string, AnyStateNode>): AnyStateNode {
  let n = 0;
  while (n < a.path.length && n < b.path.length && a.path[n] === b.path[n]) n++;
  n = Math.min(n, a.path.length - 1, b.path.length - 1);
  return byPath.get(a.path.slice(0, Math.max(0, n)).join('.')) ?? a.machine.root;
}

/** Renders a machine (default: the vending statechart) as Mermaid stateDiagram-v2 text. */
export function statechartToMermaid(root: AnyStateNode = vmcMachine.root): string {
  const nodes = allStateNodes(root);
  const byPath = new Map(nodes.map((n) => [n.path.join('.'), n]));
  const edgesAt = new Map<string, Edge[]>();
  const notes = new Map<string, string[]>();
  const addEdge = (source: AnyStateNode, target: AnyStateNode, text: string): void => {
    const home = mermaidId(edgeHome(source, target, byPath));
    const list = edgesAt.get(home) ?? [];
    list.push({ from: mermaidId(source), to: mermaidId(target), label: text });
    edgesAt.set(home, list);
  };
  const internal = (source: AnyStateNode, text: string): void => {
    if (source.type === 'atomic' || source.type === 'final') addEdge(source, source, text);
    else notes.set(mermaidId(source), [...(notes.get(mermaidId(source)) ?? []), text]);
  };
  const addTransition = (source: AnyStateNode, t: AnyTransitionDefinition, trigger: string): void => {
    const text = label(trigger, t);
    if (!t.target || t.target.length === 0) internal(source, text);
    else for (const target of t.target as readonly AnyStateNode[]) addEdge(source, target, text);
  };

  for (const node of nodes) {
    for (const [eventType, list] of node.transitions as Map<string, AnyTransitionDefinition[]>) {
      if (eventType.startsWith('xstate.after.')) continue; // drawn from `node.after` with the delay's name
      for (const t of list) addTransition(node, t, eventType);
    }
    for (const t of node.after as (AnyTransitionDefinition & { delay: unknown })[]) addTransition(node, t, `after ${delayLabel(t.delay)}`);
    for (const t of (node.always ?? []) as AnyTransitionDefinition[]) addTransition(node, t, 'always');
  }

  const out: string[] = ['stateDiagram-v2'];
  const emit = (node: AnyStateNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    const id = mermaidId(node);
    const name = safeText(node.key === '(machine)' ? node.id : node.key);
    const kids = children(node);
    if (kids.length === 0) {
      out.push(`${pad}state "${name}" as ${id}`);
    } else {
      out.push(`${pad}state "${name}${node.type === 'parallel' ? ' (parallel)' : ''}" as ${id} {`);
      if (node.type === 'parallel') {
        kids.forEach((k, i) => {
          if (i > 0) out.push(`${pad}  --`);
          emit(k, depth + 1);
        });
      } else {
        for (const t of (node.initial?.target ?? []) as readonly AnyStateNode[]) out.push(`${pad}  [*] --> ${mermaidId(t)}`);
        for (const k of kids) emit(k, depth + 1);
      }
      for (const e of edgesAt.get(id) ?? []) out.push(`${pad}  ${e.from} --> ${e.to} : ${e.label}`);
      out.push(`${pad}}`);
    }
    if (node.type === 'final') out.push(`${pad}${id} --> [*]`);
    const n = notes.get(id);
    if (n && n.length > 0) {
      out.push(`${pad}note right of ${id}`);
      out.push(`${pad}  handled here without leaving the state`);
      for (const line of n) out.push(`${pad}  ${line}`);
      out.push(`${pad}end note`);
    }
  };
  out.push(`  [*] --> ${mermaidId(root)}`);
  emit(root, 1);
  // Edges whose common ancestor is the root itself (none in a machine whose root is parallel).
  if (children(root).length === 0) for (const e of edgesAt.get(mermaidId(root)) ?? []) out.push(`  ${e.from} --> ${e.to} : ${e.label}`);
  return `${out.join('\n')}\n`;
}
