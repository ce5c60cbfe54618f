/**
 * The `hardware.cctalk` block of the machine config: bus timing, the coin acceptor and the payout
 * hoppers, validated with zod so the composition root (src/cli/hardware.ts) can report every bad
 * field with its full path.
 */
import { z } from 'zod';

const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();
const minor = z.number().int('must be a whole number of minor units').positive();
const wholeKey = z.string().regex(/^\d+$/, 'must be a whole number');

/** `hardware.cctalk`: bus timing, the coin acceptor and the payout hoppers (hardware/cctalk/index.ts). */
export const cctalkBlockSchema = z
  .object({
    bus: z
      .object({
        hostAddress: z.number().int().min(1).max(255).optional(),
        replyTimeoutMs: positiveMs.optional(),
        retries: z.number().int().min(0).max(5).optional(),
        busyRetries: z.number().int().min(0).max(10).optional(),
        busyRetryMs: ms.optional(),
        interByteTimeoutMs: positiveMs.optional(),
      })
      .strict()
      .optional(),
    acceptor: z
      .object({
        address: z.number().int().min(2).max(255).optional(),
        pollIntervalMs: positiveMs.optional(),
        /** Coin position → value (minor units), when the coin ids do not say it. */
        coinValues: z.record(wholeKey, minor).optional(),
        /** Sorter path → the denomination of the hopper it feeds. */
        sorterPaths: z.record(wholeKey, minor).optional(),
        inhibitCheckMs: ms.optional(),
        maxFailures: z.number().int().positive().optional(),
        retryMs: positiveMs.optional(),
        maxRetryMs: positiveMs.optional(),
      })
      .strict()
      .optional(),
    hoppers: z
      .array(
        z
          .object({
            coinValue: minor,
            address: z.number().int().min(3).max(10).optional(),
            initialCount: z.number().int().nonnegative().optional(),
            sorterPath: z.number().int().min(1).max(8).optional(),
            security: z.enum(['serial', 'none']).optional(),
            statusPollMs: positiveMs.optional(),
            perCoinTimeoutMs: positiveMs.optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
