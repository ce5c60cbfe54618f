/**
 * `vendomat audit`: what an operator reads from the journal.
 *   vendomat audit [--data DIR] [--config FILE]           the readable report (sales by column, cash, faults)
 *   vendomat audit --dex [--out FILE] [--now ISO] ...     a DEX/UCS EVA-DTS file built from the journal;
 *                                                         journals `serviceAction auditRead`, which resets
 *                                                         the interim counters, as operators expect
 *   vendomat audit --parse FILE                           checks a DEX file (G85 CRC, SE segment count)
 *                                                         and prints it readably
 *
 * Exit codes follow main.ts: 0 ok, 1 a failed check or an unusable journal (its JournalError says
 * why; the file is left untouched), 2 a usage error (missing file or journal).
 *
 * A DEX read appends to the journal. When the controller runs at the same time on the same journal
 * it notices the outside append at its next event and re-reads the state, so the reset is kept.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ownerOnlyFiles } from './files.ts';
import { buildDex, parseDex, type DexFile, type DexRecord } from '../audit/dex.ts';
import { formatAuditReport } from '../audit/report.ts';
import type { Clock } from '../clock.ts';
import { loadConfigFile } from '../config/load.ts';
import type { MachineConfig } from '../config/schema.ts';
import { restoredCatalog } from '../journal/attach.ts';
import { defaultDataDir } from '../journal/paths.ts';
import { recover } from '../journal/recovery.ts';
import { DEFAULT_JOURNAL_FILE, openJournal, type Journal } from '../journal/store.ts';
import { loadDemoConfig } from '../../sim/session.ts';

export interface AuditIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export interface AuditOptions {
  readonly data?: string;
  readonly config?: string;
  readonly dex?: boolean;
  readonly out?: string;
  readonly parse?: string;
  /** Date and time of the read (ISO, local), for the DEX file and the report; default now. */
  readonly now?: string;
}

