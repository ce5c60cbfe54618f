/**
 * Who may take money out: wrong service PINs back off and lock out (config `service.lockout`),
 * journalled and shown, the lockout survives closing the door and a restart, and the right PIN
 * after it resets the counts.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { loadConfigFile } from '../../src/config/load.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { vmcMachine, type VmcEvent, type VmcInput } from '../../src/controller/machine.ts';
import { applyPinEvent, backoffMs, lockoutMs, NO_PIN_RECORD } from '../../src/controller/pin.ts';
import { displayLines, salesState } from '../../src/controller/view.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { SimSession } from '../../sim/session.ts';
import { demoConfigFile } from '../helpers.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = loadConfigFile(demoConfigFile);
const config = parseConfig({ ...base, service: { pin: '1234', lockout: { attempts: 3, backoffMs: 2_000, lockoutMs: 60_000, growth: 2, maxLockoutMs: 600_000 } } });
const policy = config.service.lockout;

function chart(restore?: VmcInput['restore']) {
  const clock = new VirtualClock();
  const actor = createActor(vmcMachine, { clock, input: { config, ...(restore ? { restore } : {}) } });
  const emitted: MachineEvent[] = [];
  actor.on('*', (e) => emitted.push(e));
  actor.start();
  const send = (...events: VmcEvent[]): void => {
    for (const e of events) actor.send(e);
  };
  const type = (digits: string): void => {
    for (const d of digits) send({ type: 'KEY', key: d as '0' });
  };
  const actions = () => emitted.flatMap((e) => (e.type === 'serviceAction' ? [e.action] : []));
  const unlocked = () => actor.getSnapshot().matches({ sales: { service: 'unlocked' } });
  const lines = () => displayLines(actor.getSnapshot(), 2, 16);
  return { clock, actor, send, type, emitted, actions, unlocked, lines };
}

describe('service PIN back-off and lockout', () => {
  it('the policy grows the waits and caps the lockout', () => {
    expect(backoffMs(policy, 1)).toBe(2_000);
    expect(backoffMs(policy, 2)).toBe(4_000);
    expect(lockoutMs(policy, 1)).toBe(60_000);
    expect(lockoutMs(policy, 3)).toBe(240_000);
    expect(lockoutMs(policy, 50)).toBe(600_000);
  });

  it('a right PIN typed during the back-off after a wrong one is not taken', async () => {
    const { clock, send, type, actions, unlocked, lines } = chart();
    send({ type: 'DOOR', open: true });
    type('9999');
    expect(actions()).toEqual(['wrongPin']);
    type('1234');
    expect(unlocked()).toBe(false);
    await clock.advance(3_000);
    expect(lines()).toEqual(['SERVICE MODE', 'ENTER PIN']);
    type('1234');
    expect(unlocked()).toBe(true);
    expect(actions()).toEqual(['wrongPin', 'unlock']);
  });

  it('three wrong PINs lock the menu out for lockoutMs, through door closings; shown and journalled; it ends by itself', async () => {
    const { clock, actor, send, type, actions, unlocked, lines } = chart();
    send({ type: 'DOOR', open: true });
    for (let i = 0; i < 3; i++) {
      type('0000');
      await clock.advance(10_000);
    }
    expect(actions()).toEqual(['wrongPin', 'wrongPin', 'wrongPin', 'pinLockout']);
    expect(lines()).toEqual(['SERVICE LOCKED', 'TRY LATER']);
    type('1234');
    expect(unlocked()).toBe(false);
    send({ type: 'DOOR', open: false }, { type: 'DOOR', open: true });
    type('1234');
    expect(unlocked()).toBe(false);
    expect(actor.getSnapshot().context.pin.lockedOut).toBe(true);
    await clock.advance(60_000);
    expect(actions().at(-1)).toBe('pinLockoutEnded');
    await clock.advance(5_000);
    type('1234');
    expect(unlocked()).toBe(true);
    expect(actor.getSnapshot().context.pin).toMatchObject({ failures: 0, lockouts: 0, lockedOut: false });
  });

  it('7,391 wrong PINs typed with no delay are mostly not even tried: back-off then lockout', async () => {
    const { clock, send, type, actions, unlocked } = chart();
    send({ type: 'DOOR', open: true });
    for (let i = 0; i < 7_391; i++) {
      type(String(i % 10_000).padStart(4, '0') === '1234' ? '1235' : String(i % 10_000).padStart(4, '0'));
      await clock.advance(5);
    }
    expect(unlocked()).toBe(false);
    // 7,391 × 4 keys in 37 s of typing: the first wrong PIN, and after its 2 s wait another
    // (now 4 s), and the third locks out for 60 s.
    expect(actions().filter((a) => a === 'wrongPin').length).toBeLessThanOrEqual(3);
    expect(actions()).toContain('pinLockout');
    void clock;
  });

  it('a lockout restored after a restart is in force again at once (the fold of the journal events)', async () => {
    const events: MachineEvent[] = [
      { type: 'serviceAction', action: 'wrongPin' },
      { type: 'serviceAction', action: 'wrongPin' },
      { type: 'serviceAction', action: 'wrongPin' },
      { type: 'serviceAction', action: 'pinLockout', detail: '3 wrong PINs; locked for 60000 ms' },
    ];
    const record = events.reduce(applyPinEvent, NO_PIN_RECORD);
    expect(record).toEqual({ failures: 0, lockouts: 1, lockedOut: true });
    const { clock, send, type, unlocked, lines, actions } = chart({ pin: record });
    send({ type: 'DOOR', open: true });
    expect(lines()).toEqual(['SERVICE LOCKED', 'TRY LATER']);
    type('1234');
    expect(unlocked()).toBe(false);
    await clock.advance(60_000);
    expect(actions()).toEqual(['pinLockoutEnded']);
    type('1234');
    expect(unlocked()).toBe(true);
  });

  it('a restored record that is nonsense reads as no record', () => {
    const { actor } = chart({ pin: { failures: -3, lockouts: Number.NaN, lockedOut: 'yes' as unknown as boolean } });
    expect(actor.getSnapshot().context.pin).toMatchObject(NO_PIN_RECORD);
    expect(salesState(actor.getSnapshot())).toBe('idle');
  });
});

describe('the lockout survives a restart of the journaled simulator', () => {
  it('locked out, stopped, started again on the same journal: still locked; it ends after its time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vendomat-pin-'));
    try {
      const first = await SimSession.start({ config, journal: { dir } });
      await first.exec('door open');
      for (let i = 0; i < 3; i++) {
        await first.exec('press 0 0 0 0');
        await first.exec('wait 10s');
      }
      expect(first.view().display).toEqual(['SERVICE LOCKED', 'TRY LATER']);
      await first.close();
      const second = await SimSession.start({ config, journal: { dir } });
      try {
        const r = await second.exec('service pin 1234');
        expect(r.ok).toBe(false);
        expect(second.view().display).toEqual(['SERVICE LOCKED', 'TRY LATER']);
        await second.exec('wait 61s');
        expect((await second.exec('service pin 1234')).ok).toBe(true);
        expect(second.counters().historical.faults).toEqual({});
        expect(second.view().credit).toBe(0);
        expect(second.view().debt).toBe(0);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
