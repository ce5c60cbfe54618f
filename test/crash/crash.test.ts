/**
 * Power cuts for real: child processes run the journaled controller over the simulated world and
 * are killed with SIGKILL at seeded random moments (harness.ts), 200 times; after every kill and
 * every restart the money, the products and the counters must still add up (checks.ts).
 */
import { describe, expect, it } from 'vitest';
import { runCrashHarness } from './harness.ts';

describe('crash harness', () => {
  it('200 SIGKILLs at random points, with disk-full episodes: every restart recovers with all invariants holding', async () => {
    const f = await runCrashHarness({ kills: 200, lanes: 4, seed: 7 });
    // Every broken invariant, with its lane and life, so a failure says what went wrong.
    expect(f.problems).toEqual([]);
    expect(f.kills).toBe(200);
    // The kills did land in the middle of things: vends and payouts were cut and settled.
    expect(f.vendCuts + f.payoutCuts).toBeGreaterThan(0);
    expect(f.uncertainPayouts).toBe(0);
    expect(f.events).toBeGreaterThan(1_000);
    // Journal writes failed under the workload, both within the reserve and beyond it.
    expect(f.diskFull.untilReserveFreed).toBeGreaterThan(0);
    expect(f.diskFull.stretch).toBeGreaterThan(0);
    console.log(
      `crash harness: ${f.kills} kills (${f.earlyKills} during start-up) in ${(f.wallMs / 1000).toFixed(1)} s over ${f.lanes} lanes (${f.runner}); ` +
        `settled ${f.vendCuts} vends, ${f.payoutCuts} payouts, ${f.cardCuts} card approvals, ${f.escrowCuts} escrowed bills; ` +
        `${f.productExceptions} products delivered by a cut vend (credit kept); ` +
        `${f.diskFull.untilReserveFreed + f.diskFull.stretch} disk-full episodes (${f.diskFull.untilReserveFreed} within the reserve, ${f.diskFull.stretch} beyond it); ` +
        `ready p50 ${f.readyMs.p50.toFixed(0)} ms`,
    );
  }, 240_000);
});
