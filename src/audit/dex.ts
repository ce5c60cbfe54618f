/**
 * DEX/UCS EVA-DTS audit export and parsing (protocols.md §5). The file is ASCII records
 * ("segments") of `*`-separated elements, each ended by CR LF, framed by DXS/ST … G85/SE/DXE.
 * Everything is computed from the counters and the inputs; no wall clock is read (the caller passes
 * the date and time of the read).
 *
 * Field layouts follow protocols.md §5.2. Where the reference marks a layout unconfirmed (CA4, CA8,
 * EA1/EA2 codes, DA2), the choice is stated at the record and kept consistent with §5.4's example.
 */
import type { MachineEvent } from '../controller/events.ts';
import type { Minor } from '../ports/index.ts';
import type { CounterSet, Counters, Tally } from './counters.ts';

// ------------------------------------------------------------------------ G85 (protocols.md §5.3)

/** CRC-16/ARC: polynomial 0x8005 reflected (0xA001), init 0, no final XOR (protocols.md §5.3). */
export function crc16arc(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc & 0xffff;
}

/**
 * The G85 value for the covered text: every byte from the `S` of `ST` up to and including the
 * CR LF before `G85` (protocols.md §5.3), as 4 uppercase hex digits. Characters above 0xFF are not
 * DEX; they are hashed as their low byte (latin1), which never happens for files built here.
 */
export function g85(covered: string): string {
  return crc16arc(Buffer.from(covered, 'latin1')).toString(16).toUpperCase().padStart(4, '0');
}

// ------------------------------------------------------------------------ building

export interface DexCurrency {
  /** ISO 4217 alpha code, e.g. EUR. */
  readonly code: string;
  readonly decimals: number;
  /** ID402 numeric code; default the MDB style "1" + ISO numeric (EUR → 1978) for known codes. */
  readonly numeric?: string;
}

export interface DexColumn {
  readonly code: string;
  readonly price: Minor;
  readonly product: string;
}

export interface DexEventInput {
  /** Local date and time of the event as ISO text (`2024-01-15T10:30:00`); the digits are used as written. */
  readonly at: string;
  readonly event: MachineEvent;
}

export interface DexInput {
  readonly machineSerial: string;
  readonly machineModel?: string;
  readonly location?: string;
  readonly assetNumber?: string;
  readonly currency?: DexCurrency;
  /** DXS01 communication ID (10 characters); default derived from the serial. */
  readonly commId?: string;
  /** DXS04 transmission control number; default 1. */
  readonly transmission?: number;
  /** CA1: the coin mechanism's identity, when known. */
  readonly coinMech?: { readonly serial: string; readonly model?: string; readonly software?: string };
  /** CB1: the control board (this controller), when wanted. */
  readonly controlBoard?: { readonly serial: string; readonly model?: string; readonly software?: string };
  readonly counters: Counters;
  readonly columns: readonly DexColumn[];
  /** Journal events with local times; door openings and raised faults become EA1 records. */
  readonly events?: readonly DexEventInput[];
  /** At most this many EA1 records, the newest kept (default 100). */
  readonly maxEventRecords?: number;
  /** Date and time of this read (ISO text, local), for ID5 and EA3. */
  readonly now: string;
}

const ISO_NUMERIC: Readonly<Record<string, string>> = {
  EUR: '978',
  USD: '840',
  GBP: '826',
  CHF: '756',
  SEK: '752',
  NOK: '578',
  DKK: '208',
  PLN: '985',
  CZK: '203',
  HUF: '348',
  JPY: '392',
  CAD: '124',
  AUD: '036',
};

/** DEX event ID for a door opening (EA1); protocols.md §5.2 sample, meaning unconfirmed (§7.5). */
export const DEX_DOOR_EVENT = 'EGS';
/** EA2 cumulative door-open counter ID. */
export const DEX_DOOR_COUNT = 'DO';

/** One element: ASCII printable only, no separator; anything else would break the record. */
function el(v: string | number | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`DEX values are whole numbers, got ${String(v)}`);
    return String(v);
  }
  return v
    .replace(/[\t\r\n*]/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
}

/** Joins elements, dropping trailing empty ones (protocols.md §5.1). */
function seg(id: string, ...fields: (string | number | undefined)[]): string {
  const parts = fields.map(el);
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return [id, ...parts].join('*');
}

