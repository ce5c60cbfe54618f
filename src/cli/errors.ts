/**
 * How a command's error reaches the person: one clear line (or one line per config problem), never
 * a stack trace, and the exit code it means. Loaded only when a command runs, so `--help` stays
 * light.
 */
import { existsSync } from 'node:fs';
import { ConfigError } from '../config/load.ts';
import { ScenarioError } from '../../sim/scenario.ts';
import { EXIT, type CliIo } from './main.ts';

/** A usage problem found after commander's own parsing (bad file path, ...). */
export class UsageError extends Error {}

export function line(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
}

/** Reports an error from a command as clear lines and returns its exit code. */
export function report(e: unknown, io: CliIo): number {
  if (e instanceof UsageError) {
    line(io.stderr, `vendomat: ${e.message}`);
    return EXIT.usage;
  }
  if (e instanceof ConfigError) {
    line(io.stderr, `vendomat: invalid config ${e.source}:`);
    for (const p of e.problems) line(io.stderr, `  - ${p}`);
    return EXIT.failed;
  }
  if (e instanceof ScenarioError) {
    if (e.kind === 'read') {
      line(io.stderr, `vendomat: ${e.message}`);
      return EXIT.usage;
    }
    line(io.stderr, `vendomat: invalid scenario ${e.source}:`);
    for (const p of e.problems) line(io.stderr, `  - ${p}`);
    return EXIT.failed;
  }
  line(io.stderr, `vendomat: ${e instanceof Error ? e.message : String(e)}`);
  return EXIT.failed;
}
