/**
 * The controller shell: the one place where effects run. It feeds device events into the pure
 * statechart, carries out the statechart's device commands on the ports, and keeps the derived
 * outputs (display text, acceptance lists, card reader on/off) in step with each snapshot.
 */
import { Subject, Subscription, type Observable } from 'rxjs';
import { createActor, type Actor } from 'xstate';
import type { Clock } from '../clock.ts';
import type { MachineConfig } from '../config/schema.ts';
import type { CoinCounts, LinkState, MachinePorts, PayoutResult, StorageHealth } from '../ports/index.ts';
import { isDeviceError } from '../ports/index.ts';
import type { MachineEvent } from './events.ts';
import { eventProblem } from './bounds.ts';
import { vmcMachine, type DeviceName, type Payout, type VmcEvent, type VmcInput } from './machine.ts';
import { acceptance, displayLines, sameList, type Acceptance, type VmcSnapshot } from './view.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export interface ControllerOptions {
  readonly config: MachineConfig;
  readonly ports: MachinePorts;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly restore?: VmcInput['restore'];
  /** The journal's storage health; `low` or `failed` stops new money from being taken. */
  readonly storage$?: Observable<StorageHealth>;
  /** Called with each domain event before anything else sees it (the journal hooks in here). */
  readonly beforeEvent?: (event: MachineEvent, at: number) => void;
  /** The statechart to run (default: the vending statechart); tests give one with a failing action. */
  readonly machine?: typeof vmcMachine;
}

/** The fault journalled when the statechart itself fails (a guard or an action threw). */
export const CONTROLLER_ERROR = 'CONTROLLER_ERROR';

export interface TimedEvent {
  readonly at: number;
  readonly event: MachineEvent;
}

function errorCode(e: unknown): string {
  return isDeviceError(e) ? e.code : 'DEVICE_ERROR';
}

