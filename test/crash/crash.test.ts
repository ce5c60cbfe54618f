/**
 * Power cuts for real: child processes run the journaled controller over the simulated world and
 * are killed with SIGKILL at seeded random moments (harness.ts), 200 times; after every kill and
 * every restart the money, the products and the counters must still add up (checks.ts).
 */
import { describe, expect, it } from 'vitest';
import { runCrashHarness } from './harness.ts';

describe('crash harness', () => {
  it('200 SIGKILLs at random points: every restart recovers with all invariants holding', async () => {
    const f = await runCrashHarness({ kills: 200, lanes: 4, seed: 7 });
    // Every broken invariant, with its lane and life, so a failure says what went wrong.
    expect(f.problems).toEqual([]);
    expect(f.kills).toBe(200);
    // The kills did land in the middle of things: vends and payouts were cut and settled.
    expect(f.vendCuts + f.payoutCuts).toBeGreaterThan(0);
    expect(f.uncertainPayouts).toBe(0);
    expect(f.events).toBeGreaterThan(1_000);
    console.log(
      `crash harness: ${f.kills} kills (${f.earlyKills} during start-up) in ${(f.wallMs / 1000).toFixed(1)} s over ${f.lanes} lanes (${f.runner}); ` +
        `settled ${f.vendCuts} vends, ${f.payoutCuts} payouts, ${f.cardCuts} card approvals, ${f.escrowCuts} escrowed bills; ` +
        `${f.productExceptions} products delivered by a cut vend (credit kept); ready p50 ${f.readyMs.p50.toFixed(0)} ms`,
    );
  }, 240_000);
});
