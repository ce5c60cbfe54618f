/**
 * `vendomat audit` (src/cli/audit.ts): the readable report, the DEX file built from the journal
 * (journalled as an audit read, resetting the interim counters), and the DEX checker. In process on
 * a temporary data directory written by a journaled simulator session, plus one child process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dexNumber, dexRecord, dexRecords, parseDex } from '../../src/audit/dex.ts';
import { registerAuditCommands } from '../../src/cli/audit.ts';
import { buildProgram, main } from '../../src/cli/main.ts';
import { recover } from '../../src/journal/recovery.ts';
import { DEFAULT_JOURNAL_FILE, openJournal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { SimSession } from '../../sim/session.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'src/cli/vendomat.mjs');
const TMP = mkdtempSync(join(tmpdir(), 'vendomat-audit-'));
const DATA = join(TMP, 'data');
const NOW = '2024-01-15T10:30:00';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

function capture(): { io: { stdin: NodeJS.ReadableStream; stdout: PassThrough; stderr: PassThrough }; text: () => { out: string; err: string } } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr }, text: () => ({ out, err }) };
}

/** Through main() once the lead registered the command there; until then a program built the same way. */
async function run(args: readonly string[]): Promise<Run> {
  const { io, text } = capture();
  const registered = buildProgram(io, () => undefined).commands.some((c) => c.name() === 'audit');
  if (registered) {
    const code = await main(['node', 'vendomat', ...args], io);
    return { code, ...text() };
  }
  const program = new Command('vendomat').exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  registerAuditCommands(program, io);
  let code = 0;
  try {
    await program.parseAsync(['node', 'vendomat', ...args]);
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else {
      io.stderr.write(`vendomat: ${e instanceof Error ? e.message : String(e)}\n`);
      code = 1;
    }
  }
  return { code, ...text() };
}

function journalActions(dir: string): string[] {
  const j = openJournal({ dir, clock: new VirtualClock() });
  try {
    return [...j.readTypes(['serviceAction'])].map((e) => (e.event.type === 'serviceAction' ? e.event.action : ''));
  } finally {
    j.close();
  }
}

beforeAll(async () => {
  // A machine with a history: three sales, a jammed column, a door opening, a refund.
  const s = await SimSession.start({ journal: { dir: DATA } });
  for (const line of ['coin 2.00', 'press A1', 'coin 1.00', 'coin 0.50', 'press C1', 'fault motor-stall A4 once', 'coin 2.00', 'press A4', 'press A1', 'door open', 'service clear-faults', 'door close', 'coin 0.50', 'return'])
    await s.exec(line);
  await s.close();
}, 30_000);

afterAll(() => {
  rmSync(TMP, { recursive: true, force: true });
});

