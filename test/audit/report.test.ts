import { describe, expect, it } from 'vitest';
import { foldCounters, resetInterim } from '../../src/audit/counters.ts';
import { emptyLedger, foldLedger } from '../../src/audit/ledger.ts';
import { formatAuditReport } from '../../src/audit/report.ts';
import type { MachineEvent } from '../../src/controller/events.ts';

const EUR = { code: 'EUR', decimals: 2, symbol: '€' };

const events: MachineEvent[] = [
  { type: 'coinInserted', value: 200, routing: 'tube' },
  { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'cash' },
  { type: 'payoutDone', amount: 50, paid: { 20: 2 }, paidValue: 40, reason: 'change' },
  { type: 'debtRecorded', amount: 10, total: 10 },
  { type: 'billEscrowed', value: 500 },
  { type: 'billStacked', value: 500 },
  { type: 'vendFailed', column: 'B2', price: 250, payment: 'cash', reason: 'jam' },
  { type: 'payoutDone', amount: 500, paid: { 100: 5 }, paidValue: 500, reason: 'refund' },
  { type: 'cardVendApproved', column: 'B2', amount: 250 },
  { type: 'vendSucceeded', column: 'B2', price: 250, payment: 'card' },
  { type: 'cardVendDenied', column: 'A1', reason: 'denied' },
  { type: 'overpayKept', amount: 0, why: 'noChange' },
  { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'test' },
  { type: 'door', state: 'open' },
  { type: 'faultRaised', code: 'MOTOR_FAULT', device: 'motors' },
  { type: 'faultRaised', code: 'MOTOR_FAULT', device: 'motors' },
  { type: 'serviceAction', action: 'powerUp' },
  { type: 'serviceAction', action: 'powerUp' },
];

const columns = [
  { code: 'A1', product: 'Crisps', price: 150 },
  { code: 'B2', product: 'Protein Bar', price: 250 },
  { code: 'C3', product: 'Mints', price: 80 },
];

function line(text: string, label: string): string {
  const found = text.split('\n').find((l) => l.trimStart().startsWith(label));
  if (found === undefined) throw new Error(`no line starting with ${label}:\n${text}`);
  return found;
}

describe('formatAuditReport', () => {
  const text = formatAuditReport({
    counters: foldCounters(events),
    currency: EUR,
    columns,
    machine: 'VM-DEMO-0001',
    at: '2024-01-15 10:30',
    ledger: foldLedger(events),
    openFaults: [{ code: 'MOTOR_FAULT', device: 'motors' }],
  });

  it('has a title, the read time and every section', () => {
    expect(text).toMatch(/^Vendomat audit — VM-DEMO-0001\n=+\nRead at 2024-01-15 10:30/);
    for (const h of ['SALES BY COLUMN', 'SALES BY PRICE', 'CASH', 'CASHLESS', 'OTHER', 'FAULTS', 'MONEY NOW']) expect(text).toContain(h);
  });

  it('shows sales by column with product, price, vends and value', () => {
    expect(line(text, 'A1')).toMatch(/A1\s+Crisps\s+€1\.50\s+1\s+€1\.50\s+1\s+€1\.50\s+1\s+0\s+0/);
    expect(line(text, 'B2')).toMatch(/B2\s+Protein Bar\s+€2\.50\s+1\s+€2\.50\s+1\s+€2\.50\s+0\s+0\s+1/);
    // A catalogue column with no sales still appears, at zero.
    expect(line(text, 'C3')).toMatch(/C3\s+Mints\s+€0\.80\s+0\s+€0\.00/);
    expect(line(text, 'total')).toMatch(/total\s+2\s+€4\.00\s+2\s+€4\.00\s+1\s+0\s+1/);
  });

  it('summarises cash: in by route, change, refunds, debts, short payouts', () => {
    expect(line(text, 'Cash in')).toMatch(/€7\.00\s+€7\.00$/);
    expect(line(text, 'coins to tubes')).toMatch(/1 × €2\.00/);
    expect(line(text, 'bills stacked')).toMatch(/1 × €5\.00/);
    expect(line(text, 'Change paid')).toMatch(/1 × €0\.40/);
    expect(line(text, 'Refunds')).toMatch(/1 × €5\.00/);
    expect(line(text, 'Debts recorded')).toMatch(/1 × €0\.10/);
    expect(line(text, 'Short payouts')).toMatch(/1\s+1$/);
  });

  it('summarises cashless, other counters and faults', () => {
    expect(line(text, 'Card sales')).toMatch(/1 × €2\.50/);
    expect(line(text, 'Denied')).toMatch(/1\s+1$/);
    expect(line(text, 'Test vends')).toMatch(/1 × €1\.50/);
    expect(line(text, 'jam')).toMatch(/1\s+1$/);
    expect(line(text, 'Door openings')).toMatch(/1\s+1$/);
    expect(line(text, 'Power outages')).toMatch(/1\s+1$/);
    expect(line(text, 'MOTOR_FAULT')).toMatch(/2\s+2$/);
    expect(text).toContain('open now: MOTOR_FAULT (motors)');
  });

  it('shows money held now and that conservation holds', () => {
    expect(line(text, 'Debt owed')).toMatch(/€0\.10/);
    expect(line(text, 'Credit')).toMatch(/€0\.00/);
    expect(text).toContain('Conservation: all invariants hold');
  });

  it('shows since-reset beside total after an audit read', () => {
    const after = formatAuditReport({ counters: foldCounters(events.slice(0, 2), resetInterim(foldCounters(events))), currency: EUR, columns });
    expect(line(after, 'A1')).toMatch(/A1\s+Crisps\s+€1\.50\s+1\s+€1\.50\s+2\s+€3\.00/);
    expect(after).toContain('Audit reads so far: 1');
    expect(after).not.toContain('MONEY NOW');
  });

  it('lists violations when the ledger does not balance, and columns only seen in counters', () => {
    const bad = formatAuditReport({
      counters: foldCounters([{ type: 'vendSucceeded', column: 'Z9', price: 100, payment: 'cash' }]),
      currency: EUR,
      ledger: { ...emptyLedger(), credit: 5 },
    });
    expect(bad).toContain('Conservation: VIOLATED');
    expect(bad).toMatch(/- cash conservation: inserted 0/);
    expect(line(bad, 'Z9')).toMatch(/Z9\s+\?/);
    expect(bad).toMatch(/FAULTS \(since reset \| total\)\n {2}none/);
  });
});