interface DexStamp {
  readonly date: string;
  readonly time: string;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/;

/** `2024-01-15T10:30:05` → `{ date: '20240115', time: '103005' }`; the digits are taken as written. */
export function dexStamp(iso: string): DexStamp {
  const m = ISO_RE.exec(iso);
  if (m === null) throw new RangeError(`DEX date/time must be ISO text like 2024-01-15T10:30:00, got ${JSON.stringify(iso)}`);
  const [, y, mo, d, h, mi, s] = m;
  return { date: `${y}${mo}${d}`, time: `${h}${mi}${s ?? '00'}` };
}

/** The 4 fields of VA1/VA2/VA3/CA2/DA2: value and count since init, then since reset. */
function sinceInitThenReset(h: Tally, i: Tally): number[] {
  return [h.value, h.count, i.value, i.count];
}

function dispensed(s: CounterSet): number {
  return s.changePaid.value + s.refunds.value + s.debtPayouts.value;
}

function eventRecord(e: DexEventInput): string | null {
  const ev = e.event;
  let id: string;
  if (ev.type === 'door' && ev.state === 'open') id = DEX_DOOR_EVENT;
  else if (ev.type === 'faultRaised') id = ev.code;
  else return null;
  const st = dexStamp(e.at);
  return seg('EA1', id, st.date, st.time.slice(0, 4));
}

/**
 * The audit as DEX text with CR LF line ends, G85 and SE computed. Counters: "since init" =
 * `historical`, "since reset" = `interim`. After handing the file over, the controller journals
 * `{ type: 'serviceAction', action: 'auditRead' }`, which resets the interim counters.
 */
export function buildDex(input: DexInput): string {
  const { historical: h, interim: i } = input.counters;
  const stamp = dexStamp(input.now);
  const currency = input.currency ?? { code: 'EUR', decimals: 2 };
  const numeric = currency.numeric ?? (ISO_NUMERIC[currency.code] !== undefined ? `1${ISO_NUMERIC[currency.code] ?? ''}` : '');
  const commId = input.commId ?? `${input.machineSerial.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}0000000000`.slice(0, 10);

  const body: string[] = [];
  body.push(seg('ID1', input.machineSerial, input.machineModel, undefined, input.location, undefined, input.assetNumber));
  body.push(seg('ID4', currency.decimals, numeric, currency.code));
  body.push(seg('ID5', stamp.date, stamp.time));
  if (input.controlBoard !== undefined) body.push(seg('CB1', input.controlBoard.serial, input.controlBoard.model, input.controlBoard.software));
  // VA1 paid vends (cash + cashless), VA2 test vends, VA3 free vends.
  body.push(seg('VA1', ...sinceInitThenReset(h.paidVends, i.paidVends)));
  if (h.testVends.count > 0) body.push(seg('VA2', ...sinceInitThenReset(h.testVends, i.testVends)));
  if (h.freeVends.count > 0) body.push(seg('VA3', ...sinceInitThenReset(h.freeVends, i.freeVends)));
  if (input.coinMech !== undefined) body.push(seg('CA1', input.coinMech.serial, input.coinMech.model, input.coinMech.software));
  body.push(seg('CA2', ...sinceInitThenReset(h.cashVends, i.cashVends)));
  // CA3: cash in since reset (total, cashbox, tubes, bills), then the same since init.
  const ca3 = (s: CounterSet): number[] => [
    s.coinsToTubes.value + s.coinsToCashbox.value + s.bills.value,
    s.coinsToCashbox.value,
    s.coinsToTubes.value,
    s.bills.value,
  ];
  body.push(seg('CA3', ...ca3(i), ...ca3(h)));
  // CA4 (layout unconfirmed, as §5.4): dispensed since reset, manually dispensed since reset, then since init.
  body.push(seg('CA4', dispensed(i), i.servicePayouts.value, dispensed(h), h.servicePayouts.value));
  // CA8 (unconfirmed): overpay since reset, since init.
  body.push(seg('CA8', i.overpay.value, h.overpay.value));
  // DA2: cashless sales, same layout as CA2 (EVA-DTS; not in the reference, unconfirmed).
  if (h.cardVends.count > 0 || h.cardApproved.count > 0) body.push(seg('DA2', ...sinceInitThenReset(h.cardVends, i.cardVends)));
  for (const col of input.columns) {
    const hc = h.byColumn[col.code]?.paid ?? { count: 0, value: 0 };
    const ic = i.byColumn[col.code]?.paid ?? { count: 0, value: 0 };
    body.push(seg('PA1', col.code, col.price, col.product));
    // PA2: count then value (note the order differs from VA1/CA2), since init then since reset.
    body.push(seg('PA2', hc.count, hc.value, ic.count, ic.value));
  }
  const limit = input.maxEventRecords ?? 100;
  const eventRecords = (input.events ?? []).map(eventRecord).filter((r): r is string => r !== null);
  body.push(...eventRecords.slice(Math.max(0, eventRecords.length - limit)));
  // EA2: event ID, count since reset, count since init.
  if (h.doorOpenings > 0) body.push(seg('EA2', DEX_DOOR_COUNT, i.doorOpenings, h.doorOpenings));
  for (const code of Object.keys(h.faults).sort()) body.push(seg('EA2', code, i.faults[code] ?? 0, h.faults[code] ?? 0));
  // EA3: reads (this one included), date and time of this read.
  body.push(seg('EA3', h.auditReads + 1, stamp.date, stamp.time.slice(0, 4)));
  // EA7: power outages since reset, since init.
  body.push(seg('EA7', i.powerOutages, h.powerOutages));

  const covered = [seg('ST', '001', '0001'), ...body].map((r) => `${r}\r\n`).join('');
  const segments = 1 + body.length + 2; // ST … G85, SE
  return (
    `${seg('DXS', commId, 'VA', 'V1/1', input.transmission ?? 1)}\r\n` +
    covered +
    `G85*${g85(covered)}\r\n` +
    `SE*${segments}*0001\r\n` +
    'DXE*1*1\r\n'
  );
}

// ------------------------------------------------------------------------ parsing

export interface DexRecord {
  readonly id: string;
  /** Elements after the ID (DEX numbering: fields[0] is element 01). */
  readonly fields: readonly string[];
  /** 1-based line number in the text. */
  readonly line: number;
}

export interface DexFile {
  readonly records: readonly DexRecord[];
  /** The G85 stated in the file and the one computed over ST … the record before G85. */
  readonly g85: { readonly stated: string; readonly computed: string; readonly ok: boolean } | null;
  /** SE01 against the records counted from ST to SE inclusive. */
  readonly segmentCount: { readonly stated: number; readonly counted: number; readonly ok: boolean } | null;
  /** Everything wrong or odd, as text; empty for a clean file. */
  readonly problems: readonly string[];
}

/**
 * Parses DEX text (CR LF or LF line ends). Never throws: bad input gives `problems`. The G85 is
 * checked over the bytes as they appear in the text, so a file with LF-only line ends fails it.
 */
export function parseDex(text: string): DexFile {
  const problems: string[] = [];
  const records: DexRecord[] = [];
  let stOffset: number | null = null;
  let g85Offset: number | null = null;
  let g85Stated: string | null = null;
  let stIndex: number | null = null;
  let seIndex: number | null = null;
  let seStated: number | null = null;

  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const nl = text.indexOf('\n', offset);
    const end = nl === -1 ? text.length : nl + 1;
    const raw = text.slice(offset, end).replace(/\r?\n$/, '');
    lineNo += 1;
    const start = offset;
    offset = end;
    if (raw.trim() === '') continue;
    if (/[^\x20-\x7e]/.test(raw)) problems.push(`line ${lineNo}: characters outside printable ASCII`);
    const [id = '', ...fields] = raw.split('*');
    if (!/^[A-Z][A-Z0-9]{1,3}$/.test(id)) problems.push(`line ${lineNo}: ${JSON.stringify(id)} is not a record ID`);
    records.push({ id, fields, line: lineNo });
    if (id === 'ST' && stOffset === null) {
      stOffset = start;
      stIndex = records.length - 1;
    } else if (id === 'G85' && g85Offset === null) {
      g85Offset = start;
      g85Stated = (fields[0] ?? '').toUpperCase();
    } else if (id === 'SE' && seIndex === null) {
      seIndex = records.length - 1;
      seStated = Number(fields[0]);
    }
  }
  if (records.length === 0) problems.push('no records');
  else {
    if (records[0]?.id !== 'DXS') problems.push('the file does not start with DXS');
    if (records[records.length - 1]?.id !== 'DXE') problems.push('the file does not end with DXE');
  }
  if (stOffset === null) problems.push('no ST record');
  if (seIndex === null) problems.push('no SE record');

