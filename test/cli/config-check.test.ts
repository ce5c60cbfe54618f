/**
 * `vendomat config check` refuses what `run` and `doctor` refuse, through the one validation they
 * share, and reports every problem in one round: unknown keys (with a "did you mean" where one is
 * close), adapter blocks, GPIO pins used twice, hopper coins not in the currency, numbers out of
 * bounds.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT, main, type CliIo } from '../../src/cli/main.ts';
import { loadMachineWithHardware } from '../../src/cli/hardware.ts';
import { ConfigError } from '../../src/config/load.ts';
import { closestKey } from '../../src/config/strict.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP = mkdtempSync(join(tmpdir(), 'vendomat-check-'));
const DEMO = readFileSync(join(ROOT, 'sim/machines/demo.yaml'), 'utf8');
const PI_CCTALK = readFileSync(join(ROOT, 'sim/machines/pi-cctalk.yaml'), 'utf8');

function file(name: string, text: string): string {
  const p = join(TMP, name);
  writeFileSync(p, text);
  return p;
}

async function check(path: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io: CliIo = { stdin: Readable.from(['']), stdout, stderr };
  const code = await main(['node', 'vendomat', 'config', 'check', path], io);
  return { code, out, err };
}

function runProblems(path: string): readonly string[] {
  try {
    loadMachineWithHardware(path);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('config check', () => {
  it('misspelt keys are errors, with "did you mean" where a known key is close', async () => {
    const text = DEMO.replace('policy:', 'polcy:')
      .replace(/^machine:\n/m, 'machine:\n  colour: red\n')
      .replace('card: { present: true, required: false }', 'card: { present: true, requird: false }')
      .concat('\npolicy:\n  saveCreditMS: 1000\n');
    const r = await check(file('typos.yaml', text));
    expect(r.code).toBe(EXIT.failed);
    expect(r.out).toBe('');
    const lines = r.err.split('\n');
    expect(lines).toContain('  - polcy: unknown key; did you mean policy?');
    expect(lines).toContain('  - policy.saveCreditMS: unknown key; did you mean saveCreditMs?');
    expect(lines).toContain('  - devices.card.requird: unknown key; did you mean required?');
    expect(lines).toContain('  - machine.colour: unknown key (expected one of name, serial)');
  });

  it('refuses what run refuses, all in one round: an MDB option, a GPIO pin twice, a hopper coin not in the currency, an unknown key in a block', async () => {
    const text = PI_CCTALK.replace('bill: none', 'bill: mdb')
      .replace('  bill: { present: false }', '  bill: { present: true }')
      .replace('    cctalk: { usb:', '    mdb: { path: /dev/ttyACM0 }\n    cctalk: { usb:')
      .replace('  cctalk:\n    acceptor:', '  mdb:\n    board: { timeoutMs: -5 }\n    bill: { polIdleMs: 100 }\n  cctalk:\n    acceptor:')
      .replace('{ coinValue: 10, address: 3, initialCount: 60, sorterPath: 1 }', '{ coinValue: 15, address: 3, initialCount: 60, sorterPath: 1 }')
      .replace('door: { pin: GPIO25,', 'door: { pin: GPIO4,')
      .replace('    dispenser:\n      rowPins:', '    dispensr: {}\n    dispenser:\n      rowPins:');
    const path = file('bad-blocks.yaml', text);
    const r = await check(path);
    expect(r.code).toBe(EXIT.failed);
    const expected = [
      expect.stringMatching(/^hardware\.mdb\.board\.timeoutMs: /),
      'hardware.mdb.bill.polIdleMs: unknown key; did you mean pollIdleMs?',
      'hardware.cctalk.hoppers[0].coinValue: 15 is not a coin of EUR',
      'hardware.gpio.door.pin: pin GPIO4 is already used by keypad.rowPins.0',
      'hardware.gpio.dispensr: unknown key; did you mean dispenser?',
    ];
    const problems = runProblems(path);
    expect(problems).toEqual(expect.arrayContaining(expected));
    for (const p of problems) expect(r.err).toContain(`  - ${p}\n`);
  });

  it('a good config is ok, and the Pi examples are', async () => {
    for (const name of ['demo.yaml', 'pi-mdb-gpio.yaml', 'pi-cctalk.yaml']) {
      const r = await check(join(ROOT, 'sim/machines', name));
      expect(r.code, `${name}: ${r.err}`).toBe(EXIT.ok);
      expect(r.out).toMatch(/^ok: /);
    }
  });

  it('numbers are bounded: a timer past what Node can time, a price past any sane amount, an unsafe integer', async () => {
    const text = DEMO.replace('  maxCredit: 2000\n', '  maxCredit: 9007199254740993\n').replace('  inactivityMs: 30000\n', '  inactivityMs: 3000000000\n').replace(
      /price: (\d+)/,
      'price: 5000000000',
    );
    const r = await check(file('big.yaml', text));
    expect(r.code).toBe(EXIT.failed);
    expect(r.err).toMatch(/policy\.inactivityMs: at most 2147483647 ms/);
    expect(r.err).toMatch(/policy\.maxCredit: /);
    expect(r.err).toMatch(/catalog\.slots\[0\]\.price: /);
  });

  it('"did you mean" only for near misses', () => {
    expect(closestKey('polcy', ['policy', 'currency'])).toBe('policy');
    expect(closestKey('enabeld', ['enabled'])).toBe('enabled');
    expect(closestKey('colour', ['name', 'serial'])).toBeUndefined();
  });
});
