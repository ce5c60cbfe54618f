/**
 * How the program starts and ends as a process: `--version`, `--help` listing every command while
 * loading only commander, a reader that goes away (`| head`), and the temporary journal directory
 * of a `sim` run without --data removed however the run ends.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT, main, type CliIo } from '../../src/cli/main.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'src/cli/vendomat.mjs');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

async function inProcess(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io: CliIo = { stdin: Readable.from(['']), stdout, stderr };
  const code = await main(['node', 'vendomat', ...args], io);
  return { code, out, err };
}

interface Child {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
}

/**
 * The bin as a child process with its own TMPDIR. `after(chunk, child)` sees each stdout chunk
 * (to close the pipe early or send a signal).
 */
function child(args: readonly string[], opts: { tmp: string; stdin?: string | null; onOut?: (text: string, c: ReturnType<typeof spawn>) => void }): Promise<Child> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, TMPDIR: opts.tmp }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      opts.onOut?.(out, c);
    });
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.stdin.on('error', () => undefined);
    if (opts.stdin !== null) c.stdin.end(opts.stdin ?? '');
    c.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

/** Temporary journal directories left in `tmp` (tsx keeps its own cache there too). */
const leftBehind = (tmp: string): string[] => readdirSync(tmp).filter((n) => n.startsWith('vendomat-'));

const tmpRoot = (): string => mkdtempSync(join(tmpdir(), 'vendomat-start-'));

describe('vendomat start and end', () => {
  it('--version prints the package version', async () => {
    const r = await inProcess(['--version']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out.trim()).toBe(VERSION);
  });

  it('--help lists every command, the lazily loaded ones included', async () => {
    const r = await inProcess(['--help']);
    expect(r.code).toBe(EXIT.ok);
    for (const name of ['sim', 'diagram', 'config', 'run', 'doctor', 'trace', 'audit']) expect(r.out).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  it('`help run` and `run --help` show the options of run (its module is loaded for them)', async () => {
    for (const args of [['help', 'run'], ['run', '--help']]) {
      const r = await inProcess(args);
      expect(r.code).toBe(EXIT.ok);
      expect(r.out).toContain('--trace-log <file>');
    }
  });

  it('a reader that goes away (| head) ends the program quietly: no EPIPE stack trace', async () => {
    const tmp = tmpRoot();
    // `sim --plain` keeps writing a frame per command; the pipe is closed after the first line.
    const many = Array.from({ length: 400 }, () => 'status').join('\n');
    const r = await child(['sim', '--plain'], {
      tmp,
      stdin: many,
      onOut: (_text, c) => c.stdout?.destroy(),
    });
    expect(r.err).not.toMatch(/EPIPE|Error|at /);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(leftBehind(tmp)).toEqual([]);
  }, 30_000);

  it('a sim run without --data leaves no temporary journal directory (normal end)', async () => {
    const tmp = tmpRoot();
    const r = await child(['sim', '--plain'], { tmp, stdin: 'status\nquit\n' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Journal: /);
    expect(leftBehind(tmp)).toEqual([]);
  }, 30_000);

  it('SIGTERM right after start leaves no temporary journal directory either', async () => {
    const tmp = tmpRoot();
    let sent = false;
    const r = await child(['sim', '--plain'], {
      tmp,
      stdin: null, // kept open: the line mode is waiting for input when the signal comes
      onOut: (text, c) => {
        if (!sent && text.includes('Journal: ')) {
          sent = true;
          c.kill('SIGTERM');
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.err).toBe('');
    expect(r.code).toBe(128 + 15);
    expect(leftBehind(tmp)).toEqual([]);
  }, 30_000);
});
