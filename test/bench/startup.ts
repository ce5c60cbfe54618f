/**
 * Start-up and idle figures of the program as a person or systemd starts it, the build
 * (`node dist/src/cli/bin.js`, what the `vendomat` bin runs) beside the sources through tsx
 * (`node src/cli/vendomat.mjs`), in the same run. Each figure is the median of a few short,
 * bounded runs of a real child process.
 *
 * - `vendomat --help`: process start to exit.
 * - line mode: `vendomat sim --plain` from start to its banner's last line (the point it reads
 *   commands; a terminal shows the prompt there).
 * - terminal UI: `vendomat sim` on a pseudo-terminal (script(1)) from start to the first frame.
 * - `run` idle: the real run command on sim/machines/pi-mdb-gpio.yaml with its serial binding and
 *   IO plugin answered by the wire emulators in the same process (test/bench/run-idle.mjs); RSS and
 *   CPU after it settles. The emulators' own share is measured alone and subtracted, and the
 *   service's node options (docs/deploy/vendomat.service) are used beside node's defaults.
 *
 * Options (environment): BENCH_STARTUP_RUNS (default 5) runs per start-up figure;
 * BENCH_IDLE_MS (default 5000) the idle measurement window.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = Math.max(1, Math.min(50, Number(process.env.BENCH_STARTUP_RUNS ?? 5) || 5));
const HW_CONFIG = 'sim/machines/pi-mdb-gpio.yaml';
/** The node options the systemd unit sets (docs/deploy/vendomat.service): a small young generation. */
export const SERVICE_NODE_OPTIONS = ['--max-semi-space-size=1'];

interface Variant {
  readonly name: string;
  /** node arguments before the command's own. */
  readonly entry: readonly string[];
  readonly idle: readonly string[];
}

const BUILD: Variant = { name: 'build', entry: ['dist/src/cli/bin.js'], idle: ['test/bench/run-idle.mjs', 'dist'] };
const TSX: Variant = { name: 'tsx', entry: ['src/cli/vendomat.mjs'], idle: ['--import', 'tsx', 'test/bench/run-idle.mjs', 'src'] };

