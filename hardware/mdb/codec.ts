/**
 * Pure MDB 4.2 codec: master commands (builders and parsers), peripheral responses (decoders and
 * encoders), CHK, value scaling. No I/O, no time, no throwing: bad input comes back as a typed
 * `CodecError`. Both the drivers (hardware/mdb/*) and the emulators (sim/wire/mdb/*) use it, so the
 * spec test vectors in protocols.md §1.8 pin both sides down.
 *
 * Byte layout conventions here: a *command* is `[address|cmd, ...data]` without CHK (the interface
 * board adds the mode bit and CHK, protocols.md §2.1); a *response* is the data block without CHK.
 * `withChecksum` / `stripChecksum` convert to and from the wire block.
 */

// ------------------------------------------------------------------------------------ basics

/** Peripheral base addresses, MDB 4.2 §2.3 / protocols.md §1.2. */
export const ADDR = { changer: 0x08, cashless: 0x10, bill: 0x30, cashless2: 0x60 } as const;

/** Single-byte control codes (protocols.md §1.3). */
export const ACK = 0x00;
export const RET = 0xaa;
export const NAK = 0xff;

/** Max data block + CHK, MDB 4.2 §2.1. */
export const MAX_BLOCK = 36;

export type CodecErrorCode =
  | 'EMPTY'
  | 'TRUNCATED'
  | 'TOO_LONG'
  | 'BAD_CHECKSUM'
  | 'BAD_LENGTH'
  | 'UNKNOWN_STATUS'
  | 'UNKNOWN_COMMAND'
  | 'BAD_ARGUMENT'
  | 'BAD_HEX';

export interface CodecError {
  readonly code: CodecErrorCode;
  readonly message: string;
  /** Byte offset where decoding stopped, when it applies. */
  readonly offset?: number;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CodecError };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(code: CodecErrorCode, message: string, offset?: number): Result<T> => ({
  ok: false,
  error: offset === undefined ? { code, message } : { code, message, offset },
});

/** A master command: address byte first, no CHK. `name` is for traces. */
export interface MdbCommand {
  readonly bytes: Uint8Array;
  readonly name: string;
}

/** CHK = (all bytes) mod 256, carry ignored (MDB 4.2 §2.2 / protocols.md §1.3). */
export function checksum(bytes: ArrayLike<number>, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + ((bytes[i] ?? 0) & 0xff)) & 0xff;
  return sum;
}

export function withChecksum(bytes: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  for (let i = 0; i < bytes.length; i++) out[i] = (bytes[i] ?? 0) & 0xff;
  out[bytes.length] = checksum(bytes);
  return out;
}

/** Verify and drop the trailing CHK of a peripheral data block. */
export function stripChecksum(block: Uint8Array): Result<Uint8Array> {
  if (block.length === 0) return fail('EMPTY', 'empty block');
  if (block.length === 1) return fail('TRUNCATED', 'a data block needs at least one data byte and a CHK');
  if (block.length > MAX_BLOCK) return fail('TOO_LONG', `block of ${block.length} bytes exceeds ${MAX_BLOCK}`);
  const data = block.subarray(0, block.length - 1);
  const want = checksum(data);
  const got = block[block.length - 1] ?? -1;
  if (want !== got) return fail('BAD_CHECKSUM', `CHK ${hex2(got)} != ${hex2(want)}`, block.length - 1);
  return ok(data);
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).toUpperCase().padStart(2, '0');
}

/** Upper-case hex, no separators ("0B0B"). */
export function toHex(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += hex2(bytes[i] ?? 0);
  return s;
}

/** Parse even-length hex (either case). */
export function fromHex(text: string): Result<Uint8Array> {
  if (text.length % 2 !== 0) return fail('BAD_HEX', `odd number of hex digits (${text.length})`);
  if (!/^[0-9a-fA-F]*$/.test(text)) return fail('BAD_HEX', 'not a hex string');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return ok(out);
}

const u16 = (d: ArrayLike<number>, i: number): number => (((d[i] ?? 0) & 0xff) << 8) | ((d[i + 1] ?? 0) & 0xff);
const isU8 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xff;
const isU16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
const hi = (n: number): number => (n >> 8) & 0xff;
const lo = (n: number): number => n & 0xff;

function cmd(name: string, ...bytes: number[]): MdbCommand {
  return { name, bytes: Uint8Array.from(bytes.map((b) => b & 0xff)) };
}

// ------------------------------------------------------------------------------------ currency and scaling

/** Packed-BCD currency code (Z2–Z3): leading 1 = ISO 4217 numeric, leading 0 = phone code. */
export type CurrencyCode =
  | { readonly kind: 'iso'; readonly numeric: number }
  | { readonly kind: 'phone'; readonly code: number }
  | { readonly kind: 'unknown'; readonly raw: number };

export function decodeCurrency(raw: number): CurrencyCode {
  const digits = (raw & 0xffff).toString(16).padStart(4, '0');
  if (!/^[0-9]{4}$/.test(digits)) return { kind: 'unknown', raw };
  if (digits[0] === '1') return { kind: 'iso', numeric: Number(digits.slice(1)) };
  if (digits[0] === '0') return { kind: 'phone', code: Number(digits.slice(1)) };
  return { kind: 'unknown', raw };
}

/** ISO 4217 numeric (978 for EUR) to the packed-BCD form (0x1978). */
export function isoCurrencyBcd(numeric: number): number {
  const n = Math.max(0, Math.min(999, Math.floor(numeric)));
  return parseInt(`1${String(n).padStart(3, '0')}`, 16);
}

/**
 * Device units (credit × scaling, `deviceDecimals` places) → machine minor units
 * (`currencyDecimals` places). Integer-only; a value that cannot be represented is an error.
 */
export function unitsToMinor(units: number, scaling: number, deviceDecimals: number, currencyDecimals: number): Result<number> {
  if (!Number.isInteger(units) || !Number.isInteger(scaling) || scaling <= 0) return fail('BAD_ARGUMENT', 'units and scaling must be integers, scaling > 0');
  const raw = units * scaling;
  const shift = currencyDecimals - deviceDecimals;
  if (shift >= 0) return ok(raw * 10 ** shift);
  const div = 10 ** -shift;
  if (raw % div !== 0) return fail('BAD_ARGUMENT', `${raw} at ${deviceDecimals} decimals is not whole at ${currencyDecimals} decimals`);
  return ok(raw / div);
}

