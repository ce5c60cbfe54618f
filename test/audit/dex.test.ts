import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyCounters, foldCounters, resetInterim } from '../../src/audit/counters.ts';
import { buildDex, crc16arc, dexNumber, dexRecord, dexRecords, dexStamp, g85, parseDex } from '../../src/audit/dex.ts';
import type { DexInput } from '../../src/audit/dex.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { eventsArb } from './scenario.ts';

/** protocols.md §5.4, verbatim, with CR LF line ends. */
const REFERENCE = [
  'DXS*XYZ0000001*VA*V1/1*1',
  'ST*001*0001',
  'ID1*VM000123456*SPIRAL-60*0001*LOBBY**ASSET-0042',
  'ID4*2*1978*EUR',
  'ID5*20240115*103000',
  'VA1*12500*85*2500*17',
  'CA2*9000*60*1500*10',
  'CA3*2000*500*1500*0*9500*2500*7000*0',
  'CA4*500*0*3000*0',
  'CA8*0*50',
  'PA1*A1*150*COLA',
  'PA2*40*6000*8*1200',
  'PA1*A2*200*CHIPS',
  'PA2*45*6500*9*1300',
  'G85*B902',
  'SE*15*0001',
  'DXE*1*1',
]
  .map((l) => `${l}\r\n`)
  .join('');

describe('G85 (protocols.md §5.3)', () => {
  it('CRC-16/ARC gives the standard check value for "123456789"', () => {
    expect(crc16arc(Buffer.from('123456789', 'ascii'))).toBe(0xbb3d);
    expect(crc16arc(new Uint8Array())).toBe(0);
  });

  it('reproduces the §5.4 reference example exactly: B902', () => {
    const start = REFERENCE.indexOf('ST*');
    const end = REFERENCE.indexOf('G85*');
    expect(g85(REFERENCE.slice(start, end))).toBe('B902');
  });

  it('pads to 4 uppercase hex digits', () => {
    const text = fc.sample(fc.string({ minLength: 0, maxLength: 40 }), { seed: 5, numRuns: 50 });
    for (const t of text) expect(g85(t)).toMatch(/^[0-9A-F]{4}$/);
  });

  it('parseDex accepts the reference file: G85 and SE check out', () => {
    const f = parseDex(REFERENCE);
    expect(f.problems).toEqual([]);
    expect(f.g85).toEqual({ stated: 'B902', computed: 'B902', ok: true });
    expect(f.segmentCount).toEqual({ stated: 15, counted: 15, ok: true });
    expect(dexNumber(dexRecord(f, 'VA1'), 1)).toBe(12500);
    expect(dexRecords(f, 'PA1').map((r) => r.fields[0])).toEqual(['A1', 'A2']);
    expect(dexRecord(f, 'ID1')?.fields).toEqual(['VM000123456', 'SPIRAL-60', '0001', 'LOBBY', '', 'ASSET-0042']);
  });

  it('one changed digit breaks the G85 check', () => {
    const f = parseDex(REFERENCE.replace('VA1*12500', 'VA1*12600'));
    expect(f.g85?.ok).toBe(false);
    expect(f.problems.join('\n')).toMatch(/G85 mismatch: the file says B902/);
  });

  it('LF-only line ends fail the check (the CRC covers the CR bytes)', () => {
    const f = parseDex(REFERENCE.replace(/\r\n/g, '\n'));
    expect(f.records).toHaveLength(17);
    expect(f.g85?.ok).toBe(false);
  });

  it('a wrong SE count is reported', () => {
    const f = parseDex(REFERENCE.replace('SE*15*0001', 'SE*14*0001'));
    expect(f.segmentCount).toEqual({ stated: 14, counted: 15, ok: false });
    expect(f.problems.join('\n')).toMatch(/SE says 14 segments, ST…SE holds 15/);
  });
});

describe('parseDex on bad input', () => {
  it('never throws and reports what is wrong', () => {
    expect(parseDex('').problems).toContain('no records');
    const garbage = parseDex('\u0000\u0001hello\r\nworld*1*2\r\n');
    expect(garbage.problems.join('\n')).toMatch(/outside printable ASCII/);
    expect(garbage.problems.join('\n')).toMatch(/does not start with DXS/);
    expect(garbage.problems.join('\n')).toMatch(/no G85 record/);
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const f = parseDex(s);
        expect(Array.isArray(f.problems)).toBe(true);
      }),
      { seed: 1, numRuns: 200 },
    );
  });

  it('dexNumber is null for empty or non-numeric elements', () => {
    const f = parseDex(REFERENCE);
    expect(dexNumber(dexRecord(f, 'ID1'), 5)).toBeNull();
    expect(dexNumber(dexRecord(f, 'ID1'), 1)).toBeNull();
    expect(dexNumber(dexRecord(f, 'NOPE'), 1)).toBeNull();
    expect(dexNumber(dexRecord(f, 'CA8'), 9)).toBeNull();
  });
});

