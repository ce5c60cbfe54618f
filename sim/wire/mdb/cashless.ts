/**
 * Emulated MDB cashless reader (MDB 4.2 §7 / protocols.md §1.7) over a `CashlessPort`. The port is
 * the reader's own logic (card, balance, approval); this front-end speaks the reader side of MDB:
 * Inactive → (SETUP) Disabled → (READER ENABLE) Enabled → (BEGIN SESSION) Session Idle → (VEND
 * REQUEST) Vend → Session Idle → (SESSION COMPLETE → END SESSION) Enabled. Commands in the wrong
 * state are ACKed and reported as CMD OUT OF SEQUENCE, as the spec says.
 */
import type { Subscription } from 'rxjs';
import type { CashlessEvent, CashlessPort } from '../../../src/ports/index.ts';
import { ADDR, encodeCashlessStatus, isoCurrencyBcd, minorToUnits, unitsToMinor } from '../../../hardware/mdb/codec.ts';
import type { MasterCommand } from '../../../hardware/mdb/codec.ts';
import type { Logger } from '../../../hardware/serial/log.ts';
import { ACKED, EmulatedPeripheral, NAKED } from './peripheral.ts';
import type { CommandResult } from './peripheral.ts';

export interface CashlessEmulatorOptions {
  /** Scale factor X (default 1). */
  readonly scaling?: number;
  /** Decimal places Y (default 2). */
  readonly decimals?: number;
  readonly currencyDecimals?: number;
  /** ISO 4217 numeric (default 978). */
  readonly currency?: number;
  /** Z7 Application Maximum Response Time in seconds (default 5). */
  readonly maxResponseSeconds?: number;
  /** Z8 option bits (default 0x01: refunds possible). */
  readonly options?: number;
  /** Base address, 0x10 or 0x60 (default 0x10). */
  readonly address?: number;
  readonly log?: Logger;
}

export type ReaderState = 'inactive' | 'disabled' | 'enabled' | 'sessionIdle' | 'vend';

/** Port fault codes → MALFUNCTION error codes (reader-specific; 0x01 generic). */
const MALFUNCTION: Readonly<Record<string, number>> = { CARD_ERROR: 0x01, CARD_READER: 0x02, REFUND_ERROR: 0xc0 };

export class MdbCashlessEmulator extends EmulatedPeripheral {
  private readonly scaling: number;
  private readonly decimals: number;
  private readonly currencyDecimals: number;
  private readonly maxResp: number;
  private readonly opt: number;
  private readonly currency: number;
  private readonly sub: Subscription;
  private st: ReaderState = 'inactive';
  private cancelPending = false;
  private endPending = false;
  /** VEND APPROVED was sent for the vend in progress (VEND SUCCESS is only valid after it, MDB 4.2 §7). */
  private approvedSent = false;

  constructor(
    private readonly port: CashlessPort,
    opts: CashlessEmulatorOptions = {},
  ) {
    super(opts.address ?? ADDR.cashless, encodeCashlessStatus({ kind: 'justReset' }), 35, opts.log);
    this.scaling = opts.scaling ?? 1;
    this.decimals = opts.decimals ?? 2;
    this.currencyDecimals = opts.currencyDecimals ?? this.decimals;
    this.maxResp = opts.maxResponseSeconds ?? 5;
    this.opt = opts.options ?? 0x01;
    this.currency = isoCurrencyBcd(opts.currency ?? 978);
    this.sub = port.events$.subscribe((e) => this.onPortEvent(e));
  }

  dispose(): void {
    this.sub.unsubscribe();
  }

  get state(): ReaderState {
    return this.st;
  }

  protected override onReset(): void {
    this.st = 'inactive';
    this.cancelPending = false;
    this.endPending = false;
    this.port.enable(false).catch(() => undefined);
  }