/** Machine minor units → device scaled units (the inverse of `unitsToMinor`). */
export function minorToUnits(minor: number, scaling: number, deviceDecimals: number, currencyDecimals: number): Result<number> {
  if (!Number.isInteger(minor) || minor < 0 || !Number.isInteger(scaling) || scaling <= 0) return fail('BAD_ARGUMENT', 'minor must be a non-negative integer, scaling > 0');
  const shift = currencyDecimals - deviceDecimals;
  const num = shift >= 0 ? minor : minor * 10 ** -shift;
  const den = shift >= 0 ? scaling * 10 ** shift : scaling;
  if (num % den !== 0) return fail('BAD_ARGUMENT', `${minor} is not a multiple of the device scale (${den} at the device's decimals)`);
  return ok(num / den);
}

// ------------------------------------------------------------------------------------ coin changer (0x08), MDB 4.2 §5

export const changerCmd = {
  reset: (): MdbCommand => cmd('changer RESET', 0x08),
  setup: (): MdbCommand => cmd('changer SETUP', 0x09),
  tubeStatus: (): MdbCommand => cmd('changer TUBE STATUS', 0x0a),
  poll: (): MdbCommand => cmd('changer POLL', 0x0b),
  /** COIN TYPE: enable mask and manual-dispense-enable mask (bit n = coin type n), MSB first. */
  coinType(enable: number, manualDispense: number): Result<MdbCommand> {
    if (!isU16(enable) || !isU16(manualDispense)) return fail('BAD_ARGUMENT', 'coin masks must be 16-bit');
    return ok(cmd(`changer COIN TYPE enable=${enable.toString(16)} manual=${manualDispense.toString(16)}`, 0x0c, hi(enable), lo(enable), hi(manualDispense), lo(manualDispense)));
  },
  /** DISPENSE `count` (1–15) coins of `coinType` (0–15): Y1 = yyyyxxxx. */
  dispense(coinType: number, count: number): Result<MdbCommand> {
    if (!Number.isInteger(coinType) || coinType < 0 || coinType > 15) return fail('BAD_ARGUMENT', `coin type ${coinType} out of 0..15`);
    if (!Number.isInteger(count) || count < 1 || count > 15) return fail('BAD_ARGUMENT', `dispense count ${count} out of 1..15`);
    return ok(cmd(`changer DISPENSE ${count}x type ${coinType}`, 0x0d, (count << 4) | coinType));
  },
  expansionIdentification: (): MdbCommand => cmd('changer EXP IDENTIFICATION', 0x0f, 0x00),
  expansionFeatureEnable(features: number): Result<MdbCommand> {
    if (!Number.isInteger(features) || features < 0 || features > 0xffffffff) return fail('BAD_ARGUMENT', 'feature bits must be 32-bit');
    return ok(cmd('changer EXP FEATURE ENABLE', 0x0f, 0x01, (features >>> 24) & 0xff, (features >>> 16) & 0xff, (features >>> 8) & 0xff, features & 0xff));
  },
  payoutStatus: (): MdbCommand => cmd('changer EXP PAYOUT STATUS', 0x0f, 0x03),
  payoutValuePoll: (): MdbCommand => cmd('changer EXP PAYOUT VALUE POLL', 0x0f, 0x04),
  diagnosticStatus: (): MdbCommand => cmd('changer EXP DIAGNOSTIC STATUS', 0x0f, 0x05),
};

export interface ChangerSetup {
  /** Z1: 2 or 3. */
  readonly level: number;
  /** Z2–Z3 packed BCD. */
  readonly currency: number;
  readonly scaling: number;
  readonly decimals: number;
  /** Z6–Z7: bit n = coin type n can go to a tube. */
  readonly routing: number;
  /** Z8–Z23: credit per coin type 0..15 in scaling units; 0 = unused, 0xFF = token. Always 16 long. */
  readonly credits: readonly number[];
}

export function decodeChangerSetup(data: Uint8Array): Result<ChangerSetup> {
  if (data.length < 7) return fail('TRUNCATED', `changer SETUP needs at least 7 bytes, got ${data.length}`);
  if (data.length > 23) return fail('TOO_LONG', `changer SETUP has at most 23 bytes, got ${data.length}`);
  const credits: number[] = [];
  for (let i = 0; i < 16; i++) credits.push(data[7 + i] ?? 0); // unsent trailing bytes are 0
  const scaling = data[3] ?? 0;
  if (scaling === 0) return fail('BAD_ARGUMENT', 'coin scaling factor is 0', 3);
  return ok({ level: data[0] ?? 0, currency: u16(data, 1), scaling, decimals: data[4] ?? 0, routing: u16(data, 5), credits });
}

export function encodeChangerSetup(s: ChangerSetup): Uint8Array {
  const out = [s.level, hi(s.currency), lo(s.currency), s.scaling, s.decimals, hi(s.routing), lo(s.routing)];
  for (let i = 0; i < 16; i++) out.push(s.credits[i] ?? 0);
  return Uint8Array.from(out.map((b) => b & 0xff));
}

export interface TubeStatus {
  /** Bit n = the tube of coin type n is full. */
  readonly full: number;
  /** Coins in the tube per coin type 0..15. Always 16 long. */
  readonly counts: readonly number[];
}

export function decodeTubeStatus(data: Uint8Array): Result<TubeStatus> {
  if (data.length < 2) return fail('TRUNCATED', `TUBE STATUS needs at least 2 bytes, got ${data.length}`);
  if (data.length > 18) return fail('TOO_LONG', `TUBE STATUS has at most 18 bytes, got ${data.length}`);
  const counts: number[] = [];
  for (let i = 0; i < 16; i++) counts.push(data[2 + i] ?? 0);
  return ok({ full: u16(data, 0), counts });
}

export function encodeTubeStatus(t: TubeStatus): Uint8Array {
  const out = [hi(t.full), lo(t.full)];
  for (let i = 0; i < 16; i++) out.push(Math.max(0, Math.min(255, t.counts[i] ?? 0)));
  return Uint8Array.from(out);
}

