/** The UI's machine interface, the off-screen measurement and the plain-text capture. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SimSession, loadDemoConfig } from '../../sim/session.ts';
import { KEYS, captureFrame, fromSession, measureUi } from '../../sim/ui/index.ts';
import { createUiMachine } from '../../sim/ui/model.ts';
import { UiStore } from '../../sim/ui/store.ts';

describe('createUiMachine', () => {
  it('builds a started machine at rest, with the start-up events as history and a command line', async () => {
    const m = await createUiMachine(loadDemoConfig());
    try {
      expect(m.controller.display).toEqual(['INSERT MONEY', 'OR TAP CARD']);
      expect(m.history?.map((e) => e.event.type)).toContain('tubesRead');
      expect(m.testVend).toBeTypeOf('function');
      const r = await m.exec?.('coin 50');
      expect(r).toEqual({ ok: true, output: ['coin €0.50: accepted (to the tube)'] });
      expect(m.controller.snapshot.context.credit).toBe(50);
    } finally {
      await m.close();
    }
  });

  it('fromSession wraps an existing session; closing the UI machine closes the session', async () => {
    const session = await SimSession.start();
    const m = fromSession(session);
    expect(m.clock).toBe(session.clock);
    await m.close();
    expect((await session.exec('coin 50')).output).toEqual(['the session is closed']);
  });
});

describe('captureFrame', () => {
  it('is the frame as plain text, exactly the size asked for', async () => {
    const m = await createUiMachine(loadDemoConfig());
    const store = new UiStore(m);
    try {
      const lines = captureFrame(store, { cols: 80, rows: 24 });
      expect(lines).toHaveLength(24);
      for (const l of lines) expect([...l]).toHaveLength(80);
      expect(lines[0]).toMatch(/^ VENDOMAT {2}Vendomat demo snack machine/);
    } finally {
      store.quit();
      await m.close();
    }
  });
});

describe('measureUi', () => {
  it('times the first frame and the frames off-screen', async () => {
    const r = await measureUi({ frames: 5 });
    expect(r.frames).toBe(5);
    expect(r.firstFrameMs).toBeGreaterThan(0);
    expect(r.frameMs).toBeGreaterThan(0);
    expect(r.frameMs).toBeLessThan(r.firstFrameMs * 10);
  });
});

describe('docs/terminal-ui.md', () => {
  it('documents every key of the key map', () => {
    const doc = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/terminal-ui.md'), 'utf8');
    for (const g of KEYS) for (const b of g.bindings) expect(doc).toContain(`| ${g.title} | \`${b.keys}\` | ${b.what} |`);
  });
});