  protected async handle(c: MasterCommand): Promise<CommandResult> {
    if (c.device !== 'cashless') return NAKED;
    switch (c.cmd) {
      case 'setupConfig':
        if (this.st === 'inactive') this.st = 'disabled';
        return {
          kind: 'data',
          data: Uint8Array.from(
            encodeCashlessStatus({
              kind: 'readerConfig',
              level: 1,
              currency: this.currency,
              scaling: this.scaling,
              decimals: this.decimals,
              maxResponseSeconds: this.maxResp,
              options: this.opt,
            }),
          ),
        };
      case 'setupPrices':
        return ACKED;
      case 'readerEnable':
        if (this.st === 'inactive') return this.outOfSequence();
        await this.port.enable(true).catch(() => undefined);
        if (this.st === 'disabled') this.st = 'enabled';
        return ACKED;
      case 'readerDisable':
        await this.port.enable(false).catch(() => undefined);
        if (this.st === 'enabled') this.st = 'disabled';
        return ACKED;
      case 'readerCancel':
        this.enqueue(encodeCashlessStatus({ kind: 'cancelled' }));
        return ACKED;
      case 'vendRequest': {
        if (this.st !== 'sessionIdle') return this.outOfSequence();
        const price = unitsToMinor(c.price, this.scaling, this.decimals, this.currencyDecimals);
        if (!price.ok) return NAKED;
        this.st = 'vend';
        this.cancelPending = false;
        this.approvedSent = false;
        this.port.requestVend(price.value, c.item).catch((e: unknown) => {
          this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cashless emulator: vend request refused by the reader');
          if (this.st === 'vend') {
            this.st = 'sessionIdle';
            this.enqueue(encodeCashlessStatus({ kind: 'vendDenied' }));
          }
        });
        return ACKED;
      }
      case 'vendCancel':
        if (this.st !== 'vend') return this.outOfSequence();
        // MDB 4.2 §7.4: the reader answers VEND CANCEL with VEND DENIED. A late approval from the
        // port is reverted below so nothing is charged.
        this.cancelPending = true;
        this.st = 'sessionIdle';
        this.port.vendFailed().catch(() => undefined);
        this.enqueue(encodeCashlessStatus({ kind: 'vendDenied' }));
        return ACKED;
      case 'vendSuccess':
        if (this.st !== 'vend' || !this.approvedSent) return this.outOfSequence();
        this.st = 'sessionIdle';
        await this.port.vendSucceeded(c.item).catch(() => undefined);
        return ACKED;
      case 'vendFailure':
        if (this.st !== 'vend') return this.outOfSequence();
        this.st = 'sessionIdle';
        await this.port.vendFailed().catch(() => undefined);
        return ACKED;
      case 'sessionComplete':
        if (this.st !== 'sessionIdle' && this.st !== 'vend') return this.outOfSequence();
        this.endPending = true;
        this.port
          .endSession()
          .catch(() => undefined)
          .then(() => {
            // If the port ended without saying so, the reader still owes END SESSION.
            if (this.endPending) this.endSession();
          });
        return ACKED;
      case 'expansion':
        if (c.sub === 0x00)
          return {
            kind: 'data',
            data: Uint8Array.from(encodeCashlessStatus({ kind: 'peripheralId', id: { manufacturer: 'VMT', serial: '000000000003', model: 'EMU-READER', version: '0100', features: 0 } })),
          };
        return NAKED;
      case 'cashSale':
        return ACKED;
      default:
        return NAKED;
    }
  }

  private outOfSequence(): CommandResult {
    this.enqueue(encodeCashlessStatus({ kind: 'outOfSequence' }));
    return ACKED;
  }

  private endSession(): void {
    this.endPending = false;
    this.st = this.st === 'inactive' || this.st === 'disabled' ? this.st : 'enabled';
    this.enqueue(encodeCashlessStatus({ kind: 'endSession' }));
  }

  private onPortEvent(e: CashlessEvent): void {
    switch (e.type) {
      case 'sessionBegin': {
        const f = e.funds === null ? null : minorToUnits(e.funds, this.scaling, this.decimals, this.currencyDecimals);
        const funds = f === null ? null : f.ok && f.value < 0xffff ? f.value : 0xfffe;
        if (this.st === 'enabled') this.st = 'sessionIdle';
        this.enqueue(encodeCashlessStatus({ kind: 'beginSession', funds }));
        return;
      }
      case 'vendApproved': {
        if (this.cancelPending) {
          this.cancelPending = false;
          this.port.vendFailed().catch(() => undefined);
          return;
        }
        const a = minorToUnits(e.amount, this.scaling, this.decimals, this.currencyDecimals);
        this.approvedSent = true;
        this.enqueue(encodeCashlessStatus({ kind: 'vendApproved', amount: a.ok && a.value < 0xffff ? a.value : 0xfffe }));
        return;
      }
      case 'vendDenied':
        if (this.cancelPending) {
          this.cancelPending = false;
          return;
        }
        if (this.st === 'vend') this.st = 'sessionIdle';
        this.enqueue(encodeCashlessStatus({ kind: 'vendDenied' }));
        return;
      case 'sessionCancel':
        this.enqueue(encodeCashlessStatus({ kind: 'sessionCancelRequest' }));
        return;
      case 'sessionEnded':
        this.endSession();
        return;
      case 'fault':
        if (!e.cleared) this.enqueue(encodeCashlessStatus({ kind: 'malfunction', code: MALFUNCTION[e.code] ?? 0x01 }));
        return;
    }
  }
}