/** A tube reading "full" with 0 coins is a defective tube (MDB 4.2 §5 / protocols.md §1.5). */
export function defectiveTubes(t: TubeStatus): number[] {
  const out: number[] = [];
  for (let i = 0; i < 16; i++) if ((t.full >> i) & 1 && (t.counts[i] ?? 0) === 0) out.push(i);
  return out;
}

export type CoinRoute = 'cashbox' | 'tube' | 'unused' | 'reject';
const COIN_ROUTES: readonly CoinRoute[] = ['cashbox', 'tube', 'unused', 'reject'];

/** One-byte changer statuses 0x01..0x0D (protocols.md §1.5). */
export const CHANGER_SIMPLE = {
  0x01: 'escrowRequest',
  0x02: 'payoutBusy',
  0x03: 'noCredit',
  0x04: 'defectiveTubeSensor',
  0x05: 'doubleArrival',
  0x06: 'acceptorUnplugged',
  0x07: 'tubeJam',
  0x08: 'romChecksumError',
  0x09: 'coinRoutingError',
  0x0a: 'changerBusy',
  0x0b: 'justReset',
  0x0c: 'coinJam',
  0x0d: 'possibleCreditedCoinRemoval',
} as const;
export type ChangerSimpleKind = (typeof CHANGER_SIMPLE)[keyof typeof CHANGER_SIMPLE];

export type ChangerStatus =
  | { readonly kind: 'dispensedManually'; readonly coinType: number; readonly count: number; readonly tubeCount: number }
  | { readonly kind: 'deposited'; readonly coinType: number; readonly route: CoinRoute; readonly tubeCount: number }
  | { readonly kind: 'slugs'; readonly count: number }
  | { readonly kind: ChangerSimpleKind };

/** Decoded POLL data: every status found in order, plus an error if decoding stopped early. */
export interface PollDecode<S> {
  readonly statuses: readonly S[];
  readonly error?: CodecError;
}

const simpleByCode = <K extends string>(table: Readonly<Record<number, K>>, b: number): K | undefined => table[b];

/**
 * Changer POLL response (one or more statuses, MDB 4.2 §5.3 / protocols.md §1.5). An unknown byte
 * stops decoding: what follows it cannot be framed, and guessing could invent coins.
 */
export function decodeChangerPoll(data: Uint8Array): PollDecode<ChangerStatus> {
  const out: ChangerStatus[] = [];
  if (data.length > MAX_BLOCK - 1) return { statuses: out, error: { code: 'TOO_LONG', message: `POLL data of ${data.length} bytes`, offset: 0 } };
  let i = 0;
  while (i < data.length) {
    const b = data[i] ?? 0;
    if (b & 0x80 || (b & 0xc0) === 0x40) {
      const z = data[i + 1];
      if (z === undefined) return { statuses: out, error: { code: 'TRUNCATED', message: `status ${hex2(b)} needs a tube count byte`, offset: i } };
      if (b & 0x80) out.push({ kind: 'dispensedManually', count: (b >> 4) & 0x07, coinType: b & 0x0f, tubeCount: z });
      else out.push({ kind: 'deposited', route: COIN_ROUTES[(b >> 4) & 0x03] ?? 'unused', coinType: b & 0x0f, tubeCount: z });
      i += 2;
      continue;
    }
    if ((b & 0xe0) === 0x20) {
      out.push({ kind: 'slugs', count: b & 0x1f });
      i += 1;
      continue;
    }
    const simple = simpleByCode(CHANGER_SIMPLE, b);
    if (simple) {
      out.push({ kind: simple });
      i += 1;
      continue;
    }
    return { statuses: out, error: { code: 'UNKNOWN_STATUS', message: `unknown changer status ${hex2(b)}`, offset: i } };
  }
  return { statuses: out };
}

export function encodeChangerStatus(s: ChangerStatus): number[] {
  switch (s.kind) {
    case 'dispensedManually':
      return [0x80 | ((s.count & 0x07) << 4) | (s.coinType & 0x0f), s.tubeCount & 0xff];
    case 'deposited':
      return [0x40 | (COIN_ROUTES.indexOf(s.route) << 4) | (s.coinType & 0x0f), s.tubeCount & 0xff];
    case 'slugs':
      return [0x20 | (s.count & 0x1f)];
    default: {
      const code = Object.entries(CHANGER_SIMPLE).find(([, k]) => k === s.kind)?.[0];
      return [Number(code ?? 0)];
    }
  }
}

export function encodeChangerStatuses(list: readonly ChangerStatus[]): Uint8Array {
  return Uint8Array.from(list.flatMap(encodeChangerStatus));
}

export interface ChangerIdentification {
  readonly manufacturer: string;
  readonly serial: string;
  readonly model: string;
  /** Software version, 2 bytes BCD, as 4 digits. */
  readonly version: string;
  readonly features: number;
}

function ascii(d: Uint8Array, from: number, len: number): string {
  let s = '';
  for (let i = from; i < from + len; i++) {
    const c = d[i] ?? 0x20;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s.trimEnd();
}

function asciiBytes(s: string, len: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    out.push(i < s.length && c >= 0x20 && c < 0x7f ? c : 0x20);
  }
  return out;
}

/** EXPANSION IDENTIFICATION response (33 bytes, protocols.md §1.5). Also fits the cashless PERIPHERAL ID body. */
export function decodeChangerIdentification(data: Uint8Array): Result<ChangerIdentification> {
  if (data.length < 29) return fail('TRUNCATED', `identification needs 29+ bytes, got ${data.length}`);
  const version = toHex(data.subarray(27, 29));
  const features = data.length >= 33 ? (((data[29] ?? 0) << 24) | ((data[30] ?? 0) << 16) | ((data[31] ?? 0) << 8) | (data[32] ?? 0)) >>> 0 : 0;
  return ok({ manufacturer: ascii(data, 0, 3), serial: ascii(data, 3, 12), model: ascii(data, 15, 12), version, features });
}

export function encodeIdentification(id: ChangerIdentification, withFeatures = true): Uint8Array {
  const v = fromHex(id.version.padStart(4, '0').slice(0, 4));
  const ver = v.ok ? Array.from(v.value) : [0, 0];
  const out = [...asciiBytes(id.manufacturer, 3), ...asciiBytes(id.serial, 12), ...asciiBytes(id.model, 12), ...ver];
  if (withFeatures) out.push((id.features >>> 24) & 0xff, (id.features >>> 16) & 0xff, (id.features >>> 8) & 0xff, id.features & 0xff);
  return Uint8Array.from(out);
}

