import { describe, it, expect } from 'vitest';
import {
  advanceCounter,
  classifyCoinError,
  counterStep,
  hopperFault,
  HopperFlag,
  parseBufferedCredit,
  parseCoinId,
  parseSerial,
  serialBytes,
} from '../../../hardware/cctalk/events.ts';

describe('event counter ring (protocols.md §3.4)', () => {
  it.each([
    [23, 23, { kind: 'none' }],
    [102, 104, { kind: 'new', count: 2 }],
    [255, 1, { kind: 'new', count: 1 }],
    [253, 3, { kind: 'new', count: 5 }],
    [48, 54, { kind: 'overflow', count: 6, lost: 1 }],
    [67, 0, { kind: 'reset' }],
    [0, 3, { kind: 'new', count: 3 }],
    [0, 0, { kind: 'none' }],
    [250, 4, { kind: 'overflow', count: 9, lost: 4 }],
  ] as const)('last %i, now %i → %o (spec examples first)', (last, now, want) => {
    expect(counterStep(last, now)).toEqual(want);
  });

  it('advances 255 → 1, never to 0', () => {
    expect(advanceCounter(254)).toBe(255);
    expect(advanceCounter(255)).toBe(1);
    expect(advanceCounter(0)).toBe(1);
    expect(advanceCounter(250, 10)).toBe(5);
  });
});

describe('229 reply parsing', () => {
  it('reads the worked example: counter 4, newest first', () => {
    const data = Uint8Array.from([0x04, 0x03, 0x01, 0x00, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x00]);
    const c = parseBufferedCredit(data);
    expect(c?.counter).toBe(4);
    expect(c?.results).toEqual([
      { a: 3, b: 1 },
      { a: 0, b: 1 },
      { a: 2, b: 1 },
      { a: 1, b: 1 },
      { a: 0, b: 0 },
    ]);
  });

  it('refuses a reply of the wrong length', () => {
    expect(parseBufferedCredit(new Uint8Array(10))).toBeNull();
    expect(parseBufferedCredit(new Uint8Array(12))).toBeNull();
  });
});

describe('coin acceptor error codes', () => {
  it.each([
    [1, 'rejected'],
    [2, 'rejected'],
    [25, 'rejected'],
    [14, 'jam'],
    [15, 'jam'],
    [17, 'fraud'],
    [20, 'fraud'],
    [36, 'swallowed'],
    [254, 'returnLever'],
    [0, 'ignore'],
    [7, 'fault'],
    [255, 'fault'],
    [99, 'fault'],
  ] as const)('code %i is %s', (b, cls) => {
    expect(classifyCoinError(b).cls).toBe(cls);
  });

  it('inhibited coin 128–159 names the coin type', () => {
    expect(classifyCoinError(131)).toMatchObject({ cls: 'rejected', position: 4 });
    expect(classifyCoinError(159)).toMatchObject({ cls: 'rejected', position: 32 });
  });
});

describe('coin id text', () => {
  it('reads country, value in minor units, issue', () => {
    expect(parseCoinId('EU200A')).toEqual({ country: 'EU', value: 200, issue: 'A' });
    expect(parseCoinId('EU005A')?.value).toBe(5);
    expect(parseCoinId('GB100B')?.value).toBe(100);
  });

  it.each(['......', '', 'EU2.0A', 'EU000A', 'E200A', 'EU2K5A', 'eu200a'])('gives null for %j', (id) => {
    expect(parseCoinId(id)).toBeNull();
  });
});

describe('serial numbers and hopper flags', () => {
  it('reads and writes 3 bytes LSB first (spec example 12 345 678)', () => {
    expect(parseSerial(Uint8Array.from([0x4e, 0x61, 0xbc]))).toBe(12_345_678);
    expect(serialBytes(12_345_678)).toEqual([0x4e, 0x61, 0xbc]);
    expect(parseSerial(new Uint8Array(2))).toBeNull();
  });

  it('classifies a stopped payout: jam signs win over a timeout, a timeout alone is empty', () => {
    expect(hopperFault(HopperFlag.PAYOUT_TIMEOUT)).toBe('HOPPER_EMPTY');
    expect(hopperFault(HopperFlag.PAYOUT_TIMEOUT | HopperFlag.MAX_CURRENT)).toBe('HOPPER_JAM');
    expect(hopperFault(HopperFlag.OPTO_BLOCKED_DURING_PAYOUT)).toBe('HOPPER_JAM');
    expect(hopperFault(HopperFlag.OPTO_FRAUD_SHORT)).toBe('HOPPER_FRAUD');
    expect(hopperFault(HopperFlag.PAYOUT_DISABLED | HopperFlag.POWER_UP)).toBeNull();
  });
});
