/**
 * The `hardware.mdb` block of the machine config: options for the interface board and the three
 * drivers, validated with zod so the composition root (src/cli/hardware.ts) can report every bad
 * field with its full path.
 */
import { z } from 'zod';

const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();

/** Poll and recovery timing every MDB driver takes (hardware/mdb/device.ts). */
const mdbTiming = {
  pollActiveMs: positiveMs.optional(),
  pollIdleMs: positiveMs.optional(),
  pollOfflineMs: positiveMs.optional(),
  nonResponseMs: positiveMs.optional(),
  resetIntervalMs: ms.optional(),
  resetAnswerMs: positiveMs.optional(),
  activeHoldMs: ms.optional(),
};

/** `hardware.mdb`: the interface board and the three drivers (hardware/mdb/index.ts). */
export const mdbBlockSchema = z
  .object({
    board: z
      .object({
        replyChecksum: z.enum(['stripped', 'included']).optional(),
        lineEnding: z.enum(['\n', '\r\n']).optional(),
        timeoutMs: positiveMs.optional(),
        initRetryMs: positiveMs.optional(),
        maxLineLength: z.number().int().min(16).optional(),
      })
      .strict()
      .optional(),
    coin: z
      .object({
        ...mdbTiming,
        payoutBaseTimeoutMs: positiveMs.optional(),
        payoutPerCoinTimeoutMs: positiveMs.optional(),
        payoutVerifyTimeoutMs: positiveMs.optional(),
        tubeStatusAfterResetMs: ms.optional(),
        payoutMinPerCoinMs: ms.optional(),
      })
      .strict()
      .optional(),
    bill: z.object({ ...mdbTiming }).strict().optional(),
    card: z
      .object({
        ...mdbTiming,
        address: z.union([z.literal(0x10), z.literal(0x60)]).optional(),
        endSessionTimeoutMs: positiveMs.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