// ------------------------------------------------------------------------------------ bill validator (0x30), MDB 4.2 §6

export const billCmd = {
  reset: (): MdbCommand => cmd('bill RESET', 0x30),
  setup: (): MdbCommand => cmd('bill SETUP', 0x31),
  security(mask: number): Result<MdbCommand> {
    if (!isU16(mask)) return fail('BAD_ARGUMENT', 'security mask must be 16-bit');
    return ok(cmd('bill SECURITY', 0x32, hi(mask), lo(mask)));
  },
  poll: (): MdbCommand => cmd('bill POLL', 0x33),
  /** BILL TYPE: enable mask (0 disables the validator) and escrow-enable mask. */
  billType(enable: number, escrow: number): Result<MdbCommand> {
    if (!isU16(enable) || !isU16(escrow)) return fail('BAD_ARGUMENT', 'bill masks must be 16-bit');
    return ok(cmd(`bill BILL TYPE enable=${enable.toString(16)} escrow=${escrow.toString(16)}`, 0x34, hi(enable), lo(enable), hi(escrow), lo(escrow)));
  },
  /** ESCROW: stack (true) or return (false) the bill in escrow. */
  escrow: (stack: boolean): MdbCommand => cmd(stack ? 'bill ESCROW stack' : 'bill ESCROW return', 0x35, stack ? 0x01 : 0x00),
  stacker: (): MdbCommand => cmd('bill STACKER', 0x36),
  expansionIdentification: (): MdbCommand => cmd('bill EXP IDENTIFICATION', 0x37, 0x00),
};

export interface BillSetup {
  readonly level: number;
  readonly currency: number;
  /** Z4–Z5: 2-byte scaling factor. */
  readonly scaling: number;
  readonly decimals: number;
  readonly stackerCapacity: number;
  readonly security: number;
  /** Z11 = 0xFF. */
  readonly escrow: boolean;
  /** Z12–Z27, per bill type 0..15. Always 16 long. */
  readonly credits: readonly number[];
}

export function decodeBillSetup(data: Uint8Array): Result<BillSetup> {
  if (data.length < 11) return fail('TRUNCATED', `bill SETUP needs at least 11 bytes, got ${data.length}`);
  if (data.length > 27) return fail('TOO_LONG', `bill SETUP has at most 27 bytes, got ${data.length}`);
  const scaling = u16(data, 3);
  if (scaling === 0) return fail('BAD_ARGUMENT', 'bill scaling factor is 0', 3);
  const credits: number[] = [];
  for (let i = 0; i < 16; i++) credits.push(data[11 + i] ?? 0);
  return ok({
    level: data[0] ?? 0,
    currency: u16(data, 1),
    scaling,
    decimals: data[5] ?? 0,
    stackerCapacity: u16(data, 6),
    security: u16(data, 8),
    escrow: data[10] === 0xff,
    credits,
  });
}

export function encodeBillSetup(s: BillSetup): Uint8Array {
  const out = [s.level, hi(s.currency), lo(s.currency), hi(s.scaling), lo(s.scaling), s.decimals, hi(s.stackerCapacity), lo(s.stackerCapacity), hi(s.security), lo(s.security), s.escrow ? 0xff : 0x00];
  for (let i = 0; i < 16; i++) out.push(s.credits[i] ?? 0);
  return Uint8Array.from(out.map((b) => b & 0xff));
}

export interface StackerStatus {
  readonly full: boolean;
  readonly count: number;
}

export function decodeStacker(data: Uint8Array): Result<StackerStatus> {
  if (data.length !== 2) return fail('BAD_LENGTH', `STACKER answer must be 2 bytes, got ${data.length}`);
  const v = u16(data, 0);
  return ok({ full: (v & 0x8000) !== 0, count: v & 0x7fff });
}

export function encodeStacker(s: StackerStatus): Uint8Array {
  const v = (s.full ? 0x8000 : 0) | (s.count & 0x7fff);
  return Uint8Array.from([hi(v), lo(v)]);
}

export type BillAction =
  | 'stacked'
  | 'escrow'
  | 'returned'
  | 'toRecycler'
  | 'disabledRejected'
  | 'toRecyclerManualFill'
  | 'manualDispense'
  | 'recyclerToCashbox';
const BILL_ACTIONS: readonly BillAction[] = ['stacked', 'escrow', 'returned', 'toRecycler', 'disabledRejected', 'toRecyclerManualFill', 'manualDispense', 'recyclerToCashbox'];

export const BILL_SIMPLE = {
  0x01: 'defectiveMotor',
  0x02: 'sensorProblem',
  0x03: 'validatorBusy',
  0x04: 'romChecksumError',
  0x05: 'validatorJammed',
  0x06: 'justReset',
  0x07: 'billRemoved',
  0x08: 'cashBoxOutOfPosition',
  0x09: 'validatorDisabled',
  0x0a: 'invalidEscrowRequest',
  0x0b: 'billRejected',
  0x0c: 'possibleCreditedBillRemoval',
} as const;
export type BillSimpleKind = (typeof BILL_SIMPLE)[keyof typeof BILL_SIMPLE];

export type BillStatus =
  | { readonly kind: 'bill'; readonly action: BillAction; readonly billType: number }
  | { readonly kind: 'disabledAttempts'; readonly count: number }
  | { readonly kind: 'recyclerStatus'; readonly code: number }
  | { readonly kind: BillSimpleKind };

/** Bill validator POLL response (MDB 4.2 §6 / protocols.md §1.6). */
export function decodeBillPoll(data: Uint8Array): PollDecode<BillStatus> {
  const out: BillStatus[] = [];
  if (data.length > MAX_BLOCK - 1) return { statuses: out, error: { code: 'TOO_LONG', message: `POLL data of ${data.length} bytes`, offset: 0 } };
  for (let i = 0; i < data.length; i++) {
    const b = data[i] ?? 0;
    if (b & 0x80) {
      out.push({ kind: 'bill', action: BILL_ACTIONS[(b >> 4) & 0x07] ?? 'stacked', billType: b & 0x0f });
      continue;
    }
    if ((b & 0xe0) === 0x40) {
      out.push({ kind: 'disabledAttempts', count: b & 0x1f });
      continue;
    }
    if (b >= 0x21 && b <= 0x2f) {
      out.push({ kind: 'recyclerStatus', code: b });
      continue;
    }
    const simple = simpleByCode(BILL_SIMPLE, b);
    if (simple) {
      out.push({ kind: simple });
      continue;
    }
    return { statuses: out, error: { code: 'UNKNOWN_STATUS', message: `unknown bill status ${hex2(b)}`, offset: i } };
  }
  return { statuses: out };
}

