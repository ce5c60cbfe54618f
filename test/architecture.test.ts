/**
 * The layering the brief demands, checked on the real import graph: the controller core (src/,
 * except the CLI composition root) never imports hardware/ or sim/; hardware/ never imports sim/;
 * and no core file reads the wall clock or unseeded randomness.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|mts)$/.test(name)) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2];
    if (spec?.startsWith('.')) found.push(relative(root, resolve(dirname(file), spec)));
  }
  return found;
}

const core = sourceFiles(join(root, 'src')).filter((f) => !relative(root, f).startsWith('src/cli'));

describe('architecture', () => {
  it('the core never imports hardware/ or sim/', () => {
    const bad = core.flatMap((f) =>
      imports(f)
        .filter((i) => i.startsWith('hardware') || i.startsWith('sim'))
        .map((i) => `${relative(root, f)} → ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it('hardware adapters never import the simulator', () => {
    const bad = sourceFiles(join(root, 'hardware')).flatMap((f) =>
      imports(f)
        .filter((i) => i.startsWith('sim'))
        .map((i) => `${relative(root, f)} → ${i}`),
    );
    expect(bad).toEqual([]);
  });

  it('core code takes time and randomness from injected sources', () => {
    const bad = core.filter((f) => /\bDate\.now\(\)|\bnew Date\(\)|Math\.random\(\)/.test(readFileSync(f, 'utf8')));
    expect(bad.map((f) => relative(root, f))).toEqual([]);
  });
});
