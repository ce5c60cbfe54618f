/**
 * `vendomat sim --script FILE|DIR [--junit FILE] [--data DIR]`: one scenario with its transcript,
 * or every scenario of a folder with a summary (sim/suite.ts); `--junit` writes the JUnit XML
 * report for CI either way.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Logger } from '../controller/controller.ts';
import { formatTranscript, runScenario, scenarioResultJson } from '../../sim/scenario.ts';
import type { VirtualClock } from '../../sim/clock.ts';
import { formatSuite, isDirectory, junitXml, runSuite, type SuiteResult } from '../../sim/suite.ts';

export interface ScriptRunOptions {
  /** A scenario file or a folder of them. */
  readonly script: string;
  readonly junit?: string;
  /** Journal directory for a single scenario (a `restart` recovers from it). */
  readonly data?: string;
  readonly wire?: boolean;
  readonly config?: string;
  readonly seed?: number;
  readonly json?: boolean;
  readonly logger?: Logger;
  readonly clock?: VirtualClock;
}

/** A problem with the arguments themselves (exit code 2). */
export class ScriptUsageError extends Error {}

/** Runs the scenario(s), writes the report(s) and returns whether everything passed. */
export async function runScripts(opts: ScriptRunOptions, print: (text: string) => void): Promise<boolean> {
  const common = {
    ...(opts.wire ? { wire: true } : {}),
    ...(opts.config !== undefined ? { configPath: opts.config } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  };
  if (isDirectory(opts.script)) {
    if (opts.data !== undefined) throw new ScriptUsageError('--data takes one scenario file, not a folder (each scenario of a folder gets its own temporary journal)');
    const suite = await runSuite(opts.script, common);
    print(opts.json ? JSON.stringify(suiteJson(suite), null, 2) : formatSuite(suite));
    if (opts.junit !== undefined) writeJunit(opts.junit, suite);
    return suite.passed;
  }
  const started = performance.now();
  const result = await runScenario(opts.script, { ...common, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.data !== undefined ? { dataDir: opts.data } : {}) });
  print(opts.json ? scenarioResultJson(result) : formatTranscript(result));
  if (opts.junit !== undefined) {
    const skipped = result.skip !== undefined && result.steps.length === 0;
    const first = result.failures[0];
    const status = skipped ? 'skipped' : result.passed ? 'passed' : 'failed';
    const seconds = (performance.now() - started) / 1000;
    writeJunit(opts.junit, {
      dir: relative(process.cwd(), opts.script),
      cases: [
        {
          file: relative(process.cwd(), opts.script),
          name: result.name,
          status,
          seconds,
          ...(skipped && result.skip !== undefined ? { message: result.skip } : first ? { message: `steps[${first.index}] ${first.step}: ${first.message}` } : {}),
          detail: formatTranscript(result),
        },
      ],
      counts: { passed: status === 'passed' ? 1 : 0, failed: status === 'failed' ? 1 : 0, error: 0, skipped: status === 'skipped' ? 1 : 0 },
      seconds,
      passed: result.passed,
    });
  }
  return result.passed;
}

function writeJunit(path: string, suite: SuiteResult): void {
  try {
    writeFileSync(path, junitXml(suite));
  } catch (e) {
    throw new ScriptUsageError(`cannot write the JUnit report ${path}: ${(e as Error).message}`);
  }
}

/** The `--json` form of a suite: per file its status and message (transcripts left out). */
function suiteJson(s: SuiteResult): unknown {
  return {
    dir: s.dir,
    passed: s.passed,
    counts: s.counts,
    seconds: s.seconds,
    cases: s.cases.map(({ file, name, status, seconds, message }) => ({ file, name, status, seconds, ...(message !== undefined ? { message } : {}) })),
  };
}