export function encodeBillStatus(s: BillStatus): number[] {
  switch (s.kind) {
    case 'bill':
      return [0x80 | (BILL_ACTIONS.indexOf(s.action) << 4) | (s.billType & 0x0f)];
    case 'disabledAttempts':
      return [0x40 | (s.count & 0x1f)];
    case 'recyclerStatus':
      return [s.code & 0xff];
    default: {
      const code = Object.entries(BILL_SIMPLE).find(([, k]) => k === s.kind)?.[0];
      return [Number(code ?? 0)];
    }
  }
}

export function encodeBillStatuses(list: readonly BillStatus[]): Uint8Array {
  return Uint8Array.from(list.flatMap(encodeBillStatus));
}

// ------------------------------------------------------------------------------------ cashless (0x10 / 0x60), MDB 4.2 §7

export interface CashlessSetupConfig {
  /** VMC feature level 1..3 (we speak level 1 by default). */
  readonly vmcLevel: number;
  readonly columns: number;
  readonly rows: number;
  /** 0 numeric, 1 full ASCII. */
  readonly displayInfo: number;
}

export interface VmcIdentity {
  readonly manufacturer: string;
  readonly serial: string;
  readonly model: string;
  /** 4 BCD digits. */
  readonly version: string;
}

/** Cashless command builders for a reader at `base` (0x10, or 0x60 for the second reader). */
export function cashlessCommands(base: number = ADDR.cashless) {
  const b = base & 0xf8;
  const tag = b === ADDR.cashless ? 'cashless' : `cashless@${hex2(b)}`;
  return {
    reset: (): MdbCommand => cmd(`${tag} RESET`, b),
    setupConfig(c: CashlessSetupConfig): Result<MdbCommand> {
      if (![c.vmcLevel, c.columns, c.rows, c.displayInfo].every(isU8)) return fail('BAD_ARGUMENT', 'setup config fields must be bytes');
      return ok(cmd(`${tag} SETUP config level=${c.vmcLevel}`, b + 1, 0x00, c.vmcLevel, c.columns, c.rows, c.displayInfo));
    },
    /** Max/min price in scaled units; 0xFFFF / 0 = unknown. */
    setupPrices(max: number, min: number): Result<MdbCommand> {
      if (!isU16(max) || !isU16(min)) return fail('BAD_ARGUMENT', 'prices must be 16-bit scaled units');
      return ok(cmd(`${tag} SETUP prices max=${max} min=${min}`, b + 1, 0x01, hi(max), lo(max), hi(min), lo(min)));
    },
    poll: (): MdbCommand => cmd(`${tag} POLL`, b + 2),
    /** VEND REQUEST: price in scaled units, item number (0xFFFF = undefined). */
    vendRequest(price: number, item: number): Result<MdbCommand> {
      if (!isU16(price) || !isU16(item)) return fail('BAD_ARGUMENT', 'price and item must be 16-bit');
      return ok(cmd(`${tag} VEND REQUEST price=${price} item=${item}`, b + 3, 0x00, hi(price), lo(price), hi(item), lo(item)));
    },
    vendCancel: (): MdbCommand => cmd(`${tag} VEND CANCEL`, b + 3, 0x01),
    vendSuccess(item: number): Result<MdbCommand> {
      if (!isU16(item)) return fail('BAD_ARGUMENT', 'item must be 16-bit');
      return ok(cmd(`${tag} VEND SUCCESS item=${item}`, b + 3, 0x02, hi(item), lo(item)));
    },
    vendFailure: (): MdbCommand => cmd(`${tag} VEND FAILURE`, b + 3, 0x03),
    sessionComplete: (): MdbCommand => cmd(`${tag} SESSION COMPLETE`, b + 3, 0x04),
    cashSale(price: number, item: number): Result<MdbCommand> {
      if (!isU16(price) || !isU16(item)) return fail('BAD_ARGUMENT', 'price and item must be 16-bit');
      return ok(cmd(`${tag} CASH SALE price=${price} item=${item}`, b + 3, 0x05, hi(price), lo(price), hi(item), lo(item)));
    },
    readerDisable: (): MdbCommand => cmd(`${tag} READER DISABLE`, b + 4, 0x00),
    readerEnable: (): MdbCommand => cmd(`${tag} READER ENABLE`, b + 4, 0x01),
    readerCancel: (): MdbCommand => cmd(`${tag} READER CANCEL`, b + 4, 0x02),
    /** EXPANSION REQUEST ID with the VMC's own identity (29 bytes). */
    requestId(id: VmcIdentity): MdbCommand {
      const body = encodeIdentification({ ...id, features: 0 }, false);
      return cmd(`${tag} EXP REQUEST ID`, b + 7, 0x00, ...body);
    },
  };
}

export const cashlessCmd = cashlessCommands(ADDR.cashless);

export interface ReaderConfig {
  readonly level: number;
  readonly currency: number;
  /** Scale factor X. */
  readonly scaling: number;
  /** Decimal places Y. */
  readonly decimals: number;
  /** Z7 Application Maximum Response Time, seconds. */
  readonly maxResponseSeconds: number;
  /** Z8: b0 refunds, b1 multivend, b2 own display, b3 cash sale. */
  readonly options: number;
}

export type CashlessStatus =
  | { readonly kind: 'justReset' }
  | ({ readonly kind: 'readerConfig' } & ReaderConfig)
  | { readonly kind: 'displayRequest'; readonly seconds10: number; readonly text: string }
  /** funds in scaled units; null = unknown (0xFFFF). `media` holds the level 2+ extra bytes. */
  | { readonly kind: 'beginSession'; readonly funds: number | null; readonly media?: Uint8Array }
  | { readonly kind: 'sessionCancelRequest' }
  /** amount in scaled units; null = 0xFFFF (no charge / token). */
  | { readonly kind: 'vendApproved'; readonly amount: number | null }
  | { readonly kind: 'vendDenied' }
  | { readonly kind: 'endSession' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'peripheralId'; readonly id: ChangerIdentification }
  | { readonly kind: 'malfunction'; readonly code: number }
  | { readonly kind: 'outOfSequence'; readonly status?: number }
  | { readonly kind: 'revalueApproved' }
  | { readonly kind: 'revalueDenied' }
  | { readonly kind: 'revalueLimit'; readonly amount: number }
  | { readonly kind: 'timeDateRequest' }
  | { readonly kind: 'diagnostic'; readonly data: Uint8Array };

