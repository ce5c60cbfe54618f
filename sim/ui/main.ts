/**
 * A tiny entry for the terminal simulator on the demo machine (or `--config FILE`):
 *   node --import tsx sim/ui/main.ts [--config FILE]
 * `vendomat sim` is the normal way in; this entry is for the end-to-end test and for trying the UI
 * on its own.
 *
 * Only node built-ins are imported up front, so a terminal shows a line at once; the machine's
 * modules (zod, rxjs, xstate) take a moment to load before its first real frame.
 */
const tty = process.stdout.isTTY === true;
if (tty) process.stdout.write('\x1b[?1049h\x1b[H\x1b[?25lVendomat simulator: starting the machine…');

function leaveScreen(): void {
  if (tty) process.stdout.write('\x1b[?25h\x1b[?1049l');
}

try {
  const [{ loadConfigFile }, { loadDemoConfig }, { runTerminalUi }] = await Promise.all([
    import('../../src/config/load.ts'),
    import('../session.ts'),
    import('./index.ts'),
  ]);
  const at = process.argv.indexOf('--config');
  const file = at >= 0 ? process.argv[at + 1] : undefined;
  const config = file !== undefined ? loadConfigFile(file) : loadDemoConfig();
  await runTerminalUi({ config });
} catch (e) {
  leaveScreen();
  process.stderr.write(`vendomat ui: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
