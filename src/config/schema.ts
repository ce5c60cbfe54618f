/**
 * The machine config: validated with zod so that every invalid field is reported with its path.
 * Money values are integer minor units throughout.
 */
import { z } from 'zod';
import { hardwareSchema } from './hardware.ts';

/**
 * Bounds on every number a config can hold: a timer longer than 2^31 − 1 ms fires at once in Node,
 * and no coin, price or count is anywhere near these limits.
 */
export const MAX_TIMER_MS = 2_147_483_647;
export const MAX_MINOR = 1_000_000_000;
export const MAX_COUNT = 100_000;
const minor = z.number().int('must be a whole number of minor units').nonnegative().max(MAX_MINOR);
const positiveMinor = z.number().int('must be a whole number of minor units').positive().max(MAX_MINOR);
const ms = z.number().int().nonnegative().max(MAX_TIMER_MS, 'at most 2147483647 ms (about 24.8 days, the longest timer)');
const count = z.number().int().nonnegative().max(MAX_COUNT);
export const COLUMN_CODE = /^[A-J][0-9]$/;

export const currencySchema = z
  .object({
    code: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'),
    decimals: z.number().int().min(0).max(3),
    symbol: z.string().min(1).max(3).optional(),
    coins: z.array(positiveMinor).min(1, 'at least one coin denomination'),
    bills: z.array(positiveMinor).default([]),
  })
  .superRefine((c, ctx) => {
    if (new Set(c.coins).size !== c.coins.length)
      ctx.addIssue({ code: 'custom', path: ['coins'], message: 'denominations must be unique' });
    if (new Set(c.bills).size !== c.bills.length)
      ctx.addIssue({ code: 'custom', path: ['bills'], message: 'denominations must be unique' });
  });

export const columnSchema = z.object({
  code: z.string().regex(COLUMN_CODE, 'must be a row letter A-J and a digit, e.g. A1'),
  product: z.string().min(1).max(40),
  price: positiveMinor,
  capacity: z.number().int().positive().max(MAX_COUNT),
  stock: count,
  enabled: z.boolean().default(true),
});

export const policySchema = z.object({
  /** Credit above this is refused (coins and bills that would exceed it are disabled). */
  maxCredit: positiveMinor.default(1000),
  /** Keep the remaining credit after a vend (true) or pay it back as change (false). */
  multiVend: z.boolean().default(false),
  /** Coin return pays nothing back until something was bought. */
  mustBuyBeforeRefund: z.boolean().default(false),
  /**
   * When the change cannot be paid exactly: refuse the sale (false) or sell and keep the part that
   * cannot be paid as overpay (true, "allow overpay" on OEM boards).
   */
  allowOverpay: z.boolean().default(false),
  /** Accept a coin or bill only if the tubes can still change it plus the current credit. */
  acceptOnlyIfChangeable: z.boolean().default(true),
  /** At or below these counts (denomination → coins) the machine shows EXACT CHANGE ONLY. */
  lowTubeLevels: z.record(z.string().regex(/^\d+$/), count).default({}),
  /** Unused credit is kept this long after the last action, then ... (null: indefinitely). */
  saveCreditMs: ms.nullable().default(null),
  /** What happens to credit when `saveCreditMs` runs out: paid back, or kept as overpay. */
  saveCreditExpiry: z.enum(['refund', 'keep']).default('refund'),
  /** A half-typed selection or a card session idle this long is abandoned. */
  inactivityMs: ms.default(30_000),
  /** How long a message (price, sold out, ...) stays before the display returns. */
  messageMs: ms.default(3_000),
  /** Card: how long to wait for approval before giving up. */
  cardApprovalTimeoutMs: ms.default(15_000),
  vend: z
    .object({
      /** The motor must leave its home switch within this time, or the column is jammed. */
      leaveHomeMs: ms.default(1_000),
      /** ...and return to it within this time (one revolution), or the column is jammed. */
      returnHomeMs: ms.default(6_000),
      /** How long the drop sensor is watched after the motor stops. */
      dropWindowMs: ms.default(3_000),
      /**
       * A beam broken longer than this is blocked (VS), not a product falling through: its clearing
       * is not counted as a drop. A falling product shadows the beam for tens of ms.
       */
      beamBlockedMs: ms.min(1).max(60_000).default(1_000),
      /** Extra revolutions on a column when no drop is seen. */
      retries: z.number().int().min(0).max(3).default(1),
      /** On a failed column, try another column holding the same product. */
      tryOtherColumns: z.boolean().default(true),
      /** This many failed columns in a row without any drop seen → the drop sensor is suspected blind. */
      blindAfterFailures: z.number().int().min(1).max(100).default(3),
    })
    .prefault({}),
  /** Clear failed-column marks when the service door closes. */
  clearFailedOnDoorClose: z.boolean().default(true),
  /** Faults within a sales window before the machine goes out of service. */
  maxOpenFaults: z.number().int().positive().max(1_000).default(5),
});

export const devicesSchema = z.object({
  /** Optional devices only disable their payment method when offline; a required one stops sales. */
  bill: z.object({ present: z.boolean().default(true), required: z.boolean().default(false) }).prefault({}),
  card: z.object({ present: z.boolean().default(true), required: z.boolean().default(false) }).prefault({}),
});

