/**
 * Wire-level money conservation, part 3 of 4 (the parts run in parallel; see conservation.ts for
 * the rule): 250 random customer sessions on one wire machine with seeded random wire faults on
 * the MDB link; after every step the controller's books match the emulated world's money, except
 * for what recorded advisory faults can hide.
 */
import { describe, expect, it } from 'vitest';
import { runWireSessions } from './conservation.ts';

const SEED = 202612033;
const SESSIONS = 250;

describe('wire-level money conservation under wire faults (part 3)', () => {
  it(`holds after every step of ${SESSIONS} sessions (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const r = await runWireSessions({ seed: SEED, sessions: SESSIONS });
    expect(r.violation).toBeUndefined();
    // The run met the faults it is about (a property that never reaches them proves nothing).
    for (const kind of ['noise', 'noiseLine', 'lose', 'strayBefore', 'strayAfter', 'duplicate', 'slow', 'late']) expect(r.injected[kind] ?? 0, kind).toBeGreaterThan(0);
    expect(r.faultsInjected).toBeGreaterThan(300);
    expect(r.steps).toBeGreaterThan(600);
  });
});