export class Controller {
  readonly events$: Observable<TimedEvent>;
  readonly actor: Actor<typeof vmcMachine>;
  private readonly eventsSubject = new Subject<TimedEvent>();
  private readonly subs = new Subscription();
  private readonly log: Logger;
  private lastLines: string[] = [];
  private lastAcceptance: Acceptance | null = null;
  private started = false;
  private failure: Error | null = null;
  /** One command sequence per device: each command starts after the previous one settled. */
  private readonly lanes = new Map<string, { tail: Promise<void>; pending: number }>();

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.logger ?? silentLogger;
    this.events$ = this.eventsSubject.asObservable();
    const { ports } = opts;
    const machine = (opts.machine ?? vmcMachine).provide({
      actions: {
        startMotor: (_, { column }) => {
          this.command('dispenser', () => ports.dispenser.motorOn(column), (e) => {
            this.log.warn({ column, err: String(e) }, 'motor did not start');
            this.send({ type: 'MOTOR_ERROR', code: errorCode(e) });
          });
        },
        stopMotor: () => {
          this.command('dispenser', () => ports.dispenser.motorOff(), (e) => this.log.error({ err: String(e) }, 'motor did not stop'));
        },
        payout: (_, payout) => {
          this.command('coin', () => this.runPayout(payout), (e) => this.log.error({ err: String(e) }, 'payout not settled'));
        },
        stackBill: () => {
          const bill = ports.bill;
          if (bill) this.command('bill', () => bill.stack(), (e) => this.log.warn({ err: String(e) }, 'bill stack failed'));
        },
        returnBill: () => {
          const bill = ports.bill;
          if (bill) this.command('bill', () => bill.returnBill(), (e) => this.log.warn({ err: String(e) }, 'bill return failed'));
        },
        cardRequestVend: (_, { price, item }) => {
          const card = ports.card;
          if (!card) return;
          this.command('card', () => card.requestVend(price, item), (e) => {
            this.log.warn({ err: String(e) }, 'card vend request failed');
            this.send({ type: 'CARD_DENIED' });
          });
        },
        cardVendSucceeded: (_, { item }) => {
          const card = ports.card;
          if (card) this.command('card', () => card.vendSucceeded(item), (e) => this.log.error({ err: String(e) }, 'card vend success not delivered'));
        },
        cardVendFailed: () => {
          const card = ports.card;
          if (card) this.command('card', () => card.vendFailed(), (e) => this.log.error({ err: String(e) }, 'card vend failure not delivered'));
        },
        cardEndSession: () => {
          const card = ports.card;
          if (card) this.command('card', () => card.endSession(), (e) => this.log.warn({ err: String(e) }, 'card end session failed'));
        },
      },
    });
    this.actor = createActor(machine, { clock: opts.clock, input: { config: opts.config, restore: opts.restore } });
  }

  /** Wire the ports, start the statechart and read the tube levels. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { ports, clock } = this.opts;
    this.actor.on('*', (event) => {
      const at = clock.now();
      this.opts.beforeEvent?.(event, at);
      this.eventsSubject.next({ at, event });
    });
    this.subs.add(
      this.actor.subscribe({
        next: (s) => this.applyOutputs(s),
        error: (e) => this.failSafe(e),
      }),
    );
    this.actor.start();
    this.wirePorts(ports);
    try {
      this.send({ type: 'TUBES', levels: await ports.coin.tubeLevels() });
    } catch (e) {
      this.log.warn({ err: String(e) }, 'could not read tube levels at start');
    }
  }

  /** Clean shutdown: motors off, payment devices disabled, credit left as it is. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.subs.unsubscribe();
    this.actor.stop();
    const { ports } = this.opts;
    await Promise.allSettled([
      ports.dispenser.motorOff(),
      ports.coin.setAcceptance([]),
      ports.bill?.setAcceptance([]),
      ports.card?.enable(false),
    ]);
    this.eventsSubject.complete();
  }

  /**
   * Feeds one event to the statechart. Numbers are bounded here (bounds.ts): an event out of bounds
   * is refused and logged; a payout report that cannot be read is taken as a payout that failed
   * with nothing known paid (the whole amount becomes a recorded debt, never a silent loss).
   */
  send(event: VmcEvent): void {
    if (this.failure) {
      this.log.error({ event: event.type }, 'controller out of service after a statechart error: event not handled');
      return;
    }
    const problem = eventProblem(event);
    if (problem !== undefined) {
      this.log.error({ problem }, 'event out of bounds refused');
      if (event.type === 'PAYOUT_DONE') this.actor.send({ type: 'PAYOUT_DONE', paid: {}, complete: false, faultCode: 'PAYOUT_FAILED' });
      return;
    }
    this.actor.send(event);
  }

  /** The statechart error that stopped the controller, or null while it runs. */
  get failed(): Error | null {
    return this.failure;
  }

  /**
   * A statechart error (a guard or an action threw) is loud and safe, never silent: the money
   * devices stop taking money, the motor stops, the display says OUT OF SERVICE, the error is logged
   * and journalled as a CONTROLLER_ERROR fault. The credit held stays in the journal as it was.
   */
  private failSafe(e: unknown): void {
    if (this.failure) return;
    const err = e instanceof Error ? e : new Error(String(e));
    this.failure = err;
    this.log.error({ err: err.message, stack: err.stack }, 'statechart error: the controller is out of service until restarted');
    const event: MachineEvent = { type: 'faultRaised', code: CONTROLLER_ERROR, device: 'controller', detail: err.message.slice(0, 200) };
    const at = this.opts.clock.now();
    try {
      this.opts.beforeEvent?.(event, at);
    } catch (j) {
      this.log.error({ err: String(j) }, 'statechart error could not be journalled');
    }
    this.eventsSubject.next({ at, event });
    const { ports } = this.opts;
    const warn = (what: string) => (x: unknown) => this.log.error({ err: String(x) }, what);
    ports.dispenser.motorOff().catch(warn('motor did not stop after a statechart error'));
    ports.coin.setAcceptance([]).catch(warn('coin acceptance not switched off after a statechart error'));
    ports.bill?.setAcceptance([]).catch(warn('bill acceptance not switched off after a statechart error'));
    ports.card?.enable(false).catch(warn('card reader not switched off after a statechart error'));
    const lines = ['OUT OF SERVICE', 'CALL SERVICE'].slice(0, ports.display.rows).map((l) => l.slice(0, ports.display.cols));
    while (lines.length < ports.display.rows) lines.push('');
    this.lastLines = lines;
    ports.display.show(lines).catch(warn('display not updated after a statechart error'));
  }

  get snapshot(): VmcSnapshot {
    return this.actor.getSnapshot();
  }

  /** The display lines as last shown. */
  get display(): readonly string[] {
    return this.lastLines;
  }

  private wirePorts(ports: MachinePorts): void {
    const link = (device: DeviceName, link$: Observable<LinkState>) =>
      this.subs.add(
        link$.subscribe((l) =>
          this.send({ type: 'LINK', device, status: l.status, code: l.status === 'error' ? l.code : undefined }),
        ),
      );
    link('coin', ports.coin.link$);
    link('keypad', ports.keypad.link$);
    link('display', ports.display.link$);
    link('dispenser', ports.dispenser.link$);
    link('drop', ports.drop.link$);
    link('door', ports.door.link$);
    this.subs.add(
      ports.coin.events$.subscribe((e) => {
        switch (e.type) {
          case 'coin':
            return this.send({ type: 'COIN', value: e.value, routing: e.routing });
          case 'tubes':
            return this.send({ type: 'TUBES', levels: e.levels });
          case 'returnPressed':
            return this.send({ type: 'RETURN' });
          case 'slug':
            return this.send({ type: 'SLUG', count: e.count });
          case 'fault':
            return this.send({ type: 'FAULT', device: 'coin', code: e.code, cleared: e.cleared ?? false, detail: e.detail, advisory: e.advisory });
        }
      }),
    );
    if (ports.bill) {
      link('bill', ports.bill.link$);
      this.subs.add(
        ports.bill.events$.subscribe((e) => {
          switch (e.type) {
            case 'escrow':
              return this.send({ type: 'BILL_ESCROW', value: e.value });
            case 'stacked':
              return this.send({ type: 'BILL_STACKED', value: e.value });
            case 'returned':
              return this.send({ type: 'BILL_RETURNED', value: e.value });
            case 'rejected':
              return this.send({ type: 'BILL_REJECTED' });
            case 'fault':
              return this.send({ type: 'FAULT', device: 'bill', code: e.code, cleared: e.cleared ?? false, detail: e.detail, advisory: e.advisory });
          }
        }),
      );
    }
    if (ports.card) {
      link('card', ports.card.link$);
      this.subs.add(
        ports.card.events$.subscribe((e) => {
          switch (e.type) {
            case 'sessionBegin':
              return this.send({ type: 'CARD_BEGIN', funds: e.funds });
            case 'vendApproved':
              return this.send({ type: 'CARD_APPROVED', amount: e.amount });
            case 'vendDenied':
              return this.send({ type: 'CARD_DENIED' });
            case 'sessionCancel':
              return this.send({ type: 'CARD_CANCEL' });
            case 'sessionEnded':
              return this.send({ type: 'CARD_ENDED' });
            case 'fault':
              return this.send({ type: 'FAULT', device: 'card', code: e.code, cleared: e.cleared ?? false, detail: e.detail, advisory: e.advisory });
          }
        }),
      );
    }
    if (this.opts.storage$) {
      this.subs.add(
        this.opts.storage$.subscribe((h) =>
          this.send(h.status === 'ok' ? { type: 'STORAGE', status: 'ok' } : { type: 'STORAGE', status: h.status, detail: h.detail }),
        ),
      );
    }
    this.subs.add(ports.keypad.keys$.subscribe((key) => this.send({ type: 'KEY', key })));
    this.subs.add(
      ports.dispenser.events$.subscribe((e) => {
        switch (e.type) {
          case 'homeLeft':
            return this.send({ type: 'HOME_LEFT', column: e.column });
          case 'homeReached':
            return this.send({ type: 'HOME_REACHED', column: e.column });
          case 'stalled':
            return this.send({ type: 'MOTOR_STALLED', column: e.column });
        }
      }),
    );
    this.subs.add(ports.drop.beam$.subscribe((broken) => this.send({ type: 'BEAM', broken })));
    this.subs.add(ports.door.door$.subscribe((d) => this.send({ type: 'DOOR', open: d === 'open' })));
  }

  /**
   * Runs a device command after every earlier command to the same device has settled (MDB 4.2 §7.4:
   * VEND SUCCESS must be answered before SESSION COMPLETE, or the reader sees them out of sequence).
   * With nothing pending the command starts at once, in the same turn as the statechart's action.
   * `onError` handles a rejection; the sequence goes on with the next command either way.
   */
  private command(device: string, run: () => Promise<unknown>, onError: (e: unknown) => void): void {
    let lane = this.lanes.get(device);
    if (!lane) {
      lane = { tail: Promise.resolve(), pending: 0 };
      this.lanes.set(device, lane);
    }
    const current = lane;
    const start = (): Promise<void> => {
      let p: Promise<unknown>;
      try {
        p = run();
      } catch (e) {
        p = Promise.reject(e);
      }
      return p
        .then(
          () => undefined,
          (e: unknown) => {
            try {
              onError(e);
            } catch (err) {
              this.log.error({ device, err: String(err) }, 'device command error handler failed');
            }
          },
        )
        .finally(() => {
          current.pending -= 1;
        });
    };
    current.pending += 1;
    current.tail = current.pending === 1 ? start() : current.tail.then(start);
  }

  /** Settles when every device command issued so far has settled (for a clean stop and for tests). */
  async commandsSettled(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((l) => l.tail));
  }

  /**
   * Pay out and report what really left the tubes. When the mechanism fails outright, the tube
   * levels are read again and the difference is what was paid; the rest becomes a debt.
   */
  private async runPayout(payout: Payout): Promise<void> {
    const { coin } = this.opts.ports;
    const before = this.snapshot.context.tubes;
    let result: PayoutResult;
    try {
      result = await coin.dispense(payout.plan);
    } catch (e) {
      this.log.warn({ err: String(e) }, 'payout failed; reconciling from tube levels');
      let paid: CoinCounts = {};
      try {
        const after = await coin.tubeLevels();
        const diff: Record<number, number> = {};
        for (const [d, planned] of Object.entries(payout.plan)) {
          const gone = Math.max(0, (before[Number(d)] ?? 0) - (after[Number(d)] ?? 0));
          if (gone > 0) diff[Number(d)] = Math.min(planned, gone);
        }
        paid = diff;
      } catch {
        // Nothing known was paid: the whole amount is owed, recorded as a debt.
      }
      result = { paid, complete: false, faultCode: errorCode(e) };
    }
    this.send({ type: 'PAYOUT_DONE', paid: result.paid, complete: result.complete, faultCode: result.faultCode });
  }

  private applyOutputs(s: VmcSnapshot): void {
    const { ports } = this.opts;
    const lines = displayLines(s, ports.display.rows, ports.display.cols);
    if (!sameList2(lines, this.lastLines)) {
      this.lastLines = lines;
      ports.display.show(lines).catch((e: unknown) => this.log.warn({ err: String(e) }, 'display update failed'));
    }
    const acc = acceptance(s);
    const prev = this.lastAcceptance;
    this.lastAcceptance = acc;
    if (!prev || !sameList(prev.coins, acc.coins))
      this.command('coin', () => ports.coin.setAcceptance(acc.coins), (e) => this.log.warn({ err: String(e) }, 'coin acceptance not set'));
    const { bill, card } = ports;
    if (bill && (!prev || !sameList(prev.bills, acc.bills)))
      this.command('bill', () => bill.setAcceptance(acc.bills), (e) => this.log.warn({ err: String(e) }, 'bill acceptance not set'));
    if (card && (!prev || prev.card !== acc.card))
      this.command('card', () => card.enable(acc.card), (e) => this.log.warn({ err: String(e) }, 'card reader not switched'));
  }
}

function sameList2(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
