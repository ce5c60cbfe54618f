/**
 * Runs every scenario file in test/scenarios and sim/scenarios (one test each; a file with `skip:`
 * is skipped and names its reason), plus the runner's own failure and validation reporting.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import {
  ScenarioError,
  formatTranscript,
  loadScenarioFile,
  mergeConfig,
  parseScenarioText,
  runScenario,
  scenarioConfig,
  type Scenario,
} from '../../sim/scenario.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIRS = ['test/scenarios', 'sim/scenarios'];
const FILES = DIRS.flatMap((d) =>
  readdirSync(join(ROOT, d))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(ROOT, d, f)),
);

describe('scenario files', () => {
  it('finds the scenario files of both folders', () => {
    expect(FILES.some((f) => f.includes('sim/scenarios/basic-purchase.yaml'))).toBe(true);
    expect(FILES.filter((f) => f.includes('test/scenarios')).length).toBeGreaterThanOrEqual(25);
  });

  for (const file of FILES) {
    const shown = relative(ROOT, file);
    let scenario: Scenario;
    try {
      scenario = loadScenarioFile(file);
    } catch (e) {
      it(`${shown} is a valid scenario`, () => {
        throw e;
      });
      continue;
    }
    if (scenario.skip !== undefined) {
      it.skip(`${shown}: ${scenario.name} — skipped: ${scenario.skip}`, () => {});
      continue;
    }
    // A scenario with wire faults (`needs: wire`) runs on the wire-level machine.
    const wire = scenario.needs === 'wire';
    it(`${shown}: ${scenario.name}${wire ? ' (wire level)' : ''}`, async () => {
      const result = await runScenario(scenario, wire ? { wire: true } : {});
      expect(result.steps.length).toBeGreaterThan(0);
      expect(result.failures, formatTranscript(result)).toEqual([]);
      expect(result.passed).toBe(true);
    });
  }
});

describe('runScenario reporting', () => {
  it('reports a failing expectation with the step index, expected and actual', async () => {
    const result = await runScenario({
      name: 'wrong credit',
      steps: ['coin 100', { expect: { credit: 50, display: ['CREDIT €1.00', 'MAKE SELECTION'] } }, { expect: { state: 'idle' } }],
    });
    expect(result.passed).toBe(false);
    expect(result.failures.map((f) => f.index)).toEqual([1, 2]);
    expect(result.failures[0]?.message).toBe('credit: expected €0.50, actual €1.00');
    expect(result.failures[1]?.message).toBe('state: expected idle, actual session');
    const step = result.steps[1];
    expect(step?.checks).toEqual([
      { field: 'display', ok: true, expected: '["CREDIT €1.00","MAKE SELECTION"]', actual: '["CREDIT €1.00","MAKE SELECTION"]' },
      { field: 'credit', ok: false, expected: '€0.50', actual: '€1.00' },
    ]);
    const text = formatTranscript(result);
    expect(text).toContain('✗ credit: expected €0.50, actual €1.00');
    expect(text).toContain('✓ display');
    expect(text).toMatch(/^FAILED: wrong credit/m);
  });

  it('a command that fails (bad money) fails its step but the run goes on', async () => {
    const result = await runScenario({ name: 'slug', steps: ['coin 30', { expect: { credit: 0, cup: 30 } }] });
    // A 30c piece is not a euro coin: it is rejected to the cup, which is not a failure.
    expect(result.passed).toBe(true);
    expect(result.steps[0]?.output?.[0]).toContain('not a EUR coin');
    const bad = await runScenario({ name: 'service needs door', steps: ['service clear-faults', { expect: { state: 'idle' } }] });
    expect(bad.passed).toBe(false);
    expect(bad.failures).toHaveLength(1);
    expect(bad.failures[0]?.message).toContain('door open');
    expect(bad.steps[1]?.ok).toBe(true);
  });

  it('checks events only since the previous expect', async () => {
    const result = await runScenario({
      name: 'events window',
      steps: ['coin 100', { expect: { events: ['coinInserted'] } }, 'coin 20', { expect: { events: { include: ['coinInserted'], exclude: ['vendStarted'] } } }, { expect: { events: ['coinInserted'] } }],
    });
    expect(result.failures.map((f) => f.index)).toEqual([4]);
    expect(result.failures[0]?.message).toContain('missing coinInserted');
  });

  it('reads YAML decimals as major units and whole numbers as minor units', async () => {
    const s = parseScenarioText(
      ['name: money forms', 'steps:', '  - coin 2.00', '  - expect: { credit: 2.00 }', '  - expect: { credit: 200 }', '  - expect: { credit: "€2.00" }'].join('\n'),
    );
    const result = await runScenario(s);
    expect(result.failures).toEqual([]);
  });
});

describe('malformed scenarios', () => {
  function problems(fn: () => unknown): readonly string[] {
    try {
      fn();
    } catch (e) {
      if (e instanceof ScenarioError) return e.problems;
      throw e;
    }
    throw new Error('expected a ScenarioError');
  }

  it('names the step index and field of every structural problem', () => {
    const text = [
      'name: broken',
      'steps:',
      '  - coin 100',
      '  - bogus 1',
      '  - expect: { credt: 100 }',
      '  - expect: { state: idle, column: { A1: broken } }',
      '  - expect: { events: [vendSucceded] }',
      '  - { expect: { credit: 1 }, extra: 1 }',
      '  - 42',
      '  - press Z',
    ].join('\n');
    const p = problems(() => parseScenarioText(text, 'broken.yaml'));
    expect(p.some((x) => x.startsWith("steps[1]: unknown command 'bogus'") && x.includes('help'))).toBe(true);
    expect(p.some((x) => x.startsWith('steps[2].expect') && x.includes('credt'))).toBe(true);
    expect(p.some((x) => x.startsWith('steps[3].expect.column.A1'))).toBe(true);
    expect(p.some((x) => x.startsWith('steps[4].expect.events[0]') && x.includes('domain event type'))).toBe(true);
    expect(p.some((x) => x.startsWith("steps[5]: unknown key 'extra'"))).toBe(true);
    expect(p.some((x) => x.startsWith('steps[6]: expected a command'))).toBe(true);
    expect(p.some((x) => x.startsWith("steps[7]: press: no key 'Z'"))).toBe(true);
    expect(p).toHaveLength(7);
  });

  it('rejects a missing name, no steps and unknown top-level keys', () => {
    const p = problems(() => parseScenarioText('steps: []\nconfg: x\n'));
    expect(p).toEqual(expect.arrayContaining([expect.stringMatching(/^name: /), expect.stringMatching(/^steps: .*at least one step/), expect.stringContaining('confg')]));
  });

  it('reports invalid YAML as one problem', () => {
    expect(problems(() => parseScenarioText('name: [unclosed\n'))[0]).toMatch(/^not valid YAML/);
  });

  it('checks money, columns, coins and fault specs against the machine before running', async () => {
    const scenario = {
      name: 'machine checks',
      steps: [
        'coin 1,20',
        'fault motor-stall J9',
        'fault tube-empty 3',
        { expect: { credit: '1,20' } },
        { expect: { stock: { J9: 1 } } },
        { expect: { tubes: { '3': 1 }, cup: { '7': 1 } } },
      ],
    };
    await expect(runScenario(scenario)).rejects.toThrow(ScenarioError);
    const p = await runScenario(scenario).then(
      () => [],
      (e: unknown) => (e instanceof ScenarioError ? e.problems : []),
    );
    expect(p).toEqual([
      expect.stringMatching(/^steps\[0\]: coin: cannot read "1,20"/),
      expect.stringMatching(/^steps\[1\]: fault: .*no column J9/),
      expect.stringMatching(/^steps\[2\]: fault: .*3 is not a coin/),
      expect.stringMatching(/^steps\[3\]\.expect\.credit: cannot read "1,20"/),
      expect.stringMatching(/^steps\[4\]\.expect\.stock\.J9: this machine has no column J9/),
      expect.stringMatching(/^steps\[5\]\.expect\.tubes\.3: not a coin of EUR/),
      expect.stringMatching(/^steps\[5\]\.expect\.cup\.7: not a coin of EUR/),
    ]);
  });

  it('reports an invalid config override with its path', () => {
    const s = parseScenarioText('name: bad config\nconfig: { policy: { maxCredit: -5 }, catalog: { slots: { A1: { stock: 99 } } } }\nsteps: [status]\n');
    try {
      scenarioConfig(s);
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problemsList = (e as ConfigError).problems;
      expect(problemsList.some((p) => p.startsWith('policy.maxCredit:'))).toBe(true);
      expect(problemsList.some((p) => p.startsWith('catalog.slots[0].stock:') && p.includes('exceeds capacity'))).toBe(true);
    }
  });

  it('a missing file is a read error, not a content error', () => {
    try {
      loadScenarioFile(join(ROOT, 'test/scenarios/does-not-exist.yaml'));
      throw new Error('expected a ScenarioError');
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      expect((e as ScenarioError).kind).toBe('read');
      expect((e as ScenarioError).message).toContain('no such file');
    }
  });
});

describe('mergeConfig', () => {
  it('merges objects deeply and replaces everything else', () => {
    expect(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: 2 });
  });

  it('merges catalog slots by column code and appends unknown codes', () => {
    const base = { slots: [{ code: 'A1', stock: 5, price: 100 }, { code: 'A2', stock: 5, price: 100 }] };
    expect(mergeConfig(base, { slots: { A2: { stock: 0 }, B1: { stock: 1, price: 50 } } })).toEqual({
      slots: [{ code: 'A1', stock: 5, price: 100 }, { code: 'A2', stock: 0, price: 100 }, { code: 'B1', stock: 1, price: 50 }],
    });
  });
});