export interface CashlessDecodeContext {
  /** Reader feature level agreed in SETUP (decides BEGIN SESSION, PERIPHERAL ID, OUT OF SEQUENCE length). */
  readonly level?: number;
  /** Display characters (columns × rows) the VMC announced; 0 = take the rest of the block. */
  readonly displayChars?: number;
}

/**
 * Cashless POLL (or immediate) response: several messages may share one block (MDB 4.2 §7.3:
 * `06 0A 07 04` = VEND DENIED, MALFUNCTION 07, SESSION CANCEL REQUEST).
 */
export function decodeCashlessPoll(data: Uint8Array, ctx: CashlessDecodeContext = {}): PollDecode<CashlessStatus> {
  const level = ctx.level ?? 1;
  const out: CashlessStatus[] = [];
  if (data.length > MAX_BLOCK - 1) return { statuses: out, error: { code: 'TOO_LONG', message: `POLL data of ${data.length} bytes`, offset: 0 } };
  let i = 0;
  const need = (n: number, what: string): CodecError | undefined =>
    i + n > data.length ? { code: 'TRUNCATED', message: `${what} needs ${n} bytes, ${data.length - i} left`, offset: i } : undefined;
  while (i < data.length) {
    const b = data[i] ?? 0;
    const rest = data.length - i;
    let err: CodecError | undefined;
    switch (b) {
      case 0x00:
        out.push({ kind: 'justReset' });
        i += 1;
        continue;
      case 0x01:
        if ((err = need(8, 'READER CONFIG'))) return { statuses: out, error: err };
        out.push({
          kind: 'readerConfig',
          level: data[i + 1] ?? 0,
          currency: u16(data, i + 2),
          scaling: data[i + 4] ?? 0,
          decimals: data[i + 5] ?? 0,
          maxResponseSeconds: data[i + 6] ?? 0,
          options: data[i + 7] ?? 0,
        });
        i += 8;
        continue;
      case 0x02: {
        if ((err = need(2, 'DISPLAY REQUEST'))) return { statuses: out, error: err };
        const n = ctx.displayChars && ctx.displayChars > 0 ? Math.min(ctx.displayChars, rest - 2) : rest - 2;
        out.push({ kind: 'displayRequest', seconds10: data[i + 1] ?? 0, text: ascii(data, i + 2, n) });
        i += 2 + n;
        continue;
      }
      case 0x03: {
        const long = level >= 2 && rest >= 10;
        if ((err = need(3, 'BEGIN SESSION'))) return { statuses: out, error: err };
        const f = u16(data, i + 1);
        out.push(long ? { kind: 'beginSession', funds: f === 0xffff ? null : f, media: data.slice(i + 3, i + 10) } : { kind: 'beginSession', funds: f === 0xffff ? null : f });
        i += long ? 10 : 3;
        continue;
      }
      case 0x04:
        out.push({ kind: 'sessionCancelRequest' });
        i += 1;
        continue;
      case 0x05: {
        if ((err = need(3, 'VEND APPROVED'))) return { statuses: out, error: err };
        const a = u16(data, i + 1);
        out.push({ kind: 'vendApproved', amount: a === 0xffff ? null : a });
        i += 3;
        continue;
      }
      case 0x06:
        out.push({ kind: 'vendDenied' });
        i += 1;
        continue;
      case 0x07:
        out.push({ kind: 'endSession' });
        i += 1;
        continue;
      case 0x08:
        out.push({ kind: 'cancelled' });
        i += 1;
        continue;
      case 0x09: {
        const n = level >= 3 && rest >= 34 ? 34 : 30;
        if ((err = need(n, 'PERIPHERAL ID'))) return { statuses: out, error: err };
        const id = decodeChangerIdentification(data.slice(i + 1, i + n));
        if (!id.ok) return { statuses: out, error: { ...id.error, offset: i } };
        out.push({ kind: 'peripheralId', id: id.value });
        i += n;
        continue;
      }
      case 0x0a:
        if ((err = need(2, 'MALFUNCTION'))) return { statuses: out, error: err };
        out.push({ kind: 'malfunction', code: data[i + 1] ?? 0 });
        i += 2;
        continue;
      case 0x0b:
        if (level >= 2) {
          if ((err = need(2, 'CMD OUT OF SEQUENCE'))) return { statuses: out, error: err };
          out.push({ kind: 'outOfSequence', status: data[i + 1] ?? 0 });
          i += 2;
        } else {
          out.push({ kind: 'outOfSequence' });
          i += 1;
        }
        continue;
      case 0x0d:
        out.push({ kind: 'revalueApproved' });
        i += 1;
        continue;
      case 0x0e:
        out.push({ kind: 'revalueDenied' });
        i += 1;
        continue;
      case 0x0f:
        if ((err = need(3, 'REVALUE LIMIT'))) return { statuses: out, error: err };
        out.push({ kind: 'revalueLimit', amount: u16(data, i + 1) });
        i += 3;
        continue;
      case 0x11:
        out.push({ kind: 'timeDateRequest' });
        i += 1;
        continue;
      case 0xff:
        out.push({ kind: 'diagnostic', data: data.slice(i + 1) });
        i = data.length;
        continue;
      default:
        return { statuses: out, error: { code: 'UNKNOWN_STATUS', message: `unknown cashless status ${hex2(b)}`, offset: i } };
    }
  }
  return { statuses: out };
}