  let g85Check: DexFile['g85'] = null;
  if (g85Offset === null || g85Stated === null) problems.push('no G85 record');
  else if (stOffset !== null && stOffset < g85Offset) {
    const computed = g85(text.slice(stOffset, g85Offset));
    g85Check = { stated: g85Stated, computed, ok: computed === g85Stated };
    if (!g85Check.ok) problems.push(`G85 mismatch: the file says ${g85Stated}, the data gives ${computed}`);
  }

  let segmentCount: DexFile['segmentCount'] = null;
  if (stIndex !== null && seIndex !== null && seStated !== null) {
    const counted = seIndex - stIndex + 1;
    segmentCount = { stated: seStated, counted, ok: seStated === counted };
    if (!segmentCount.ok) problems.push(`SE says ${String(seStated)} segments, ST…SE holds ${counted}`);
  }
  return { records, g85: g85Check, segmentCount, problems };
}

/** The first record with this ID, or undefined. */
export function dexRecord(file: DexFile, id: string): DexRecord | undefined {
  return file.records.find((r) => r.id === id);
}

/** All records with this ID, in order. */
export function dexRecords(file: DexFile, id: string): DexRecord[] {
  return file.records.filter((r) => r.id === id);
}

/** Element `n` (1-based, as DEX numbers them) as a whole number; null when empty or not a number. */
export function dexNumber(record: DexRecord | undefined, n: number): number | null {
  const v = record?.fields[n - 1];
  if (v === undefined || !/^-?\d+$/.test(v)) return null;
  return Number(v);
}
