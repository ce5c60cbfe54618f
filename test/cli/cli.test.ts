/**
 * The `vendomat` CLI: mostly in-process through `main(argv, io)` (fast), plus a few real child
 * processes through the bin (tsx registration, exit codes, a piped line mode).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT, chooseSimMode, main, type CliIo } from '../../src/cli/main.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'src/cli/vendomat.mjs');
const BASIC = join(ROOT, 'sim/scenarios/basic-purchase.yaml');
const TMP = mkdtempSync(join(tmpdir(), 'vendomat-cli-'));

function tmpFile(name: string, text: string): string {
  const p = join(TMP, name);
  writeFileSync(p, text);
  return p;
}

const FAILING = tmpFile(
  'failing.yaml',
  ['name: expects too much credit', 'steps:', '  - coin 1.00', '  - expect: { credit: 5.00 }'].join('\n'),
);
const BROKEN_CONFIG = tmpFile(
  'broken-config.yaml',
  [
    'machine: { name: broken }',
    'currency: { code: EUR, decimals: 2, coins: [5, 10] }',
    'catalog: { rows: 1, columns: 2, slots: [{ code: A1, product: x, price: -1, capacity: 2, stock: 3 }, { code: K1, product: y, price: 5, capacity: 1, stock: 0 }] }',
    'policy: { maxCredit: 0 }',
  ].join('\n'),
);

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function run(args: readonly string[], stdinText = ''): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io: CliIo = { stdin: Readable.from([stdinText]), stdout, stderr };
  const code = await main(['node', 'vendomat', ...args], io);
  return { code, out, err };
}

describe('vendomat (in process)', () => {
  it('sim --script on a passing scenario prints the transcript and exits 0', async () => {
    const r = await run(['sim', '--script', BASIC]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('Scenario: Basic purchase with change');
    expect(r.out).toMatch(/^PASSED: Basic purchase with change/m);
    expect(r.err).toBe('');
  });

  it('sim --script on a failing scenario exits 1 and shows expected vs actual', async () => {
    const r = await run(['sim', '--script', FAILING]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.out).toContain('✗ credit: expected €5.00, actual €1.00');
  });

  it('sim --script --json prints one parseable result', async () => {
    const r = await run(['sim', '--script', FAILING, '--json']);
    expect(r.code).toBe(EXIT.failed);
    const result = JSON.parse(r.out) as { passed: boolean; failures: { index: number; message: string }[]; steps: { events?: unknown[] }[] };
    expect(result.passed).toBe(false);
    expect(result.failures).toEqual([{ index: 1, step: 'expect credit', message: 'credit: expected €5.00, actual €1.00' }]);
    expect(result.steps[0]?.events?.length).toBeGreaterThan(0);
  });

  it('sim --script with --seed and --config runs on that machine', async () => {
    const r = await run(['sim', '--script', BASIC, '--seed', '7', '--config', join(ROOT, 'sim/machines/demo.yaml')]);
    expect(r.code).toBe(EXIT.ok);
  });

  it('a malformed scenario exits 1 naming the step and field', async () => {
    const bad = tmpFile('bad.yaml', 'name: bad\nsteps:\n  - coin 1.00\n  - expect: { credit: 1.00, colour: red }\n');
    const r = await run(['sim', '--script', bad]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.err).toContain('invalid scenario');
    expect(r.err).toMatch(/steps\[1\]\.expect.*colour/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('missing files are one clear line and exit 2', async () => {
    const a = await run(['sim', '--script', join(TMP, 'nope.yaml')]);
    expect(a.code).toBe(EXIT.usage);
    expect(a.err.trim().split('\n')).toEqual([`vendomat: scenario file not found: ${join(TMP, 'nope.yaml')}`]);
    const b = await run(['sim', '--config', join(TMP, 'nope.yaml')]);
    expect(b.code).toBe(EXIT.usage);
    expect(b.err).toContain('config file not found');
    const c = await run(['config', 'check', join(TMP, 'nope.yaml')]);
    expect(c.code).toBe(EXIT.usage);
  });

  it('usage errors exit 2: unknown command, unknown option, bad seed, bad log level, missing argument', async () => {
    for (const args of [['frob'], ['sim', '--bogus'], ['sim', '--seed', 'x'], ['sim', '--log-level', 'loud'], ['config', 'check'], []]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(EXIT.usage);
      expect(r.err.length, args.join(' ')).toBeGreaterThan(0);
    }
  });

  it('--help exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('Usage: vendomat');
    expect(r.out).toContain('diagram');
  });

  it('config check lists each problem with its path and exits 1', async () => {
    const r = await run(['config', 'check', BROKEN_CONFIG]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.err).toContain(`invalid config ${BROKEN_CONFIG}`);
    expect(r.err).toMatch(/- catalog\.slots\[0\]\.price: /);
    expect(r.err).toMatch(/- catalog\.slots\[1\]\.code: /);
    expect(r.err).toMatch(/- policy\.maxCredit: /);
  });

  it('config check on a good config prints ok and exits 0', async () => {
    const r = await run(['config', 'check', join(ROOT, 'sim/machines/demo.yaml')]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/^ok: .*demo\.yaml \(Vendomat demo snack machine, 48 columns, EUR\)/);
  });

  it('diagram prints Mermaid and exits 0', async () => {
    const r = await run(['diagram']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(r.out).toContain('state "vending" as sales_vending {');
  });

  it('sim line mode reads commands from stdin and prints the display and events', async () => {
    const r = await run(['sim', '--plain'], 'coin 100\npress A1\nwobble\nquit\ncoin 50\n');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('Type `help`');
    expect(r.out).toContain('[0.000s] > coin 100');
    expect(r.out).toContain('│CREDIT €1.00    │');
    expect(r.out).toContain('│A1 PRICE        │');
    expect(r.out).toContain('· 0.300s coin €1.00 → tube');
    expect(r.out).toContain("! unknown command 'wobble'; type `help` for the list of commands");
    // quit ends the session: the line after it is never run.
    expect(r.out).not.toContain('> coin 50');
  });

  it('sim line mode ends at end of input, and --json gives one JSON line per command', async () => {
    const r = await run(['sim', '--json'], 'coin 100\nfoo');
    expect(r.code).toBe(EXIT.ok);
    const rows = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: string; ok: boolean; display: string[] });
    expect(rows.map((x) => [x.line, x.ok])).toEqual([
      ['coin 100', true],
      ['foo', false],
    ]);
    expect(rows[0]?.display).toEqual(['CREDIT €1.00', 'MAKE SELECTION']);
  });

  it('an invalid --config for the line mode lists its problems and exits 1', async () => {
    const r = await run(['sim', '--config', BROKEN_CONFIG], 'quit\n');
    expect(r.code).toBe(EXIT.failed);
    expect(r.err).toMatch(/- policy\.maxCredit: /);
  });

  it('chooses the script mode with --script, the UI on a terminal, and the line mode otherwise', () => {
    const io: CliIo = { stdin: Readable.from(['']), stdout: new PassThrough(), stderr: new PassThrough() };
    expect(chooseSimMode({ script: 'x.yaml' }, io)).toBe('script');
    expect(chooseSimMode({ plain: true }, io)).toBe('plain');
    expect(chooseSimMode({}, io)).toBe('plain');
    const tty: CliIo = {
      stdin: Object.assign(Readable.from(['']), { isTTY: true }),
      stdout: Object.assign(new PassThrough(), { isTTY: true }),
      stderr: new PassThrough(),
    };
    expect(chooseSimMode({}, tty)).toBe('ui');
    expect(chooseSimMode({ plain: true }, tty)).toBe('plain');
    expect(chooseSimMode({ json: true }, tty)).toBe('plain');
  });
});

interface Proc {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

function bin(args: readonly string[], input?: string): Promise<Proc> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error && typeof error.code === 'number' ? error.code : error ? 1 : 0;
      resolve({ code, out: stdout, err: stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

describe('vendomat bin (child processes)', () => {
  it('sim --script exits 0 for a passing scenario and 1 for a failing one', async () => {
    const [ok, failed] = await Promise.all([bin(['sim', '--script', 'sim/scenarios/basic-purchase.yaml']), bin(['sim', '--script', FAILING])]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^PASSED/m);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/^FAILED/m);
    expect(failed.err).toBe('');
  });

  it('the line mode works through a pipe (npm start equivalent)', async () => {
    const r = await bin(['sim', '--plain'], 'coin 100\npress A1\nquit\n');
    expect(r.code).toBe(0);
    expect(r.out).toContain('│CREDIT €1.00    │');
    expect(r.out).toContain('│A1 PRICE        │');
    expect(r.err).toBe('');
  });
});