export function encodeCashlessStatus(s: CashlessStatus): number[] {
  switch (s.kind) {
    case 'justReset':
      return [0x00];
    case 'readerConfig':
      return [0x01, s.level, hi(s.currency), lo(s.currency), s.scaling, s.decimals, s.maxResponseSeconds, s.options].map((b) => b & 0xff);
    case 'displayRequest':
      return [0x02, s.seconds10 & 0xff, ...asciiBytes(s.text, s.text.length)];
    case 'beginSession': {
      const f = s.funds ?? 0xffff;
      return [0x03, hi(f), lo(f), ...(s.media ? Array.from(s.media.subarray(0, 7)) : [])];
    }
    case 'sessionCancelRequest':
      return [0x04];
    case 'vendApproved': {
      const a = s.amount ?? 0xffff;
      return [0x05, hi(a), lo(a)];
    }
    case 'vendDenied':
      return [0x06];
    case 'endSession':
      return [0x07];
    case 'cancelled':
      return [0x08];
    case 'peripheralId':
      return [0x09, ...encodeIdentification(s.id, false)];
    case 'malfunction':
      return [0x0a, s.code & 0xff];
    case 'outOfSequence':
      return s.status === undefined ? [0x0b] : [0x0b, s.status & 0xff];
    case 'revalueApproved':
      return [0x0d];
    case 'revalueDenied':
      return [0x0e];
    case 'revalueLimit':
      return [0x0f, hi(s.amount), lo(s.amount)];
    case 'timeDateRequest':
      return [0x11];
    case 'diagnostic':
      return [0xff, ...s.data];
  }
}

export function encodeCashlessStatuses(list: readonly CashlessStatus[]): Uint8Array {
  return Uint8Array.from(list.flatMap(encodeCashlessStatus));
}

/** The READER CONFIG answer to SETUP config data (`01 Z2..Z8`). */
export function decodeReaderConfig(data: Uint8Array): Result<ReaderConfig> {
  if (data[0] !== 0x01) return fail('UNKNOWN_STATUS', `READER CONFIG must start with 01, got ${data.length ? hex2(data[0] ?? 0) : 'nothing'}`, 0);
  const d = decodeCashlessPoll(data);
  const first = d.statuses[0];
  if (first?.kind !== 'readerConfig') return fail(d.error?.code ?? 'TRUNCATED', d.error?.message ?? 'no READER CONFIG', 0);
  const { kind: _kind, ...config } = first;
  return ok(config);
}

// ------------------------------------------------------------------------------------ master command parsing (for emulators)

export type MasterCommand =
  | { readonly device: 'changer'; readonly cmd: 'reset' | 'setup' | 'tubeStatus' | 'poll' }
  | { readonly device: 'changer'; readonly cmd: 'coinType'; readonly enable: number; readonly manual: number }
  | { readonly device: 'changer'; readonly cmd: 'dispense'; readonly coinType: number; readonly count: number }
  | { readonly device: 'changer'; readonly cmd: 'expansion'; readonly sub: number; readonly data: Uint8Array }
  | { readonly device: 'bill'; readonly cmd: 'reset' | 'setup' | 'poll' | 'stacker' }
  | { readonly device: 'bill'; readonly cmd: 'security'; readonly mask: number }
  | { readonly device: 'bill'; readonly cmd: 'billType'; readonly enable: number; readonly escrow: number }
  | { readonly device: 'bill'; readonly cmd: 'escrow'; readonly stack: boolean }
  | { readonly device: 'bill'; readonly cmd: 'expansion'; readonly sub: number; readonly data: Uint8Array }
  | { readonly device: 'cashless'; readonly base: number; readonly cmd: 'reset' | 'poll' | 'vendCancel' | 'vendFailure' | 'sessionComplete' | 'readerDisable' | 'readerEnable' | 'readerCancel' }
  | ({ readonly device: 'cashless'; readonly base: number; readonly cmd: 'setupConfig' } & CashlessSetupConfig)
  | { readonly device: 'cashless'; readonly base: number; readonly cmd: 'setupPrices'; readonly max: number; readonly min: number }
  | { readonly device: 'cashless'; readonly base: number; readonly cmd: 'vendRequest' | 'cashSale'; readonly price: number; readonly item: number }
  | { readonly device: 'cashless'; readonly base: number; readonly cmd: 'vendSuccess'; readonly item: number }
  | { readonly device: 'cashless'; readonly base: number; readonly cmd: 'expansion'; readonly sub: number; readonly data: Uint8Array }
  | { readonly device: 'other'; readonly address: number; readonly data: Uint8Array };

