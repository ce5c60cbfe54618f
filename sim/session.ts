/**
 * One simulator session: a virtual clock, the simulated machine and the real controller on it,
 * plus the one command interpreter shared by scenario files and the interactive line mode.
 *
 * Settling rule: every command except `wait` (and the read-only `status` / `help`) is followed by
 * running the machine until it is at rest, so a transcript shows each command's result:
 *   - the sales state is idle, session, service or outOfService (no vend, payout, card approval
 *     or save-credit expiry in progress);
 *   - no coin or bill is in a validator, no bill sits in escrow, no product is falling, no motor
 *     is energised, the coin mech is not paying out, and the drop beam is clear (unless blocked by
 *     the `drop-blocked` fault);
 *   - at most `settleLimitMs` (default 30 s) of virtual time, enough for a vend with a retry and a
 *     second column or a card approval timeout.
 * Timers that belong to a machine at rest (a 3 s message, the inactivity and save-credit timers)
 * are not waited for: a notice such as "A1 PRICE" stays on the display until a `wait` lets it go.
 * When the limit comes first, the limit of virtual time has passed and the command's output says
 * what was still busy. `now` / `in` / `at` run a command without settling, so the next step acts
 * mid-operation (a customer does not wait for the machine either).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../src/config/load.ts';
import { COLUMN_CODE, type MachineConfig } from '../src/config/schema.ts';
import { Controller, type Logger, type TimedEvent } from '../src/controller/controller.ts';
import type { VmcEvent } from '../src/controller/machine.ts';
import type { MachineEvent } from '../src/controller/events.ts';
import { activePaths, salesState, type SalesState, type VmcSnapshot } from '../src/controller/view.ts';
import type { ColumnMark } from '../src/catalog/catalog.ts';
import { formatMoney, parseMoney, type CurrencyFormat } from '../src/money/currency.ts';
import { applyCounterEvent, cashIn, emptyCounters, type CounterSet, type Counters, type Tally } from '../src/audit/counters.ts';
import { openJournaledController, type JournaledController } from '../src/journal/attach.ts';
import { openJournal } from '../src/journal/store.ts';
import { WorldPersistence, loadSavedSim, persistedSim, restoreWorld, type PersistedSim } from './persist.ts';
import { isKey, type CoinCounts, type Key, type Minor } from '../src/ports/index.ts';
import { VirtualClock } from './clock.ts';
import { formatFaultSpec, parseFaultSpec, FAULT_NAMES, type FaultSpec } from './faults.ts';
import { bootWireMachine, createWireSimMachine, isWireSimMachine, whileRunning, wireQuiet } from './wire/machine.ts';
import { createSimMachine, type SimMachine } from './machine.ts';
import { nonZero, type BinItem } from './world.ts';

// ------------------------------------------------------------------ config helpers

/** Absolute path of the built-in demo machine (sim/machines/demo.yaml), wherever the package lives. */
export function demoConfigPath(): string {
  return fileURLToPath(new URL('./machines/demo.yaml', import.meta.url));
}

export function loadDemoConfig(): MachineConfig {
  return loadConfigFile(demoConfigPath());
}

/** The demo config as plain parsed YAML (before validation), as a base for scenario overrides. */
export function demoConfigRaw(): unknown {
  return parseYaml(readFileSync(demoConfigPath(), 'utf8'));
}

// ------------------------------------------------------------------ durations

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * "500ms", "3s", "2m", "1h", "1m30s", "1.5s" or a bare number of milliseconds → ms (an integer).
 * Throws an Error naming the bad text.
 */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  if (/^\d+$/.test(s)) return boundedDuration(Number(s), text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) throw new Error(`cannot read '${text}' as a duration (use e.g. 500ms, 3s, 2m, 1m30s)`);
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1);
    at = part.lastIndex;
  }
  if (s.length === 0) throw new Error('empty duration (use e.g. 500ms, 3s, 2m)');
  return boundedDuration(Math.round(total), text);
}

/** The longest duration a command takes: 30 days of virtual time (far past any machine timer). */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000;
/** The largest amount a command takes, in minor units (a coin, a bill, a price, a card balance). */
export const MAX_MONEY = 10_000_000;
/** The most coins one service payout or fill names per denomination. */
export const MAX_COINS = 10_000;

function boundedDuration(ms: number, text: string): number {
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS)
    throw new Error(`'${text}' is longer than the longest duration a command takes (30 days, ${MAX_DURATION_MS} ms)`);
  return ms;
}

/** Virtual time as seconds with milliseconds, e.g. "12.300s". */
export function formatTime(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

// ------------------------------------------------------------------ commands

export type Command =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'coin'; readonly value: string }
  | { readonly kind: 'bill'; readonly value: string }
  | { readonly kind: 'card'; readonly balance?: string }
  | { readonly kind: 'cardRemove' }
  | { readonly kind: 'press'; readonly keys: readonly Key[] }
  | { readonly kind: 'return' }
  | { readonly kind: 'door'; readonly open: boolean }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'fault'; readonly spec: FaultSpec; readonly at?: number; readonly in?: number; readonly once?: boolean }
  | { readonly kind: 'clear'; readonly what: string }
  | { readonly kind: 'service'; readonly action: 'clearFaults' }
  | { readonly kind: 'service'; readonly action: 'settleDebt'; readonly how: 'paid' | 'writtenOff' }
  | { readonly kind: 'service'; readonly action: 'refill'; readonly column?: string }
  | { readonly kind: 'service'; readonly action: 'price'; readonly column: string; readonly price: string }
  | { readonly kind: 'service'; readonly action: 'testVend'; readonly column: string }
  | { readonly kind: 'service'; readonly action: 'payout'; readonly plan: CoinCounts }
  | { readonly kind: 'service'; readonly action: 'pin'; readonly pin: string }
  | { readonly kind: 'service'; readonly action: 'fill'; readonly plan: CoinCounts }
  | { readonly kind: 'service'; readonly action: 'counters' }
  | { readonly kind: 'service'; readonly action: 'resetInterim' }
  | { readonly kind: 'service'; readonly action: 'faults' }
  | { readonly kind: 'take' }
  | { readonly kind: 'status' }
  | { readonly kind: 'help' }
  | { readonly kind: 'settle' }
  /** A command that does not wait for the machine to settle: now, at a virtual time, or after a delay. */
  | { readonly kind: 'timed'; readonly when: 'now' | 'at' | 'in'; readonly ms: number; readonly command: Command }
  /** A power cut (as SIGKILL): the controller is dropped, the world keeps its money; then a restart. */
  | { readonly kind: 'restart'; readonly offMs: number }
  | { readonly kind: 'wire'; readonly fault: WireFaultStep };

/** Wire faults a scenario can put on a serial bus of the wire-level machine (`--wire`). */
export type WireFaultStep =
  | { readonly kind: 'noise'; readonly bus: WireBus; readonly text: string }
  | { readonly kind: 'strayLine'; readonly bus: WireBus; readonly text: string }
  | { readonly kind: 'lostReply'; readonly bus: WireBus; readonly count: number }
  | { readonly kind: 'unplug'; readonly bus: WireBus; readonly forMs?: number }
  | { readonly kind: 'replug'; readonly bus: WireBus };
export type WireBus = 'mdb' | 'cctalk';
/** The most lost replies one `wire lost-reply` step asks for. */
export const MAX_LOST_REPLIES = 100;

export type ParsedCommand = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly error: string };

