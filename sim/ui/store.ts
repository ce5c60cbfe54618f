/**
 * The terminal UI's state and actions, without React: what is shown (panels, menus, the grid
 * cursor, the event log), what each key does, and the driving of the virtual clock.
 *
 * Clock driving: with `startRealtime()` one real interval (the UI is the composition edge, the only
 * place allowed to read wall time) advances the virtual clock by real elapsed time × speed and
 * publishes at most one frame per tick (FRAME_MS, i.e. ≤ 20 frames/s; IDLE_FRAME_MS when only the
 * time moved). Without it (tests), nothing moves by itself: `advance(ms)` / `step()` move the clock
 * and changes are published as soon as the current task is done. All clock moves (ticks, steps,
 * `:` commands that settle) run one at a time through one queue.
 */
import { applyCounterEvent, emptyCounters, type Counters } from '../../src/audit/counters.ts';
import type { TimedEvent } from '../../src/controller/controller.ts';
import { activePaths, salesState } from '../../src/controller/view.ts';
import { formatMoney, parseMoney } from '../../src/money/currency.ts';
import { isKey, type Key, type Minor } from '../../src/ports/index.ts';
import type { FrameTrace } from '../../hardware/serial/types.ts';
import { FAULT_NAMES, SIM_DEVICE_NAMES, formatFaultSpec, parseFaultSpec, type FaultName } from '../faults.ts';
import { describeEvent, formatCounts, formatTime } from '../session.ts';
import { countsValue } from '../world.ts';
import { SPEEDS, type KeyPress } from './keys.ts';
import type { UiMachine } from './model.ts';
import {
  counterLines,
  customerView,
  gridView,
  insideLines,
  linkRows,
  type LogEntry,
  type MenuItem,
  type ModeView,
  type PanelId,
  type Prompt,
  type Tone,
  type UiView,
} from './view.ts';

export { PANEL_ORDER, type PanelId, type UiView } from './view.ts';

const PANEL_KEYS: Readonly<Record<string, PanelId>> = { t: 'states', l: 'links', e: 'events', w: 'wire', i: 'inside', a: 'counters' };

type MenuId = 'fault' | 'service';

export type Mode =
  | { readonly kind: 'normal' }
  | { readonly kind: 'keypad' }
  | { readonly kind: 'bill' }
  | { readonly kind: 'help' }
  | { readonly kind: 'menu'; readonly menu: MenuId; readonly cursor: number }
  | { readonly kind: 'counters' }
  | { readonly kind: 'prompt'; readonly prompt: Prompt; readonly back: Mode }
  | { readonly kind: 'command'; readonly text: string };

/** Real milliseconds between frames (and clock ticks) when running in real time: 20 frames/s. */
export const FRAME_MS = 50;
/** When only the clock moved (nothing else changed), a frame at most this often (real ms). */
export const IDLE_FRAME_MS = 250;
/** Most virtual time one tick may owe when the machine cannot keep up (keeps keys responsive). */
const MAX_OWED_REAL_MS = 500;
const LOG_LIMIT = 300;
const TRACE_LIMIT = 300;

export interface UiStoreOptions {
  /** Panels shown at start (default: states, links, events, and wire when there is a trace). */
  readonly panels?: Partial<Record<PanelId, boolean>>;
}

function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function formatFrame(f: FrameTrace): string {
  const arrow = f.dir === 'tx' ? '>' : '<';
  return `${formatTime(f.at)} ${f.bus} ${arrow} ${f.raw}${f.meaning ? ` ${f.meaning}` : ''}${f.error ? ` !${f.error}` : ''}`;
}

export class UiStore {
  readonly machine: UiMachine;
  private mode: Mode = { kind: 'normal' };
  private readonly panels: Record<PanelId, boolean>;
  private speedIndex = 0;
  private paused = false;
  private focus = { row: 0, col: 0 };
  private message: { text: string; tone: Tone } | null = null;
  private readonly log: LogEntry[] = [];
  private readonly trace: string[] = [];
  private counters: Counters = emptyCounters();
  private onceFaults = false;
  private readonly coins: number[];
  private readonly bills: number[];

  private version = 0;
  private readonly listeners = new Set<() => void>();
  private dirty = false;
  /** Only the virtual time changed since the last frame. */
  private timeDirty = false;
  private lastPublish = 0;
  private readonly subs: { unsubscribe(): void }[] = [];

  private clockQueue: Promise<void> = Promise.resolve();
  private clockJobs = 0;
  /** A clock move is running (without real time, its changes make one frame at its end). */
  private moving = 0;
  private realtime: { timer: ReturnType<typeof setInterval>; last: number; owed: number } | null = null;

  private quitting = false;
  private resolveQuit: () => void = () => {};
  /** Resolves when the person quits (q or Ctrl-C). */
  readonly quitted: Promise<void>;