describe('vendomat audit (report)', () => {
  it('prints sales by column, cash and faults from the journal, with the conservation check', async () => {
    const r = await run(['audit', '--data', DATA, '--now', NOW]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Vendomat audit — Vendomat demo snack machine (VM-DEMO-0001)');
    expect(r.out).toContain(`Read at ${NOW}`);
    expect(r.out).toMatch(/A1\s+Crisps Salted\s+€1\.20\s+2\s+€2\.40/);
    expect(r.out).toMatch(/C1\s+Gummy Bears\s+€1\.00\s+1\s+€1\.00/);
    expect(r.out).toMatch(/HSA4\s+1\s+1/);
    expect(r.out).toContain('Conservation: all invariants hold');
    // Reading the report is not an audit read: nothing is journalled.
    expect(journalActions(DATA)).not.toContain('auditRead');
  });

  it('a directory without a journal is a usage error (exit 2), and nothing is created there', async () => {
    const empty = join(TMP, 'empty');
    mkdirSync(empty);
    const r = await run(['audit', '--data', empty]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no journal in ${empty}`);
    expect(existsSync(join(empty, DEFAULT_JOURNAL_FILE))).toBe(false);
  });

  it('a corrupt journal is refused with its clear message (exit 1), the file left as it was', async () => {
    const bad = join(TMP, 'corrupt');
    mkdirSync(bad);
    const file = join(bad, DEFAULT_JOURNAL_FILE);
    writeFileSync(file, 'garbage, not a database\n'.repeat(20));
    const before = readFileSync(file);
    const r = await run(['audit', '--data', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/JOURNAL_CORRUPT/);
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});

describe('vendomat audit --dex', () => {
  it('writes a valid DEX file from the journal, journals the read and resets the interim counters', async () => {
    const data = join(TMP, 'dex-data');
    const s = await SimSession.start({ journal: { dir: data } });
    for (const line of ['coin 2.00', 'press A1', 'coin 1.00', 'press C1', 'door open', 'door close']) await s.exec(line);
    await s.close();

    const out = join(TMP, 'first.dex');
    const r = await run(['audit', '--dex', '--out', out, '--data', data, '--now', NOW]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`DEX written to ${out}`);
    const first = parseDex(readFileSync(out, 'latin1'));
    expect(first.problems).toEqual([]);
    expect(first.g85?.ok).toBe(true);
    expect(first.segmentCount?.ok).toBe(true);
    const va1 = dexRecord(first, 'VA1');
    expect([dexNumber(va1, 1), dexNumber(va1, 2), dexNumber(va1, 3), dexNumber(va1, 4)]).toEqual([220, 2, 220, 2]);
    expect(dexRecord(first, 'ID1')?.fields[0]).toBe('VM-DEMO-0001');
    expect(dexRecords(first, 'PA1').length).toBe(48);
    expect(dexRecord(first, 'EA3')?.fields.slice(0, 2)).toEqual(['1', '20240115']);
    expect(journalActions(data)).toContain('auditRead');

    // The second read: totals kept, the interim (since reset) back to zero, two reads counted.
    const second = await run(['audit', '--dex', '--data', data, '--now', NOW]);
    expect(second.code).toBe(0);
    const dex = parseDex(second.out);
    expect(dex.problems).toEqual([]);
    const va1b = dexRecord(dex, 'VA1');
    expect([dexNumber(va1b, 1), dexNumber(va1b, 2), dexNumber(va1b, 3), dexNumber(va1b, 4)]).toEqual([220, 2, 0, 0]);
    expect(dexRecord(dex, 'EA3')?.fields[0]).toBe('2');
    const j = openJournal({ dir: data, clock: new VirtualClock() });
    expect(recover(j).counters.interim.paidVends.count).toBe(0);
    j.close();
  });

  it('--now must be ISO local time; --out goes with --dex only', async () => {
    const bad = await run(['audit', '--dex', '--data', DATA, '--now', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--now must be ISO local time/);
    const out = await run(['audit', '--out', join(TMP, 'x.dex'), '--data', DATA]);
    expect(out.code).toBe(2);
    expect(out.err).toMatch(/--out goes with --dex/);
  });
});

describe('vendomat audit --parse', () => {
  it('checks the G85 CRC and the segment count and prints the records readably', async () => {
    const file = join(TMP, 'parse-ok.dex');
    const made = await run(['audit', '--dex', '--out', file, '--data', DATA, '--now', NOW]);
    expect(made.code).toBe(0);
    const r = await run(['audit', '--parse', file]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/G85 CRC: ok/);
    expect(r.out).toMatch(/SE segment count: ok/);
    expect(r.out).toMatch(/VA1 +\d+ \| \d+ \| \d+ \| \d+ +\(paid vends/);
    expect(r.out).toContain('no problems');
  });

  it('a damaged file fails (exit 1) and says what is wrong', async () => {
    const good = join(TMP, 'parse-ok2.dex');
    await run(['audit', '--dex', '--out', good, '--data', DATA, '--now', NOW]);
    const text = readFileSync(good, 'latin1').replace(/PA1\*A1\*120/, 'PA1*A1*990');
    const bad = join(TMP, 'parse-bad.dex');
    writeFileSync(bad, text, 'latin1');
    const r = await run(['audit', '--parse', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/G85 CRC: WRONG/);
    expect(r.err).toMatch(/problem/);
  });

  it('a missing file is a usage error', async () => {
    const r = await run(['audit', '--parse', join(TMP, 'nope.dex')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/DEX file not found/);
  });
});

describe('vendomat audit (child process)', () => {
  it('runs as its own process and exits 0 with the report', async () => {
    const registered = buildProgram(capture().io, () => undefined).commands.some((c) => c.name() === 'audit');
    // The real bin once main.ts registers the command; until then the same command on a bare program.
    const args = registered
      ? [BIN, 'audit', '--data', DATA, '--now', NOW]
      : [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `import { Command } from 'commander'; import { registerAuditCommands } from ${JSON.stringify(join(ROOT, 'src/cli/audit.ts'))};
           const p = new Command('vendomat'); registerAuditCommands(p, process); await p.parseAsync(process.argv.slice(1), { from: 'user' });`,
          '--',
          'audit',
          '--data',
          DATA,
          '--now',
          NOW,
        ];
    const r = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(process.execPath, args, { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, out: stdout, err: stderr });
      });
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('SALES BY COLUMN');
    expect(r.out).toContain('Conservation: all invariants hold');
  }, 40_000);
});