/** One line per command, for `help` and the docs. */
export const COMMAND_HELP: readonly (readonly [usage: string, what: string])[] = [
  ['coin <value>', 'insert a coin: minor units (50) or money (0.50, €0.50)'],
  ['bill <value>', 'feed a bill into the bill validator (500, 5.00)'],
  ['card [balance]', 'tap a card (balance in minor units or money; default sim.cardBalance)'],
  ['card remove', 'take the card away'],
  ['press <keys>', 'press keys: A1, CLEAR, RETURN, or several (press CLEAR B2)'],
  ['return', 'pull the coin-return lever'],
  ['door open|close', 'open or close the service door (open = service mode)'],
  ['wait <duration>', 'let virtual time pass exactly: 500ms, 3s, 2m, 1m30s'],
  ['fault <spec> [at|in <duration>] [once]', `inject a fault now, at a virtual time, or after a delay: ${FAULT_NAMES.join(', ')}`],
  ['clear <spec|name|all>', 'clear injected faults: "clear motor-stall A1", "clear offline", "clear all"'],
  ['service clear-faults', 'service menu (door open): clear faults and jammed marks'],
  ['service settle-debt paid|written-off', 'service menu (door open): settle the debt owed to customers'],
  ['service refill [column]', 'service menu: refill one column (or all) to capacity, in the machine and in the count'],
  ['service price <column> <value>', 'service menu: set a column\'s price'],
  ['service test-vend <column>', 'service menu: turn a column once without payment'],
  ['service payout <coin> <count>', 'service menu: pay coins out of the tubes, e.g. service payout 50 4, or 50x4 20x2'],
  ['service fill <coin> <count>', 'service menu: put coins into the tubes through the acceptor (a tube fill, never credit); or 50x20 20x10'],
  ['service counters', 'service menu: the audit counters, since the last reset and in total'],
  ['service reset-interim', 'service menu: reset the interim counters (journalled as an audit read)'],
  ['service faults', 'service menu: the fault history (raised and cleared) and the faults open now'],
  ['service pin <digits>', 'service menu: type the service PIN on the keypad (machines with service.pin)'],
  ['take', 'the customer takes what is in the delivery bin and the return cup'],
  ['settle', 'run the machine until it is at rest (max 30 s of virtual time)'],
  ['now <command>', 'run a command without waiting for the machine to settle (e.g. `now press A1`)'],
  ['at <time> <command>', 'let time pass to the virtual time, then run the command without settling (`at 12s return`)'],
  ['in <delay> <command>', 'let the delay pass, then run the command without settling (`in 800ms door open`)'],
  ['restart [after <duration>]', 'power cut (as SIGKILL) and restart: the controller recovers from its journal (default off 1s)'],
  ['wire <fault> <bus> ...', 'with --wire: noise, stray-line, lost-reply [n], unplug [for <duration>], replug on mdb or cctalk'],
  ['status', 'display, state, credit, debt, bin, cup, faults, stock'],
  ['help', 'this list'],
];

/** For "did you mean" hints (`at` and `in` are left out: two letters are near every typo). */
const COMMAND_WORDS = ['coin', 'bill', 'card', 'press', 'return', 'door', 'wait', 'fault', 'clear', 'service', 'take', 'status', 'help', 'settle', 'now', 'restart', 'power-cut', 'wire'];

function usageOf(word: string): string {
  const line = COMMAND_HELP.find(([u]) => u.split(' ')[0] === word);
  return line ? line[0] : word;
}

function fail(error: string): ParsedCommand {
  return { ok: false, error };
}

function ok(command: Command): ParsedCommand {
  return { ok: true, command };
}

/**
 * Parses one command line. Structure only: money values are read later against the machine's
 * currency. Blank lines and `#` comments parse to `nothing`.
 */
export function parseCommand(line: string): ParsedCommand {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return ok({ kind: 'nothing' });
  const [head = '', ...args] = text.split(/\s+/);
  const word = head.toLowerCase();
  const arity = (min: number, max: number): string | undefined =>
    args.length < min || args.length > max ? `${word}: expected \`${usageOf(word)}\`, got '${text}'` : undefined;
  switch (word) {
    case 'coin':
    case 'bill': {
      const bad = arity(1, 1);
      if (bad) return fail(bad);
      return ok({ kind: word, value: args[0] ?? '' });
    }
    case 'card': {
      const bad = arity(0, 1);
      if (bad) return fail(bad);
      const a = args[0];
      if (a === undefined) return ok({ kind: 'card' });
      if (a.toLowerCase() === 'remove') return ok({ kind: 'cardRemove' });
      return ok({ kind: 'card', balance: a });
    }
    case 'press': {
      if (args.length === 0) return fail(`press: which keys? e.g. \`press A1\`, \`press CLEAR\`, \`press RETURN\``);
      const keys: Key[] = [];
      for (const a of args) {
        const up = a.toUpperCase();
        if (isKey(up)) {
          keys.push(up);
          continue;
        }
        for (const c of up) {
          if (!isKey(c)) return fail(`press: no key '${c}' on the keypad (keys: A-J, 0-9, CLEAR, RETURN)`);
          keys.push(c);
        }
      }
      return ok({ kind: 'press', keys });
    }
    case 'now':
    case 'at':
    case 'in':
      return parseTimed(word, args, text);
    case 'restart':
    case 'power-cut': {
      if (args.length === 0) return ok({ kind: 'restart', offMs: DEFAULT_POWER_OFF_MS });
      if (args.length !== 2 || (args[0] ?? '').toLowerCase() !== 'after') return fail(`${word}: expected \`${word}\` or \`${word} after <duration>\`, got '${text}'`);
      try {
        return ok({ kind: 'restart', offMs: parseDuration(args[1] ?? '') });
      } catch (e) {
        return fail(`${word}: ${(e as Error).message}`);
      }
    }
    case 'wire':
      return parseWireFault(args, text);
    case 'return':
    case 'take':
    case 'status':
    case 'settle':
    case 'help': {
      const bad = arity(0, 0);
      if (bad) return fail(bad);
      return ok({ kind: word });
    }
    case 'door': {
      const a = (args[0] ?? '').toLowerCase();
      if (args.length !== 1 || (a !== 'open' && a !== 'close' && a !== 'closed'))
        return fail(`door: expected \`door open\` or \`door close\`, got '${text}'`);
      return ok({ kind: 'door', open: a === 'open' });
    }
    case 'wait': {
      const bad = arity(1, 1);
      if (bad) return fail(bad);
      try {
        return ok({ kind: 'wait', ms: parseDuration(args[0] ?? '') });
      } catch (e) {
        return fail(`wait: ${(e as Error).message}`);
      }
    }
    case 'fault':
      return parseFaultCommand(args);
    case 'clear': {
      if (args.length === 0) return fail('clear: what? e.g. `clear motor-stall A1`, `clear offline`, `clear all`');
      const what = args.join(' ');
      if (what.toLowerCase() !== 'all') {
        const name = (args[0] ?? '').toLowerCase();
        if (args.length > 1 || !(FAULT_NAMES as readonly string[]).includes(name)) {
          try {
            parseFaultSpec(what);
          } catch (e) {
            return fail(`clear: ${(e as Error).message}`);
          }
        }
      }
      return ok({ kind: 'clear', what });
    }
    case 'service': {
      const a = (args[0] ?? '').toLowerCase();
      if (a === 'clear-faults' && args.length === 1) return ok({ kind: 'service', action: 'clearFaults' });
      if (a === 'settle-debt' && args.length === 2) {
        const how = (args[1] ?? '').toLowerCase();
        if (how === 'paid') return ok({ kind: 'service', action: 'settleDebt', how: 'paid' });
        if (how === 'written-off' || how === 'writtenoff') return ok({ kind: 'service', action: 'settleDebt', how: 'writtenOff' });
      }
      const col = (args[1] ?? '').toUpperCase();
      const isCol = COLUMN_CODE.test(col);
      if (a === 'refill' && args.length === 1) return ok({ kind: 'service', action: 'refill' });
      if (a === 'refill' && args.length === 2 && isCol) return ok({ kind: 'service', action: 'refill', column: col });
      if (a === 'price' && args.length === 3 && isCol) return ok({ kind: 'service', action: 'price', column: col, price: args[2] ?? '' });
      if (a === 'test-vend' && args.length === 2 && isCol) return ok({ kind: 'service', action: 'testVend', column: col });
      if ((a === 'payout' || a === 'fill') && args.length >= 2) {
        const plan = parsePlan(args.slice(1));
        if (typeof plan === 'string') return fail(`service ${a}: ${plan}`);
        return ok({ kind: 'service', action: a, plan });
      }
      if (a === 'pin' && args.length === 2) {
        const pin = args[1] ?? '';
        if (!/^\d{1,8}$/.test(pin)) return fail(`service pin: '${pin}' is not a PIN (digits only)`);
        return ok({ kind: 'service', action: 'pin', pin });
      }
      if (a === 'counters' && args.length === 1) return ok({ kind: 'service', action: 'counters' });
      if (a === 'reset-interim' && args.length === 1) return ok({ kind: 'service', action: 'resetInterim' });
      if (a === 'faults' && args.length === 1) return ok({ kind: 'service', action: 'faults' });
      const menu = COMMAND_HELP.filter(([u]) => u.startsWith('service ')).map(([u]) => `\`${u}\``);
      return fail(`service: expected one of ${menu.join(', ')}; got '${text}'`);
    }
    default: {
      const near = COMMAND_WORDS.filter((w) => editDistance(w, word) <= (word.length >= 4 ? 2 : 1));
      const hint = near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : '';
      return fail(`unknown command '${head}'${hint}; type \`help\` for the list of commands`);
    }
  }
}

