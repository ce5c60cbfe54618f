/**
 * Slugs at port level: a coin the mech cannot identify is reported as a slug (as an MDB changer's
 * slug status, MDB 4.2 §5.3), counted for the audit, and is never money and never a fault. The
 * issue's sequence (`coin 0.30`, `wait 5m`, `coin 2.00`) must leave the machine selling.
 */
import { describe, expect, it } from 'vitest';
import { formatTranscript, runScenario } from '../../sim/scenario.ts';
import { SimSession } from '../../sim/session.ts';

describe('slugs', () => {
  it('a slug goes to the cup, is counted, and does not take the machine out of service', async () => {
    const result = await runScenario({
      name: 'slug then a real coin',
      steps: [
        'coin 0.30',
        { expect: { credit: 0, cup: 30, faults: 'none', state: 'idle', events: ['slugs'] } },
        'take',
        'wait 5m',
        'coin 2.00',
        { expect: { credit: 200, faults: 'none', state: 'session', display: ['CREDIT €2.00', 'MAKE SELECTION'] } },
        'press A1',
        { expect: { bin: ['Crisps Salted'], cup: 80, credit: 0, debt: 0, faults: 'none' } },
      ],
    });
    expect(result.failures, formatTranscript(result)).toEqual([]);
  });

  it('slugs add up in the audit counters (historical and interim), and nowhere in the money', async () => {
    const s = await SimSession.start();
    try {
      for (const line of ['coin 0.30', 'coin 0.03', 'coin 1.00']) expect((await s.exec(line)).ok).toBe(true);
      const c = s.counters();
      expect(c.historical.slugs).toBe(2);
      expect(c.interim.slugs).toBe(2);
      expect(c.historical.coinsRejected).toBe(0);
      expect(c.historical.faults).toEqual({});
      const v = s.view();
      expect(v.credit).toBe(100);
      expect(v.cup).toEqual({ 3: 1, 30: 1 });
      expect(v.faults).toEqual([]);
      expect(v.debt).toBe(0);
    } finally {
      await s.close();
    }
  });
});