  constructor(machine: UiMachine, opts: UiStoreOptions = {}) {
    this.machine = machine;
    this.quitted = new Promise((resolve) => {
      this.resolveQuit = resolve;
    });
    this.coins = ascending(machine.config.currency.coins);
    this.bills = machine.sim.devices.bill ? ascending(machine.config.currency.bills) : [];
    this.message = { text: `Welcome! 1-${this.coins.length} insert coins, k then A1 buys, d opens the door, ? shows every key`, tone: 'info' };
    this.panels = {
      states: true,
      links: true,
      events: true,
      wire: machine.trace$ !== undefined,
      inside: false,
      counters: false,
      ...opts.panels,
    };
    for (const e of machine.history ?? []) this.onEvent(e, false);
    const { controller, sim } = machine;
    this.subs.push(
      controller.events$.subscribe((e) => this.onEvent(e, true)),
      controller.actor.subscribe(() => this.onSnapshot()),
      sim.devices.display.lines$.subscribe(() => this.touch()),
      sim.faults.changes$.subscribe((c) => {
        this.pushLog({ at: machine.clock.now(), text: `sim fault ${formatFaultSpec(c.fault)} ${c.kind}`, source: 'sim' });
        this.touch();
      }),
    );
    if (machine.trace$) {
      this.subs.push(
        machine.trace$.subscribe((f) => {
          this.trace.push(formatFrame(f));
          if (this.trace.length > TRACE_LIMIT) this.trace.splice(0, this.trace.length - TRACE_LIMIT);
          this.touch();
        }),
      );
    }
  }

  // ------------------------------------------------------------------ subscription (React's useSyncExternalStore)

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getVersion = (): number => this.version;

  /**
   * Something changed: publish on the next frame tick when running in real time, otherwise once
   * the current task is done (many changes in one go make one frame).
   */
  touch(): void {
    if (this.realtime) {
      this.dirty = true;
      return;
    }
    if (this.dirty) return;
    this.dirty = true;
    // A clock move publishes once, when it is done.
    if (this.moving > 0) return;
    queueMicrotask(() => {
      if (this.dirty && !this.realtime) this.publish();
    });
  }

  private publish(): void {
    this.dirty = false;
    this.timeDirty = false;
    this.version += 1;
    for (const l of [...this.listeners]) l();
  }

  // ------------------------------------------------------------------ the virtual clock