export const journalSchema = z.object({
  /** Where the journal lives; default `$VENDOMAT_DATA` or ~/.local/share/vendomat (src/journal/paths.ts). */
  dir: z.string().min(1).optional(),
  /** A snapshot of the recovered state is saved every this many events (recovery replays at most this many). */
  snapshotEvery: z.number().int().positive().max(1_000_000).default(1_000),
});

export const serviceSchema = z.object({
  /**
   * When set, service actions need this PIN typed on the keypad after the door opens. YAML reads
   * `pin: 1234` as a number, so numbers are taken as their digits (quote a PIN with leading zeros).
   */
  pin: z
    .preprocess((v) => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v), z.string().regex(/^\d{4,8}$/, 'must be 4 to 8 digits'))
    .optional(),
  /**
   * Wrong PINs back off and lock out (src/controller/pin.ts): after each wrong PIN the keypad waits
   * `backoffMs` (× `growth` per further wrong PIN); after `attempts` wrong PINs in a row the service
   * menu is locked for `lockoutMs` (× `growth` per further lockout, at most `maxLockoutMs`).
   */
  lockout: z
    .object({
      attempts: z.number().int().min(1).max(20).default(3),
      backoffMs: z.number().int().min(0).max(3_600_000).default(2_000),
      lockoutMs: z.number().int().min(1_000).max(2_147_483_647).default(300_000),
      growth: z.number().min(1).max(10).default(2),
      maxLockoutMs: z.number().int().min(1_000).max(2_147_483_647).default(86_400_000),
    })
    .prefault({}),
});

export const simSchema = z
  .object({
    seed: z.number().int().default(1),
    /** Coins in each tube at start (denomination → count). */
    tubes: z.record(z.string().regex(/^\d+$/), count).default({}),
    tubeCapacity: z.number().int().positive().max(MAX_COUNT).default(100),
    wallet: z
      .object({
        coins: z.record(z.string().regex(/^\d+$/), count).default({}),
        bills: z.record(z.string().regex(/^\d+$/), count).default({}),
      })
      .prefault({}),
    cardBalance: minor.default(2000),
    timing: z
      .object({
        coinValidationMs: ms.default(300),
        billValidationMs: ms.default(1500),
        billStackMs: ms.default(800),
        payoutPerCoinMs: ms.default(150),
        motorStartMs: ms.default(200),
        motorRevolutionMs: ms.default(2_500),
        dropFallMs: ms.default(400),
        cardApprovalMs: ms.default(800),
      })
      .prefault({}),
  })
  .prefault({});

export const machineConfigSchema = z
  .object({
    machine: z.object({
      name: z.string().min(1),
      serial: z.string().min(1).default('VM000001'),
    }),
    currency: currencySchema,
    display: z.object({ rows: z.number().int().min(1).max(4), cols: z.number().int().min(8).max(40) }).prefault({ rows: 2, cols: 16 }),
    catalog: z.object({
      rows: z.number().int().min(1).max(10),
      columns: z.number().int().min(1).max(10),
      slots: z.array(columnSchema).min(1),
    }),
    policy: policySchema.prefault({}),
    devices: devicesSchema.prefault({}),
    journal: journalSchema.prefault({}),
    service: serviceSchema.prefault({}),
    sim: simSchema,
    /** Which adapter serves each port; all simulated when absent. */
    hardware: hardwareSchema.prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.catalog.slots.forEach((slot, i) => {
      const row = slot.code.charCodeAt(0) - 65;
      const col = Number(slot.code[1]);
      if (row >= cfg.catalog.rows || col < 1 || col > cfg.catalog.columns)
        ctx.addIssue({
          code: 'custom',
          path: ['catalog', 'slots', i, 'code'],
          message: `${slot.code} is outside the ${cfg.catalog.rows}×${cfg.catalog.columns} grid`,
        });
      if (seen.has(slot.code))
        ctx.addIssue({ code: 'custom', path: ['catalog', 'slots', i, 'code'], message: `${slot.code} appears twice` });
      seen.add(slot.code);
      if (slot.stock > slot.capacity)
        ctx.addIssue({ code: 'custom', path: ['catalog', 'slots', i, 'stock'], message: `stock ${slot.stock} exceeds capacity ${slot.capacity}` });
    });
    const coins = new Set(cfg.currency.coins);
    for (const key of Object.keys(cfg.policy.lowTubeLevels))
      if (!coins.has(Number(key)))
        ctx.addIssue({ code: 'custom', path: ['policy', 'lowTubeLevels', key], message: `${key} is not a coin of ${cfg.currency.code}` });
    for (const key of Object.keys(cfg.sim.tubes))
      if (!coins.has(Number(key)))
        ctx.addIssue({ code: 'custom', path: ['sim', 'tubes', key], message: `${key} is not a coin of ${cfg.currency.code}` });
  });

export type MachineConfigInput = z.input<typeof machineConfigSchema>;
export type MachineConfig = z.output<typeof machineConfigSchema>;
export type Policy = MachineConfig['policy'];
export type CurrencyConfig = MachineConfig['currency'];
export type SlotConfig = MachineConfig['catalog']['slots'][number];
