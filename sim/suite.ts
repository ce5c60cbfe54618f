/**
 * A scenario suite: every scenario file in a folder (`*.yaml` / `*.yml`, sorted, sub-folders
 * included), each run on a fresh session, with a summary and a JUnit XML report for CI.
 *
 * One file's trouble never stops the suite: a failing expectation is a JUnit `<failure>`, a
 * scenario that cannot run (invalid file, invalid config, an exception) is an `<error>`, and a
 * file with `skip:` (or `needs: wire` without --wire) is `<skipped>`.
 *
 * JUnit XML as read by Jenkins, GitLab and GitHub reporters (the de-facto schema of the Ant JUnit
 * task): `<testsuites>` → one `<testsuite>` → one `<testcase name classname file time>` per file.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../src/config/load.ts';
import { ScenarioError, formatTranscript, loadScenarioFile, runScenario, type RunScenarioOptions, type ScenarioResult } from './scenario.ts';

export type CaseStatus = 'passed' | 'failed' | 'error' | 'skipped';

export interface SuiteCase {
  /** The file, relative to the suite's folder. */
  readonly file: string;
  readonly name: string;
  readonly status: CaseStatus;
  /** Wall-clock seconds the run took. */
  readonly seconds: number;
  /** One line: the first failure, the error or the skip reason. */
  readonly message?: string;
  /** The transcript (a run) or the problems (an error). */
  readonly detail?: string;
  /** For an error: what kind (`invalid scenario`, `invalid config`, `error`). */
  readonly errorType?: string;
  readonly result?: ScenarioResult;
}

export interface SuiteResult {
  readonly dir: string;
  readonly cases: readonly SuiteCase[];
  readonly counts: Readonly<Record<CaseStatus, number>>;
  readonly seconds: number;
  /** True when nothing failed and nothing was in error. */
  readonly passed: boolean;
}

/** The scenario files under `dir`, sorted by path. Throws when `dir` cannot be read. */
export function scenarioFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name)) out.push(path);
    }
  };
  walk(dir);
  return out;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface SuiteOptions extends Omit<RunScenarioOptions, 'dataDir'> {
  /** Called after each file (for progress output). */
  readonly onCase?: (c: SuiteCase) => void;
}

/** Runs every scenario file under `dir`, one after the other. */
export async function runSuite(dir: string, opts: SuiteOptions = {}): Promise<SuiteResult> {
  const { onCase, ...runOpts } = opts;
  const started = performance.now();
  const cases: SuiteCase[] = [];
  for (const path of scenarioFiles(dir)) {
    const file = relative(dir, path);
    const t0 = performance.now();
    const seconds = (): number => (performance.now() - t0) / 1000;
    let c: SuiteCase;
    try {
      const scenario = loadScenarioFile(path);
      if (scenario.skip !== undefined) {
        c = { file, name: scenario.name, status: 'skipped', seconds: seconds(), message: scenario.skip };
        cases.push(c);
        onCase?.(c);
        continue;
      }
      const result = await runScenario(scenario, runOpts);
      const first = result.failures[0];
      c =
        result.skip !== undefined && result.steps.length === 0
          ? { file, name: result.name, status: 'skipped', seconds: seconds(), message: result.skip, result }
          : {
              file,
              name: result.name,
              status: result.passed ? 'passed' : 'failed',
              seconds: seconds(),
              ...(first ? { message: `steps[${first.index}] ${first.step}: ${first.message}` } : {}),
              detail: formatTranscript(result),
              result,
            };
    } catch (e) {
      const problems = e instanceof ScenarioError || e instanceof ConfigError ? e.problems : [e instanceof Error ? e.message : String(e)];
      const what = e instanceof ScenarioError ? 'invalid scenario' : e instanceof ConfigError ? 'invalid config' : 'error';
      c = { file, name: file, status: 'error', seconds: seconds(), message: `${what}: ${problems[0] ?? ''}`, detail: problems.join('\n'), errorType: what };
    }
    cases.push(c);
    onCase?.(c);
  }
  const counts: Record<CaseStatus, number> = { passed: 0, failed: 0, error: 0, skipped: 0 };
  for (const c of cases) counts[c.status]++;
  return { dir, cases, counts, seconds: (performance.now() - started) / 1000, passed: counts.failed === 0 && counts.error === 0 };
}

const MARK: Readonly<Record<CaseStatus, string>> = { passed: '✓', failed: '✗', error: '!', skipped: '-' };

/** One line per file, the transcripts of the failures, then the totals. */
export function formatSuite(s: SuiteResult): string {
  const out: string[] = [`Scenarios in ${s.dir}:`];
  for (const c of s.cases) out.push(`  ${MARK[c.status]} ${c.file}: ${c.name}${c.status === 'passed' ? '' : ` — ${c.status}${c.message ? `: ${c.message}` : ''}`}`);
  for (const c of s.cases.filter((x) => x.status === 'failed' || x.status === 'error')) out.push('', `── ${c.file} ──`, c.detail ?? c.message ?? '');
  const n = s.counts;
  out.push('', `${s.passed ? 'PASSED' : 'FAILED'}: ${s.cases.length} scenarios, ${n.passed} passed, ${n.failed} failed, ${n.error} errors, ${n.skipped} skipped (${s.seconds.toFixed(1)}s)`);
  return out.join('\n');
}

/** Text for XML 1.0: escaped, and without the control characters XML cannot carry. */
export function xmlText(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The JUnit XML report of a suite (`suiteName` names the `<testsuite>`; default the folder). */
export function junitXml(s: SuiteResult, suiteName = s.dir): string {
  const n = s.counts;
  const a = (name: string, v: string | number): string => ` ${name}="${xmlText(String(v))}"`;
  const totals = `${a('tests', s.cases.length)}${a('failures', n.failed)}${a('errors', n.error)}${a('skipped', n.skipped)}${a('time', s.seconds.toFixed(3))}`;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites${a('name', 'vendomat scenarios')}${totals}>`, `  <testsuite${a('name', suiteName)}${totals}>`];
  for (const c of s.cases) {
    const head = `    <testcase${a('name', c.name)}${a('classname', c.file.replace(/\.ya?ml$/, '').replace(/[\\/]/g, '.'))}${a('file', c.file)}${a('time', c.seconds.toFixed(3))}`;
    const message = a('message', c.message ?? '');
    switch (c.status) {
      case 'passed':
        out.push(`${head}/>`);
        break;
      case 'skipped':
        out.push(`${head}>`, `      <skipped${message}/>`, '    </testcase>');
        break;
      case 'failed':
        out.push(`${head}>`, `      <failure${message}${a('type', 'expectation')}>${xmlText(c.detail ?? '')}</failure>`, '    </testcase>');
        break;
      case 'error':
        out.push(`${head}>`, `      <error${message}${a('type', c.errorType ?? 'error')}>${xmlText(c.detail ?? '')}</error>`, '    </testcase>');
        break;
    }
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}
