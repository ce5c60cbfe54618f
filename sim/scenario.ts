/**
 * Scenario files: a named list of steps run against a fresh simulator session. A step is a
 * command line (the same commands as the line mode, see session.ts) or an `expect` with checks on
 * what a customer and an operator can see. The format is documented in docs/scenarios.md.
 *
 * Validation happens in two passes, both before anything runs, and every problem names the step
 * index and field: the structure (zod), then the values that need the machine's config (money in
 * the machine's currency, columns and coins that exist).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, type ScalarTag, type Tags } from 'yaml';
import { z } from 'zod';
import { ConfigError, formatIssuePath, parseConfig } from '../src/config/load.ts';
import { COLUMN_CODE, type MachineConfig } from '../src/config/schema.ts';
import type { Logger, TimedEvent } from '../src/controller/controller.ts';
import type { PersistedSim } from './persist.ts';
import type { MachineEventType } from '../src/controller/events.ts';
import { availability } from '../src/catalog/catalog.ts';
import { formatMoney, parseMoney, type CurrencyFormat } from '../src/money/currency.ts';
import type { CoinCounts, Minor } from '../src/ports/index.ts';
import { cashIn } from '../src/audit/counters.ts';
import { VirtualClock } from './clock.ts';
import { countsValue } from './world.ts';
import { validateFaultSpec } from './faults.ts';
import {
  type Command,
  SimSession,
  type SimSessionOptions,
  demoConfigPath,
  demoConfigRaw,
  describeEvent,
  displayBox,
  formatCounts,
  formatTime,
  MAX_MONEY,
  parseCommand,
  parseDuration,
} from './session.ts';

// ------------------------------------------------------------------ errors

/** A scenario that cannot run: `problems` has one line per problem, each naming its step and field. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    /** `read`: the file could not be read; `invalid`: its content is wrong. */
    readonly kind: 'read' | 'invalid' = 'invalid',
  ) {
    super(problems.length === 1 ? `${source}: ${problems[0] ?? ''}` : `invalid scenario ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

// ------------------------------------------------------------------ schema

/** Every domain event type, so a typo in `events:` is caught when the file is read. */
const EVENT_TYPES_RECORD: Record<MachineEventType, true> = {
  coinInserted: true,
  coinRejected: true,
  slugs: true,
  billEscrowed: true,
  billStacked: true,
  billReturned: true,
  cardSessionBegan: true,
  cardVendApproved: true,
  cardVendDenied: true,
  cardSessionEnded: true,
  vendStarted: true,
  vendSucceeded: true,
  vendFailed: true,
  columnMarked: true,
  payoutPlanned: true,
  payoutDone: true,
  debtRecorded: true,
  debtSettled: true,
  overpayKept: true,
  tubesRead: true,
  tubeFilled: true,
  door: true,
  faultRaised: true,
  faultCleared: true,
  priceChanged: true,
  stockChanged: true,
  serviceAction: true,
};
export const EVENT_TYPES = Object.keys(EVENT_TYPES_RECORD) as MachineEventType[];

export const SALES_STATES = ['idle', 'session', 'creditExpired', 'authorising', 'vending', 'afterVend', 'paying', 'service', 'outOfService'] as const;

const columnCode = z.string().regex(COLUMN_CODE, 'must be a column code such as A1');
const denomination = z.string().regex(/^\d+$/, 'must be a denomination in minor units, e.g. "50"');
/** Minor units (120) or money text ("1.20", "€1.20"), read in the machine's currency. */
const moneyValue = z.union([z.number().int('must be a whole number of minor units').nonnegative(), z.string().min(1)]);
const eventType = z.string().refine((s) => (EVENT_TYPES as string[]).includes(s), {
  message: `must be a domain event type (${EVENT_TYPES.join(', ')})`,
});
const textList = z.union([z.string(), z.array(z.string())]);
/** Total value, `empty`, or exact counts `{ "50": 1 }`. */
const moneyPlace = z.union([moneyValue, z.literal('empty'), z.record(denomination, z.number().int().nonnegative())]);
/** In the return cup a slug is counted by its value: `"slug 30": 1`. */
const cupKey = z.string().regex(/^(\d+|slug \d+)$/, 'must be a coin in minor units ("50") or a slug by value ("slug 30")');

const expectSchema = z
  .object({
    /** Exact lines (a list), or `{ contains: text | [texts] }`; a bare string means contains. */
    display: z.union([z.array(z.string()), z.string(), z.strictObject({ contains: textList })]).optional(),
    credit: moneyValue.optional(),
    debt: moneyValue.optional(),
    /** Number of items, `empty`, or the items in order (product names or column codes). */
    bin: z.union([z.number().int().nonnegative(), z.literal('empty'), z.array(z.string())]).optional(),
    /** Total value, `empty`, or exact coin counts `{ "50": 1 }`. */
    cup: z.union([moneyValue, z.literal('empty'), z.record(cupKey, z.number().int().nonnegative())]).optional(),
    /** Physical money: coins in the cashbox, bills in the stacker, coins in the tubes (value, `empty` or counts). */
    cashbox: moneyPlace.optional(),
    stacker: moneyPlace.optional(),
    tubesHeld: moneyPlace.optional(),
    /** Bills the validator handed back to the customer since the start (value, `empty` or counts). */
    billsBack: moneyPlace.optional(),
    /** What the card reader's host charged and refunded (reverted) over the run. */
    card: z.strictObject({ charged: moneyValue.optional(), refunded: moneyValue.optional() }).optional(),
    /** Relations between amounts, e.g. `cup + debt = 0.80` (see docs/scenarios.md). */
    relations: textList.optional(),
    stock: z.record(columnCode, z.number().int().nonnegative()).optional(),
    column: z.record(columnCode, z.enum(['ok', 'failed', 'jammed', 'soldOut', 'available', 'disabled'])).optional(),
    /** `none`, codes that must be open, or `{ present, absent }`. */
    faults: z
      .union([z.literal('none'), z.array(z.string()), z.strictObject({ present: z.array(z.string()).optional(), absent: z.array(z.string()).optional() })])
      .optional(),
    /** A sales state (idle, session, ...) or an active state path such as `sales.session.waiting`. */
    state: z.string().min(1).optional(),
    /** Event types that occurred since the previous expect, or `{ include, exclude }`. */
    events: z.union([z.array(eventType), z.strictObject({ include: z.array(eventType).optional(), exclude: z.array(eventType).optional() })]).optional(),
    /** Tube levels as the controller knows them, for the listed denominations. */
    tubes: z.record(denomination, z.number().int().nonnegative()).optional(),
  })
  .strict();

export type Expectation = z.infer<typeof expectSchema>;
export type ScenarioStep = string | { readonly expect: Expectation };

const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** A config file (relative to the scenario file), or overrides deep-merged onto the demo machine (`extends: file` picks another base). */
    config: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
    seed: z.number().int().optional(),
    /** When set, the test runner skips this scenario; the text says why (e.g. a known controller bug). */
    skip: z.string().min(1).optional(),
    /** `wire`: the scenario has wire faults and runs only on the wire-level machine (`--wire`); elsewhere it is skipped. */
    needs: z.literal('wire').optional(),
    /** How long a command may run the machine to reach rest (default 30s), e.g. `2s` to see settling give up. */
    settleLimit: z.string().min(1).optional(),
    steps: z.array(z.unknown()).min(1, 'a scenario needs at least one step'),
  })
  .strict();

export interface Scenario {
  readonly name: string;
  readonly description?: string;
  readonly config?: string | Readonly<Record<string, unknown>>;
  readonly seed?: number;
  readonly skip?: string;
  readonly needs?: 'wire';
  /** Settle limit in virtual ms. */
  readonly settleLimitMs?: number;
  readonly steps: readonly ScenarioStep[];
  /** The file it came from (absolute), to resolve relative config paths. */
  readonly file?: string;
}

function issues(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  return error.issues.map((i) => `${formatIssuePath([...prefix, ...i.path])}: ${i.message}`);
}

/** Validates a parsed scenario object. Throws ScenarioError listing every structural problem. */
export function parseScenario(raw: unknown, source = '(inline)', file?: string): Scenario {
  const top = scenarioSchema.safeParse(raw);
  if (!top.success) throw new ScenarioError(source, issues(top.error));
  const problems: string[] = [];
  const steps: ScenarioStep[] = [];
  top.data.steps.forEach((step, i) => {
    const where = `steps[${i}]`;
    if (typeof step === 'string') {
      const parsed = parseCommand(step);
      if (!parsed.ok) problems.push(`${where}: ${parsed.error}`);
      else {
        const inner = parsed.command.kind === 'timed' ? parsed.command.command : parsed.command;
        if (inner.kind === 'wire' && top.data.needs !== 'wire')
          problems.push(`${where}: '${step.trim()}': wire faults need the wire-level machine; add \`needs: wire\` to the scenario and run it with --wire`);
      }
      steps.push(step);
      return;
    }
    if (step !== null && typeof step === 'object' && !Array.isArray(step) && 'expect' in step) {
      const keys = Object.keys(step).filter((k) => k !== 'expect');
      if (keys.length > 0) problems.push(`${where}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')} next to 'expect'`);
      const e = expectSchema.safeParse((step as { expect: unknown }).expect);
      if (!e.success) problems.push(...issues(e.error, ['steps', i, 'expect']));
      else if (Object.keys(e.data).length === 0) problems.push(`${where}.expect: no checks given`);
      else steps.push({ expect: e.data });
      return;
    }
    problems.push(`${where}: expected a command (text such as "coin 50") or { expect: {...} }, got ${JSON.stringify(step)}`);
  });
  let settleLimitMs: number | undefined;
  if (top.data.settleLimit !== undefined) {
    try {
      settleLimitMs = parseDuration(top.data.settleLimit);
      if (settleLimitMs < 1) problems.push('settleLimit: must be more than 0');
    } catch (e) {
      problems.push(`settleLimit: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ScenarioError(source, problems);
  const d = top.data;
  return {
    name: d.name,
    ...(d.description !== undefined ? { description: d.description } : {}),
    ...(d.config !== undefined ? { config: d.config } : {}),
    ...(d.seed !== undefined ? { seed: d.seed } : {}),
    ...(d.skip !== undefined ? { skip: d.skip } : {}),
    ...(d.needs !== undefined ? { needs: d.needs } : {}),
    ...(settleLimitMs !== undefined ? { settleLimitMs } : {}),
    steps,
    ...(file !== undefined ? { file } : {}),
  };
}

/**
 * YAML reads `1.20` as the float 1.2 and `2.00` as the integer 2 (two cents!). Decimal scalars are
 * therefore kept as their source text, which parseMoney reads as major units ("2.00" → 200); whole
 * numbers stay minor units. Money never passes through a float.
 */
function decimalsAsText(tags: Tags): Tags {
  return tags.map((t) =>
    typeof t === 'object' && t.tag === 'tag:yaml.org,2002:float' && 'resolve' in t && typeof t.resolve === 'function'
      ? ({ ...t, resolve: (str: string) => str } as ScalarTag)
      : t,
  );
}

/** Parses scenario YAML with decimals kept as text (see decimalsAsText). */
export function parseScenarioYaml(text: string): unknown {
  return parseYaml(text, { customTags: (tags) => [...decimalsAsText(tags), REMOVE_TAG] });
}

/** `key: !remove` in a config override: take the key out of the base config. */
const REMOVE_TAG: ScalarTag = { tag: '!remove', resolve: () => REMOVE };

export function parseScenarioText(text: string, source = '(inline)', file?: string): Scenario {
  let raw: unknown;
  try {
    raw = parseScenarioYaml(text);
  } catch (e) {
    throw new ScenarioError(source, [`not valid YAML: ${(e as Error).message}`]);
  }
  return parseScenario(raw, source, file);
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ScenarioError(path, [code === 'ENOENT' ? 'no such file' : `cannot read file: ${(e as Error).message}`], 'read');
  }
  return parseScenarioText(text, path, resolve(path));
}

// ------------------------------------------------------------------ config

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Deep merge of config overrides: objects merge key by key, anything else replaces, and the value
 * `$remove` (YAML `!remove`) deletes the key. One exception keeps overrides short: an object given
 * for `catalog.slots` (a list of columns) is keyed by column code and merges into the matching
 * column (`slots: { A1: { stock: 0 } }`, or `A1: !remove` to take the column out); unknown codes
 * are added.
 */
export function mergeConfig(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (isPlainObject(base) && isPlainObject(override)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(override)) {
      if (v === REMOVE) delete out[k];
      else out[k] = mergeConfig(base[k], v);
    }
    return out;
  }
  if (Array.isArray(base) && isPlainObject(override) && base.every((x) => isPlainObject(x) && typeof x.code === 'string')) {
    const rows = base as Record<string, unknown>[];
    const merged: unknown[] = [];
    for (const row of rows) {
      const code = String(row.code);
      if (!(code in override)) merged.push(row);
      else if (override[code] !== REMOVE) merged.push(mergeConfig(row, override[code]));
    }
    const known = new Set(rows.map((r) => String(r.code)));
    for (const [code, v] of Object.entries(override)) if (!known.has(code) && v !== REMOVE) merged.push(isPlainObject(v) ? { code, ...v } : v);
    return merged;
  }
  return override;
}

/** An override value that removes its key from the base config (YAML `!remove`, or the text `$remove`). */
export const REMOVE = '$remove';


function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [`cannot read file: ${(e as Error).message}`]);
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw new ConfigError(path, [`not valid YAML: ${(e as Error).message}`]);
  }
}

export interface RunScenarioOptions {
  /** Base machine config file; wins over a config file named in the scenario. Overrides still apply. */
  readonly configPath?: string;
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  readonly logger?: Logger;
  readonly settleLimitMs?: number;
  /** A fresh virtual clock for the session (e.g. one the logger reads for virtual timestamps). */
  readonly clock?: VirtualClock;
  /** Run at the wire level: real adapters against emulators. */
  readonly wire?: boolean;
  /**
   * Journal directory (`--data`): the run is journaled there and a `restart` recovers from it; a
   * later run on it continues. Without it, a scenario with a `restart` step uses a temporary
   * directory, removed at the end.
   */
  readonly dataDir?: string;
}

/** The machine config a scenario runs on. Throws ConfigError naming every bad field. */
export function scenarioConfig(s: Scenario, opts: RunScenarioOptions = {}): { config: MachineConfig; source: string } {
  const baseDir = s.file ? dirname(s.file) : process.cwd();
  let basePath = demoConfigPath();
  let overrides: Record<string, unknown> | undefined;
  if (typeof s.config === 'string') basePath = resolve(baseDir, s.config);
  else if (s.config) {
    const { extends: ext, ...rest } = s.config;
    if (ext !== undefined) {
      if (typeof ext !== 'string') throw new ConfigError(s.file ?? s.name, ['config.extends: must be a path to a config file']);
      basePath = resolve(baseDir, ext);
    }
    overrides = rest;
  }
  if (opts.configPath !== undefined) basePath = resolve(opts.configPath);
  const raw = basePath === demoConfigPath() ? demoConfigRaw() : readYamlFile(basePath);
  const source = overrides ? `${basePath} + overrides in ${s.file ?? s.name}` : basePath;
  let merged = mergeConfig(raw, overrides);
  if (opts.seed !== undefined) merged = mergeConfig(merged, { sim: { seed: opts.seed } });
  else if (s.seed !== undefined) merged = mergeConfig(merged, { sim: { seed: s.seed } });
  return { config: parseConfig(merged, source), source };
}

// ------------------------------------------------------------------ expectations against a machine

interface Compiled {
  readonly display?: { readonly exact: readonly string[] } | { readonly contains: readonly string[] };
  readonly credit?: Minor;
  readonly debt?: Minor;
  readonly bin?: number | readonly string[];
  readonly cup?: Minor | CoinCounts;
  readonly stock?: Readonly<Record<string, number>>;
  readonly column?: Readonly<Record<string, string>>;
  readonly faults?: { readonly present: readonly string[]; readonly absent: readonly string[]; readonly none: boolean };
  readonly state?: string;
  readonly events?: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  readonly tubes?: CoinCounts;
  readonly places?: Readonly<Partial<Record<MoneyPlace, Minor | CoinCounts>>>;
  readonly card?: { readonly charged?: Minor; readonly refunded?: Minor };
  readonly relations?: readonly Relation[];
}

/** Physical places money can be checked in, besides the cup. */
const MONEY_PLACES = ['cashbox', 'stacker', 'tubesHeld', 'billsBack'] as const;
type MoneyPlace = (typeof MONEY_PLACES)[number];

function counts(record: Readonly<Record<string, number>>): CoinCounts {
  const out: Record<number, number> = {};
  for (const [k, n] of Object.entries(record)) {
    const d = Number(k.startsWith('slug ') ? k.slice(5) : k);
    out[d] = (out[d] ?? 0) + n;
  }
  return out;
}

// ------------------------------------------------------------------ relations

/**
 * Amounts a relation can name (all in minor units). Physical: cup, cashbox, stacker, tubes,
 * billsBack, charged, refunded. The controller: credit, debt, tubesKnown. The audit counters
 * (all sessions on the journal): cashIn, sales, cashSales, cardSales, change, refunds, debtPaid,
 * overpay.
 */
export const RELATION_NAMES = [
  'credit', 'debt', 'cup', 'cashbox', 'stacker', 'tubes', 'tubesKnown', 'billsBack', 'charged', 'refunded',
  'cashIn', 'sales', 'cashSales', 'cardSales', 'change', 'refunds', 'debtPaid', 'overpay',
] as const;
export type RelationName = (typeof RELATION_NAMES)[number];
type Term = { readonly sign: 1 | -1 } & ({ readonly name: RelationName } | { readonly amount: Minor });
export interface Relation {
  readonly text: string;
  readonly left: readonly Term[];
  readonly op: '=' | '!=' | '<' | '<=' | '>' | '>=';
  readonly right: readonly Term[];
}

/**
 * Reads `cup + debt = 0.80`: two sums of names and amounts (money text in the machine's
 * currency, or whole minor units) around one of = != < <= > >=. Throws an Error naming the bad part.
 */
export function parseRelation(text: string, currency: MachineConfig['currency']): Relation {
  const m = /^(.*?)(<=|>=|!=|=|<|>)(.*)$/.exec(text);
  if (!m) throw new Error(`'${text}' has no comparison (=, !=, <, <=, >, >=)`);
  const sum = (part: string, side: string): Term[] => {
    const tokens = part.trim().split(/\s*([+-])\s*/).filter((t) => t !== '');
    if (tokens.length === 0) throw new Error(`'${text}': nothing on the ${side} of '${m[2] ?? ''}'`);
    const terms: Term[] = [];
    let sign: 1 | -1 = 1;
    let expectOperand = true;
    for (const t of tokens) {
      if (t === '+' || t === '-') {
        if (expectOperand) throw new Error(`'${text}': '${t}' where an amount or a name was expected`);
        sign = t === '+' ? 1 : -1;
        expectOperand = true;
        continue;
      }
      if (!expectOperand) throw new Error(`'${text}': '${t}' needs a + or - before it`);
      if ((RELATION_NAMES as readonly string[]).includes(t)) terms.push({ sign, name: t as RelationName });
      else {
        let amount: Minor;
        try {
          amount = /^\d+$/.test(t) ? Number(t) : parseMoney(t, currency);
        } catch {
          throw new Error(`'${text}': '${t}' is neither an amount nor a known name (${RELATION_NAMES.join(', ')})`);
        }
        if (!Number.isSafeInteger(amount) || amount > MAX_MONEY) throw new Error(`'${text}': '${t}' is more than ${MAX_MONEY} minor units`);
        terms.push({ sign, amount });
      }
      expectOperand = false;
    }
    if (expectOperand) throw new Error(`'${text}': ends in an operator on the ${side}`);
    return terms;
  };
  const op = m[2] as Relation['op'];
  return { text, left: sum(m[1] ?? '', 'left'), op, right: sum(m[3] ?? '', 'right') };
}

function relationAmounts(session: SimSession): Record<RelationName, Minor> {
  const v = session.view();
  const w = session.sim.world;
  const h = session.counters().historical;
  return {
    credit: v.credit,
    debt: v.debt,
    cup: countsValue(w.cup),
    cashbox: countsValue(w.cashbox),
    stacker: countsValue(w.stacker),
    tubes: countsValue(w.tubes),
    tubesKnown: countsValue(v.tubes),
    billsBack: countsValue(w.handedBack),
    charged: w.card.charged,
    refunded: w.card.reverted,
    cashIn: cashIn(h),
    sales: h.paidVends.value,
    cashSales: h.cashVends.value,
    cardSales: h.cardVends.value,
    change: h.changePaid.value,
    refunds: h.refunds.value,
    debtPaid: h.debtPayouts.value,
    overpay: h.overpay.value,
  };
}

function evaluateRelation(r: Relation, amounts: Readonly<Record<RelationName, Minor>>): { ok: boolean; left: Minor; right: Minor } {
  const total = (terms: readonly Term[]): Minor => terms.reduce((s, t) => s + t.sign * ('name' in t ? amounts[t.name] : t.amount), 0);
  const left = total(r.left);
  const right = total(r.right);
  const ok = { '=': left === right, '!=': left !== right, '<': left < right, '<=': left <= right, '>': left > right, '>=': left >= right }[r.op];
  return { ok, left, right };
}

function describeTerms(terms: readonly Term[], amounts: Readonly<Record<RelationName, Minor>>, cur: CurrencyFormat): string {
  return terms
    .map((t, i) => `${i === 0 ? (t.sign < 0 ? '-' : '') : t.sign < 0 ? ' - ' : ' + '}${'name' in t ? `${t.name} ${formatMoney(amounts[t.name], cur)}` : formatMoney(t.amount, cur)}`)
    .join('');
}

/** Reads money and checks columns/coins against the config; pushes problems instead of throwing. */
function compile(e: Expectation, config: MachineConfig, where: string, problems: string[]): Compiled {
  const cur = config.currency;
  const columns = new Set(config.catalog.slots.map((s) => s.code));
  const money = (v: number | string, field: string): Minor => {
    if (typeof v === 'number') return v;
    try {
      return parseMoney(v, cur);
    } catch (err) {
      problems.push(`${where}.${field}: ${(err as Error).message}`);
      return 0;
    }
  };
  const checkColumns = (rec: Readonly<Record<string, unknown>> | undefined, field: string): void => {
    for (const c of Object.keys(rec ?? {})) if (!columns.has(c)) problems.push(`${where}.${field}.${c}: this machine has no column ${c}`);
  };
  const checkCoins = (rec: Readonly<Record<string, unknown>> | undefined, field: string): void => {
    for (const d of Object.keys(rec ?? {}))
      if (!cur.coins.includes(Number(d))) problems.push(`${where}.${field}.${d}: not a coin of ${cur.code} (${cur.coins.join(', ')})`);
  };
  checkColumns(e.stock, 'stock');
  checkColumns(e.column, 'column');
  checkCoins(e.tubes, 'tubes');
  const places: Partial<Record<MoneyPlace, Minor | CoinCounts>> = {};
  for (const place of MONEY_PLACES) {
    const want = e[place];
    if (want === undefined) continue;
    if (want === 'empty') places[place] = 0;
    else if (typeof want === 'number' || typeof want === 'string') places[place] = money(want, place);
    else {
      const kinds = place === 'stacker' || place === 'billsBack' ? cur.bills : cur.coins;
      for (const d of Object.keys(want))
        if (!kinds.includes(Number(d))) problems.push(`${where}.${place}.${d}: not a ${kinds === cur.bills ? 'bill' : 'coin'} of ${cur.code} (${kinds.join(', ')})`);
      places[place] = counts(want);
    }
  }
  let card: Compiled['card'];
  if (e.card) {
    card = {
      ...(e.card.charged !== undefined ? { charged: money(e.card.charged, 'card.charged') } : {}),
      ...(e.card.refunded !== undefined ? { refunded: money(e.card.refunded, 'card.refunded') } : {}),
    };
  }
  const relations: Relation[] = [];
  for (const [i, text] of (typeof e.relations === 'string' ? [e.relations] : (e.relations ?? [])).entries()) {
    try {
      relations.push(parseRelation(text, cur));
    } catch (err) {
      problems.push(`${where}.relations[${i}]: ${(err as Error).message}`);
    }
  }
  let display: Compiled['display'];
  if (Array.isArray(e.display)) display = { exact: e.display };
  else if (typeof e.display === 'string') display = { contains: [e.display] };
  else if (e.display) display = { contains: typeof e.display.contains === 'string' ? [e.display.contains] : e.display.contains };
  let cup: Compiled['cup'];
  if (e.cup === 'empty') cup = 0;
  else if (typeof e.cup === 'number' || typeof e.cup === 'string') cup = money(e.cup, 'cup');
  else if (e.cup) {
    const coinsOnly = Object.fromEntries(Object.entries(e.cup).filter(([k]) => !k.startsWith('slug ')));
    checkCoins(coinsOnly, 'cup');
    for (const k of Object.keys(e.cup))
      if (k.startsWith('slug ') && cur.coins.includes(Number(k.slice(5)))) problems.push(`${where}.cup.${k}: ${k.slice(5)} is a coin of ${cur.code}, not a slug (write "${k.slice(5)}")`);
    cup = counts(e.cup);
  }
  let faults: Compiled['faults'];
  if (e.faults === 'none') faults = { present: [], absent: [], none: true };
  else if (Array.isArray(e.faults)) faults = { present: e.faults, absent: [], none: false };
  else if (e.faults) faults = { present: e.faults.present ?? [], absent: e.faults.absent ?? [], none: false };
  if (e.state !== undefined && !e.state.includes('.') && !(SALES_STATES as readonly string[]).includes(e.state))
    problems.push(`${where}.state: '${e.state}' is not a sales state (${SALES_STATES.join(', ')}) or a state path such as sales.session.waiting`);
  let events: Compiled['events'];
  if (Array.isArray(e.events)) events = { include: e.events, exclude: [] };
  else if (e.events) events = { include: e.events.include ?? [], exclude: e.events.exclude ?? [] };
  return {
    ...(display ? { display } : {}),
    ...(e.credit !== undefined ? { credit: money(e.credit, 'credit') } : {}),
    ...(e.debt !== undefined ? { debt: money(e.debt, 'debt') } : {}),
    ...(e.bin !== undefined ? { bin: e.bin === 'empty' ? 0 : e.bin } : {}),
    ...(cup !== undefined ? { cup } : {}),
    ...(e.stock ? { stock: e.stock } : {}),
    ...(e.column ? { column: e.column } : {}),
    ...(faults ? { faults } : {}),
    ...(e.state !== undefined ? { state: e.state } : {}),
    ...(events ? { events } : {}),
    ...(e.tubes ? { tubes: counts(e.tubes) } : {}),
    ...(Object.keys(places).length > 0 ? { places } : {}),
    ...(card ? { card } : {}),
    ...(relations.length > 0 ? { relations } : {}),
  };
}

/** Checks commands that need the machine: money in its currency, faults naming its coins and columns. */
function checkCommand(line: string, config: MachineConfig, where: string, problems: string[]): void {
  const parsed = parseCommand(line);
  if (parsed.ok) checkParsed(parsed.command, config, where, problems);
}

function checkParsed(c: Command, config: MachineConfig, where: string, problems: string[]): void {
  if (c.kind === 'timed') {
    checkParsed(c.command, config, where, problems);
    return;
  }
  const value = c.kind === 'coin' || c.kind === 'bill' ? c.value : c.kind === 'card' ? c.balance : undefined;
  if (value !== undefined) {
    try {
      parseMoney(value, config.currency);
    } catch (e) {
      problems.push(`${where}: ${c.kind}: ${(e as Error).message}`);
    }
  }
  if (c.kind === 'bill' && !config.devices.bill.present) problems.push(`${where}: this machine has no bill validator`);
  if ((c.kind === 'card' || c.kind === 'cardRemove') && !config.devices.card.present) problems.push(`${where}: this machine has no card reader`);
  if (c.kind === 'fault') {
    try {
      validateFaultSpec(c.spec, { coins: config.currency.coins, columns: config.catalog.slots.map((s) => s.code) });
    } catch (e) {
      problems.push(`${where}: fault: ${(e as Error).message}`);
    }
  }
}

// ------------------------------------------------------------------ results

export interface CheckResult {
  readonly field: string;
  readonly ok: boolean;
  readonly expected: string;
  readonly actual: string;
}

export interface StepResult {
  /** 0-based, as in `steps[i]` of the file. */
  readonly index: number;
  readonly kind: 'command' | 'expect';
  /** The command line, or "expect <fields>". */
  readonly step: string;
  readonly ok: boolean;
  readonly message: string;
  /** Virtual time when the step began and after it (and its settling) ended. */
  readonly startedAt: number;
  readonly at: number;
  readonly display: readonly string[];
  readonly output?: readonly string[];
  readonly events?: readonly TimedEvent[];
  readonly checks?: readonly CheckResult[];
  /** False when the command's settling gave up at its limit (the output says so). */
  readonly settled?: boolean;
}

export interface ScenarioFailure {
  readonly index: number;
  readonly step: string;
  readonly message: string;
}

export interface ScenarioResult {
  readonly name: string;
  readonly description?: string;
  readonly file?: string;
  readonly skip?: string;
  readonly config: string;
  readonly passed: boolean;
  readonly steps: readonly StepResult[];
  readonly failures: readonly ScenarioFailure[];
  /** Virtual time at the end. */
  readonly endedAt: number;
  readonly displayCols: number;
  /** For formatting amounts in the transcript. */
  readonly currency: { readonly code: string; readonly decimals: number; readonly symbol?: string };
}

function evaluate(c: Compiled, session: SimSession, events: readonly TimedEvent[]): CheckResult[] {
  const v = session.view();
  const cur = session.currency;
  const m = (x: Minor): string => formatMoney(x, cur);
  const out: CheckResult[] = [];
  const add = (field: string, ok: boolean, expected: string, actual: string): void => {
    out.push({ field, ok, expected, actual });
  };
  const shown = v.display.map((l) => l.trimEnd());
  const glass = (t: string): string => session.glass(t);
  if (c.display && 'exact' in c.display) {
    const want = [...c.display.exact.map((l) => glass(l).trimEnd())];
    while (want.length < shown.length) want.push('');
    add('display', JSON.stringify(want) === JSON.stringify(shown), JSON.stringify(c.display.exact), JSON.stringify(shown));
  } else if (c.display) {
    const joined = shown.join(' ').toLowerCase();
    const missing = c.display.contains.map(glass).filter((t) => !joined.includes(t.toLowerCase()) && !shown.some((l) => l.toLowerCase().includes(t.toLowerCase())));
    add('display', missing.length === 0, `contains ${JSON.stringify(c.display.contains)}`, JSON.stringify(shown));
  }
  if (c.credit !== undefined) add('credit', v.credit === c.credit, m(c.credit), m(v.credit));
  if (c.debt !== undefined) add('debt', v.debt === c.debt, m(c.debt), m(v.debt));
  if (c.bin !== undefined) {
    const items = v.bin.map((i) => `${i.product} (${i.column})`);
    if (typeof c.bin === 'number') add('bin', v.bin.length === c.bin, `${c.bin} item${c.bin === 1 ? '' : 's'}`, items.length === 0 ? 'empty' : items.join(', '));
    else {
      const want = c.bin;
      const ok = want.length === v.bin.length && want.every((w, i) => v.bin[i]?.product === w || v.bin[i]?.column === w.toUpperCase());
      add('bin', ok, JSON.stringify(want), items.length === 0 ? 'empty' : items.join(', '));
    }
  }
  if (c.cup !== undefined) {
    const cupValue = Object.entries(v.cup).reduce((s, [d, n]) => s + Number(d) * n, 0);
    if (typeof c.cup === 'number') add('cup', cupValue === c.cup, m(c.cup), formatCounts(v.cup, cur));
    else {
      const want = c.cup;
      const denoms = new Set([...Object.keys(want), ...Object.keys(v.cup)].map(Number));
      const ok = [...denoms].every((d) => (want[d] ?? 0) === (v.cup[d] ?? 0));
      add('cup', ok, formatCounts(want, cur), formatCounts(v.cup, cur));
    }
  }
  for (const [col, n] of Object.entries(c.stock ?? {})) add(`stock.${col}`, v.stock[col] === n, String(n), String(v.stock[col] ?? 'no such column'));
  const catalog = session.controller.snapshot.context.catalog;
  for (const [col, want] of Object.entries(c.column ?? {})) {
    const mark = v.marks[col] ?? 'unknown';
    const avail = availability(catalog, col);
    const actual = want === 'ok' || want === 'failed' || want === 'jammed' ? mark : avail;
    add(`column.${col}`, actual === want, want, mark === 'ok' ? `ok (${avail})` : mark);
  }
  if (c.faults) {
    const open = v.faults;
    const shownFaults = open.length === 0 ? 'none' : open.join(', ');
    if (c.faults.none) add('faults', open.length === 0, 'none', shownFaults);
    for (const code of c.faults.present) add(`faults has ${code}`, open.includes(code), `${code} open`, shownFaults);
    for (const code of c.faults.absent) add(`faults lacks ${code}`, !open.includes(code), `${code} not open`, shownFaults);
  }
  if (c.state !== undefined) {
    const want = c.state;
    const ok = want.includes('.') ? v.paths.some((p) => p === want || p.startsWith(`${want}.`)) : v.state === want;
    add('state', ok, want, want.includes('.') ? v.paths.join(', ') : v.state);
  }
  if (c.events) {
    const seen = events.map((e) => e.event.type as string);
    const pool = [...seen];
    const missing: string[] = [];
    for (const t of c.events.include) {
      const i = pool.indexOf(t);
      if (i < 0) missing.push(t);
      else pool.splice(i, 1);
    }
    const unwanted = c.events.exclude.filter((t) => seen.includes(t));
    const happened = seen.length === 0 ? 'none' : seen.join(', ');
    if (c.events.include.length > 0) add('events', missing.length === 0, c.events.include.join(', '), missing.length === 0 ? happened : `missing ${missing.join(', ')}; saw ${happened}`);
    if (c.events.exclude.length > 0)
      add('events exclude', unwanted.length === 0, `none of ${c.events.exclude.join(', ')}`, unwanted.length === 0 ? 'none of them' : `saw ${unwanted.join(', ')}`);
  }
  if (c.tubes) {
    for (const [d, n] of Object.entries(c.tubes)) add(`tubes.${d}`, (v.tubes[Number(d)] ?? 0) === n, String(n), String(v.tubes[Number(d)] ?? 0));
  }
  const w = session.sim.world;
  const held: Record<MoneyPlace, CoinCounts> = { cashbox: w.cashbox, stacker: w.stacker, tubesHeld: w.tubes, billsBack: w.handedBack };
  for (const place of MONEY_PLACES) {
    const want = c.places?.[place];
    if (want === undefined) continue;
    const have = held[place];
    if (typeof want === 'number') add(place, countsValue(have) === want, m(want), formatCounts(have, cur));
    else if (place === 'tubesHeld') {
      // Like `tubes`: the listed denominations only (a changer has many tubes).
      for (const [d, n] of Object.entries(want)) add(`tubesHeld.${d}`, (have[Number(d)] ?? 0) === n, String(n), String(have[Number(d)] ?? 0));
    } else {
      const denoms = new Set([...Object.keys(want), ...Object.keys(have)].map(Number));
      add(place, [...denoms].every((d) => (want[d] ?? 0) === (have[d] ?? 0)), formatCounts(want, cur), formatCounts(have, cur));
    }
  }
  if (c.card?.charged !== undefined) add('card.charged', w.card.charged === c.card.charged, m(c.card.charged), m(w.card.charged));
  if (c.card?.refunded !== undefined) add('card.refunded', w.card.reverted === c.card.refunded, m(c.card.refunded), m(w.card.reverted));
  if (c.relations) {
    const amounts = relationAmounts(session);
    for (const r of c.relations) {
      const res = evaluateRelation(r, amounts);
      const shownRel = `${describeTerms(r.left, amounts, cur)} = ${m(res.left)}; ${describeTerms(r.right, amounts, cur)} = ${m(res.right)}`;
      add(`relation ${r.text}`, res.ok, r.text, shownRel);
    }
  }
  return out;
}

/**
 * Runs a scenario on a fresh session: a file path (string), a parsed Scenario, or a raw object
 * (validated like a file). Throws
 * ScenarioError for a scenario that cannot run and ConfigError for an invalid machine config; a
 * failing command or expectation is reported in the result, never thrown.
 */
export async function runScenario(input: unknown, opts: RunScenarioOptions = {}): Promise<ScenarioResult> {
  const scenario = toScenario(input);
  const { config, source } = scenarioConfig(scenario, opts);
  const base = {
    name: scenario.name,
    ...(scenario.description !== undefined ? { description: scenario.description } : {}),
    ...(scenario.file !== undefined ? { file: scenario.file } : {}),
    config: source,
    displayCols: config.display.cols,
    currency: config.currency,
  };
  if (scenario.needs === 'wire' && !opts.wire)
    return { ...base, skip: scenario.skip ?? 'needs the wire-level machine (run with --wire)', passed: true, steps: [], failures: [], endedAt: 0 };
  const problems: string[] = [];
  const compiled = scenario.steps.map((step, i) => {
    if (typeof step === 'string') {
      checkCommand(step, config, `steps[${i}]`, problems);
      return undefined;
    }
    return compile(step.expect, config, `steps[${i}].expect`, problems);
  });
  if (problems.length > 0) throw new ScenarioError(scenario.file ?? scenario.name, problems);

  const restarts = scenario.steps.some((step) => typeof step === 'string' && restartOf(step) !== undefined);
  // A power cut needs a journal to recover from: --data, or a directory of our own for this run.
  const ownDir = opts.dataDir === undefined && restarts ? mkdtempSync(join(tmpdir(), 'vendomat-scenario-')) : undefined;
  const dataDir = opts.dataDir ?? ownDir;
  const seed = opts.seed !== undefined ? { seed: opts.seed } : scenario.seed !== undefined ? { seed: scenario.seed } : {};
  const sessionOptions = (clock: VirtualClock | undefined, world?: PersistedSim): SimSessionOptions => ({
    config,
    ...(opts.wire ? { wire: true } : {}),
    ...seed,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.settleLimitMs !== undefined ? { settleLimitMs: opts.settleLimitMs } : scenario.settleLimitMs !== undefined ? { settleLimitMs: scenario.settleLimitMs } : {}),
    ...(clock ? { clock } : {}),
    ...(dataDir !== undefined ? { journal: { dir: dataDir } } : {}),
    ...(world ? { world } : {}),
  });
  const steps: StepResult[] = [];
  let session: SimSession | undefined;
  try {
    session = await SimSession.start(sessionOptions(opts.clock));
    let sinceExpect = 0;
    /** Events of sessions cut off since the previous expect. */
    let carried: TimedEvent[] = [];
    for (const [index, step] of scenario.steps.entries()) {
      const c = compiled[index];
      if (typeof step === 'string' || c === undefined) {
        const line = typeof step === 'string' ? step : '';
        const restart = restartOf(line);
        if (restart !== undefined) {
          const before = session;
          const offMs = restart.offMs;
          const begun = before.clock.now();
          if (restart.when) {
            const due = restart.when.at ? restart.when.ms : begun + restart.when.ms;
            if (due < begun) {
              steps.push({ index, kind: 'command', step: line, ok: false, message: `at ${formatTime(due)}: that time has passed (now ${formatTime(begun)})`, startedAt: begun, at: begun, display: [...before.display] });
              continue;
            }
            await before.clock.advanceTo(due);
          }
          const startedAt = before.clock.now();
          carried = [...carried, ...before.log.slice(sinceExpect)];
          const handedBack = { ...before.sim.world.handedBack };
          const cut = before.powerCut();
          session = await SimSession.start(sessionOptions(new VirtualClock(startedAt + offMs), cut.world));
          for (const [d, n] of Object.entries(handedBack)) session.sim.world.handedBack[Number(d)] = (session.sim.world.handedBack[Number(d)] ?? 0) + n;
          sinceExpect = 0;
          const rec = session.journaled?.report.recovery;
          steps.push({
            index,
            kind: 'command',
            step: line,
            ok: true,
            message: 'power cut and restart',
            startedAt,
            at: session.clock.now(),
            display: [...session.display],
            output: [
              `power cut at ${formatTime(startedAt)} (no clean stop), power back after ${formatTime(offMs)}`,
              ...(rec ? [`recovered from the journal in ${cut.dir}`] : []),
            ],
            events: [...session.log],
          });
          continue;
        }
        const r = await session.exec(line);
        steps.push({
          index,
          kind: 'command',
          step: line,
          ok: r.ok,
          message: r.output.join('\n'),
          startedAt: r.startedAt,
          at: r.at,
          display: r.display,
          output: r.output,
          events: r.events,
          ...(r.settled ? {} : { settled: false }),
        });
        continue;
      }
      const events = [...carried, ...session.log.slice(sinceExpect)];
      carried = [];
      sinceExpect = session.log.length;
      const checks = evaluate(c, session, events);
      const failed = checks.filter((x) => !x.ok);
      steps.push({
        index,
        kind: 'expect',
        step: `expect ${Object.keys(step.expect).join(', ')}`,
        ok: failed.length === 0,
        message:
          failed.length === 0
            ? `${checks.length} check${checks.length === 1 ? '' : 's'} passed`
            : failed.map((f) => `${f.field}: expected ${f.expected}, actual ${f.actual}`).join('; '),
        startedAt: session.clock.now(),
        at: session.clock.now(),
        display: [...session.display],
        checks,
      });
    }
  } finally {
    try {
      await session?.close();
    } finally {
      if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
    }
  }
  const failures = steps.filter((s) => !s.ok).map((s) => ({ index: s.index, step: s.step, message: s.message }));
  return {
    ...base,
    ...(scenario.skip !== undefined ? { skip: scenario.skip } : {}),
    passed: failures.length === 0,
    steps,
    failures,
    endedAt: session.clock.now(),
  };
}

/** A `restart` / `power-cut` line (possibly timed: `in 3s restart`), or undefined for any other line. */
function restartOf(line: string): { readonly offMs: number; readonly when?: { readonly at: boolean; readonly ms: number } } | undefined {
  const parsed = parseCommand(line);
  if (!parsed.ok) return undefined;
  const c = parsed.command;
  if (c.kind === 'restart') return { offMs: c.offMs };
  if (c.kind === 'timed' && c.command.kind === 'restart') return { offMs: c.command.offMs, when: { at: c.when === 'at', ms: c.ms } };
  return undefined;
}

/** A path is loaded; an object (raw or already parsed) is validated, which is idempotent. */
function toScenario(input: unknown): Scenario {
  if (typeof input === 'string') return loadScenarioFile(input);
  if (isPlainObject(input)) {
    const { file, settleLimitMs, ...rest } = input;
    const path = typeof file === 'string' ? file : undefined;
    // An already-parsed Scenario carries its settle limit in ms.
    const limit = typeof settleLimitMs === 'number' && rest.settleLimit === undefined ? { settleLimit: String(settleLimitMs) } : {};
    return parseScenario({ ...rest, ...limit }, path ?? '(inline)', path);
  }
  throw new ScenarioError('(inline)', ['a scenario must be an object with a name and steps']);
}

// ------------------------------------------------------------------ transcript

const QUIET_EVENTS: ReadonlySet<string> = new Set(['tubesRead']);

/** A readable transcript: time, command, what it did, the display when it changed, notable events, ✓/✗ checks. */
export function formatTranscript(r: ScenarioResult): string {
  const out: string[] = [];
  const pad = '           ';
  out.push(`Scenario: ${r.name}${r.file ? `  (${r.file})` : ''}`);
  if (r.description) for (const l of r.description.trim().split('\n')) out.push(`  ${l}`);
  out.push(`  config: ${r.config}`);
  if (r.skip) out.push(`  skip: ${r.skip}`);
  out.push('');
  let lastDisplay = '';
  for (const s of r.steps) {
    const head = `[${formatTime(s.startedAt).padStart(9)}] #${s.index}`;
    if (s.kind === 'command') {
      out.push(`${head} > ${s.step}${s.ok ? '' : '   ✗ FAILED'}`);
      for (const l of s.output ?? []) out.push(`${pad}${l}`);
      const d = JSON.stringify(s.display);
      if (d !== lastDisplay) {
        for (const l of displayBox(s.display, r.displayCols)) out.push(`${pad}${l}`);
        lastDisplay = d;
      }
      for (const e of s.events ?? []) {
        if (QUIET_EVENTS.has(e.event.type)) continue;
        out.push(`${pad}· ${formatTime(e.at)} ${describeEvent(e.event, r.currency)}`);
      }
    } else {
      out.push(`${head} ${s.ok ? '✓' : '✗'} ${s.step}`);
      for (const c of s.checks ?? []) {
        out.push(c.ok ? `${pad}✓ ${c.field}: ${c.actual}` : `${pad}✗ ${c.field}: expected ${c.expected}, actual ${c.actual}`);
      }
    }
  }
  out.push('');
  if (r.skip !== undefined && r.steps.length === 0) {
    out.push(`SKIPPED: ${r.name} — ${r.skip}`);
    return out.join('\n');
  }
  const expects = r.steps.filter((s) => s.kind === 'expect').length;
  out.push(
    `${r.passed ? 'PASSED' : 'FAILED'}: ${r.name} — ${r.steps.length} steps, ${expects} expectations, ${r.failures.length} failed, ${formatTime(r.endedAt)} virtual`,
  );
  for (const f of r.failures) out.push(`  ✗ steps[${f.index}] ${f.step}: ${f.message}`);
  return out.join('\n');
}

/** The JSON form for `--json` (events with their virtual times included). */
export function scenarioResultJson(r: ScenarioResult): string {
  return JSON.stringify(r, null, 2);
}
