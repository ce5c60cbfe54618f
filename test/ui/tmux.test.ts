/**
 * End to end in a real terminal: the UI entry runs in a detached tmux session (100×30) on its own
 * tmux server; the test types keys and reads the screen like a person would. Waiting is polling
 * capture-pane in bounded loops; the virtual clock is sped up with `+` so nothing waits long.
 * Skipped with a message when tmux is not installed (CI installs it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const hasTmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
if (!hasTmux) console.warn('test/ui/tmux.test.ts: tmux is not installed; skipping the end-to-end terminal test');

// A private tmux server on a socket in a fresh directory: the person's own tmux is never touched.
const socketDir = hasTmux ? mkdtempSync(join(tmpdir(), 'vendomat-ui-')) : '';
const socket = join(socketDir, 'tmux.sock');
const session = 'ui';

function tmux(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout };
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', session).out;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls the screen until `done` holds (at most `limitMs`); returns the last screen. */
async function waitFor(done: (s: string) => boolean, limitMs = 20_000): Promise<string> {
  const until = Date.now() + limitMs;
  let s = screen();
  while (!done(s) && Date.now() < until) {
    await pause(100);
    s = screen();
  }
  return s;
}

afterAll(() => {
  if (!hasTmux) return;
  tmux('kill-server');
  rmSync(socketDir, { recursive: true, force: true });
});

describe.skipIf(!hasTmux)('the terminal UI in tmux', () => {
  it('buys a product like a person would: coins, a selection, the product in the bin; q quits cleanly', async () => {
    const started = Date.now();
    // CI variables make ink hold every frame until exit: a person's terminal does not set them.
    // After the program, the shell prints its exit status on the restored (normal) screen.
    const command = `env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} --import tsx sim/ui/main.ts; echo "ui exited with status $?"; sleep 30`;
    const created = tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', '-c', root, command);
    expect(created.ok).toBe(true);

    let s = await waitFor((x) => x.includes('VENDOMAT'));
    const firstFrameMs = Date.now() - started;
    console.log(`tmux e2e: first frame after ${firstFrameMs} ms (process start, tsx and module loading included)`);
    expect(s).toContain('INSERT MONEY');
    expect(s).toMatch(/Credit €0\.00/);

    // Ink may still be loading after the first frame: wait until keys are taken (the clock runs).
    tmux('send-keys', '-t', session, '+', '+', '+');
    s = await waitFor((x) => x.includes('100×'));
    expect(s).toContain('100×');

    tmux('send-keys', '-t', session, '6');
    s = await waitFor((x) => /Credit €2\.00/.test(x));
    expect(s).toMatch(/Credit €2\.00/);
    expect(s).toContain('CREDIT €2.00');

    tmux('send-keys', '-t', session, 'k', 'a', '1');
    s = await waitFor((x) => /Bin +Crisps Salted \(A1\)/.test(x) && /Cup +€0\.80/.test(x));
    expect(s).toMatch(/Bin +Crisps Salted \(A1\)/);
    expect(s).toMatch(/Cup +€0\.80/);
    expect(s).toContain('vend A1 succeeded');

    tmux('send-keys', '-t', session, 'q');
    s = await waitFor((x) => x.includes('ui exited'), 10_000);
    // Quit ends the program with status 0 and gives the terminal back: the UI is gone from the screen.
    expect(s).toContain('ui exited with status 0');
    expect(s).not.toContain('VENDOMAT');
  });
});
