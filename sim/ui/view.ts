/**
 * What a frame shows, as plain data: the types the store fills and the layout draws, and the pure
 * builders for the parts read straight off the machine (grid, customer side, links, counters,
 * the physical world).
 */
import type { CounterSet } from '../../src/audit/counters.ts';
import { cashIn } from '../../src/audit/counters.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import type { VmcContext } from '../../src/controller/machine.ts';
import { formatMoney, type CurrencyFormat } from '../../src/money/currency.ts';
import type { Minor } from '../../src/ports/index.ts';
import type { SimCashless } from '../devices/card.ts';
import { formatCounts } from '../session.ts';
import { countsValue, type World } from '../world.ts';

export type PanelId = 'states' | 'links' | 'events' | 'wire' | 'inside' | 'counters';
export const PANEL_ORDER: readonly PanelId[] = ['states', 'links', 'events', 'wire', 'inside', 'counters'];

export type Tone = 'info' | 'ok' | 'warn' | 'error';

export interface LogEntry {
  readonly at: number;
  readonly text: string;
  /** `event`: a controller domain event; `sim`: the simulator (faults); `you`: what the person did. */
  readonly source: 'event' | 'sim' | 'you';
}

export interface PromptChoice {
  readonly label: string;
  readonly value: string;
}

export interface Prompt {
  readonly title: string;
  readonly label: string;
  /** Typed text (text prompts) or the initial text. */
  readonly text: string;
  /** A choice list instead of free text. */
  readonly choices?: readonly PromptChoice[];
  readonly cursor: number;
  readonly error?: string;
  /** Opened from the service menu: closes when the door closes. */
  readonly service?: boolean;
  /** Returns an error text to stay in the prompt; otherwise the prompt closes (or chains to the next). */
  readonly submit: (value: string) => string | undefined;
}

export interface MenuItem {
  readonly label: string;
  /** Why it cannot be used now (shown dimmed, Enter explains). */
  readonly disabled?: string;
  readonly run: () => void;
}

export interface GridCell {
  readonly code: string;
  readonly exists: boolean;
  readonly product: string;
  readonly price: Minor;
  readonly stock: number;
  readonly capacity: number;
  readonly mark: 'ok' | 'failed' | 'jammed';
  readonly enabled: boolean;
  /** Products physically in the spiral (the controller's stock may disagree). */
  readonly spiral: number;
  readonly running: boolean;
}

export type ModeView =
  | { readonly kind: 'normal' | 'keypad' | 'bill' | 'help' | 'counters' }
  | { readonly kind: 'menu'; readonly title: string; readonly items: readonly MenuItem[]; readonly cursor: number; readonly note?: string }
  | { readonly kind: 'prompt'; readonly prompt: Prompt }
  | { readonly kind: 'command'; readonly text: string };

export interface LinkRow {
  readonly device: string;
  readonly status: string;
  readonly faults: readonly string[];
}

/** Everything a frame shows, computed from the machine and the UI state (the layout is pure on this). */
export interface UiView {
  readonly name: string;
  readonly time: number;
  readonly speed: number;
  readonly paused: boolean;
  readonly nextDue: number | undefined;
  readonly door: 'open' | 'closed';
  readonly sales: string;
  readonly motor: string | null;
  readonly display: { readonly lines: readonly string[]; readonly rows: number; readonly cols: number };
  readonly credit: string;
  readonly extras: readonly string[];
  readonly bin: string;
  readonly cup: string;
  readonly card: string;
  readonly currency: { readonly code: string; readonly decimals: number; readonly symbol?: string };
  readonly grid: { readonly rows: number; readonly cols: number; readonly cells: readonly (readonly GridCell[])[] };
  readonly focus: { readonly row: number; readonly col: number };
  readonly entry: string;
  readonly states: readonly string[];
  readonly links: readonly LinkRow[];
  readonly injected: readonly string[];
  readonly log: readonly LogEntry[];
  /** null: the machine runs at the port level (no wire trace). */
  readonly trace: readonly string[] | null;
  readonly counters: readonly string[];
  /** The physical world: tubes, cashbox, stacker, motor, beam, card, money check. */
  readonly inside: readonly string[];
  readonly panels: Readonly<Record<PanelId, boolean>>;
  readonly mode: ModeView;
  readonly message: { readonly text: string; readonly tone: Tone } | null;
  readonly coins: readonly Minor[];
  readonly bills: readonly Minor[];
  readonly hasCommandLine: boolean;
}