/**
 * Coins by denomination from `50 4` (one coin, a count) or `50x4 20x2` (terms); an error text when
 * neither fits.
 */
function parsePlan(args: readonly string[]): CoinCounts | string {
  const plan: Record<number, number> = {};
  const add = (coinText: string, countText: string, term: string): string | undefined => {
    const coin = Number(coinText);
    const count = Number(countText);
    if (!Number.isSafeInteger(coin) || coin <= 0 || coin > MAX_MONEY) return `'${term}': the coin ${coinText} is not a coin value (1 to ${MAX_MONEY} minor units)`;
    const total = (plan[coin] ?? 0) + count;
    if (!Number.isSafeInteger(count) || total > MAX_COINS) return `'${term}': ${countText} coins is more than one command moves (at most ${MAX_COINS} per coin)`;
    plan[coin] = total;
    return undefined;
  };
  if (args.length === 2 && args.every((a) => /^\d+$/.test(a))) {
    const bad = add(args[0] ?? '', args[1] ?? '', args.join(' '));
    return bad ?? plan;
  }
  for (const term of args) {
    const m = /^(\d+)x(\d+)$/i.exec(term);
    if (!m) return `'${term}' is not <coin>x<count>, e.g. 50x4 (or give one coin and a count: 50 4)`;
    const bad = add(m[1] ?? '', m[2] ?? '', term);
    if (bad) return bad;
  }
  return plan;
}

/** Levenshtein distance, for "did you mean" hints on mistyped commands. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** How long the power stays off in a `restart` without `after`. */
export const DEFAULT_POWER_OFF_MS = 1_000;

/** `now <command>`, `at <time> <command>`, `in <delay> <command>`: the command runs without settling. */
function parseTimed(word: 'now' | 'at' | 'in', args: readonly string[], text: string): ParsedCommand {
  let ms = 0;
  let rest = args;
  if (word !== 'now') {
    const d = args[0];
    if (d === undefined || args.length < 2) return fail(`${word}: expected \`${word} <${word === 'at' ? 'time' : 'delay'}> <command>\`, e.g. \`${word} 2s return\`; got '${text}'`);
    try {
      ms = parseDuration(d);
    } catch (e) {
      return fail(`${word}: ${(e as Error).message}`);
    }
    rest = args.slice(1);
  }
  if (rest.length === 0) return fail(`now: which command? e.g. \`now press A1\``);
  const inner = parseCommand(rest.join(' '));
  if (!inner.ok) return fail(`${word}: ${inner.error}`);
  const k = inner.command.kind;
  if (k === 'timed' || k === 'wait' || k === 'settle' || k === 'nothing' || k === 'help')
    return fail(`${word}: \`${rest.join(' ')}\` cannot be timed (time a customer, door, service, fault, wire or restart step, or status)`);
  return ok({ kind: 'timed', when: word, ms, command: inner.command });
}

const WIRE_FAULT_WORDS = ['noise', 'stray-line', 'lost-reply', 'unplug', 'replug'];

/**
 * `wire noise <bus> [text]`, `wire stray-line mdb [text]`, `wire lost-reply <bus> [n]`,
 * `wire unplug <bus> [for <duration>]`, `wire replug <bus>`.
 */
function parseWireFault(args: readonly string[], text: string): ParsedCommand {
  const what = (args[0] ?? '').toLowerCase();
  const bus = (args[1] ?? '').toLowerCase();
  const usage = `wire: expected \`wire <${WIRE_FAULT_WORDS.join('|')}> <mdb|cctalk> ...\`, got '${text}'`;
  if (!WIRE_FAULT_WORDS.includes(what)) return fail(usage);
  if (bus !== 'mdb' && bus !== 'cctalk') return fail(`wire ${what}: which bus? \`mdb\` or \`cctalk\`, got '${args[1] ?? ''}'`);
  const rest = args.slice(2);
  switch (what) {
    case 'noise':
    case 'stray-line': {
      if (what === 'stray-line' && bus === 'cctalk') return fail('wire stray-line: ccTalk is binary and has no lines; use `wire noise cctalk`');
      const t = rest.join(' ');
      if (t.length > 256) return fail(`wire ${what}: at most 256 characters of noise, got ${t.length}`);
      if ([...t].some((c) => c.charCodeAt(0) > 0xff)) return fail(`wire ${what}: the noise must be bytes (characters up to U+00FF)`);
      return ok({ kind: 'wire', fault: { kind: what === 'noise' ? 'noise' : 'strayLine', bus, text: t === '' ? (what === 'noise' ? '#~?!' : 'x,STRAY') : t } });
    }
    case 'lost-reply': {
      if (rest.length > 1) return fail(usage);
      const n = rest[0] === undefined ? 1 : Number(rest[0]);
      if (!Number.isSafeInteger(n) || n < 1 || n > MAX_LOST_REPLIES) return fail(`wire lost-reply: '${rest[0] ?? ''}' is not a count of replies (1 to ${MAX_LOST_REPLIES})`);
      return ok({ kind: 'wire', fault: { kind: 'lostReply', bus, count: n } });
    }
    case 'unplug': {
      if (rest.length === 0) return ok({ kind: 'wire', fault: { kind: 'unplug', bus } });
      if (rest.length !== 2 || (rest[0] ?? '').toLowerCase() !== 'for') return fail(`wire unplug: expected \`wire unplug ${bus} [for <duration>]\`, got '${text}'`);
      try {
        return ok({ kind: 'wire', fault: { kind: 'unplug', bus, forMs: parseDuration(rest[1] ?? '') } });
      } catch (e) {
        return fail(`wire unplug: ${(e as Error).message}`);
      }
    }
    default:
      if (rest.length > 0) return fail(usage);
      return ok({ kind: 'wire', fault: { kind: 'replug', bus } });
  }
}

