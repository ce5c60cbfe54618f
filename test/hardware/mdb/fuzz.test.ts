/**
 * Property tests (seeded): the codec and the board line parser never throw on random or mutated
 * input, encode/decode round-trip, and the line layer resyncs on the next line after garbage.
 */
import { describe, it, expect } from 'vitest';
import { POLL_POLICY } from '../../../hardware/mdb/device.ts';
import { isUnknownOutcome } from '../../../hardware/serial/queue.ts';
import fc from 'fast-check';
import {
  decodeBillPoll,
  decodeBillSetup,
  decodeCashlessPoll,
  decodeChangerIdentification,
  decodeChangerPoll,
  decodeChangerSetup,
  decodeCommand,
  decodeReaderConfig,
  decodeStacker,
  decodeTubeStatus,
  encodeBillStatuses,
  encodeCashlessStatuses,
  encodeChangerStatuses,
  fromHex,
  stripChecksum,
  withChecksum,
} from '../../../hardware/mdb/codec.ts';
import type { BillStatus, CashlessStatus, ChangerStatus, CodecErrorCode } from '../../../hardware/mdb/codec.ts';
import { LineSplitter, parseBoardLine } from '../../../hardware/mdb/board.ts';
import { changerCmd } from '../../../hardware/mdb/codec.ts';
import { VirtualClock } from '../../../sim/clock.ts';
import { EmulatorBinding } from '../../../sim/wire/binding.ts';
import { SerialLink } from '../../../hardware/serial/link.ts';
import { MdbBoard } from '../../../hardware/mdb/board.ts';
import type { MdbReply } from '../../../hardware/mdb/board.ts';
import { RecordingEmulator } from '../serial/helpers.ts';

const SEED = 20240611;
const CODES: readonly CodecErrorCode[] = ['EMPTY', 'TRUNCATED', 'TOO_LONG', 'BAD_CHECKSUM', 'BAD_LENGTH', 'UNKNOWN_STATUS', 'UNKNOWN_COMMAND', 'BAD_ARGUMENT', 'BAD_HEX'];

const bytes = (max = 40) => fc.uint8Array({ minLength: 0, maxLength: max });

// ------------------------------------------------------------------ arbitraries for valid statuses

const changerStatus: fc.Arbitrary<ChangerStatus> = fc.oneof(
  fc.record({ kind: fc.constant('deposited' as const), coinType: fc.integer({ min: 0, max: 15 }), route: fc.constantFrom('cashbox' as const, 'tube' as const, 'unused' as const, 'reject' as const), tubeCount: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('dispensedManually' as const), coinType: fc.integer({ min: 0, max: 15 }), count: fc.integer({ min: 0, max: 7 }), tubeCount: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('slugs' as const), count: fc.integer({ min: 0, max: 31 }) }),
  fc.constantFrom<ChangerStatus>(
    ...(['escrowRequest', 'payoutBusy', 'noCredit', 'defectiveTubeSensor', 'doubleArrival', 'acceptorUnplugged', 'tubeJam', 'romChecksumError', 'coinRoutingError', 'changerBusy', 'justReset', 'coinJam', 'possibleCreditedCoinRemoval'] as const).map((kind) => ({ kind })),
  ),
);

const billStatus: fc.Arbitrary<BillStatus> = fc.oneof(
  fc.record({
    kind: fc.constant('bill' as const),
    action: fc.constantFrom('stacked' as const, 'escrow' as const, 'returned' as const, 'toRecycler' as const, 'disabledRejected' as const, 'toRecyclerManualFill' as const, 'manualDispense' as const, 'recyclerToCashbox' as const),
    billType: fc.integer({ min: 0, max: 15 }),
  }),
  fc.record({ kind: fc.constant('disabledAttempts' as const), count: fc.integer({ min: 0, max: 31 }) }),
  fc.record({ kind: fc.constant('recyclerStatus' as const), code: fc.integer({ min: 0x21, max: 0x2f }) }),
  fc.constantFrom<BillStatus>(
    ...(['defectiveMotor', 'sensorProblem', 'validatorBusy', 'romChecksumError', 'validatorJammed', 'justReset', 'billRemoved', 'cashBoxOutOfPosition', 'validatorDisabled', 'invalidEscrowRequest', 'billRejected', 'possibleCreditedBillRemoval'] as const).map((kind) => ({ kind })),
  ),
);