  get speed(): number {
    return this.paused ? 0 : (SPEEDS[this.speedIndex] ?? 1);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Runs one clock move after any other (ticks, steps and `:` commands never interleave). */
  private onClock(job: () => Promise<void>): Promise<void> {
    this.clockJobs += 1;
    const run = this.clockQueue
      .then(() => {
        this.moving += 1;
        return job();
      })
      .catch((e: unknown) => this.say(`clock: ${errorText(e)}`, 'error'));
    this.clockQueue = run.finally(() => {
      this.clockJobs -= 1;
      this.moving -= 1;
      // Whatever the move changed in the machine has touched already; the time changed too.
      this.timeDirty = true;
      if (!this.realtime) {
        this.dirty = false;
        this.touch();
      }
    });
    return this.clockQueue;
  }

  /** Moves the virtual clock forward by `ms` (tests and the real-time loop). */
  advance(ms: number): Promise<void> {
    return this.onClock(() => this.machine.clock.advance(ms));
  }

  /** Pauses and runs the clock to the next pending timer. */
  step(): Promise<void> {
    this.paused = true;
    const clock = this.machine.clock;
    return this.onClock(async () => {
      const due = clock.nextDue();
      if (due === undefined) {
        this.say('step: no timer is pending; the machine is waiting for you');
        return;
      }
      const from = clock.now();
      await clock.advanceTo(due);
      this.say(`step: +${formatTime(due - from)} to ${formatTime(due)}`);
    });
  }

  /** Resolves when every queued clock move is done. */
  idle(): Promise<void> {
    return this.clockQueue;
  }

  /**
   * Starts driving the clock against wall time with one real interval, publishing at most one frame
   * per tick. `now` is the wall clock (performance.now by default).
   */
  startRealtime(now: () => number = () => performance.now()): void {
    if (this.realtime) return;
    const state = { timer: setInterval(() => this.tick(now()), FRAME_MS), last: now(), owed: 0 };
    this.realtime = state;
  }

  stopRealtime(): void {
    if (!this.realtime) return;
    clearInterval(this.realtime.timer);
    this.realtime = null;
    if (this.dirty) this.publish();
  }

  /** One real-time tick: advance the clock by what is owed, then publish a frame if anything changed. */
  tick(now: number): void {
    const rt = this.realtime;
    if (rt) {
      const elapsed = Math.max(0, now - rt.last);
      rt.last = now;
      if (this.paused) rt.owed = 0;
      else rt.owed = Math.min(rt.owed + elapsed, MAX_OWED_REAL_MS);
      if (this.clockJobs === 0 && rt.owed > 0) {
        const ms = Math.floor(rt.owed * this.speed);
        rt.owed = 0;
        if (ms > 0) void this.advance(ms);
      }
    }
    if (this.dirty || (this.timeDirty && now - this.lastPublish >= IDLE_FRAME_MS)) {
      this.lastPublish = now;
      this.publish();
    }
  }

  // ------------------------------------------------------------------ machine → UI

  private onEvent(e: TimedEvent, live: boolean): void {
    try {
      this.counters = applyCounterEvent(this.counters, e.event);
    } catch {
      // The counters are a view: a fold that trips over an event must not take the UI down.
    }
    if (e.event.type !== 'tubesRead') this.pushLog({ at: e.at, text: describeEvent(e.event, this.machine.config.currency), source: 'event' });
    if (live) this.touch();
  }

  private onSnapshot(): void {
    // Service screens need the door open: leave them as soon as it closes.
    if (this.machine.sim.world.door !== 'open' && this.inServiceScreen()) {
      this.mode = { kind: 'normal' };
      this.say('door closed: service menu left');
    }
    this.touch();
  }

  private inServiceScreen(): boolean {
    const m = this.mode;
    return (m.kind === 'menu' && m.menu === 'service') || m.kind === 'counters' || (m.kind === 'prompt' && m.prompt.service === true);
  }

  private pushLog(entry: LogEntry): void {
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  private say(text: string, tone: Tone = 'info'): void {
    this.message = { text, tone };
    this.touch();
  }

  private did(text: string): void {
    this.pushLog({ at: this.machine.clock.now(), text: `» ${text}`, source: 'you' });
  }

  private money(v: Minor): string {
    return formatMoney(v, this.machine.config.currency);
  }

  // ------------------------------------------------------------------ customer actions

  insertCoin(value: Minor): void {
    const coin = this.machine.sim.devices.coin;
    this.did(`coin ${this.money(value)}`);
    coin.insertCoin(value).then(
      (r) => {
        const what = r === 'tube' || r === 'cashbox' ? `accepted (${r})` : r === 'jammed' ? 'jammed in the acceptor' : 'rejected to the cup';
        this.say(`coin ${this.money(value)}: ${what}`, r === 'rejected' || r === 'jammed' ? 'warn' : 'ok');
      },
      (e: unknown) => this.say(`coin: ${errorText(e)}`, 'error'),
    );
    this.say(`coin ${this.money(value)} dropped in…`);
  }

  insertBill(value: Minor): void {
    const bill = this.machine.sim.devices.bill;
    if (!bill) {
      this.say('this machine has no bill validator', 'warn');
      return;
    }
    this.did(`bill ${this.money(value)}`);
    bill.insertBill(value).then(
      (r) => {
        const what = r === 'escrow' ? 'in escrow' : r === 'rejected' ? 'rejected, handed back' : 'refused by the slot';
        this.say(`bill ${this.money(value)}: ${what}`, r === 'escrow' ? 'ok' : 'warn');
      },
      (e: unknown) => this.say(`bill: ${errorText(e)}`, 'error'),
    );
    this.say(`bill ${this.money(value)} fed in…`);
  }

  tapCard(declined = false): void {
    const card = this.machine.sim.devices.card;
    if (!card) {
      this.say('this machine has no card reader', 'warn');
      return;
    }
    // A declined card is one the payment host turns down: the reader denies its next vend request.
    this.did(`tap ${declined ? 'declined ' : ''}card`);
    if (declined) this.machine.sim.faults.inject('card-declined', { once: true });
    const balance = this.machine.config.sim.cardBalance;
    const began = card.tapCard(balance);
    this.say(
      began
        ? `card tapped (${declined ? 'the bank will decline it' : `balance ${this.money(balance)}`})`
        : 'card tapped; the reader did not start a session (off, offline or busy)',
      began ? 'ok' : 'warn',
    );
  }

  removeCard(): void {
    const card = this.machine.sim.devices.card;
    if (!card) {
      this.say('this machine has no card reader', 'warn');
      return;
    }
    this.did('card taken away');
    card.removeCard();
    this.say('card taken away');
  }

  pressKey(key: Key, quiet = false): void {
    if (!quiet) this.did(`key ${key}`);
    const heard = this.machine.sim.devices.keypad.press(key);
    if (!heard) this.say(`keypad offline: ${key} was lost`, 'warn');
    else this.touch();
  }

  /** Types a whole selection (A1) on the keypad. */
  select(code: string): void {
    this.did(`select ${code}`);
    for (const k of code) if (isKey(k)) this.pressKey(k, true);
  }

  coinReturn(): void {
    this.did('coin return');
    const heard = this.machine.sim.devices.coin.pressReturn();
    this.say(heard ? 'coin return pressed' : 'coin return pressed; the coin mech is offline, nobody heard it', heard ? 'info' : 'warn');
  }

  toggleDoor(): void {
    const door = this.machine.sim.devices.door;
    const opening = door.state !== 'open';
    this.did(`door ${opening ? 'open' : 'close'}`);
    if (opening) door.open();
    else door.close();
    this.say(opening ? 'door open: s opens the service menu' : 'door closed');
  }

  take(): void {
    const { world } = this.machine.sim;
    const items = world.takeFromBin();
    const coins = world.takeFromCup();
    const parts: string[] = [];
    if (items.length > 0) parts.push(items.map((i) => i.product).join(', '));
    if (countsValue(coins) > 0) parts.push(`coins ${formatCounts(coins, this.machine.config.currency)}`);
    if (parts.length === 0) {
      this.say('the bin and the cup are empty');
      return;
    }
    this.did(`took ${parts.join('; ')}`);
    this.say(`you took ${parts.join('; ')}`, 'ok');
  }

  // ------------------------------------------------------------------ service actions (door open)

  private serviceReady(): string | undefined {
    if (this.machine.sim.world.door !== 'open') return 'open the door first (d)';
    const state = salesState(this.machine.controller.snapshot);
    if (state !== 'service') return `the controller is not in service mode yet (sales: ${state})`;
    return undefined;
  }

  refill(column?: string): string | undefined {
    const bad = this.serviceReady();
    if (bad) return bad;
    const { world } = this.machine.sim;
    const cols = column === undefined ? [...world.spirals.keys()] : [column];
    if (column !== undefined && !world.spirals.has(column)) return `no column ${column}`;
    this.did(`refill ${column ?? 'all'}`);
    let added = 0;
    for (const c of cols) {
      const s = world.spirals.get(c);
      if (!s) continue;
      const n = s.capacity - s.count;
      if (n > 0) {
        world.refillSpiral(c, n);
        added += n;
      }
    }
    this.machine.controller.send(column === undefined ? { type: 'SERVICE_REFILL' } : { type: 'SERVICE_REFILL', column });
    this.say(`refilled ${column ?? 'every column'}: ${added} product${added === 1 ? '' : 's'} put in`, 'ok');
    return undefined;
  }

  setPrice(column: string, priceText: string): string | undefined {
    const bad = this.serviceReady();
    if (bad) return bad;
    if (!this.machine.sim.world.spirals.has(column)) return `no column ${column}`;
    let price: number;
    try {
      price = parseMoney(priceText, this.machine.config.currency);
    } catch (e) {
      return errorText(e);
    }
    if (price <= 0) return 'a price must be more than zero';
    this.did(`price ${column} ${this.money(price)}`);
    this.machine.controller.send({ type: 'SERVICE_SET_PRICE', column, price });
    this.say(`price of ${column} set to ${this.money(price)}`, 'ok');
    return undefined;
  }

  fillTube(coin: Minor, countText: string): string | undefined {
    const bad = this.serviceReady();
    if (bad) return bad;
    if (!/^\d+$/.test(countText.trim())) return `'${countText}' is not a whole number of coins`;
    const n = Number(countText.trim());
    try {
      this.machine.sim.devices.coin.manualFill(coin, n);
    } catch (e) {
      return errorText(e);
    }
    this.did(`fill tube ${this.money(coin)} +${n}`);
    this.say(`tube ${this.money(coin)}: ${n} coin${n === 1 ? '' : 's'} added`, 'ok');
    return undefined;
  }

  clearControllerFaults(): string | undefined {
    const bad = this.serviceReady();
    if (bad) return bad;
    this.did('service clear faults');
    this.machine.controller.send({ type: 'SERVICE_CLEAR_FAULTS' });
    this.say('controller faults and jammed marks cleared', 'ok');
    return undefined;
  }

  settleDebt(how: 'paid' | 'writtenOff'): string | undefined {
    const bad = this.serviceReady();
    if (bad) return bad;
    const debt = this.machine.controller.snapshot.context.debt;
    if (debt <= 0) return 'there is no debt to settle';
    this.did(`settle debt ${how}`);
    this.machine.controller.send({ type: 'SERVICE_SETTLE_DEBT', how });
    this.say(`debt of ${this.money(debt)} settled (${how === 'paid' ? 'paid by hand' : 'written off'})`, 'ok');
    return undefined;
  }

  testVend(column: string): string | undefined {
    const hook = this.machine.testVend;
    if (!hook) return 'test vend is not in the controller core yet';
    const bad = this.serviceReady();
    if (bad) return bad;
    this.did(`test vend ${column}`);
    hook(column).then(
      (r) => this.say(`test vend ${column}: ${r}`, 'ok'),
      (e: unknown) => this.say(`test vend ${column}: ${errorText(e)}`, 'error'),
    );
    return undefined;
  }

  // ------------------------------------------------------------------ faults

  injectFault(text: string): string | undefined {
    try {
      const parsed = parseFaultSpec(text);
      const shown = formatFaultSpec(parsed) + (this.onceFaults ? ' (once)' : '');
      this.did(`fault ${shown}`);
      this.machine.sim.faults.inject(parsed, this.onceFaults ? { once: true } : {});
      this.say(`fault ${shown} injected`, 'warn');
      return undefined;
    } catch (e) {
      return errorText(e);
    }
  }

  clearFault(what: string): void {
    this.did(`clear ${what}`);
    const n = what === 'all' ? this.machine.sim.faults.clearAll() : this.machine.sim.faults.clear(what);
    this.say(n === 0 ? `no injected fault matches ${what}` : `cleared ${n} fault${n === 1 ? '' : 's'}`, 'ok');
  }

  // ------------------------------------------------------------------ menus

  private faultMenu(): MenuItem[] {
    const faults = this.machine.sim.faults;
    const items: MenuItem[] = [];
    for (const f of faults.active()) {
      const text = formatFaultSpec(f.spec);
      items.push({ label: `clear  ${text}${f.once ? ' (once)' : ''}`, run: () => this.clearFault(text) });
    }
    for (const f of faults.scheduled()) {
      const text = formatFaultSpec(f.spec);
      items.push({ label: `clear  ${text} (at ${formatTime(f.at)})`, run: () => this.clearFault(text) });
    }
    if (items.length > 1) items.push({ label: 'clear  all injected faults', run: () => this.clearFault('all') });
    for (const name of FAULT_NAMES) items.push({ label: `inject ${name}${faultParams(name)}`, run: () => this.startFault(name) });
    return items;
  }

  private startFault(name: FaultName): void {
    const coinChoices = this.coins.map((c) => ({ label: this.money(c), value: String(c) }));
    const submitSpec = (spec: string): string | undefined => this.injectFault(spec);
    const title = `inject ${name}`;
    switch (name) {
      case 'tube-empty':
        this.openPrompt({ title, label: 'which tube', text: '', choices: coinChoices, cursor: 0, submit: (v) => submitSpec(`${name} ${v}`) });
        return;
      case 'tube-count-wrong':
        this.openPrompt({
          title,
          label: 'which tube',
          text: '',
          choices: coinChoices,
          cursor: 0,
          submit: (coin) => {
            this.openPrompt({
              title: `${title} ${coin}`,
              label: 'reported minus real (e.g. -3)',
              text: '',
              cursor: 0,
              submit: (d) => submitSpec(`${name} ${coin} ${d.trim()}`),
            });
            return undefined;
          },
        });
        return;
      case 'payout-short':
        this.openPrompt({ title, label: 'coins paid before the jam', text: '0', cursor: 0, submit: (n) => submitSpec(`${name} ${n.trim()}`) });
        return;
      case 'motor-stall':
      case 'motor-no-home':
      case 'spiral-empty':
        this.openPrompt({ title, label: 'column (e.g. A1)', text: this.focusedCode(), cursor: 0, submit: (c) => submitSpec(`${name} ${c.trim().toUpperCase()}`) });
        return;
      case 'offline': {
        const devices = SIM_DEVICE_NAMES.filter(
          (d) => (d !== 'bill' || this.machine.sim.devices.bill) && (d !== 'card' || this.machine.sim.devices.card),
        );
        this.openPrompt({
          title,
          label: 'which device',
          text: '',
          choices: devices.map((d) => ({ label: d, value: d })),
          cursor: 0,
          submit: (d) => submitSpec(`${name} ${d}`),
        });
        return;
      }
      default: {
        const err = submitSpec(name);
        if (err) this.say(err, 'error');
      }
    }
  }

  private serviceMenu(): MenuItem[] {
    const ctx = this.machine.controller.snapshot.context;
    const col = this.focusedCode();
    const run = (fn: () => string | undefined) => () => {
      const err = fn();
      if (err) this.say(err, 'error');
    };
    const service = true;
    return [
      { label: 'refill all columns', run: run(() => this.refill()) },
      {
        label: `refill one column…`,
        run: () =>
          this.openPrompt({ title: 'refill', label: 'column', text: col, cursor: 0, service, submit: (c) => this.refill(c.trim().toUpperCase()) }),
      },
      {
        label: 'change a price…',
        run: () =>
          this.openPrompt({
            title: 'change price',
            label: 'column',
            text: col,
            cursor: 0,
            service,
            submit: (c) => {
              const code = c.trim().toUpperCase();
              if (!this.machine.sim.world.spirals.has(code)) return `no column ${code}`;
              const now = this.machine.controller.snapshot.context.catalog[code]?.price ?? 0;
              this.openPrompt({
                title: `price of ${code} (now ${this.money(now)})`,
                label: 'new price (e.g. 1.50)',
                text: '',
                cursor: 0,
                service,
                submit: (p) => this.setPrice(code, p),
              });
              return undefined;
            },
          }),
      },
      {
        label: 'fill coin tubes…',
        run: () =>
          this.openPrompt({
            title: 'fill tubes',
            label: 'which tube',
            text: '',
            choices: this.coins.map((c) => ({ label: `${this.money(c)} (holds ${this.machine.sim.world.tubeCount(c)})`, value: String(c) })),
            cursor: 0,
            service,
            submit: (c) => {
              const coin = Number(c);
              this.openPrompt({
                title: `fill tube ${this.money(coin)}`,
                label: 'coins to add',
                text: '10',
                cursor: 0,
                service,
                submit: (n) => this.fillTube(coin, n),
              });
              return undefined;
            },
          }),
      },
      {
        label: 'test vend…',
        ...(this.machine.testVend ? {} : { disabled: 'not in the controller core yet' }),
        run: () =>
          this.openPrompt({ title: 'test vend', label: 'column', text: col, cursor: 0, service, submit: (c) => this.testVend(c.trim().toUpperCase()) }),
      },
      { label: 'clear faults', run: run(() => this.clearControllerFaults()) },
      {
        label: 'settle debt: paid by hand',
        ...(ctx.debt > 0 ? {} : { disabled: 'no debt' }),
        run: run(() => this.settleDebt('paid')),
      },
      {
        label: 'settle debt: write off',
        ...(ctx.debt > 0 ? {} : { disabled: 'no debt' }),
        run: run(() => this.settleDebt('writtenOff')),
      },
      { label: 'read counters', run: () => this.setMode({ kind: 'counters' }) },
    ];
  }

  private menuItems(id: MenuId): MenuItem[] {
    return id === 'fault' ? this.faultMenu() : this.serviceMenu();
  }

  private openPrompt(prompt: Prompt): void {
    const back = this.mode.kind === 'prompt' ? this.mode.back : this.mode;
    this.setMode({ kind: 'prompt', prompt, back });
  }

  private setMode(mode: Mode): void {
    this.mode = mode;
    this.touch();
  }

  get currentMode(): Mode {
    return this.mode;
  }

  // ------------------------------------------------------------------ grid focus

  private focusedCode(): string {
    return `${String.fromCharCode(65 + this.focus.row)}${this.focus.col + 1}`;
  }

  private moveFocus(dr: number, dc: number): void {
    const { rows, columns } = this.machine.config.catalog;
    this.focus = {
      row: (this.focus.row + dr + rows) % rows,
      col: (this.focus.col + dc + columns) % columns,
    };
    this.touch();
  }

  // ------------------------------------------------------------------ panels, speed, quit

  togglePanel(id: PanelId): void {
    this.panels[id] = !this.panels[id];
    this.touch();
  }

  faster(): void {
    this.speedIndex = Math.min(SPEEDS.length - 1, this.speedIndex + 1);
    this.paused = false;
    this.say(`clock ${this.speed}×`);
  }

  slower(): void {
    this.speedIndex = Math.max(0, this.speedIndex - 1);
    this.say(`clock ${this.speed}×`);
  }

  togglePause(): void {
    this.paused = !this.paused;
    this.say(this.paused ? 'clock paused (n steps, space runs)' : `clock running ${this.speed}×`);
  }

  quit(): void {
    if (this.quitting) return;
    this.quitting = true;
    this.stopRealtime();
    for (const s of this.subs) s.unsubscribe();
    this.resolveQuit();
  }

  get hasQuit(): boolean {
    return this.quitting;
  }

  // ------------------------------------------------------------------ keys

  /** Handles one key press in the current mode. */
  key(k: KeyPress): void {
    if (this.quitting) return;
    if (k.ctrl && k.input === 'c') {
      this.quit();
      return;
    }
    try {
      this.dispatch(k);
    } catch (e) {
      // A key that trips a device or the machine is reported, never allowed to take the UI down.
      this.say(`error: ${errorText(e)}`, 'error');
    }
  }

  private dispatch(k: KeyPress): void {
    const m = this.mode;
    switch (m.kind) {
      case 'normal':
        return this.normalKey(k);
      case 'keypad':
        return this.keypadKey(k);
      case 'bill':
        return this.billKey(k);
      case 'help':
        if (k.escape || k.enter || k.input === '?' || k.input === 'q' || k.input === 'h') this.setMode({ kind: 'normal' });
        return;
      case 'counters':
        if (k.escape || k.enter || k.input === 'q') this.setMode({ kind: 'menu', menu: 'service', cursor: 0 });
        return;
      case 'menu':
        return this.menuKey(m, k);
      case 'prompt':
        return this.promptKey(m, k);
      case 'command':
        return this.commandKey(m.text, k);
    }
  }

  private normalKey(k: KeyPress): void {
    if (k.up) return this.moveFocus(-1, 0);
    if (k.down) return this.moveFocus(1, 0);
    if (k.left) return this.moveFocus(0, -1);
    if (k.right) return this.moveFocus(0, 1);
    if (k.enter) return this.select(this.focusedCode());
    if (k.escape) {
      this.message = null;
      return this.touch();
    }
    const c = k.input;
    if (/^[1-9]$/.test(c)) {
      const value = this.coins[Number(c) - 1];
      if (value === undefined) return this.say(`no coin on key ${c}: 1-${this.coins.length}`, 'warn');
      return this.insertCoin(value);
    }
    const panel = PANEL_KEYS[c];
    if (panel) return this.togglePanel(panel);
    switch (c) {
      case 'b':
        if (this.bills.length === 0) return this.say('this machine has no bill validator', 'warn');
        return this.setMode({ kind: 'bill' });
      case 'c':
        return this.tapCard(false);
      case 'C':
        return this.tapCard(true);
      case 'x':
        return this.removeCard();
      case 'k':
        return this.setMode({ kind: 'keypad' });
      case 'r':
        return this.coinReturn();
      case 'g':
        return this.take();
      case 'd':
        return this.toggleDoor();
      case 'f':
        return this.setMode({ kind: 'menu', menu: 'fault', cursor: 0 });
      case 's':
        if (this.machine.sim.world.door !== 'open') return this.say('the service menu needs the door open: press d', 'warn');
        return this.setMode({ kind: 'menu', menu: 'service', cursor: 0 });
      case ':':
        if (!this.machine.exec) return this.say('no command line on this machine', 'warn');
        return this.setMode({ kind: 'command', text: '' });
      case ' ':
        return this.togglePause();
      case 'n':
        void this.step();
        return;
      case '+':
      case '=':
        return this.faster();
      case '-':
      case '_':
        return this.slower();
      case '?':
      case 'h':
        return this.setMode({ kind: 'help' });
      case 'q':
        return this.quit();
      default:
        if (c !== '') this.say(`'${c}' does nothing here; ? shows the keys`);
    }
  }

  private keypadKey(k: KeyPress): void {
    if (k.escape) return this.setMode({ kind: 'normal' });
    if (k.backspace) return this.pressKey('CLEAR');
    if (k.enter) {
      this.pressKey('RETURN');
      return this.setMode({ kind: 'normal' });
    }
    const up = k.input.toUpperCase();
    if (up.length === 1 && isKey(up)) {
      this.pressKey(up);
      // A digit completes a selection: back to the normal keys.
      if (/^\d$/.test(up)) this.setMode({ kind: 'normal' });
      return;
    }
    if (k.input !== '') this.say(`the keypad has A-J, 0-9, CLEAR (Backspace) and RETURN (Enter); Esc leaves`, 'warn');
  }

  private billKey(k: KeyPress): void {
    if (/^[1-9]$/.test(k.input)) {
      const value = this.bills[Number(k.input) - 1];
      this.setMode({ kind: 'normal' });
      if (value === undefined) return this.say(`no bill on key ${k.input}`, 'warn');
      return this.insertBill(value);
    }
    if (k.escape || k.input === 'b') this.setMode({ kind: 'normal' });
  }

  private menuKey(m: Extract<Mode, { kind: 'menu' }>, k: KeyPress): void {
    const items = this.menuItems(m.menu);
    const n = items.length;
    if (k.escape || k.input === 'q') return this.setMode({ kind: 'normal' });
    if (k.up) return this.setMode({ ...m, cursor: (m.cursor - 1 + n) % n });
    if (k.down) return this.setMode({ ...m, cursor: (m.cursor + 1) % n });
    if (k.pageUp) return this.setMode({ ...m, cursor: Math.max(0, m.cursor - 5) });
    if (k.pageDown) return this.setMode({ ...m, cursor: Math.min(n - 1, m.cursor + 5) });
    if (m.menu === 'fault' && k.input === 'o') {
      this.onceFaults = !this.onceFaults;
      return this.say(this.onceFaults ? 'faults injected now apply once' : 'faults injected now last until cleared');
    }
    if (k.enter) {
      const item = items[Math.min(m.cursor, n - 1)];
      if (!item) return;
      if (item.disabled) return this.say(`${item.label.replace(/…$/, '')}: ${item.disabled}`, 'warn');
      item.run();
      // Stay in the menu unless the item opened something else; the list may have changed (a
      // fault injected adds a "clear" entry), so keep the cursor on the same entry if it is there.
      if (this.mode.kind === 'menu' && this.mode.menu === m.menu) {
        const after = this.menuItems(m.menu);
        const same = after.findIndex((it) => it.label === item.label);
        this.setMode({ ...m, cursor: same >= 0 ? same : Math.min(m.cursor, after.length - 1) });
      }
    }
  }

  private promptKey(m: Extract<Mode, { kind: 'prompt' }>, k: KeyPress): void {
    const p = m.prompt;
    if (k.escape) return this.setMode(m.back);
    if (p.choices) {
      const n = p.choices.length;
      if (k.up) return this.setMode({ ...m, prompt: { ...p, cursor: (p.cursor - 1 + n) % n } });
      if (k.down) return this.setMode({ ...m, prompt: { ...p, cursor: (p.cursor + 1) % n } });
      if (/^[1-9]$/.test(k.input) && Number(k.input) <= n) return this.submitPrompt(m, p.choices[Number(k.input) - 1]?.value ?? '');
      if (k.enter) return this.submitPrompt(m, p.choices[p.cursor]?.value ?? '');
      return;
    }
    if (k.enter) return this.submitPrompt(m, p.text);
    if (k.backspace) return this.setMode({ ...m, prompt: { ...p, text: p.text.slice(0, -1), error: undefined } });
    if (k.input !== '' && !k.ctrl && printable(k.input)) this.setMode({ ...m, prompt: { ...p, text: p.text + k.input, error: undefined } });
  }

  private submitPrompt(m: Extract<Mode, { kind: 'prompt' }>, value: string): void {
    this.mode = m.back;
    const error = m.prompt.submit(value);
    if (error !== undefined) this.mode = { ...m, prompt: { ...m.prompt, error } };
    this.touch();
  }

  private commandKey(text: string, k: KeyPress): void {
    if (k.escape) return this.setMode({ kind: 'normal' });
    if (k.backspace) return this.setMode({ kind: 'command', text: text.slice(0, -1) });
    if (k.enter) {
      this.setMode({ kind: 'normal' });
      if (text.trim() !== '') void this.runCommand(text.trim());
      return;
    }
    if (k.input !== '' && !k.ctrl && printable(k.input)) this.setMode({ kind: 'command', text: text + k.input });
  }

  /** Runs a line-mode command; it settles the machine, so it queues with the other clock moves. */
  runCommand(line: string): Promise<void> {
    const exec = this.machine.exec;
    if (!exec) {
      this.say('no command line on this machine', 'warn');
      return Promise.resolve();
    }
    this.did(line);
    this.say(`running: ${line}`);
    return this.onClock(async () => {
      const r = await exec(line);
      for (const l of r.output) this.pushLog({ at: this.machine.clock.now(), text: `  ${l}`, source: 'you' });
      this.say(r.output[0] ?? (r.ok ? 'ok' : 'failed'), r.ok ? 'ok' : 'error');
    });
  }

  // ------------------------------------------------------------------ the view

  view(): UiView {
    const { config, controller, sim, clock } = this.machine;
    const snap = controller.snapshot;
    const ctx = snap.context;
    const world = sim.world;
    const cur = config.currency;
    const customer = customerView(ctx, world, sim.devices.card, cur);
    const grid = gridView(config, ctx, world);

    let mode: ModeView;
    const md = this.mode;
    switch (md.kind) {
      case 'menu': {
        const items = this.menuItems(md.menu);
        mode =
          md.menu === 'fault'
            ? { kind: 'menu', title: 'Fault menu', items, cursor: Math.min(md.cursor, items.length - 1), note: `o: once ${this.onceFaults ? 'ON' : 'off'}` }
            : { kind: 'menu', title: 'Service menu', items, cursor: Math.min(md.cursor, items.length - 1) };
        break;
      }
      case 'prompt':
        mode = { kind: 'prompt', prompt: md.prompt };
        break;
      case 'command':
        mode = { kind: 'command', text: md.text };
        break;
      default:
        mode = { kind: md.kind };
    }

    return {
      name: config.machine.name,
      time: clock.now(),
      speed: this.speed,
      paused: this.paused,
      nextDue: clock.nextDue(),
      door: world.door,
      sales: salesState(snap),
      motor: world.motor.running,
      display: { lines: sim.devices.display.lines, rows: config.display.rows, cols: config.display.cols },
      ...customer,
      currency: cur,
      grid,
      focus: this.focus,
      entry: ctx.entry,
      states: activePaths(snap.value),
      links: linkRows(ctx),
      injected: [
        ...sim.faults.active().map((f) => formatFaultSpec(f.spec) + (f.once ? ' (once)' : '')),
        ...sim.faults.scheduled().map((f) => `${formatFaultSpec(f.spec)} at ${formatTime(f.at)}`),
      ],
      log: this.log,
      trace: this.machine.trace$ ? this.trace : null,
      counters: counterLines(ctx, this.counters.historical, cur),
      inside: insideLines(world, cur),
      panels: { ...this.panels },
      mode,
      message: this.message,
      coins: this.coins,
      bills: this.bills,
      hasCommandLine: this.machine.exec !== undefined,
    };
  }
}

/** Text a person typed (no control characters such as escape sequences). */
function printable(text: string): boolean {
  for (const ch of text) if ((ch.codePointAt(0) ?? 0) < 32) return false;
  return true;
}

function faultParams(name: FaultName): string {
  switch (name) {
    case 'tube-empty':
      return ' <coin>';
    case 'tube-count-wrong':
      return ' <coin> <diff>';
    case 'payout-short':
      return ' <n>';
    case 'motor-stall':
    case 'motor-no-home':
    case 'spiral-empty':
      return ' <column>';
    case 'offline':
      return ' <device>';
    default:
      return '';
  }
}