const day: MachineEvent[] = [
  { type: 'serviceAction', action: 'powerUp' },
  { type: 'coinInserted', value: 100, routing: 'tube' },
  { type: 'coinInserted', value: 100, routing: 'cashbox' },
  { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'cash' },
  { type: 'payoutDone', amount: 50, paid: { 50: 1 }, paidValue: 50, reason: 'change' },
  { type: 'billEscrowed', value: 500 },
  { type: 'billStacked', value: 500 },
  { type: 'vendSucceeded', column: 'A2', price: 200, payment: 'cash' },
  { type: 'overpayKept', amount: 300, why: 'creditExpired' },
  { type: 'cardVendApproved', column: 'A2', amount: 200 },
  { type: 'vendSucceeded', column: 'A2', price: 200, payment: 'card' },
  { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'test' },
  { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'free' },
  { type: 'payoutDone', amount: 1000, paid: { 100: 10 }, paidValue: 1000, reason: 'service' },
  { type: 'door', state: 'open' },
  { type: 'door', state: 'closed' },
  { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' },
  { type: 'serviceAction', action: 'powerUp' },
];

function input(overrides: Partial<DexInput> = {}): DexInput {
  return {
    machineSerial: 'VM-DEMO-0001',
    machineModel: 'SPIRAL-48',
    location: 'LOBBY',
    counters: foldCounters(day),
    columns: [
      { code: 'A1', price: 150, product: 'Cola' },
      { code: 'A2', price: 200, product: 'Chips' },
    ],
    events: [
      { at: '2024-01-15T09:12:30', event: { type: 'door', state: 'open' } },
      { at: '2024-01-15T09:20:00', event: { type: 'door', state: 'closed' } },
      { at: '2024-01-15T09:45:00', event: { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' } },
    ],
    now: '2024-01-15T10:30:00',
    ...overrides,
  };
}

describe('buildDex', () => {
  it('produces a well-framed file: CR LF, DXS first, DXE last, valid G85 and SE', () => {
    const text = buildDex(input());
    expect(text.endsWith('DXE*1*1\r\n')).toBe(true);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const f = parseDex(text);
    expect(f.problems).toEqual([]);
    expect(f.g85?.ok).toBe(true);
    expect(f.segmentCount?.ok).toBe(true);
    expect(f.records[0]?.id).toBe('DXS');
    expect(f.records[1]?.id).toBe('ST');
    expect(f.records.slice(-3).map((r) => r.id)).toEqual(['G85', 'SE', 'DXE']);
  });

  it('writes identity, currency and the read date/time', () => {
    const f = parseDex(buildDex(input({ assetNumber: 'ASSET-7' })));
    expect(dexRecord(f, 'DXS')?.fields).toEqual(['VMDEMO0001', 'VA', 'V1/1', '1']);
    expect(dexRecord(f, 'ID1')?.fields).toEqual(['VM-DEMO-0001', 'SPIRAL-48', '', 'LOBBY', '', 'ASSET-7']);
    expect(dexRecord(f, 'ID4')?.fields).toEqual(['2', '1978', 'EUR']);
    expect(dexRecord(f, 'ID5')?.fields).toEqual(['20240115', '103000']);
  });

  it('writes sales, cash and product records from the counters (since init, since reset)', () => {
    const f = parseDex(buildDex(input()));
    // VA1: paid vends cash + card = 150 + 200 + 200.
    expect(dexRecord(f, 'VA1')?.fields).toEqual(['550', '3', '550', '3']);
    expect(dexRecord(f, 'VA2')?.fields).toEqual(['150', '1', '150', '1']);
    expect(dexRecord(f, 'VA3')?.fields).toEqual(['150', '1', '150', '1']);
    expect(dexRecord(f, 'CA2')?.fields).toEqual(['350', '2', '350', '2']);
    // CA3: since reset total, cashbox, tubes, bills; then since init.
    expect(dexRecord(f, 'CA3')?.fields).toEqual(['700', '100', '100', '500', '700', '100', '100', '500']);
    // CA4: dispensed (change), manual (service); since reset then since init.
    expect(dexRecord(f, 'CA4')?.fields).toEqual(['50', '1000', '50', '1000']);
    expect(dexRecord(f, 'CA8')?.fields).toEqual(['300', '300']);
    expect(dexRecord(f, 'DA2')?.fields).toEqual(['200', '1', '200', '1']);
    expect(dexRecords(f, 'PA1').map((r) => r.fields)).toEqual([
      ['A1', '150', 'Cola'],
      ['A2', '200', 'Chips'],
    ]);
    expect(dexRecords(f, 'PA2').map((r) => r.fields)).toEqual([
      ['1', '150', '1', '150'],
      ['2', '400', '2', '400'],
    ]);
  });

  it('writes door, fault and power-outage events and counts', () => {
    const f = parseDex(buildDex(input()));
    expect(dexRecords(f, 'EA1').map((r) => r.fields)).toEqual([
      ['EGS', '20240115', '0912'],
      ['COIN_JAM', '20240115', '0945'],
    ]);
    expect(dexRecords(f, 'EA2').map((r) => r.fields)).toEqual([
      ['DO', '1', '1'],
      ['COIN_JAM', '1', '1'],
    ]);
    expect(dexRecord(f, 'EA3')?.fields).toEqual(['1', '20240115', '1030']);
    expect(dexRecord(f, 'EA7')?.fields).toEqual(['1', '1']);
  });

  it('since reset differs from since init after an audit read', () => {
    const counters = foldCounters(day, resetInterim(foldCounters(day)));
    const f = parseDex(buildDex(input({ counters })));
    expect(dexRecord(f, 'VA1')?.fields).toEqual(['1100', '6', '550', '3']);
    expect(dexRecord(f, 'EA3')?.fields[0]).toBe('2');
    expect(dexRecord(f, 'EA7')?.fields).toEqual(['2', '3']);
  });

  it('keeps the newest EA1 records up to the limit', () => {
    const events = Array.from({ length: 5 }, (_, n) => ({ at: `2024-01-15T0${n}:00:00`, event: { type: 'door', state: 'open' } as const }));
    const f = parseDex(buildDex(input({ events, maxEventRecords: 2 })));
    expect(dexRecords(f, 'EA1').map((r) => r.fields[2])).toEqual(['0300', '0400']);
  });

  it('omits optional records with nothing to say, and adds CA1/CB1 when given', () => {
    const bare = parseDex(buildDex(input({ counters: emptyCounters(), events: [] })));
    expect(dexRecord(bare, 'VA2')).toBeUndefined();
    expect(dexRecord(bare, 'VA3')).toBeUndefined();
    expect(dexRecord(bare, 'DA2')).toBeUndefined();
    expect(dexRecord(bare, 'EA2')).toBeUndefined();
    expect(dexRecord(bare, 'CA1')).toBeUndefined();
    expect(dexRecord(bare, 'VA1')?.fields).toEqual(['0', '0', '0', '0']);
    expect(dexRecords(bare, 'PA2').map((r) => r.fields)).toEqual([
      ['0', '0', '0', '0'],
      ['0', '0', '0', '0'],
    ]);
    const full = parseDex(
      buildDex(input({ coinMech: { serial: 'CM1', model: 'MDB', software: '0101' }, controlBoard: { serial: 'VMC1', software: '0.1.0' } })),
    );
    expect(dexRecord(full, 'CA1')?.fields).toEqual(['CM1', 'MDB', '0101']);
    expect(dexRecord(full, 'CB1')?.fields).toEqual(['VMC1', '', '0.1.0']);
  });

  it('sanitises text: no separators, no line breaks, ASCII only', () => {
    const text = buildDex(
      input({ columns: [{ code: 'A1', price: 150, product: 'Crème *Brûlée*\r\nDXE*1*1' }], location: 'Hall*2', currency: { code: 'XTS', decimals: 3 } }),
    );
    const f = parseDex(text);
    expect(f.problems).toEqual([]);
    expect(dexRecord(f, 'PA1')?.fields).toEqual(['A1', '150', 'Cr?me  Br?l?e   DXE 1 1']);
    expect(dexRecord(f, 'ID1')?.fields[3]).toBe('Hall 2');
    expect(dexRecord(f, 'ID4')?.fields).toEqual(['3', '', 'XTS']);
  });

  it('rejects a bad date/time and non-integer amounts with a clear error', () => {
    expect(() => buildDex(input({ now: 'yesterday' }))).toThrow(/ISO text like 2024-01-15T10:30:00/);
    expect(() => buildDex(input({ columns: [{ code: 'A1', price: 1.5, product: 'x' }] }))).toThrow(/whole numbers/);
  });

  it('dexStamp takes the digits as written (no time-zone shift)', () => {
    expect(dexStamp('2024-02-29T23:59:58Z')).toEqual({ date: '20240229', time: '235958' });
    expect(dexStamp('2024-02-29 07:05')).toEqual({ date: '20240229', time: '070500' });
  });

  it('property: any counters from valid event streams round-trip through parse with valid framing', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const counters = foldCounters(events);
        const f = parseDex(buildDex(input({ counters, events: [] })));
        expect(f.problems).toEqual([]);
        expect(dexNumber(dexRecord(f, 'VA1'), 1)).toBe(counters.historical.paidVends.value);
        expect(dexNumber(dexRecord(f, 'VA1'), 4)).toBe(counters.interim.paidVends.count);
        expect(dexNumber(dexRecord(f, 'CA3'), 5)).toBe(
          counters.historical.coinsToTubes.value + counters.historical.coinsToCashbox.value + counters.historical.bills.value,
        );
      }),
      { seed: 42, numRuns: 100 },
    );
  });
});