function parseFaultCommand(args: readonly string[]): ParsedCommand {
  const specWords: string[] = [];
  let at: number | undefined;
  let after: number | undefined;
  let once: boolean | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    const low = a.toLowerCase();
    if (low === 'once') {
      once = true;
    } else if (low === 'at' || low === 'in') {
      const d = args[i + 1];
      if (d === undefined) return fail(`fault: '${low}' needs a duration, e.g. \`fault offline coin ${low} 5s\``);
      try {
        const ms = parseDuration(d);
        if (low === 'at') at = ms;
        else after = ms;
      } catch (e) {
        return fail(`fault: ${(e as Error).message}`);
      }
      i += 1;
    } else {
      specWords.push(a);
    }
  }
  if (specWords.length === 0) return fail(`fault: which fault? one of ${FAULT_NAMES.join(', ')}`);
  if (at !== undefined && after !== undefined) return fail("fault: give either 'at <time>' or 'in <delay>', not both");
  try {
    const spec = parseFaultSpec(specWords.join(' '));
    return ok({ kind: 'fault', spec, ...(at !== undefined ? { at } : {}), ...(after !== undefined ? { in: after } : {}), ...(once ? { once } : {}) });
  } catch (e) {
    return fail(`fault: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------ formatting

export function money(amount: Minor, currency: CurrencyFormat): string {
  return formatMoney(amount, currency);
}

/** "€0.80 (50×1 20×1 10×1)", or "empty". */
export function formatCounts(counts: CoinCounts, currency: CurrencyFormat): string {
  const entries = Object.entries(counts)
    .map(([d, n]) => [Number(d), n] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[0] - a[0]);
  if (entries.length === 0) return 'empty';
  const total = entries.reduce((s, [d, n]) => s + d * n, 0);
  return `${money(total, currency)} (${entries.map(([d, n]) => `${d}×${n}`).join(' ')})`;
}

/** A one-line, human description of a domain event. */
export function describeEvent(e: MachineEvent, currency: CurrencyFormat): string {
  const m = (v: Minor): string => money(v, currency);
  switch (e.type) {
    case 'coinInserted':
      return `coin ${m(e.value)} → ${e.routing}`;
    case 'coinRejected':
      return `coin ${m(e.value)} rejected`;
    case 'slugs':
      return `${e.count} slug${e.count === 1 ? '' : 's'} (counted, not credited)`;
    case 'billEscrowed':
    case 'billStacked':
    case 'billReturned':
      return `${e.type} ${m(e.value)}`;
    case 'cardSessionBegan':
      return `card session began${e.funds !== null ? ` (funds ${m(e.funds)})` : ''}`;
    case 'cardVendApproved':
      return `card approved ${m(e.amount)} for ${e.column}`;
    case 'cardVendDenied':
      return `card ${e.reason === 'timeout' ? 'timed out' : 'declined'} for ${e.column}`;
    case 'cardSessionEnded':
      return 'card session ended';
    case 'vendStarted':
      return `vend ${e.column} ${m(e.price)} ${e.payment}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
    case 'vendSucceeded':
      return `vend ${e.column} succeeded`;
    case 'vendFailed':
      return `vend ${e.column} failed (${e.reason})`;
    case 'columnMarked':
      return `column ${e.column} marked ${e.mark}`;
    case 'payoutPlanned':
      return `${e.reason} planned ${m(e.amount)}: ${formatCounts(e.plan, currency)}`;
    case 'payoutDone':
      return `${e.reason} paid ${m(e.paidValue)} of ${m(e.amount)}`;
    case 'debtRecorded':
      return `debt recorded ${m(e.amount)} (total ${m(e.total)})`;
    case 'debtSettled':
      return `debt ${m(e.amount)} settled (${e.how})`;
    case 'overpayKept':
      return `overpay kept ${m(e.amount)} (${e.why})`;
    case 'tubesRead':
      return `tubes read ${formatCounts(e.levels, currency)}`;
    case 'tubeFilled':
      return `tube fill ${m(e.value)} → ${e.routing}`;
    case 'door':
      return `door ${e.state}`;
    case 'faultRaised':
      return `fault ${e.code} raised (${e.device}${e.detail ? `: ${e.detail}` : ''})`;
    case 'faultCleared':
      return `fault ${e.code} cleared`;
    case 'priceChanged':
      return `price ${e.column} → ${m(e.price)}`;
    case 'stockChanged':
      return `stock ${e.column} → ${e.stock} (${e.why})`;
    case 'serviceAction':
      return `service ${e.action}${e.detail ? ` ${e.detail}` : ''}`;
  }
}

/** The display as a small box: one row per line, padded to the display width. */
export function displayBox(lines: readonly string[], cols: number): string[] {
  const bar = '─'.repeat(cols);
  return [`┌${bar}┐`, ...lines.map((l) => `│${l.padEnd(cols).slice(0, cols)}│`), `└${bar}┘`];
}

// ------------------------------------------------------------------ the session

export interface CommandResult {
  /** The line as given. */
  readonly line: string;
  readonly ok: boolean;
  /** What the command did, or why it failed (one or more lines). */
  readonly output: readonly string[];
  /** Virtual time when the command started and when it (and its settling) ended. */
  readonly startedAt: number;
  readonly at: number;
  /** The display after the command. */
  readonly display: readonly string[];
  /** Domain events emitted while the command ran and settled. */
  readonly events: readonly TimedEvent[];
  /** False when settling gave up at its limit with the machine still busy (said in `output`). */
  readonly settled: boolean;
}

export interface SessionView {
  readonly at: number;
  readonly display: readonly string[];
  readonly state: SalesState;
  /** Every active state as a dotted path, e.g. "sales.session.waiting". */
  readonly paths: readonly string[];
  readonly credit: Minor;
  readonly debt: Minor;
  readonly bin: readonly BinItem[];
  readonly cup: CoinCounts;
  /** Fault codes the controller holds open. */
  readonly faults: readonly string[];
  /** Faults injected in the simulator and active now (text form). */
  readonly injected: readonly string[];
  readonly stock: Readonly<Record<string, number>>;
  readonly marks: Readonly<Record<string, ColumnMark>>;
  /** Tube levels as the controller knows them. */
  readonly tubes: CoinCounts;
}

export interface SimSessionOptions {
  /** Machine config; default: the demo machine. */
  readonly config?: MachineConfig;
  /** Emulate every device at the wire: the real MDB/ccTalk/GPIO adapters talk to emulators. */
  readonly wire?: boolean;
  /** Overrides `config.sim.seed`. */
  readonly seed?: number;
  readonly logger?: Logger;
  /** Longest a command may run the machine to reach rest (virtual ms). Default 30 000. */
  readonly settleLimitMs?: number;
  /** A fresh virtual clock to run on (e.g. one a logger already reads); default: a new one. */
  readonly clock?: VirtualClock;
  /**
   * Journal the session (crash-safe and auditable, src/journal/attach.ts), with the simulated world
   * saved beside it (sim/persist.ts). With `dir` the journal is kept there and a later session on
   * the same directory continues where this one stopped (same coins, products, credit and
   * counters); without it a temporary directory is used and removed by `close()`.
   */
  readonly journal?: { readonly dir?: string; readonly startFresh?: boolean };
  /**
   * With `journal`: the physical world to continue from (taken at a power cut, `powerCut()`)
   * instead of the one saved in the journal, which may lag the cut by a coin still in the air.
   */
  readonly world?: PersistedSim;
}

const AT_REST: ReadonlySet<SalesState> = new Set(['idle', 'session', 'service', 'outOfService']);
export const DEFAULT_SETTLE_LIMIT_MS = 30_000;

function isEmptyCounts(c: CoinCounts): boolean {
  return Object.values(c).every((n) => n === 0);
}

/** A journal behind the session: the journaled controller, the world writer and where it lives. */
interface SessionJournal {
  readonly jc: JournaledController;
  readonly persistence: WorldPersistence;
  readonly dir: string;
  /** Removed by close() (a temporary directory). */
  readonly temporary: boolean;
}

export class SimSession {
  readonly clock: VirtualClock;
  readonly sim: SimMachine;
  readonly controller: Controller;
  readonly config: MachineConfig;
  /** Every domain event so far, with its virtual time. */
  readonly log: TimedEvent[] = [];
  private readonly settleLimitMs: number;
  private readonly journal: SessionJournal | null;
  /** Counters of an unjournaled session, folded from its own events (a journal keeps its own). */
  private localCounters: Counters = emptyCounters();
  private closed = false;
  /** While a `now` / `at` / `in` command runs: its settle() calls only let due callbacks run. */
  private noSettle = false;
  /** Set by settle() when the machine was not at rest within the limit (what was still moving). */
  private gaveUp: string | null = null;