/** Parse a master command (address byte + data, no CHK). Unknown addresses come back as `other`. */
export function decodeCommand(bytes: Uint8Array): Result<MasterCommand> {
  if (bytes.length === 0) return fail('EMPTY', 'empty command');
  if (bytes.length > MAX_BLOCK - 1) return fail('TOO_LONG', `command of ${bytes.length} bytes`);
  const a = bytes[0] ?? 0;
  const base = a & 0xf8;
  const c = a & 0x07;
  const d = bytes.subarray(1);
  const len = (n: number, name: string): Result<never> | undefined =>
    d.length === n ? undefined : fail('BAD_LENGTH', `${name} takes ${n} data bytes, got ${d.length}`, 1);
  let e: Result<never> | undefined;
  if (base === ADDR.changer) {
    switch (c) {
      case 0:
        return (e = len(0, 'RESET')) ?? ok({ device: 'changer', cmd: 'reset' });
      case 1:
        return (e = len(0, 'SETUP')) ?? ok({ device: 'changer', cmd: 'setup' });
      case 2:
        return (e = len(0, 'TUBE STATUS')) ?? ok({ device: 'changer', cmd: 'tubeStatus' });
      case 3:
        return (e = len(0, 'POLL')) ?? ok({ device: 'changer', cmd: 'poll' });
      case 4:
        return (e = len(4, 'COIN TYPE')) ?? ok({ device: 'changer', cmd: 'coinType', enable: u16(d, 0), manual: u16(d, 2) });
      case 5: {
        if ((e = len(1, 'DISPENSE'))) return e;
        const y = d[0] ?? 0;
        return ok({ device: 'changer', cmd: 'dispense', coinType: y & 0x0f, count: y >> 4 });
      }
      case 7:
        if (d.length < 1) return fail('BAD_LENGTH', 'EXPANSION needs a subcommand', 1);
        return ok({ device: 'changer', cmd: 'expansion', sub: d[0] ?? 0, data: d.slice(1) });
      default:
        return fail('UNKNOWN_COMMAND', `changer command ${c} is not defined`, 0);
    }
  }
  if (base === ADDR.bill) {
    switch (c) {
      case 0:
        return (e = len(0, 'RESET')) ?? ok({ device: 'bill', cmd: 'reset' });
      case 1:
        return (e = len(0, 'SETUP')) ?? ok({ device: 'bill', cmd: 'setup' });
      case 2:
        return (e = len(2, 'SECURITY')) ?? ok({ device: 'bill', cmd: 'security', mask: u16(d, 0) });
      case 3:
        return (e = len(0, 'POLL')) ?? ok({ device: 'bill', cmd: 'poll' });
      case 4:
        return (e = len(4, 'BILL TYPE')) ?? ok({ device: 'bill', cmd: 'billType', enable: u16(d, 0), escrow: u16(d, 2) });
      case 5:
        return (e = len(1, 'ESCROW')) ?? ok({ device: 'bill', cmd: 'escrow', stack: ((d[0] ?? 0) & 0x01) === 1 });
      case 6:
        return (e = len(0, 'STACKER')) ?? ok({ device: 'bill', cmd: 'stacker' });
      default:
        if (d.length < 1) return fail('BAD_LENGTH', 'EXPANSION needs a subcommand', 1);
        return ok({ device: 'bill', cmd: 'expansion', sub: d[0] ?? 0, data: d.slice(1) });
    }
  }
  if (base === ADDR.cashless || base === ADDR.cashless2) {
    const sub = d[0];
    const cl = { device: 'cashless', base } as const;
    switch (c) {
      case 0:
        return (e = len(0, 'RESET')) ?? ok({ ...cl, cmd: 'reset' });
      case 1:
        if (sub === 0x00) return (e = len(5, 'SETUP config')) ?? ok({ ...cl, cmd: 'setupConfig', vmcLevel: d[1] ?? 0, columns: d[2] ?? 0, rows: d[3] ?? 0, displayInfo: d[4] ?? 0 });
        if (sub === 0x01) {
          if (d.length === 5) return ok({ ...cl, cmd: 'setupPrices', max: u16(d, 1), min: u16(d, 3) });
          return fail('BAD_LENGTH', `SETUP prices takes 5 data bytes (expanded currency is not supported), got ${d.length}`, 1);
        }
        return fail('UNKNOWN_COMMAND', `SETUP subcommand ${sub === undefined ? 'missing' : hex2(sub)}`, 1);
      case 2:
        return (e = len(0, 'POLL')) ?? ok({ ...cl, cmd: 'poll' });
      case 3:
        switch (sub) {
          case 0x00:
            return (e = len(5, 'VEND REQUEST')) ?? ok({ ...cl, cmd: 'vendRequest', price: u16(d, 1), item: u16(d, 3) });
          case 0x01:
            return (e = len(1, 'VEND CANCEL')) ?? ok({ ...cl, cmd: 'vendCancel' });
          case 0x02:
            return (e = len(3, 'VEND SUCCESS')) ?? ok({ ...cl, cmd: 'vendSuccess', item: u16(d, 1) });
          case 0x03:
            return (e = len(1, 'VEND FAILURE')) ?? ok({ ...cl, cmd: 'vendFailure' });
          case 0x04:
            return (e = len(1, 'SESSION COMPLETE')) ?? ok({ ...cl, cmd: 'sessionComplete' });
          case 0x05:
            return (e = len(5, 'CASH SALE')) ?? ok({ ...cl, cmd: 'cashSale', price: u16(d, 1), item: u16(d, 3) });
          default:
            return fail('UNKNOWN_COMMAND', `VEND subcommand ${sub === undefined ? 'missing' : hex2(sub)}`, 1);
        }
      case 4:
        if ((e = len(1, 'READER'))) return e;
        if (sub === 0x00) return ok({ ...cl, cmd: 'readerDisable' });
        if (sub === 0x01) return ok({ ...cl, cmd: 'readerEnable' });
        if (sub === 0x02) return ok({ ...cl, cmd: 'readerCancel' });
        return fail('UNKNOWN_COMMAND', `READER subcommand ${hex2(sub ?? 0)}`, 1);
      case 7:
        if (d.length < 1) return fail('BAD_LENGTH', 'EXPANSION needs a subcommand', 1);
        return ok({ ...cl, cmd: 'expansion', sub: d[0] ?? 0, data: d.slice(1) });
      default:
        return fail('UNKNOWN_COMMAND', `cashless command ${c} is not supported`, 0);
    }
  }
  return ok({ device: 'other', address: a, data: d.slice() });
}

// ------------------------------------------------------------------------------------ descriptions for traces

export function describeStatus(s: ChangerStatus | BillStatus | CashlessStatus): string {
  switch (s.kind) {
    case 'dispensedManually':
      return `manual dispense ${s.count}x type ${s.coinType} (tube ${s.tubeCount})`;
    case 'deposited':
      return `coin type ${s.coinType} -> ${s.route} (tube ${s.tubeCount})`;
    case 'slugs':
      return `${s.count} slug(s)`;
    case 'bill':
      return `bill type ${s.billType} ${s.action}`;
    case 'disabledAttempts':
      return `${s.count} insert attempt(s) while disabled`;
    case 'recyclerStatus':
      return `recycler status ${hex2(s.code)}`;
    case 'readerConfig':
      return `reader config level ${s.level} scale ${s.scaling} dec ${s.decimals} maxResp ${s.maxResponseSeconds}s`;
    case 'displayRequest':
      return `display "${s.text}"`;
    case 'beginSession':
      return `begin session funds=${s.funds ?? 'unknown'}`;
    case 'vendApproved':
      return `vend approved ${s.amount ?? 'no charge'}`;
    case 'peripheralId':
      return `peripheral id ${s.id.manufacturer} ${s.id.model}`;
    case 'malfunction':
      return `malfunction ${hex2(s.code)}`;
    case 'outOfSequence':
      return 'command out of sequence';
    case 'revalueLimit':
      return `revalue limit ${s.amount}`;
    case 'diagnostic':
      return `diagnostic ${toHex(s.data)}`;
    default:
      return s.kind;
  }
}

export function describeStatuses(d: PollDecode<ChangerStatus | BillStatus | CashlessStatus>): string {
  const parts = d.statuses.map(describeStatus);
  if (d.error) parts.push(`<${d.error.code}: ${d.error.message}>`);
  return parts.length ? parts.join(', ') : 'nothing to report';
}
