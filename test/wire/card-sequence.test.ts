/**
 * Card sales at the wire level: the exact VEND commands the real MDB cashless driver sends the
 * emulated reader (MDB 4.2 §7.4.4–7.4.8), and no fault left behind. A vend's commands belong to one
 * transaction: VEND SUCCESS (or VEND FAILURE) must have been answered before SESSION COMPLETE is
 * sent, so the reader never sees them out of sequence.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimSession } from '../../sim/session.ts';
import { isWireSimMachine } from '../../sim/wire/machine.ts';

/** VEND subcommands (address 0x10 + 3): REQUEST 00, CANCEL 01, SUCCESS 02, FAILURE 03, SESSION COMPLETE 04. */
const VEND = /^R,13,/;

interface Rig {
  readonly s: SimSession;
  /** The VEND commands sent so far, as raw lines (e.g. `R,13,02000B`). */
  readonly vend: string[];
}

let open: SimSession | undefined;

afterEach(async () => {
  await open?.close();
  open = undefined;
});

async function rig(): Promise<Rig> {
  const s = await SimSession.start({ wire: true });
  open = s;
  const m = s.sim;
  if (!isWireSimMachine(m)) throw new Error('not a wire machine');
  const vend: string[] = [];
  m.tracer.trace$.subscribe((t) => {
    if (t.bus === 'mdb' && t.dir === 'tx' && VEND.test(t.raw)) vend.push(t.raw.trim());
  });
  return { s, vend };
}

async function run(s: SimSession, ...lines: string[]): Promise<void> {
  for (const line of lines) {
    const r = await s.exec(line);
    expect(r.ok, `${line}: ${r.output.join(' / ')}`).toBe(true);
  }
}

describe('card sales on the MDB wire', () => {
  it('a sale sends VEND REQUEST, VEND SUCCESS, SESSION COMPLETE in that order and leaves no fault', async () => {
    const { s, vend } = await rig();
    await run(s, 'card', 'press A1', 'card remove');
    // A1 is €1.20 (0x78 at scale 1) and MDB item 11 (0x000B).
    expect(vend).toEqual(['R,13,000078000B', 'R,13,02000B', 'R,13,04']);
    const v = s.view();
    expect(v.faults).toEqual([]);
    expect(v.bin.map((b) => b.column)).toEqual(['A1']);
    expect(v.credit).toBe(0);
    expect(v.debt).toBe(0);
    expect(v.cup).toEqual({});
    expect(v.state).toBe('idle');
  });

  it('the next tap after a sale starts a new sale (nothing left out of sequence)', async () => {
    const { s, vend } = await rig();
    await run(s, 'card', 'press A1', 'card remove', 'wait 5s', 'card', 'press A2', 'card remove');
    expect(vend).toEqual(['R,13,000078000B', 'R,13,02000B', 'R,13,04', 'R,13,000078000C', 'R,13,02000C', 'R,13,04']);
    const v = s.view();
    expect(v.faults).toEqual([]);
    expect(v.bin.map((b) => b.column)).toEqual(['A1', 'A2']);
    expect(v.credit).toBe(0);
    expect(v.debt).toBe(0);
    expect(v.state).toBe('idle');
  });

  it('a vend that fails sends VEND FAILURE and no VEND SUCCESS; the card is not charged', async () => {
    const { s, vend } = await rig();
    // SESSION COMPLETE waits for the reader to confirm the refund (a POLL answered ACK, §7.4.8).
    await run(s, 'fault spiral-empty A1', 'card', 'press A1', 'card remove', 'wait 1s');
    expect(vend[0]).toBe('R,13,000078000B');
    expect(vend).not.toContain('R,13,02000B');
    expect(vend).toContain('R,13,03');
    // VEND FAILURE is answered before SESSION COMPLETE goes out.
    expect(vend.indexOf('R,13,03')).toBeLessThan(vend.indexOf('R,13,04'));
    expect(vend.at(-1)).toBe('R,13,04');
    const v = s.view();
    expect(v.bin).toEqual([]);
    expect(v.credit).toBe(0);
    expect(v.debt).toBe(0);
    expect(v.faults).toEqual([]);
  });
});