  private constructor(
    opts: SimSessionOptions,
    parts: { config: MachineConfig; clock: VirtualClock; sim: SimMachine; controller: Controller; journal: SessionJournal | null },
  ) {
    this.config = parts.config;
    this.settleLimitMs = opts.settleLimitMs ?? DEFAULT_SETTLE_LIMIT_MS;
    this.clock = parts.clock;
    this.sim = parts.sim;
    this.controller = parts.controller;
    this.journal = parts.journal;
    this.controller.events$.subscribe((e) => {
      this.log.push(e);
      if (this.journal === null) this.localCounters = applyCounterEvent(this.localCounters, e.event);
    });
  }

  /** Builds and starts a session, then lets the machine come to rest. */
  static async start(opts: SimSessionOptions = {}): Promise<SimSession> {
    const base = opts.config ?? loadDemoConfig();
    const config = opts.seed === undefined ? base : { ...base, sim: { ...base.sim, seed: opts.seed } };
    const clock = opts.clock ?? new VirtualClock();
    const simOpts = opts.seed === undefined ? {} : { seed: opts.seed };
    const logger = opts.logger ? { logger: opts.logger } : {};
    const makeSim = opts.wire ? createWireSimMachine : createSimMachine;
    if (opts.journal === undefined) {
      const sim = makeSim(config, clock, simOpts);
      await bootWireMachine(sim, clock);
      const controller = new Controller({ config, ports: sim.ports, clock, ...logger });
      const s = new SimSession(opts, { config, clock, sim, controller, journal: null });
      await whileRunning(clock, controller.start());
      await s.settle();
      return s;
    }
    const temporary = opts.journal.dir === undefined;
    const dir = opts.journal.dir ?? mkdtempSync(join(tmpdir(), 'vendomat-sim-'));
    const cleanup = (): void => {
      if (temporary) rmSync(dir, { recursive: true, force: true });
    };
    let journal;
    try {
      journal = openJournal({ dir, clock, ...(opts.journal.startFresh === true ? { startFresh: true } : {}) });
    } catch (e) {
      cleanup();
      throw e;
    }
    let sim: SimMachine | undefined;
    try {
      // The world as it was when the last session on this directory stopped (or was cut off).
      const saved = opts.world ?? loadSavedSim(journal);
      if (saved !== null && saved.at > clock.now()) await clock.advanceTo(saved.at);
      sim = makeSim(config, clock, simOpts);
      if (saved !== null) restoreWorld(sim, saved);
      await bootWireMachine(sim, clock);
      const persistence = new WorldPersistence(journal, sim, clock, saved?.tallies);
      const jc = await whileRunning(
        clock,
        openJournaledController({ config, ports: sim.ports, clock, journal, onAppend: persistence.onAppend, ...logger }),
      );
      const s = new SimSession(opts, { config, clock, sim, controller: jc.controller, journal: { jc, persistence, dir, temporary } });
      // What the start journalled (power-up, recovery, tube read) happened before the log listened.
      s.log.push(...[...journal.readSince(jc.report.recovery.lastSeq)].map((e) => ({ at: e.at, event: e.event })));
      await s.settle();
      persistence.flush();
      return s;
    } catch (e) {
      sim?.dispose();
      journal.close();
      cleanup();
      throw e;
    }
  }

  /** Where the journal lives, or null for an unjournaled session. */
  get dataDir(): string | null {
    return this.journal?.dir ?? null;
  }

  /** The journaled controller (journal, recovered state, recovery report), or null. */
  get journaled(): JournaledController | null {
    return this.journal?.jc ?? null;
  }

  /** The audit counters: the journal's (all sessions on it), or this session's own. */
  counters(): Counters {
    return this.journal !== null ? this.journal.jc.state().counters : this.localCounters;
  }

  /** Journals (or, unjournaled, just counts) a service action that happens outside the statechart. */
  recordServiceAction(action: string, detail?: string): void {
    const event: MachineEvent = { type: 'serviceAction', action, ...(detail !== undefined ? { detail } : {}) };
    if (this.journal !== null) this.journal.jc.recordServiceAction(action, detail);
    else this.localCounters = applyCounterEvent(this.localCounters, event);
    this.log.push({ at: this.clock.now(), event });
  }

  get currency(): CurrencyFormat {
    return this.config.currency;
  }

  /** What the display shows now (the simulated glass). */
  get display(): readonly string[] {
    return this.sim.devices.display.lines;
  }

  /** Runs one command line. Never throws: bad input comes back as `ok: false` with a message. */
  async exec(line: string): Promise<CommandResult> {
    this.gaveUp = null;
    const startedAt = this.clock.now();
    const from = this.log.length;
    let okay = true;
    let output: string[];
    const parsed = parseCommand(line);
    if (!parsed.ok) {
      okay = false;
      output = [parsed.error];
    } else if (this.closed) {
      okay = false;
      output = ['the session is closed'];
    } else {
      try {
        const r = await this.run(parsed.command);
        okay = r.ok;
        output = r.output;
      } catch (e) {
        okay = false;
        output = [`${parsed.command.kind}: ${e instanceof Error ? e.message : String(e)}`];
      }
    }
    // Changes with no event of their own (the customer took the cup, coins paid) are saved now.
    if (!this.closed) this.journal?.persistence.flush();
    if (this.gaveUp !== null) output = [...output, `settling gave up after ${formatTime(this.settleLimitMs)}: not at rest (${this.gaveUp})`];
    return {
      line,
      ok: okay,
      output,
      settled: this.gaveUp === null,
      startedAt,
      at: this.clock.now(),
      display: [...this.display],
      events: this.log.slice(from),
    };
  }

  /** What a customer and an operator can see now. */
  view(): SessionView {
    const snap = this.controller.snapshot;
    const ctx = snap.context;
    const stock: Record<string, number> = {};
    const marks: Record<string, ColumnMark> = {};
    for (const [code, col] of Object.entries(ctx.catalog)) {
      stock[code] = col.stock;
      marks[code] = col.mark;
    }
    return {
      at: this.clock.now(),
      display: [...this.display],
      state: salesState(snap),
      paths: activePaths(snap.value),
      credit: ctx.credit,
      debt: ctx.debt,
      bin: this.sim.world.bin.map((i) => ({ ...i })),
      cup: nonZero(this.sim.world.cup),
      faults: Object.keys(ctx.faults).sort(),
      injected: this.sim.faults.active().map((f) => formatFaultSpec(f.spec) + (f.once ? ' (once)' : '')),
      stock,
      marks,
      tubes: { ...ctx.tubes },
    };
  }

  /** The `status` text. */
  statusLines(): string[] {
    const v = this.view();
    const m = (x: Minor): string => money(x, this.currency);
    const cols = this.sim.devices.display.cols;
    const soldOut = Object.entries(v.stock)
      .filter(([, n]) => n <= 0)
      .map(([c]) => c);
    const marked = Object.entries(v.marks)
      .filter(([, mark]) => mark !== 'ok')
      .map(([c, mark]) => `${c} ${mark}`);
    const low = Object.entries(v.stock)
      .filter(([, n]) => n > 0 && n <= 2)
      .map(([c, n]) => `${c}:${n}`);
    const units = Object.values(v.stock).reduce((s, n) => s + n, 0);
    return [
      ...displayBox(v.display, cols),
      `time     ${formatTime(v.at)}`,
      `state    ${v.state}  (${v.paths.join(', ')})`,
      `credit   ${m(v.credit)}   debt ${m(v.debt)}`,
      `bin      ${v.bin.length === 0 ? 'empty' : v.bin.map((i) => `${i.product} (${i.column})`).join(', ')}`,
      `cup      ${formatCounts(v.cup, this.currency)}`,
      `faults   ${v.faults.length === 0 ? 'none' : v.faults.join(', ')}   injected: ${v.injected.length === 0 ? 'none' : v.injected.join(', ')}`,
      `stock    ${units} items in ${Object.keys(v.stock).length} columns; sold out: ${soldOut.join(' ') || 'none'}; marked: ${marked.join(' ') || 'none'}${low.length > 0 ? `; low: ${low.join(' ')}` : ''}`,
      `tubes    ${formatCounts(v.tubes, this.currency)}`,
      ...(this.journal !== null
        ? [`journal  ${this.journal.dir}${this.journal.temporary ? ' (temporary)' : ''}, ${this.journal.jc.journal.count()} events`]
        : []),
    ];
  }

