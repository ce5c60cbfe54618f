/**
 * The journal's transactions and side state (schema v3): what the simulator's world persistence
 * relies on to stay consistent with the events.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MachineEvent } from '../../src/controller/events.ts';
import { DEFAULT_JOURNAL_FILE, JournalError, SCHEMA_VERSION, openJournal, type Journal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';

let dir: string;
const open: Journal[] = [];
const clock = new VirtualClock();
const coin: MachineEvent = { type: 'coinInserted', value: 100, routing: 'tube' };

function at(options: { schemaVersion?: number } = {}): Journal {
  const j = openJournal({ dir, clock, ...options });
  open.push(j);
  return j;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendomat-side-'));
});

afterEach(() => {
  for (const j of open.splice(0)) j.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('transactions', () => {
  it('appends and side writes inside one transaction commit together', () => {
    const j = at();
    j.transaction(() => {
      j.append(coin, 1);
      j.putSide('world', '{"tubes":1}');
    });
    expect(j.count()).toBe(1);
    expect(j.getSide('world')).toBe('{"tubes":1}');
  });

  it('a throw rolls back both, and the caller gets its own error back unchanged', () => {
    const j = at();
    j.putSide('world', 'before');
    class Mine extends Error {}
    expect(() =>
      j.transaction(() => {
        j.append(coin, 1);
        j.putSide('world', 'after');
        throw new Mine('the world write failed');
      }),
    ).toThrow(Mine);
    expect(j.count()).toBe(0);
    expect(j.getSide('world')).toBe('before');
    // The journal is still usable.
    j.append(coin, 2);
    expect(j.count()).toBe(1);
  });

  it('nested transactions join the outer one (all or nothing)', () => {
    const j = at();
    expect(() =>
      j.transaction(() => {
        j.transaction(() => j.append(coin, 1));
        j.appendMany([{ event: coin, at: 2 }]);
        throw new Error('late failure');
      }),
    ).toThrow('late failure');
    expect(j.count()).toBe(0);
  });

  it('returns what the function returns; an async function is refused', () => {
    const j = at();
    expect(j.transaction(() => j.append(coin, 1))).toBe(1);
    expect(() => j.transaction(() => Promise.resolve(1))).toThrow();
  });

  it('a closed journal refuses transactions', () => {
    const j = at();
    j.close();
    expect(() => j.transaction(() => 1)).toThrow(JournalError);
  });
});

describe('side state', () => {
  it('survives reopening and is replaced by key', () => {
    const j = at();
    j.putSide('a', 'one');
    j.putSide('a', 'two');
    j.putSide('b', 'other');
    j.close();
    const k = at();
    expect(k.getSide('a')).toBe('two');
    expect(k.getSide('b')).toBe('other');
    expect(k.getSide('missing')).toBeUndefined();
  });

  it('bad keys and values are refused with JOURNAL_BAD_INPUT', () => {
    const j = at();
    for (const [key, value] of [
      ['', 'x'],
      ['k', undefined],
    ] as const) {
      try {
        j.putSide(key, value as unknown as string);
        expect.unreachable('should refuse');
      } catch (e) {
        expect((e as JournalError).code).toBe('JOURNAL_BAD_INPUT');
      }
    }
  });

  it('a journal kept at schema v2 has no side table and says so', () => {
    const j = at({ schemaVersion: 2 });
    expect(() => j.putSide('a', 'x')).toThrow(/side state needs schema v3/);
    expect(() => j.getSide('a')).toThrow(JournalError);
  });

  it('migrating v2 → v3 keeps the events and adds the side table', () => {
    const v2 = at({ schemaVersion: 2 });
    v2.append(coin, 1);
    v2.close();
    const v3 = at();
    expect(v3.schemaVersion).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
    expect(v3.count()).toBe(1);
    v3.putSide('world', 'x');
    v3.close();
    const raw = new Database(join(dir, DEFAULT_JOURNAL_FILE), { readonly: true });
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'side_state'").get()).toEqual({ name: 'side_state' });
    raw.close();
  });
});
