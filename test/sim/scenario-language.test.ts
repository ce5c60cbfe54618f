/**
 * The scenario language's fault-path features: timed steps that do not settle, the settle-limit
 * notice, power cuts (`restart`) with and without a data directory, wire-fault steps and their
 * validation, physical-money expectations and relations, display text through the LCD's character
 * set, config keys removed by an override, and the folder runner with its JUnit XML report.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.ts';
import { REMOVE, ScenarioError, formatTranscript, mergeConfig, parseRelation, parseScenarioText, runScenario, scenarioConfig } from '../../sim/scenario.ts';
import { loadDemoConfig, parseCommand } from '../../sim/session.ts';
import { junitXml, runSuite, xmlText } from '../../sim/suite.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP = mkdtempSync(join(tmpdir(), 'vendomat-scenario-language-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScenarioError) return e.problems;
    throw e;
  }
  throw new Error('expected a ScenarioError');
}

const EUR = loadDemoConfig().currency;

describe('timed steps', () => {
  it('parses now / at / in around a command, and refuses what cannot be timed', () => {
    expect(parseCommand('now press A1')).toEqual({ ok: true, command: { kind: 'timed', when: 'now', ms: 0, command: { kind: 'press', keys: ['A', '1'] } } });
    expect(parseCommand('in 800ms door open')).toMatchObject({ ok: true, command: { kind: 'timed', when: 'in', ms: 800, command: { kind: 'door', open: true } } });
    expect(parseCommand('at 1m30s return')).toMatchObject({ ok: true, command: { kind: 'timed', when: 'at', ms: 90_000 } });
    expect(parseCommand('in 3s restart')).toMatchObject({ ok: true, command: { command: { kind: 'restart', offMs: 1000 } } });
    expect(parseCommand('in 2s wait 1s')).toMatchObject({ ok: false, error: expect.stringContaining('cannot be timed') });
    expect(parseCommand('now now coin 50')).toMatchObject({ ok: false, error: expect.stringContaining('cannot be timed') });
    expect(parseCommand('in soon return')).toMatchObject({ ok: false, error: expect.stringContaining("cannot read 'soon' as a duration") });
    expect(parseCommand('at 2s')).toMatchObject({ ok: false, error: expect.stringContaining('at <time> <command>') });
    expect(parseCommand('in 1s bogus')).toMatchObject({ ok: false, error: expect.stringContaining("in: unknown command 'bogus'") });
  });

  it('a timed step acts mid-operation: the coin return during a vend changes nothing paid', async () => {
    const r = await runScenario({
      name: 'mid-vend',
      steps: ['coin 2.00', 'now press A1', 'in 1s status', { expect: { state: 'vending', credit: 200 } }, 'in 500ms return', 'settle', { expect: { bin: 1, cup: 80, credit: 0, debt: 0, faults: 'none' } }],
    });
    expect(r.failures).toEqual([]);
    expect(r.steps[2]?.output?.[0]).toBe('at 1.300s, not settled:');
    expect(r.steps[2]?.at).toBe(1300);
  });

  it('`at` a time that has passed fails its step and the run goes on', async () => {
    const r = await runScenario({ name: 'late', steps: ['coin 1.00', 'at 100ms return', { expect: { credit: 100 } }] });
    expect(r.failures.map((f) => f.index)).toEqual([1]);
    expect(r.failures[0]?.message).toBe('at 0.100s: that time has passed (now 0.300s)');
  });

  it('says in the transcript when settling gives up at its limit, and lets the limit of virtual time pass', async () => {
    const r = await runScenario(join(ROOT, 'test/scenarios/settle-limit-notice.yaml'));
    expect(r.failures).toEqual([]);
    const press = r.steps[1];
    expect(press?.settled).toBe(false);
    expect(press?.output).toContain('settling gave up after 2.000s: not at rest (state vending, motor C1 running)');
    expect(press?.at).toBe(2300);
    expect(formatTranscript(r)).toContain('settling gave up after 2.000s');
    expect(r.steps[0]?.settled).toBeUndefined();
    expect(problemsOf(() => parseScenarioText('name: x\nsettleLimit: soon\nsteps: [status]\n'))).toEqual([expect.stringMatching(/^settleLimit: cannot read 'soon'/)]);
  });
});

describe('restart (power cut)', () => {
  it('without a data directory uses a temporary journal and removes it afterwards', async () => {
    const r = await runScenario({ name: 'cut', steps: ['coin 1.00', 'restart', { expect: { credit: 100, state: 'session', tubesHeld: { '100': 21 } } }] });
    expect(r.failures).toEqual([]);
    const dir = /recovered from the journal in (\S+)/.exec(r.steps[1]?.output?.join('\n') ?? '')?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir ?? '')).toBe(false);
    expect(r.steps[1]?.output?.[0]).toBe('power cut at 0.300s (no clean stop), power back after 1.000s');
  });

  it('with a data directory keeps the journal, and a later run on it continues (credit and coins)', async () => {
    const dataDir = join(TMP, 'data');
    const first = await runScenario({ name: 'first', steps: ['coin 1.00', 'restart after 10s', 'coin 0.50', { expect: { credit: 150 } }] }, { dataDir });
    expect(first.failures).toEqual([]);
    expect(first.endedAt).toBe(10_600);
    expect(readdirSync(dataDir).length).toBeGreaterThan(0);
    const second = await runScenario({ name: 'second', steps: [{ expect: { credit: 150, tubesHeld: { '100': 21, '50': 31 } } }] }, { dataDir });
    expect(second.failures).toEqual([]);
  });

  it('a power cut mid-payout leaves the coins paid in the cup and the rest as a debt', async () => {
    const r = await runScenario(join(ROOT, 'test/scenarios/power-cut-mid-payout.yaml'));
    expect(r.failures).toEqual([]);
    const check = r.steps[3]?.checks?.find((c) => c.field === 'relation cup + debt = 0.80');
    // At port level the 50c and the 20c are out when the power goes (the wire level is slower: 50c only).
    expect(check?.actual).toBe('cup €0.70 + debt €0.10 = €0.80; €0.80 = €0.80');
  });

  it('restart in the line mode says that scenario files run it', async () => {
    expect(parseCommand('power-cut after 2s')).toEqual({ ok: true, command: { kind: 'restart', offMs: 2000 } });
    expect(parseCommand('restart later')).toMatchObject({ ok: false, error: expect.stringContaining('restart after <duration>') });
  });
});

describe('wire faults', () => {
  it('parses every wire fault and names what is wrong', () => {
    expect(parseCommand('wire noise mdb')).toEqual({ ok: true, command: { kind: 'wire', fault: { kind: 'noise', bus: 'mdb', text: '#~?!' } } });
    expect(parseCommand('wire stray-line mdb x,1')).toMatchObject({ ok: true, command: { fault: { kind: 'strayLine', text: 'x,1' } } });
    expect(parseCommand('wire lost-reply cctalk 3')).toMatchObject({ ok: true, command: { fault: { kind: 'lostReply', bus: 'cctalk', count: 3 } } });
    expect(parseCommand('wire unplug mdb for 5s')).toMatchObject({ ok: true, command: { fault: { kind: 'unplug', forMs: 5000 } } });
    expect(parseCommand('wire replug cctalk')).toMatchObject({ ok: true, command: { fault: { kind: 'replug' } } });
    expect(parseCommand('wire noise usb')).toMatchObject({ ok: false, error: expect.stringContaining('which bus?') });
    expect(parseCommand('wire stray-line cctalk')).toMatchObject({ ok: false, error: expect.stringContaining('ccTalk is binary') });
    expect(parseCommand('wire lost-reply mdb 0')).toMatchObject({ ok: false, error: expect.stringContaining('1 to 100') });
    expect(parseCommand('wire lost-reply mdb 1000')).toMatchObject({ ok: false });
    expect(parseCommand('wire unplug mdb 5s')).toMatchObject({ ok: false, error: expect.stringContaining('[for <duration>]') });
    expect(parseCommand('wire fry mdb')).toMatchObject({ ok: false, error: expect.stringContaining('noise|stray-line|lost-reply|unplug|replug') });
    expect(parseCommand(`wire noise mdb ${'x'.repeat(300)}`)).toMatchObject({ ok: false, error: expect.stringContaining('at most 256') });
  });

  it('a wire step needs `needs: wire`; such a scenario is skipped with its reason at port level', async () => {
    expect(problemsOf(() => parseScenarioText('name: w\nsteps: [coin 1.00, "in 1s wire unplug mdb"]\n'))).toEqual([
      "steps[1]: 'in 1s wire unplug mdb': wire faults need the wire-level machine; add `needs: wire` to the scenario and run it with --wire",
    ]);
    const r = await runScenario(join(ROOT, 'test/scenarios/wire-faults.yaml'));
    expect(r.passed).toBe(true);
    expect(r.steps).toEqual([]);
    expect(r.skip).toBe('needs the wire-level machine (run with --wire)');
    expect(formatTranscript(r)).toMatch(/^SKIPPED: Wire faults/m);
  });

  it('on a ccTalk machine: noise and a lost reply are survived, an unplugged bus is offline and comes back', async () => {
    const r = await runScenario(
      {
        name: 'cctalk wire faults',
        needs: 'wire',
        config: join(ROOT, 'sim/machines/pi-cctalk.yaml'),
        steps: [
          'coin 1.00',
          'wire noise cctalk',
          'wire lost-reply cctalk 1',
          'coin 0.50',
          { expect: { credit: 150, faults: 'none' } },
          'now wire unplug cctalk for 3s',
          'in 1s status',
          { expect: { credit: 150, faults: ['COIN_OFFLINE'] } },
          'wait 3s',
          'settle',
          { expect: { credit: 150, faults: 'none' } },
          'press A3',
          { expect: { credit: 0, bin: 1, cup: 'empty', debt: 0, faults: 'none', relations: 'cashIn = sales + change + refunds + credit + debt + overpay' } },
        ],
      },
      { wire: true },
    );
    expect(r.failures).toEqual([]);
    expect(r.steps[5]?.output).toEqual(['now, not settled:', 'wire unplug cctalk: unplugged, back in 3.000s']);
  });

  it('a bus the machine lacks fails the step at run time', async () => {
    const r = await runScenario({ name: 'no cctalk', needs: 'wire', steps: ['wire noise cctalk', { expect: { faults: 'none' } }] }, { wire: true });
    expect(r.failures).toEqual([{ index: 0, step: 'wire noise cctalk', message: 'wire noise cctalk: this machine has no ccTalk bus' }]);
  });
});

describe('physical money and relations', () => {
  it('reads relations and names the bad part', () => {
    expect(parseRelation('cup + debt = 0.80', EUR)).toEqual({
      text: 'cup + debt = 0.80',
      left: [
        { sign: 1, name: 'cup' },
        { sign: 1, name: 'debt' },
      ],
      op: '=',
      right: [{ sign: 1, amount: 80 }],
    });
    expect(parseRelation('stacker - change >= 120', EUR).op).toBe('>=');
    expect(() => parseRelation('cup + debt', EUR)).toThrow('has no comparison');
    expect(() => parseRelation('cupp = 0', EUR)).toThrow("'cupp' is neither an amount nor a known name");
    expect(() => parseRelation('cup + = 0', EUR)).toThrow("'cup + = 0': ends in an operator on the left");
    expect(() => parseRelation('cup debt = 0', EUR)).toThrow('neither an amount');
    expect(() => parseRelation(' = 5', EUR)).toThrow('nothing on the left');
    expect(() => parseRelation('cup = 99999999999', EUR)).toThrow('more than');
  });

  it('validates money places, card and cup slugs before running', async () => {
    const scenario = {
      name: 'bad places',
      steps: [{ expect: { stacker: { '50': 1 }, tubesHeld: { '7': 1 }, cup: { 'slug 50': 1 }, card: { charged: '1,20' }, relations: ['credit = x'] } }],
    };
    const problems = await runScenario(scenario).then(
      () => [],
      (e: unknown) => (e instanceof ScenarioError ? e.problems : []),
    );
    expect(problems).toEqual([
      'steps[0].expect.stacker.50: not a bill of EUR (500, 1000, 2000)',
      'steps[0].expect.tubesHeld.7: not a coin of EUR (5, 10, 20, 50, 100, 200)',
      expect.stringMatching(/^steps\[0\]\.expect\.card\.charged: cannot read "1,20"/),
      expect.stringMatching(/^steps\[0\]\.expect\.relations\[0\]: 'credit = x': 'x' is neither/),
      'steps[0].expect.cup.slug 50: 50 is a coin of EUR, not a slug (write "50")',
    ]);
  });

  it('a failing relation shows each amount it read', async () => {
    const r = await runScenario({ name: 'rel', steps: ['coin 2.00', { expect: { relations: 'credit + cup < 1.00' } }] });
    expect(r.failures[0]?.message).toBe('relation credit + cup < 1.00: expected credit + cup < 1.00, actual credit €2.00 + cup €0.00 = €2.00; €1.00 = €1.00');
  });
});

describe('display text through the display character set', () => {
  it('at the wire level an expectation with € matches the LCD showing E, and a wrong text still fails', async () => {
    const r = await runScenario(
      { name: 'glass', steps: ['coin 1.00', { expect: { display: ['CREDIT €1.00', 'MAKE SELECTION'] } }, { expect: { display: 'CREDIT €2.00' } }] },
      { wire: true },
    );
    expect(r.failures.map((f) => f.index)).toEqual([2]);
    expect(r.steps[1]?.checks?.[0]?.actual).toBe('["CREDIT E1.00","MAKE SELECTION"]');
  });
});

describe('config overrides that remove keys', () => {
  it('removes object keys and catalog columns with !remove ($remove)', () => {
    expect(mergeConfig({ a: { b: 1, c: 2 }, d: 1 }, { a: { b: REMOVE }, d: REMOVE })).toEqual({ a: { c: 2 } });
    expect(mergeConfig({ slots: [{ code: 'A1' }, { code: 'A2' }] }, { slots: { A1: REMOVE, B1: REMOVE } })).toEqual({ slots: [{ code: 'A2' }] });
    const s = parseScenarioText('name: r\nconfig: { currency: { symbol: !remove }, catalog: { slots: { A1: !remove } } }\nsteps: [status]\n');
    const { config } = scenarioConfig(s);
    expect(config.catalog.slots.some((x) => x.code === 'A1')).toBe(false);
    expect(config.catalog.slots.some((x) => x.code === 'A2')).toBe(true);
    expect(config.currency.symbol).toBeUndefined();
    expect(loadDemoConfig().currency.symbol).toBe('€');
  });
});

describe('folder runner and JUnit XML', () => {
  const dir = join(TMP, 'suite');

  function write(name: string, text: string): void {
    writeFileSync(join(dir, name), text);
  }

  it('runs every file, reports a summary and a JUnit report of the right shape', async () => {
    // One passing, one failing (with XML specials in its name), one invalid, one skipped (in a sub-folder).
    mkdirSync(join(dir, 'sub'), { recursive: true });
    write('a-pass.yaml', 'name: passes\nsteps: [coin 1.00, { expect: { credit: 1.00 } }]\n');
    write('b-fail.yaml', 'name: "fails <&\\"\'>"\nsteps: [coin 1.00, { expect: { credit: 2.00 } }]\n');
    write('c-invalid.yaml', 'name: invalid\nsteps: [bogus]\n');
    writeFileSync(join(dir, 'sub', 'd-skip.yaml'), 'name: skipped\nskip: a known bug\nsteps: [status]\n');
    write('notes.txt', 'not a scenario');

    const suite = await runSuite(dir);
    expect(suite.cases.map((c) => [c.file, c.status])).toEqual([
      ['a-pass.yaml', 'passed'],
      ['b-fail.yaml', 'failed'],
      ['c-invalid.yaml', 'error'],
      [join('sub', 'd-skip.yaml'), 'skipped'],
    ]);
    expect(suite.passed).toBe(false);
    expect(suite.counts).toEqual({ passed: 1, failed: 1, error: 1, skipped: 1 });

    const xml = junitXml(suite, 'mine');
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="vendomat scenarios" tests="4" failures="1" errors="1" skipped="1" time="')).toBe(true);
    expect(xml).toMatch(/<testsuite name="mine" tests="4" failures="1" errors="1" skipped="1" time="\d+\.\d{3}">/);
    expect(xml).toMatch(/<testcase name="passes" classname="a-pass" file="a-pass.yaml" time="\d+\.\d{3}"\/>/);
    expect(xml).toContain('<testcase name="fails &lt;&amp;&quot;&apos;&gt;" classname="b-fail" file="b-fail.yaml"');
    expect(xml).toMatch(/<failure message="steps\[1\] expect credit: credit: expected €2.00, actual €1.00" type="expectation">Scenario: fails &lt;&amp;/);
    expect(xml).toMatch(/<error message="invalid scenario: steps\[0\]: unknown command &apos;bogus&apos;[^"]*" type="invalid scenario">/);
    expect(xml).toContain('classname="sub.d-skip"');
    expect(xml).toContain('<skipped message="a known bug"/>');
    // Well formed: every element opened is closed, in order.
    const stack: string[] = [];
    for (const m of xml.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
      if (m[1] === '/') expect(stack.pop()).toBe(m[2]);
      else if (m[3] !== '/') stack.push(m[2] ?? '');
    }
    expect(stack).toEqual([]);
    expect(xml.match(/<testcase /g)).toHaveLength(4);
  });

  it('escapes XML specials and drops characters XML 1.0 cannot carry', () => {
    expect(xmlText('a<b>&"\'\u0001\u001b[0m')).toBe('a&lt;b&gt;&amp;&quot;&apos;\uFFFD\uFFFD[0m');
  });

  it('vendomat sim --script DIR --junit FILE writes the report and exits 1 on a failure', async () => {
    const junit = join(TMP, 'report.xml');
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    const io: CliIo = { stdin: Readable.from(['']), stdout, stderr };
    const code = await main(['node', 'vendomat', 'sim', '--script', dir, '--junit', junit], io);
    expect(code).toBe(1);
    expect(out).toMatch(/^FAILED: 4 scenarios, 1 passed, 1 failed, 1 errors, 1 skipped/m);
    expect(readFileSync(junit, 'utf8')).toContain('<testsuites name="vendomat scenarios" tests="4" failures="1" errors="1" skipped="1"');
    const one = join(TMP, 'one.xml');
    expect(await main(['node', 'vendomat', 'sim', '--script', join(dir, 'a-pass.yaml'), '--junit', one], io)).toBe(0);
    expect(readFileSync(one, 'utf8')).toContain('tests="1" failures="0" errors="0" skipped="0"');
    expect(await main(['node', 'vendomat', 'sim', '--script', dir, '--data', join(TMP, 'd')], io)).toBe(2);
  });
});