function row(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(46)} ${value.padStart(16)}  ${note}`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Milliseconds from spawn until `done(stdout)` holds (or the process exits when no `done`). */
function timeChild(args: readonly string[], opts: { done?: (out: string) => boolean; stdin?: string; timeoutMs?: number } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let at: number | undefined;
    const limit = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (at === undefined && opts.done?.(out)) {
        at = performance.now() - t0;
        c.stdin.end(opts.stdin ?? '');
      }
    });
    c.stdin.on('error', () => undefined);
    if (!opts.done) c.stdin.end();
    c.on('close', () => {
      clearTimeout(limit);
      const ms = opts.done ? at : performance.now() - t0;
      if (ms === undefined) reject(new Error(`${args.join(' ')}: never got there`));
      else resolve(ms);
    });
  });
}

/** The UI needs a terminal: script(1) gives it a pseudo-terminal; `q` quits it after the frame. */
function timeUi(v: Variant): Promise<number> {
  const cmd = [process.execPath, ...v.entry, 'sim'].map((a) => `'${a}'`).join(' ');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('script', ['-qfec', `stty cols 100 rows 30; exec env -u CI -u CONTINUOUS_INTEGRATION ${cmd}`, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    let at: number | undefined;
    const limit = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (at === undefined && out.includes('VENDOMAT')) {
        at = performance.now() - t0;
        // ink may still be loading: ask until it quits.
        const quit = setInterval(() => c.stdin.write('q'), 100);
        c.on('close', () => clearInterval(quit));
      }
    });
    c.stdin.on('error', () => undefined);
    c.on('close', () => {
      clearTimeout(limit);
      if (at === undefined) reject(new Error('the UI showed no frame'));
      else resolve(at);
    });
  });
}

async function medianOf(runs: number, once: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await once());
  return median(xs);
}

interface Idle {
  readonly readyMs: number;
  readonly rssMb: number;
  readonly cpuPercent: number;
}

function idleRun(v: Variant, nodeOptions: readonly string[], mode?: 'world-only'): Idle {
  const r = spawnSync(process.execPath, ['--expose-gc', ...nodeOptions, ...v.idle, HW_CONFIG, ...(mode ? [mode] : [])], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Idle;
  } catch {
    throw new Error(`run-idle (${v.name}) printed no figures: ${r.stderr.slice(0, 400)}`);
  }
}

/** RSS of a node process that loads nothing (the floor every figure stands on). */
function bareNodeRssMb(nodeOptions: readonly string[]): number {
  const r = spawnSync(process.execPath, ['--expose-gc', ...nodeOptions, '-e', 'gc(); console.log(process.memoryUsage().rss / 1048576)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function ensureBuild(): void {
  if (existsSync(`${ROOT}dist/src/cli/bin.js`)) return;
  console.log('(no build in dist/: running npm run build first)');
  spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

export async function runStartupBench(): Promise<void> {
  ensureBuild();
  console.log(`\n## Start-up and idle (child processes; median of ${RUNS}; build = dist/, what the vendomat bin runs)`);
  for (const v of [BUILD, TSX]) {
    const help = await medianOf(RUNS, () => timeChild([...v.entry, '--help']));
    row(`${v.name}: vendomat --help`, `${help.toFixed(0)} ms`, v === BUILD ? 'target ≤ 300 ms' : '');
    const prompt = await medianOf(RUNS, () => timeChild([...v.entry, 'sim', '--plain'], { done: (o) => o.includes('`quit` to leave'), stdin: 'quit\n' }));
    row(`${v.name}: line mode, start to first prompt`, `${prompt.toFixed(0)} ms`, v === BUILD ? 'target ≤ 500 ms' : '');
    if (spawnSync('script', ['--version']).status === 0) {
      const ui = await medianOf(Math.min(RUNS, 3), () => timeUi(v));
      row(`${v.name}: terminal UI, start to first frame`, `${ui.toFixed(0)} ms`, v === BUILD ? 'target ≤ 1,000 ms' : '');
    } else row(`${v.name}: terminal UI, start to first frame`, 'skipped', 'script(1) not installed (util-linux)');
  }
  const floorService = bareNodeRssMb(SERVICE_NODE_OPTIONS);
  const floorDefault = bareNodeRssMb([]);
  row('bare node process RSS (service / default options)', `${floorService.toFixed(0)} / ${floorDefault.toFixed(0)} MB`, 'the floor under every RSS figure');
  for (const [v, opts, label] of [
    [BUILD, SERVICE_NODE_OPTIONS, 'build, service options'],
    [BUILD, [], 'build, node defaults'],
    [TSX, [], 'tsx, node defaults'],
  ] as const) {
    const full = idleRun(v, opts);
    const world = idleRun(v, opts, 'world-only');
    const floor = opts.length > 0 ? floorService : floorDefault;
    const rss = floor + Math.max(0, full.rssMb - world.rssMb);
    const cpu = Math.max(0, full.cpuPercent - world.cpuPercent);
    row(`run idle RSS (${label})`, `${rss.toFixed(0)} MB`, `${v === BUILD && opts.length > 0 ? 'target ≤ 60 MB; ' : ''}with the emulators ${full.rssMb.toFixed(0)} MB, emulators alone ${world.rssMb.toFixed(0)} MB`);
    row(`run idle CPU (${label})`, `${cpu.toFixed(2)} %`, `${v === BUILD && opts.length > 0 ? 'target < 1 % of a core; ' : ''}MDB polling + GPIO; with the emulators ${full.cpuPercent.toFixed(2)} %`);
    row(`run, start to running (${label})`, `${full.readyMs.toFixed(0)} ms`, 'devices initialised, journal open');
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) await runStartupBench();