  /** Stops the controller and detaches the devices (and closes the journal, saving the world). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const j = this.journal;
    if (j === null) {
      await whileRunning(this.clock, this.controller.stop());
      this.sim.dispose();
      return;
    }
    try {
      j.persistence.close();
      await whileRunning(this.clock, j.jc.close());
    } finally {
      this.sim.dispose();
      if (j.temporary) rmSync(j.dir, { recursive: true, force: true });
    }
  }

  /**
   * Runs the machine until it is at rest (see the module comment), at most `settleLimitMs`; when
   * the limit is reached first, what was still busy is kept for the command's output. Inside a
   * `now` / `at` / `in` command only what is due now runs.
   */
  async settle(): Promise<void> {
    await this.clock.advance(0);
    if (this.noSettle) return;
    const stop = this.clock.now() + this.settleLimitMs;
    const rested = await this.clock.runUntil(() => this.atRest(), this.settleLimitMs);
    if (!rested) {
      // The limit is virtual time that passed, even when the next timer lies beyond it.
      if (this.clock.now() < stop) await this.clock.advanceTo(stop);
      if (!this.atRest()) this.gaveUp = this.busyWith();
    }
  }

  /** Why the machine is not at rest, in a few words (for the settle-limit notice). */
  busyWith(): string {
    const w = this.sim.world;
    const why: string[] = [];
    const st = salesState(this.controller.snapshot);
    if (!AT_REST.has(st)) why.push(`state ${st}`);
    if (!isEmptyCounts(w.inFlight.coins) || !isEmptyCounts(w.inFlight.bills)) why.push('money in a validator');
    if (w.escrow !== null) why.push('a bill in escrow');
    if (w.falling.length > 0) why.push('a product falling');
    if (w.motor.running !== null) why.push(`motor ${w.motor.running} running`);
    if (this.sim.devices.coin.busy) why.push('the coin mech paying out');
    if (w.beam && !this.sim.faults.has('drop-blocked')) why.push('the drop beam interrupted');
    if (!wireQuiet(this.sim)) why.push('the wire busy');
    return why.length === 0 ? 'still moving' : why.join(', ');
  }

  /**
   * What the display's own character set makes of a text: at the wire level the HD44780 LCD
   * prints '€' as 'E' (its ROM substitutions) and anything else outside its ROM as '?', so a
   * scenario's display text is compared as the glass would show it. At port level: unchanged.
   */
  glass(text: string): string {
    if (!isWireSimMachine(this.sim)) return text;
    const lcd = this.sim.wire.world.resolved.gpio?.options.lcd;
    if (!lcd) return text;
    let out = '';
    for (const ch of text) {
      const sub = lcd.substitutions[ch];
      const code = ch.charCodeAt(0);
      out += sub ?? (ch.length === 1 && code >= 0x20 && code <= 0x7d && ch !== '\\' ? ch : '?');
    }
    return out;
  }

  /**
   * A power cut, as SIGKILL would do it: no clean stop, nothing flushed beyond what is already on
   * disk; the controller and its devices are dropped with the clock they ran on. Returns the
   * physical world as it is at the cut (the machine keeps its money), for the next session.
   * Needs a journaled session; its directory is kept (even a temporary one) for the restart.
   */
  powerCut(): { world: PersistedSim; dir: string } {
    const j = this.journal;
    if (j === null) throw new Error('restart needs a journal (run the session with a data directory)');
    if (this.closed) throw new Error('the session is closed');
    this.closed = true;
    const world = persistedSim(this.sim, this.clock.now(), j.persistence.tallies);
    // The journal goes first: what the dying adapters report while they are torn down (links
    // lost) must not reach the disk, as nothing would after a SIGKILL.
    j.jc.journal.close();
    this.sim.dispose();
    return { world, dir: j.dir };
  }

  /** True when nothing is moving and no sale step is in progress. */
  atRest(): boolean {
    if (!wireQuiet(this.sim)) return false;
    const w = this.sim.world;
    if (!AT_REST.has(salesState(this.controller.snapshot))) return false;
    if (!isEmptyCounts(w.inFlight.coins) || !isEmptyCounts(w.inFlight.bills)) return false;
    if (w.escrow !== null || w.falling.length > 0 || w.motor.running !== null) return false;
    if (this.sim.devices.coin.busy) return false;
    if (w.beam && !this.sim.faults.has('drop-blocked')) return false;
    return true;
  }

  private readMoney(text: string): Minor {
    const v = parseMoney(text, this.currency);
    if (!Number.isSafeInteger(v) || v > MAX_MONEY)
      throw new Error(`'${text}' is more money than a command takes (at most ${money(MAX_MONEY, this.currency)})`);
    return v;
  }

  /** The service menu (door open). Refill also fills the simulated spirals, so the count stays true. */
  private async service(c: Extract<Command, { kind: 'service' }>): Promise<{ ok: boolean; output: string[] }> {
    const send = (e: VmcEvent): void => this.controller.send(e);
    const from = this.log.length;
    const happened = (type: string): boolean => this.log.slice(from).some((e) => e.event.type === type);
    switch (c.action) {
      case 'clearFaults':
        send({ type: 'SERVICE_CLEAR_FAULTS' });
        await this.settle();
        return { ok: true, output: ['service: faults cleared'] };
      case 'settleDebt':
        send({ type: 'SERVICE_SETTLE_DEBT', how: c.how });
        await this.settle();
        return { ok: true, output: [happened('debtSettled') ? `service: debt settled (${c.how})` : 'service: no debt to settle'] };
      case 'refill': {
        const catalog = this.controller.snapshot.context.catalog;
        if (c.column !== undefined && !catalog[c.column]) return { ok: false, output: [`service refill: this machine has no column ${c.column}`] };
        for (const [code, spiral] of this.sim.world.spirals) {
          if (c.column !== undefined && code !== c.column) continue;
          const room = spiral.capacity - spiral.count - spiral.hidden;
          if (room > 0) this.sim.world.refillSpiral(code, room);
        }
        send({ type: 'SERVICE_REFILL', ...(c.column !== undefined ? { column: c.column } : {}) });
        await this.settle();
        return { ok: true, output: [`service: refilled ${c.column ?? 'every column'}`] };
      }
      case 'price': {
        if (!this.controller.snapshot.context.catalog[c.column]) return { ok: false, output: [`service price: this machine has no column ${c.column}`] };
        const price = this.readMoney(c.price);
        if (price <= 0) return { ok: false, output: ['service price: a price must be more than zero'] };
        send({ type: 'SERVICE_SET_PRICE', column: c.column, price });
        await this.settle();
        return { ok: true, output: [`service: ${c.column} now costs ${money(price, this.currency)}`] };
      }
      case 'testVend': {
        if (!this.controller.snapshot.context.catalog[c.column]) return { ok: false, output: [`service test-vend: this machine has no column ${c.column}`] };
        send({ type: 'SERVICE_TEST_VEND', column: c.column });
        await this.settle();
        return happened('vendStarted')
          ? { ok: true, output: [`service: test vend on ${c.column}`] }
          : { ok: false, output: [`service test-vend: refused (column disabled or dispenser unusable)`] };
      }
      case 'payout': {
        send({ type: 'SERVICE_PAYOUT', plan: c.plan });
        await this.settle();
        return happened('payoutPlanned')
          ? { ok: true, output: [`service: paid out ${formatCounts(c.plan, this.currency)}`] }
          : { ok: false, output: ['service payout: refused (the tubes do not hold those coins, or the changer is unusable)'] };
      }
      case 'pin':
        return { ok: false, output: ['service pin: the service menu is already open'] };
      case 'fill':
        return this.fillTubes(c.plan);
      case 'counters': {
        this.recordServiceAction('countersRead');
        return { ok: true, output: this.counterLines() };
      }
      case 'resetInterim': {
        this.recordServiceAction('auditRead', 'interim counters reset in service');
        return { ok: true, output: ['service: interim counters reset (journalled as an audit read)'] };
      }
      case 'faults':
        this.recordServiceAction('faultsRead');
        return { ok: true, output: this.faultLines() };
    }
  }