const u16 = fc.integer({ min: 0, max: 0xfffe });
const cashlessStatus: fc.Arbitrary<CashlessStatus> = fc.oneof(
  fc.record({ kind: fc.constant('beginSession' as const), funds: fc.option(u16, { nil: null }) }),
  fc.record({ kind: fc.constant('vendApproved' as const), amount: fc.option(u16, { nil: null }) }),
  fc.record({ kind: fc.constant('malfunction' as const), code: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('revalueLimit' as const), amount: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({
    kind: fc.constant('readerConfig' as const),
    level: fc.integer({ min: 1, max: 3 }),
    currency: fc.integer({ min: 0, max: 0xffff }),
    scaling: fc.integer({ min: 0, max: 255 }),
    decimals: fc.integer({ min: 0, max: 255 }),
    maxResponseSeconds: fc.integer({ min: 0, max: 255 }),
    options: fc.integer({ min: 0, max: 255 }),
  }),
  fc.constantFrom<CashlessStatus>(
    ...(['justReset', 'sessionCancelRequest', 'vendDenied', 'endSession', 'cancelled', 'outOfSequence', 'revalueApproved', 'revalueDenied', 'timeDateRequest'] as const).map((kind) => ({ kind })),
  ),
);

function fitting<T>(arb: fc.Arbitrary<T>, encode: (l: T[]) => Uint8Array, max: number): fc.Arbitrary<T[]> {
  return fc.array(arb, { minLength: 1, maxLength: 12 }).filter((l) => encode(l).length <= max);
}

/** A decode result is well-formed: a status array and, if any, a known error code within the input. */
function wellFormed(d: { statuses: readonly unknown[]; error?: { code: CodecErrorCode; offset?: number } }, len: number): boolean {
  if (!Array.isArray(d.statuses)) return false;
  if (!d.error) return true;
  return CODES.includes(d.error.code) && (d.error.offset === undefined || d.error.offset <= len);
}

describe('codec fuzz: random bytes never throw', () => {
  it('POLL decoders return statuses or a typed error', () => {
    fc.assert(
      fc.property(
        bytes(),
        fc.integer({ min: 1, max: 3 }),
        (b, level) => wellFormed(decodeChangerPoll(b), b.length) && wellFormed(decodeBillPoll(b), b.length) && wellFormed(decodeCashlessPoll(b, { level, displayChars: level * 8 }), b.length),
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('block and response decoders return a Result', () => {
    fc.assert(
      fc.property(bytes(), (b) =>
        [
          stripChecksum(b),
          decodeChangerSetup(b),
          decodeTubeStatus(b),
          decodeBillSetup(b),
          decodeStacker(b),
          decodeReaderConfig(b),
          decodeCommand(b),
          decodeChangerIdentification(b),
        ].every((r) => r.ok || CODES.includes(r.error.code)),
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('hex parsing never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const r = fromHex(s);
        return !r.ok || r.value.length * 2 === s.length;
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe('codec fuzz: round trips', () => {
  it('changer statuses: decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(fitting(changerStatus, encodeChangerStatuses, 16), (list) => {
        expect(decodeChangerPoll(encodeChangerStatuses(list))).toEqual({ statuses: list });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('bill statuses: decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(fitting(billStatus, encodeBillStatuses, 16), (list) => {
        expect(decodeBillPoll(encodeBillStatuses(list))).toEqual({ statuses: list });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('cashless messages (level 1): decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(fitting(cashlessStatus, encodeCashlessStatuses, 35), (list) => {
        expect(decodeCashlessPoll(encodeCashlessStatuses(list))).toEqual({ statuses: list });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('codec fuzz: mutated frames', () => {
  type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; value: number };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  );
  const mutate = (b: Uint8Array, m: Mutation): Uint8Array => {
    const a = Array.from(b);
    const at = a.length === 0 ? 0 : m.at % (a.length + (m.kind === 'insert' ? 1 : 0));
    if (m.kind === 'flip' && a.length > 0) a[at] = m.value;
    if (m.kind === 'cut') a.length = at;
    if (m.kind === 'insert') a.splice(at, 0, m.value);
    return Uint8Array.from(a);
  };

  it('a mutated block is caught by CHK or decodes without throwing, and the next frame decodes exactly', () => {
    fc.assert(
      fc.property(fitting(changerStatus, encodeChangerStatuses, 16), mutation, fitting(changerStatus, encodeChangerStatuses, 16), (a, m, b) => {
        const block = mutate(withChecksum(encodeChangerStatuses(a)), m);
        const r = stripChecksum(block);
        if (r.ok && !wellFormed(decodeChangerPoll(r.value), r.value.length)) return false;
        // the codec keeps no state: the following good frame is read exactly
        const next = stripChecksum(withChecksum(encodeChangerStatuses(b)));
        expect(next.ok && decodeChangerPoll(next.value)).toEqual({ statuses: b });
        return true;
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('mutated bill and cashless data never throw', () => {
    fc.assert(
      fc.property(fitting(billStatus, encodeBillStatuses, 16), fitting(cashlessStatus, encodeCashlessStatuses, 35), mutation, (bl, cl, m) => {
        const b = mutate(encodeBillStatuses(bl), m);
        const c = mutate(encodeCashlessStatuses(cl), m);
        return wellFormed(decodeBillPoll(b), b.length) && wellFormed(decodeCashlessPoll(c), c.length) && wellFormed(decodeCashlessPoll(c, { level: 3 }), c.length);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('a single corrupted byte is always caught by the CHK', () => {
    fc.assert(
      fc.property(fitting(changerStatus, encodeChangerStatuses, 16), fc.nat(), fc.integer({ min: 1, max: 255 }), (list, at, delta) => {
        const block = withChecksum(encodeChangerStatuses(list));
        const i = at % block.length;
        block[i] = ((block[i] ?? 0) + delta) & 0xff;
        const r = stripChecksum(block);
        return !r.ok && r.error.code === 'BAD_CHECKSUM';
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe('board line fuzz', () => {
  it('parseBoardLine never throws and classifies every line', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b).toString('latin1')), fc
            .tuple(fc.integer({ min: 97, max: 122 }), fc.uint8Array({ maxLength: 40 }), fc.boolean())
            .map(([l, b, up]) => `${String.fromCharCode(l)},${up ? Buffer.from(b).toString('hex').toUpperCase() : Buffer.from(b).toString('hex')}`)), (line) =>
        ['p', 'm', 'v', 'other', 'garbage'].includes(parseBoardLine(line).kind),
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  const reply = fc.oneof(
    fc.constant('p,ACK'),
    fc.constant('p,NACK'),
    fc.uint8Array({ minLength: 1, maxLength: 36 }).map((b) => `p,${Buffer.from(b).toString('hex').toUpperCase()}`),
  );

  it('the splitter resyncs: after any garbage and a line end, the next line comes out whole', () => {
    fc.assert(
      fc.property(bytes(600), reply, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (garbage, line, cuts) => {
        const s = new LineSplitter(256);
        const stream = Buffer.concat([Buffer.from(garbage), Buffer.from(`\n${line}\n`)]);
        const events = [];
        let i = 0;
        let c = 0;
        while (i < stream.length) {
          const n = cuts[c++ % cuts.length] ?? 1;
          events.push(...s.push(stream.subarray(i, i + n)));
          i += n;
        }
        const last = events.at(-1);
        return last?.kind === 'line' && last.text === line;
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('after random garbage the board never takes a line as the POLL answer (outcome unknown), and the next exchange resyncs', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(300), fc.uint8Array({ minLength: 1, maxLength: 16 }), async (garbage, data) => {
        // garbage that happens to be a well-formed reply line is not garbage: skip those cases
        const lines = Buffer.from(garbage).toString('latin1').split(/[\r\n]+/);
        fc.pre(lines.every((l) => ['garbage', 'v', 'other'].includes(parseBoardLine(l).kind) || l.length > 256));
        fc.pre(lines.some((l) => parseBoardLine(l).kind === 'garbage' && l.length > 0 && l.length <= 256));
        const clock = new VirtualClock();
        const binding = new EmulatorBinding();
        const peer = new RecordingEmulator('/dev/fuzz');
        binding.register(peer);
        const link = new SerialLink({ target: { path: peer.path }, clock, binding });
        const board = new MdbBoard({ link, clock, minReplyMs: 0 });
        board.start();
        await link.open();
        await clock.advance(0);
        peer.say('m,ACK\n');
        await clock.advance(5);
        let got: MdbReply | undefined;
        let err: unknown;
        void board.send(changerCmd.poll(), { policy: POLL_POLICY }).then(
          (r) => (got = r),
          (e: unknown) => (err = e),
        );
        await clock.advance(0);
        peer.say(garbage);
        peer.say(`\np,${Buffer.from(data).toString('hex')}\n`);
        await clock.advance(50);
        expect(got).toBeUndefined();
        expect(isUnknownOutcome(err)).toBe(true);
        // the next exchange is clean again
        void board.send(changerCmd.poll(), { policy: POLL_POLICY }).then((r) => (got = r));
        await clock.advance(25);
        peer.say(`p,${Buffer.from(data).toString('hex')}\n`);
        await clock.advance(5);
        expect(got).toEqual({ kind: 'data', data });
        board.stop();
        await link.close();
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});