/** The customer's side of the front: credit (and what is on its way), bin, cup, card reader. */
export function customerView(
  ctx: VmcContext,
  world: World,
  card: SimCashless | undefined,
  cur: CurrencyFormat,
): Pick<UiView, 'credit' | 'extras' | 'bin' | 'cup' | 'card'> {
  const m = (v: Minor): string => formatMoney(v, cur);
  const extras: string[] = [];
  if (ctx.debt > 0) extras.push(`Debt ${m(ctx.debt)}`);
  if (world.escrow !== null) extras.push(`Escrow ${m(world.escrow)}`);
  const validating = countsValue(world.inFlight.coins) + countsValue(world.inFlight.bills);
  if (validating > 0) extras.push(`validating ${m(validating)}`);

  let cardText = 'no reader';
  if (card) {
    if (ctx.card) cardText = `session${ctx.card.funds !== null ? `, funds ${m(ctx.card.funds)}` : ''}`;
    else cardText = card.isEnabled ? 'reader on: tap with c' : 'reader off';
    if (card.sessionState === 'pending') cardText += ', asking the bank…';
  }

  const falling = world.falling.map((i) => i.product);
  const bin = world.bin.length === 0 ? 'empty' : world.bin.map((i) => `${i.product} (${i.column})`).join(', ');
  return {
    credit: m(ctx.credit),
    extras,
    bin: falling.length > 0 ? `${bin}  (falling: ${falling.join(', ')})` : bin,
    cup: formatCounts(world.cup, cur),
    card: cardText,
  };
}

/** The product grid: the controller's catalog (price, stock, marks) with the physical spiral counts. */
export function gridView(config: MachineConfig, ctx: VmcContext, world: World): UiView['grid'] {
  const rows = config.catalog.rows;
  const cols = config.catalog.columns;
  const cells: GridCell[][] = [];
  for (let r = 0; r < rows; r++) {
    const row: GridCell[] = [];
    for (let c = 0; c < cols; c++) {
      const code = `${String.fromCharCode(65 + r)}${c + 1}`;
      const col = ctx.catalog[code];
      const base = { code, spiral: world.spirals.get(code)?.count ?? 0, running: world.motor.running === code };
      row.push(
        col
          ? { ...base, exists: true, product: col.product, price: col.price, stock: col.stock, capacity: col.capacity, mark: col.mark, enabled: col.enabled }
          : { ...base, exists: false, product: '', price: 0, stock: 0, capacity: 0, mark: 'ok', enabled: false },
      );
    }
    cells.push(row);
  }
  return { rows, cols, cells };
}

/** Each device's link as the controller knows it, with the fault codes it holds open for it. */
export function linkRows(ctx: VmcContext): LinkRow[] {
  return Object.entries(ctx.links).map(([device, status]) => ({
    device,
    status,
    faults: Object.values(ctx.faults)
      .filter((f) => f.device === device)
      .map((f) => f.code),
  }));
}

/** "Read counters": what the controller's context holds, then the audit counters. */
export function counterLines(ctx: VmcContext, set: CounterSet, cur: CurrencyFormat): string[] {
  const m = (v: Minor): string => formatMoney(v, cur);
  let units = 0;
  let capacity = 0;
  for (const c of Object.values(ctx.catalog)) {
    units += c.stock;
    capacity += c.capacity;
  }
  const faults = Object.values(set.faults).reduce((a, b) => a + b, 0);
  return [
    `credit ${m(ctx.credit)}  debt ${m(ctx.debt)}  stock ${units}/${capacity}`,
    `tubes ${formatCounts(ctx.tubes, cur)}`,
    `vends paid ${set.paidVends.count} (${m(set.paidVends.value)})  cash ${set.cashVends.count}  card ${set.cardVends.count}  failed ${set.failedVends}`,
    `cash in ${m(cashIn(set))}: tubes ${m(set.coinsToTubes.value)} cashbox ${m(set.coinsToCashbox.value)} bills ${m(set.bills.value)}`,
    `paid out: change ${m(set.changePaid.value)}  refunds ${m(set.refunds.value)}  short payouts ${set.shortPayouts}`,
    `debts recorded ${m(set.debtsRecorded.value)}  card sessions ${set.cardSessions}  denied ${set.cardDenied}`,
    `door openings ${set.doorOpenings}  faults ${faults}`,
  ];
}

/** The physical world, which the controller can only infer: where the money and the products are. */
export function insideLines(world: World, cur: CurrencyFormat): string[] {
  const m = (v: Minor): string => formatMoney(v, cur);
  const w = world.snapshot();
  const balanced = w.money.machineCash === w.money.expectedMachineCash && w.money.totalMoney === w.money.expectedTotalMoney;
  const away = w.motor.awayFromHome.length > 0 ? ` (away from home: ${w.motor.awayFromHome.join(' ')})` : '';
  const stuck = [
    ...(countsValue(w.stuck.coins) > 0 ? [`coins ${formatCounts(w.stuck.coins, cur)}`] : []),
    ...(countsValue(w.stuck.bills) > 0 ? [`bills ${formatCounts(w.stuck.bills, cur)}`] : []),
  ];
  return [
    `tubes   ${formatCounts(w.tubes, cur)}`,
    `cashbox ${m(countsValue(w.cashbox))}  stacker ${m(countsValue(w.stacker))}  escrow ${w.escrow === null ? '-' : m(w.escrow)}`,
    `motor   ${w.motor.running ? `${w.motor.running} on` : 'off'}${away}  beam ${w.beam ? 'BROKEN' : 'clear'}`,
    `card    ${w.card.present ? 'on the reader' : 'none'}, balance ${m(w.card.balance)}, charged ${m(w.card.charged)}`,
    `stuck   ${stuck.join('  ') || 'nothing'}`,
    `money   in machine ${m(w.money.machineCash)} (expected ${m(w.money.expectedMachineCash)}) ${balanced ? 'balanced' : 'MISMATCH'}`,
  ];
}