  /** A wire fault on the wire-level machine (see WireFaultStep). */
  private async wireFault(f: WireFaultStep): Promise<{ ok: boolean; output: string[] }> {
    const what = `wire ${f.kind === 'strayLine' ? 'stray-line' : f.kind === 'lostReply' ? 'lost-reply' : f.kind} ${f.bus}`;
    if (!isWireSimMachine(this.sim)) return { ok: false, output: [`${what}: needs the wire-level machine (--wire)`] };
    const handles = this.sim.wire;
    const mdb = handles.world.mdb;
    const cctalk = handles.world.cctalk;
    if ((f.bus === 'mdb' && !mdb) || (f.bus === 'cctalk' && !cctalk)) return { ok: false, output: [`${what}: this machine has no ${f.bus === 'mdb' ? 'MDB' : 'ccTalk'} bus`] };
    const bytes = (t: string): number[] => [...t].map((c) => c.charCodeAt(0) & 0xff);
    let done: string;
    switch (f.kind) {
      case 'noise':
        if (mdb && f.bus === 'mdb') mdb.sendGarbage(f.text);
        else for (const d of [cctalk?.acceptor, ...(cctalk?.hoppers ?? [])]) d?.injectFault({ kind: 'garbage', bytes: bytes(f.text), count: 1 });
        done = `${JSON.stringify(f.text)} put on the line`;
        break;
      case 'strayLine':
        mdb?.sendGarbage(`${f.text}\n`);
        done = `stray line ${JSON.stringify(f.text)} sent to the host`;
        break;
      case 'lostReply':
        if (mdb && f.bus === 'mdb') mdb.dropCommands(f.count);
        else cctalk?.acceptor?.injectFault({ kind: 'dropReply', count: f.count });
        done = `the next ${f.count === 1 ? 'reply is' : `${f.count} replies are`} lost`;
        break;
      case 'unplug':
        handles.unplug(f.bus);
        if (f.forMs !== undefined) {
          const bus = f.bus;
          this.clock.setTimeout(() => handles.replug(bus), f.forMs);
        }
        done = f.forMs !== undefined ? `unplugged, back in ${formatTime(f.forMs)}` : 'unplugged';
        break;
      case 'replug':
        handles.replug(f.bus);
        done = 'plugged back in';
        break;
    }
    await this.settle();
    return { ok: true, output: [`${what}: ${done}`] };
  }

  /** Types the PIN on the keypad and tells whether the service menu opened. */
  private async typePin(pin: string): Promise<{ ok: boolean; output: string[] }> {
    const snap = (): VmcSnapshot => this.controller.snapshot;
    if (snap().context.settings.servicePin === null) return { ok: true, output: ['service pin: this machine needs no PIN, the service menu is open'] };
    if (snap().matches({ sales: { service: 'unlocked' } })) return { ok: true, output: ['service pin: the service menu is already open'] };
    let heard = true;
    for (const k of pin) heard = this.sim.devices.keypad.press(k) && heard;
    await this.settle();
    if (!heard) return { ok: false, output: ['service pin: the keypad is offline, the presses were lost'] };
    if (snap().matches({ sales: { service: 'unlocked' } })) return { ok: true, output: ['service: PIN accepted, the service menu is open'] };
    const typed = snap().context.pin.entry.length;
    return typed > 0
      ? { ok: false, output: [`service pin: ${typed} digit${typed === 1 ? '' : 's'} typed so far; the PIN is longer`] }
      : { ok: false, output: ['service pin: WRONG PIN'] };
  }

  /**
   * Tube fill through the acceptor, as an operator does: the acceptor is enabled for these coins
   * while the door is open, the coins go in one by one, and the controller books them as tube fills
   * (never credit). Afterwards the acceptor gets the controller's own list back (none in service).
   */
  private async fillTubes(plan: CoinCounts): Promise<{ ok: boolean; output: string[] }> {
    const coin = this.sim.devices.coin;
    const bad = Object.keys(plan).map(Number).filter((d) => !this.config.currency.coins.includes(d));
    if (bad.length > 0) return { ok: false, output: [`service fill: not coins of ${this.currency.code}: ${bad.join(', ')}`] };
    if (!coin.online) return { ok: false, output: ['service fill: the coin mech is offline'] };
    const from = this.log.length;
    const before = coin.accepted;
    await coin.setAcceptance(Object.keys(plan).map(Number));
    try {
      for (const [d, n] of Object.entries(plan)) for (let i = 0; i < n; i++) void coin.insertCoin(Number(d));
      await this.settle();
    } finally {
      if (coin.online) await coin.setAcceptance(before);
    }
    const fills = this.log.slice(from).flatMap((e) => (e.event.type === 'tubeFilled' ? [e.event] : []));
    const tube: Record<number, number> = {};
    const box: Record<number, number> = {};
    for (const f of fills) {
      const into = f.routing === 'tube' ? tube : box;
      into[f.value] = (into[f.value] ?? 0) + 1;
    }
    const lines = [`service: filled ${formatCounts(tube, this.currency)} into the tubes`];
    if (Object.keys(box).length > 0) lines.push(`  tubes full: ${formatCounts(box, this.currency)} went to the cashbox`);
    return { ok: fills.length > 0, output: fills.length > 0 ? lines : ['service fill: no coin was taken (jammed or rejected)'] };
  }

