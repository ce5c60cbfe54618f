/**
 * A readable plain-text audit report for the operator (`vendomat audit`): sales by column, cash,
 * cashless, other counters and faults, each "since reset" (interim) beside "total" (historical).
 * Money is formatted through the currency (integer minor units in, text out).
 */
import type { CurrencyFormat } from '../money/currency.ts';
import { formatMoney } from '../money/currency.ts';
import type { CounterSet, Counters, Tally } from './counters.ts';
import { cashIn } from './counters.ts';
import type { Ledger } from './ledger.ts';
import { checkConservation } from './ledger.ts';

export interface ReportColumn {
  readonly code: string;
  readonly product: string;
  readonly price: number;
}

export interface AuditReportInput {
  readonly counters: Counters;
  readonly currency: CurrencyFormat;
  /** Catalogue columns in display order; columns seen only in the counters are added after. */
  readonly columns?: readonly ReportColumn[];
  readonly machine?: string;
  /** When the report was made (text as given; no clock is read). */
  readonly at?: string;
  /** The current ledger: adds credit/debt/escrow now and the conservation check. */
  readonly ledger?: Ledger;
  readonly openFaults?: readonly { readonly code: string; readonly device: string }[];
}

type Cell = string | number;

/** Left-aligns the first `left` columns (labels), right-aligns the rest (numbers). */
function table(rows: readonly (readonly Cell[])[], left = 1, indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i < left ? String(c).padEnd(widths[i] ?? 0) : String(c).padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
  );
}

export function formatAuditReport(input: AuditReportInput): string {
  const { historical: h, interim: i } = input.counters;
  const money = (v: number): string => formatMoney(v, input.currency);
  const tally = (t: Tally): string => `${t.count} × ${money(t.value)}`;
  const out: string[] = [];
  const title = `Vendomat audit${input.machine !== undefined ? ` — ${input.machine}` : ''}`;
  out.push(title, '='.repeat(title.length));
  if (input.at !== undefined) out.push(`Read at ${input.at}`);
  out.push(`Audit reads so far: ${h.auditReads}`, '');

  // Sales by column.
  const known = input.columns ?? [];
  const codes = [...known.map((c) => c.code)];
  for (const code of [...new Set([...Object.keys(h.byColumn), ...Object.keys(i.byColumn)])].sort()) if (!codes.includes(code)) codes.push(code);
  out.push('SALES BY COLUMN (paid vends since reset, then total; test/free/failed total)');
  const rows: Cell[][] = [['col', 'product', 'price', 'vends', 'value', 'total vends', 'total value', 'test', 'free', 'failed']];
  for (const code of codes) {
    const col = known.find((c) => c.code === code);
    const hc = h.byColumn[code];
    const ic = i.byColumn[code];
    rows.push([
      code,
      col?.product ?? '?',
      col !== undefined ? money(col.price) : '',
      ic?.paid.count ?? 0,
      money(ic?.paid.value ?? 0),
      hc?.paid.count ?? 0,
      money(hc?.paid.value ?? 0),
      hc?.test.count ?? 0,
      hc?.free.count ?? 0,
      hc?.failed ?? 0,
    ]);
  }
  rows.push(['total', '', '', i.paidVends.count, money(i.paidVends.value), h.paidVends.count, money(h.paidVends.value), h.testVends.count, h.freeVends.count, h.failedVends]);
  out.push(...table(rows, 2), '');

  const byPrice = Object.keys(h.byPrice)
    .map(Number)
    .sort((a, b) => a - b);
  if (byPrice.length > 0) {
    out.push('SALES BY PRICE (since reset | total)');
    out.push(...table(byPrice.map((p) => [money(p), tally(i.byPrice[String(p)] ?? { count: 0, value: 0 }), tally(h.byPrice[String(p)] ?? { count: 0, value: 0 })])), '');
  }

  const twoWay = (heading: string, lines: readonly [string, (s: CounterSet) => string][]): void => {
    out.push(`${heading} (since reset | total)`);
    out.push(...table(lines.map(([label, f]) => [label, f(i), f(h)])), '');
  };
  twoWay('CASH', [
    ['Cash sales', (s) => tally(s.cashVends)],
    ['Cash in', (s) => money(cashIn(s))],
    ['  coins to tubes', (s) => tally(s.coinsToTubes)],
    ['  coins to cashbox', (s) => tally(s.coinsToCashbox)],
    ['  bills stacked', (s) => tally(s.bills)],
    ['Change paid', (s) => tally(s.changePaid)],
    ['Refunds', (s) => tally(s.refunds)],
    ['Debt payouts', (s) => tally(s.debtPayouts)],
    ['Manual payouts (service)', (s) => tally(s.servicePayouts)],
    ['Tube fills (service)', (s) => tally(s.serviceFills)],
    ['Short payouts', (s) => String(s.shortPayouts)],
    ['Overpay kept', (s) => tally(s.overpay)],
    ['Debts recorded', (s) => tally(s.debtsRecorded)],
    ['Debts paid by hand', (s) => tally(s.debtsPaid)],
    ['Debts written off', (s) => tally(s.debtsWrittenOff)],
    ['Coins rejected', (s) => String(s.coinsRejected)],
    ['Slugs', (s) => String(s.slugs)],
    ['Bills returned', (s) => String(s.billsReturned)],
  ]);
  twoWay('CASHLESS', [
    ['Card sales', (s) => tally(s.cardVends)],
    ['Approved', (s) => tally(s.cardApproved)],
    ['Reverted (failed vends)', (s) => tally(s.cardReverted)],
    ['Denied', (s) => String(s.cardDenied)],
    ['Sessions', (s) => String(s.cardSessions)],
  ]);
  const reasons = [...new Set([...Object.keys(h.failedByReason), ...Object.keys(i.failedByReason)])].sort();
  twoWay('OTHER', [
    ['Test vends', (s) => tally(s.testVends)],
    ['Free vends', (s) => tally(s.freeVends)],
    ['Failed vends', (s) => String(s.failedVends)],
    ...reasons.map((r): [string, (s: CounterSet) => string] => [`  ${r}`, (s) => String(s.failedByReason[r as keyof CounterSet['failedByReason']] ?? 0)]),
    ['Door openings', (s) => String(s.doorOpenings)],
    ['Power outages', (s) => String(s.powerOutages)],
  ]);

  const faultCodes = Object.keys(h.faults).sort();
  out.push('FAULTS (since reset | total)');
  if (faultCodes.length === 0) out.push('  none');
  else out.push(...table(faultCodes.map((c) => [c, i.faults[c] ?? 0, h.faults[c] ?? 0])));
  if (input.openFaults !== undefined) {
    if (input.openFaults.length === 0) out.push('  open now: none');
    else out.push(`  open now: ${input.openFaults.map((f) => `${f.code} (${f.device})`).join(', ')}`);
  }
  out.push('');

  if (input.ledger !== undefined) {
    const l = input.ledger;
    out.push('MONEY NOW');
    out.push(
      ...table([
        ['Credit', money(l.credit)],
        ['Debt owed to customers', money(l.debt)],
        ['Bill in escrow', l.escrow === null ? 'none' : money(l.escrow)],
        ['Card approval open', l.cardOpen === null ? 'none' : `${l.cardOpen.column} ${money(l.cardOpen.amount)}`],
      ]),
    );
    const violations = checkConservation(l);
    if (violations.length === 0) out.push('  Conservation: all invariants hold');
    else out.push('  Conservation: VIOLATED', ...violations.map((v) => `    - ${v}`));
    out.push('');
  }
  return out.join('\n');
}
