/**
 * Generates the diagrams in docs/ from the code itself: the statechart from the machine definition
 * and the module map from the real import graph. `npm run docs` writes them; test/docs.test.ts
 * fails when a committed diagram no longer matches the code.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statechartToMermaid } from '../../src/controller/diagram.ts';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx)$/.test(name)) out.push(p);
  }
  return out;
}

/** A file's module: its folder, two levels deep (src/controller, hardware/mdb, sim/wire/mdb → sim/wire). */
function moduleOf(file: string): string {
  const parts = relative(root, file).split('/');
  if (parts.length <= 2) return parts[0] ?? '';
  return `${parts[0]}/${parts[1]}`;
}

export function moduleGraph(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const top of ['src', 'hardware', 'sim']) {
    for (const file of sourceFiles(join(root, top))) {
      const from = moduleOf(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
        const spec = m[1];
        if (!spec) continue;
        const to = moduleOf(resolve(dirname(file), spec));
        if (to === from || !/^(src|hardware|sim)/.test(to)) continue;
        const set = edges.get(from) ?? new Set<string>();
        set.add(to);
        edges.set(from, set);
      }
    }
  }
  return edges;
}

function id(module: string): string {
  return module.replace(/[^A-Za-z0-9]/g, '_');
}

export function architectureMarkdown(): string {
  const graph = moduleGraph();
  const modules = new Set<string>([...graph.keys(), ...[...graph.values()].flatMap((s) => [...s])]);
  const groups: Record<string, string> = { src: 'controller core (src)', hardware: 'hardware adapters', sim: 'simulator' };
  const lines = ['flowchart LR'];
  for (const [top, label] of Object.entries(groups)) {
    lines.push(`  subgraph ${top}_group["${label}"]`);
    for (const m of [...modules].filter((x) => x.startsWith(`${top}/`) || x === top).sort()) lines.push(`    ${id(m)}["${m}"]`);
    lines.push('  end');
  }
  for (const [from, tos] of [...graph.entries()].sort(([a], [b]) => a.localeCompare(b)))
    for (const to of [...tos].sort()) lines.push(`  ${id(from)} --> ${id(to)}`);
  return [
    '# Module map',
    '',
    'Generated from the import graph by `npm run docs` (test/docs/generate.ts); a test fails when it is stale.',
    'Arrows point from a module to what it imports. The controller core (`src/`, except the CLI, the',
    'composition root) imports nothing from `hardware/` or `sim/`.',
    '',
    '```mermaid',
    ...lines,
    '```',
    '',
  ].join('\n');
}

export function statechartMarkdown(): string {
  return [
    '# The vending statechart',
    '',
    'Generated from the machine definition (`src/controller/machine.ts`) by `vendomat diagram`; written',
    'here by `npm run docs`, and a test fails when it is stale.',
    '',
    '```mermaid',
    statechartToMermaid().trimEnd(),
    '```',
    '',
  ].join('\n');
}

export const GENERATED = {
  'docs/statechart.md': statechartMarkdown,
  'docs/architecture.md': architectureMarkdown,
} as const;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [file, make] of Object.entries(GENERATED)) {
    writeFileSync(join(root, file), make());
    console.log(`wrote ${file}`);
  }
}