  /** The counters as a short two-column table: since the last reset (interim) and in total. */
  counterLines(): string[] {
    const { interim: i, historical: h } = this.counters();
    const m = (x: Minor): string => money(x, this.currency);
    const t = (x: Tally): string => `${x.count} × ${m(x.value)}`;
    const rows: [string, (s: CounterSet) => string][] = [
      ['paid vends', (s) => t(s.paidVends)],
      ['  cash', (s) => t(s.cashVends)],
      ['  card', (s) => t(s.cardVends)],
      ['test vends', (s) => String(s.testVends.count)],
      ['failed vends', (s) => String(s.failedVends)],
      ['cash in', (s) => m(cashIn(s))],
      ['change paid', (s) => t(s.changePaid)],
      ['refunds', (s) => t(s.refunds)],
      ['tube fills', (s) => t(s.serviceFills)],
      ['manual payouts', (s) => t(s.servicePayouts)],
      ['overpay kept', (s) => t(s.overpay)],
      ['debts recorded', (s) => t(s.debtsRecorded)],
      ['door openings', (s) => String(s.doorOpenings)],
      ['power outages', (s) => String(s.powerOutages)],
      ['faults', (s) => String(Object.values(s.faults).reduce((a, n) => a + n, 0))],
    ];
    const cells = rows.map(([label, f]) => [label, f(i), f(h)] as const);
    const w0 = Math.max(...cells.map((c) => c[0].length));
    const w1 = Math.max('since reset'.length, ...cells.map((c) => c[1].length));
    const line = (a: string, b: string, c: string): string => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`;
    return [line('counter', 'since reset', 'total'), ...cells.map((c) => line(...c)), `audit reads so far: ${h.auditReads}`];
  }

  /** Fault history (from the journal when there is one, else this session's log) and the open faults. */
  faultLines(limit = 20): string[] {
    const kinds = new Set(['faultRaised', 'faultCleared']);
    const history: TimedEvent[] =
      this.journal !== null
        ? [...this.journal.jc.journal.readTypes(['faultRaised', 'faultCleared'])].map((e) => ({ at: e.at, event: e.event }))
        : this.log.filter((e) => kinds.has(e.event.type));
    const open = Object.values(this.controller.snapshot.context.faults).map((f) => `${f.code} (${f.device})`);
    const shown = history.slice(-limit);
    return [
      history.length === 0
        ? 'no faults recorded'
        : `fault history (${history.length} event${history.length === 1 ? '' : 's'}${shown.length < history.length ? `, the last ${shown.length}` : ''}):`,
      ...shown.map((e) => `  ${formatTime(e.at)} ${describeEvent(e.event, this.currency)}`),
      `open now: ${open.length === 0 ? 'none' : open.sort().join(', ')}`,
    ];
  }

  private async run(c: Command): Promise<{ ok: boolean; output: string[] }> {
    const m = (x: Minor): string => money(x, this.currency);
    const { devices, faults, world } = this.sim;
    switch (c.kind) {
      case 'nothing':
        return { ok: true, output: [] };
      case 'help':
        return { ok: true, output: helpLines() };
      case 'settle':
        await this.settle();
        return { ok: true, output: [this.gaveUp === null ? 'at rest' : 'still busy'] };
      case 'restart':
        return { ok: false, output: ['restart: a power cut replaces the session; scenario files run it (see docs/scenarios.md)'] };
      case 'timed': {
        const now = this.clock.now();
        const due = c.when === 'at' ? c.ms : now + c.ms;
        if (due < now) return { ok: false, output: [`at ${formatTime(c.ms)}: that time has passed (now ${formatTime(now)})`] };
        await this.clock.advanceTo(due);
        this.noSettle = true;
        try {
          const r = await this.run(c.command);
          const when = c.when === 'now' ? 'now' : `at ${formatTime(due)}`;
          return { ok: r.ok, output: [`${when}, not settled:`, ...r.output] };
        } finally {
          this.noSettle = false;
        }
      }
      case 'wire':
        return this.wireFault(c.fault);
      case 'status':
        return { ok: true, output: this.statusLines() };
      case 'wait':
        await this.clock.advance(c.ms);
        return { ok: true, output: [`waited ${formatTime(c.ms)}`] };
      case 'coin': {
        const value = this.readMoney(c.value);
        if (value <= 0) return { ok: false, output: [`coin: a coin must be worth more than ${m(0)}`] };
        let result = 'still in the acceptor';
        void devices.coin.insertCoin(value).then((r) => {
          result = r;
        });
        await this.settle();
        const foreign = this.config.currency.coins.includes(value) ? '' : ` (not a ${this.currency.code} coin)`;
        return { ok: true, output: [`coin ${m(value)}: ${coinOutcome(result)}${foreign}`] };
      }
      case 'bill': {
        const bill = devices.bill;
        if (!bill) return { ok: false, output: ['bill: this machine has no bill validator'] };
        const value = this.readMoney(c.value);
        if (value <= 0) return { ok: false, output: [`bill: a bill must be worth more than ${m(0)}`] };
        let result = 'still in the validator';
        void bill.insertBill(value).then((r) => {
          result = r;
        });
        await this.settle();
        const foreign = this.config.currency.bills.includes(value) ? '' : ` (not a ${this.currency.code} bill)`;
        return { ok: true, output: [`bill ${m(value)}: ${billOutcome(result)}${foreign}`] };
      }
      case 'card': {
        const card = devices.card;
        if (!card) return { ok: false, output: ['card: this machine has no card reader'] };
        const balance = c.balance === undefined ? undefined : this.readMoney(c.balance);
        const began = card.tapCard(balance);
        await this.settle();
        const shown = m(balance ?? this.config.sim.cardBalance);
        return {
          ok: true,
          output: [began ? `card tapped (balance ${shown})` : `card tapped (balance ${shown}); the reader did not start a session (disabled, offline or busy)`],
        };
      }
      case 'cardRemove': {
        const card = devices.card;
        if (!card) return { ok: false, output: ['card: this machine has no card reader'] };
        card.removeCard();
        await this.settle();
        return { ok: true, output: ['card removed'] };
      }
      case 'press': {
        let heard = true;
        for (const k of c.keys) heard = devices.keypad.press(k) && heard;
        await this.settle();
        const keys = c.keys.join(' ').replace(/\b([A-J]) (?=\d)/g, '$1');
        return { ok: true, output: [heard ? `pressed ${keys}` : `pressed ${keys}; the keypad is offline, the presses were lost`] };
      }
      case 'return': {
        const heard = devices.coin.pressReturn();
        await this.settle();
        return { ok: true, output: [heard ? 'coin return pressed' : 'coin return pressed; the coin mech is offline, nobody heard it'] };
      }
      case 'door':
        if (c.open) devices.door.open();
        else devices.door.close();
        await this.settle();
        return { ok: true, output: [`door ${c.open ? 'opened' : 'closed'}`] };
      case 'fault': {
        const now = this.clock.now();
        const at = c.at ?? (c.in !== undefined ? now + c.in : undefined);
        const spec = faults.inject(c.spec, { ...(at !== undefined ? { at } : {}), ...(c.once ? { once: true } : {}) });
        const text = formatFaultSpec(spec) + (c.once ? ' (once)' : '');
        await this.settle();
        return { ok: true, output: [at !== undefined && at > now ? `fault ${text} scheduled at ${formatTime(at)}` : `fault ${text} injected`] };
      }
      case 'clear': {
        const n = c.what.toLowerCase() === 'all' ? faults.clearAll() : faults.clear(c.what);
        await this.settle();
        return { ok: true, output: [n === 0 ? `clear: no injected fault matches '${c.what}'` : `cleared ${n} fault${n === 1 ? '' : 's'}`] };
      }
      case 'service': {
        const snap = this.controller.snapshot;
        if (salesState(snap) !== 'service') return { ok: false, output: ['service: the service menu needs the door open (`door open`)'] };
        if (c.action === 'pin') return this.typePin(c.pin);
        if (!snap.matches({ sales: { service: 'unlocked' } }))
          return { ok: false, output: ['service: locked; type the service PIN first (`service pin <digits>`)'] };
        return this.service(c);
      }
      case 'take': {
        const items = world.takeFromBin();
        const coins = world.takeFromCup();
        await this.settle();
        const what: string[] = [];
        if (items.length > 0) what.push(items.map((i) => `${i.product} (${i.column})`).join(', '));
        if (!isEmptyCounts(coins)) what.push(`coins ${formatCounts(coins, this.currency)}`);
        return { ok: true, output: [what.length === 0 ? 'took nothing: the bin and the cup are empty' : `took ${what.join('; ')}`] };
      }
    }
  }
}

function coinOutcome(r: string): string {
  switch (r) {
    case 'tube':
      return 'accepted (to the tube)';
    case 'cashbox':
      return 'accepted (to the cashbox)';
    case 'rejected':
      return 'rejected to the return cup';
    case 'jammed':
      return 'jammed in the acceptor';
    default:
      return r;
  }
}

function billOutcome(r: string): string {
  switch (r) {
    case 'escrow':
      return 'taken into escrow';
    case 'rejected':
      return 'rejected (handed back)';
    case 'refused':
      return 'refused by the slot';
    default:
      return r;
  }
}

export function helpLines(): string[] {
  const width = Math.max(...COMMAND_HELP.map(([u]) => u.length));
  return [
    'Commands:',
    ...COMMAND_HELP.map(([u, what]) => `  ${u.padEnd(width)}  ${what}`),
    `  ${'quit | exit'.padEnd(width)}  leave the line mode`,
    'Each command except wait then runs the machine until it is at rest (max 30 s of virtual time).',
  ];
}