/** The wall clock: the CLI is the composition root, the one place allowed to read it. */
const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Local date and time as ISO text without a zone (`2024-01-15T10:30:05`), as DEX wants it. */
export function localIso(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const ISO_LOCAL = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$/;

function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A usage problem: reported by commander with exit code 2. */
class AuditUsageError extends Error {}

function loadConfig(opts: AuditOptions): MachineConfig {
  if (opts.config === undefined) return loadDemoConfig();
  if (!existsSync(opts.config)) throw new AuditUsageError(`config file not found: ${opts.config}`);
  return loadConfigFile(opts.config);
}

/** Opens the existing journal of the data directory (a missing one is a usage error, never created). */
function openExisting(opts: AuditOptions, config: MachineConfig): Journal {
  const dir = resolve(opts.data ?? config.journal.dir ?? defaultDataDir());
  const file = join(dir, DEFAULT_JOURNAL_FILE);
  if (!existsSync(file)) throw new AuditUsageError(`no journal in ${dir} (expected ${file}); pass --data DIR`);
  return openJournal({ dir, clock: systemClock });
}

function columnsOf(config: MachineConfig, rec: ReturnType<typeof recover>): { code: string; product: string; price: number }[] {
  const catalog = restoredCatalog(config, rec);
  return Object.values(catalog)
    .map((c) => ({ code: c.code, product: c.product, price: c.price }))
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** The readable report of the journal in `opts.data`. */
export function auditReport(opts: AuditOptions): string {
  const config = loadConfig(opts);
  const journal = openExisting(opts, config);
  try {
    const rec = recover(journal);
    return formatAuditReport({
      counters: rec.counters,
      currency: config.currency,
      columns: columnsOf(config, rec),
      machine: `${config.machine.name} (${config.machine.serial})`,
      at: opts.now ?? localIso(systemClock.now()),
      ledger: rec.ledger,
      openFaults: rec.openFaults,
    });
  } finally {
    journal.close();
  }
}

/**
 * Builds the DEX file from the journal and journals the read (`serviceAction auditRead`, which
 * resets the interim counters). The read is journalled only after the file was produced.
 */
export function auditDex(opts: AuditOptions): string {
  const config = loadConfig(opts);
  if (opts.now !== undefined && !ISO_LOCAL.test(opts.now)) throw new AuditUsageError(`--now must be ISO local time like 2024-01-15T10:30:00, got ${opts.now}`);
  const journal = openExisting(opts, config);
  try {
    const rec = recover(journal);
    const events = [...journal.readTypes(['door', 'faultRaised'])].map((e) => ({ at: localIso(e.at), event: e.event }));
    const text = buildDex({
      machineSerial: config.machine.serial,
      machineModel: 'VENDOMAT',
      currency: { code: config.currency.code, decimals: config.currency.decimals },
      counters: rec.counters,
      columns: columnsOf(config, rec),
      events,
      now: opts.now ?? localIso(systemClock.now()),
    });
    if (opts.out !== undefined) writeFileSync(opts.out, text, 'latin1');
    journal.append({ type: 'serviceAction', action: 'auditRead', detail: opts.out !== undefined ? `DEX written to ${opts.out}` : 'DEX written to stdout' });
    return text;
  } finally {
    journal.close();
  }
}

/** What DEX records say, for the readable listing (protocols.md §5.2). */
const RECORD_NAMES: Readonly<Record<string, string>> = {
  DXS: 'transmission start',
  ST: 'transaction set header',
  ID1: 'machine (serial, model, …)',
  ID4: 'currency (decimals, numeric code, alpha code)',
  ID5: 'date and time of the read',
  CB1: 'control board',
  VA1: 'paid vends: value, count since init; value, count since reset',
  VA2: 'test vends: value, count since init; value, count since reset',
  VA3: 'free vends: value, count since init; value, count since reset',
  CA1: 'coin mechanism',
  CA2: 'cash sales: value, count since init; value, count since reset',
  CA3: 'cash in since reset (total, cashbox, tubes, bills), then since init',
  CA4: 'coins dispensed since reset (change, manual), then since init',
  CA8: 'overpay since reset, since init',
  DA2: 'cashless sales: value, count since init; value, count since reset',
  PA1: 'column: code, price, product',
  PA2: 'column sales: count, value since init; count, value since reset',
  EA1: 'event: id, date, time',
  EA2: 'event counter: id, since reset, since init',
  EA3: 'audit reads: count, date, time',
  EA7: 'power outages: since reset, since init',
  G85: 'CRC-16 of ST … the record before',
  SE: 'transaction set trailer: segment count',
  DXE: 'transmission end',
};

/** A DEX file as readable lines: the checks first, then one line per record. */
export function formatDex(file: DexFile, source: string): string[] {
  const out: string[] = [`DEX file ${source}: ${file.records.length} records`];
  if (file.g85) out.push(`  G85 CRC: ${file.g85.ok ? 'ok' : 'WRONG'} (stated ${file.g85.stated}, computed ${file.g85.computed})`);
  else out.push('  G85 CRC: missing');
  if (file.segmentCount) out.push(`  SE segment count: ${file.segmentCount.ok ? 'ok' : 'WRONG'} (stated ${file.segmentCount.stated}, counted ${file.segmentCount.counted})`);
  else out.push('  SE segment count: missing');
  if (file.problems.length === 0) out.push('  no problems');
  else out.push(`  ${file.problems.length} problem${file.problems.length === 1 ? '' : 's'}:`, ...file.problems.map((p) => `    - ${p}`));
  out.push('');
  const width = Math.max(3, ...file.records.map((r) => r.id.length));
  const show = (r: DexRecord): string => {
    const name = RECORD_NAMES[r.id];
    const fields = r.fields.join(' | ');
    return `  ${String(r.line).padStart(4)}  ${r.id.padEnd(width)}  ${fields}${name !== undefined ? `   (${name})` : ''}`;
  };
  out.push(...file.records.map(show));
  return out;
}

export interface ParsedDexResult {
  readonly file: DexFile;
  readonly lines: readonly string[];
}

export function auditParse(path: string): ParsedDexResult {
  if (!existsSync(path)) throw new AuditUsageError(`DEX file not found: ${path}`);
  // DEX is ASCII; latin1 keeps every byte as one character, so the G85 is checked over the bytes.
  const file = parseDex(readFileSync(path, 'latin1'));
  return { file, lines: formatDex(file, path) };
}

/** Adds `vendomat audit` to the program (main.ts: `registerAuditCommands(program, io)`). */
export function registerAuditCommands(program: Command, io: AuditIo): void {
  const audit = program
    .command('audit')
    .description('the audit from the journal: a readable report, a DEX/UCS file (--dex), or a DEX file checked (--parse)')
    .option('--data <dir>', 'the data directory holding journal.db (default: config journal.dir, $VENDOMAT_DATA, ~/.local/share/vendomat)')
    .option('--config <file>', 'machine config (default: the demo machine)')
    .option('--dex', 'write a DEX/UCS EVA-DTS file; journals the read and resets the interim counters')
    .option('--out <file>', 'with --dex: write the DEX file here instead of stdout')
    .option('--parse <file>', 'check a DEX file (G85 CRC, SE segment count) and print it readably')
    .option('--now <iso>', 'date and time of the read, ISO local (default: now)');
  audit.action((opts: AuditOptions) => {
    ownerOnlyFiles();
    try {
      if (opts.parse !== undefined) {
        if (opts.dex === true) throw new AuditUsageError('--parse and --dex do not go together');
        const r = auditParse(opts.parse);
        line(io.stdout, r.lines.join('\n'));
        if (r.file.problems.length > 0) throw new Error(`${opts.parse}: ${r.file.problems.length} problem${r.file.problems.length === 1 ? '' : 's'} in the DEX file`);
        return;
      }
      if (opts.out !== undefined && opts.dex !== true) throw new AuditUsageError('--out goes with --dex');
      if (opts.dex === true) {
        const text = auditDex(opts);
        if (opts.out !== undefined) line(io.stderr, `vendomat: DEX written to ${opts.out}; interim counters reset (audit read journalled)`);
        else io.stdout.write(text);
        return;
      }
      line(io.stdout, auditReport(opts));
    } catch (e) {
      // Usage problems exit 2 through commander; anything else (JournalError, ConfigError, a bad DEX file) exits 1 via main.
      if (e instanceof AuditUsageError) audit.error(`vendomat: ${e.message}`, { exitCode: 2, code: 'vendomat.usage' });
      throw e;
    }
  });
}
