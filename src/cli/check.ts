/**
 * `vendomat config check FILE`: the same validation `run` and `doctor` do (the machine, its
 * hardware section, the adapter blocks and their checks against each other and the IO plugin), so a
 * config it calls ok is one they accept. Every problem is reported in one round.
 */
import { line, requireFile } from './errors.ts';
import { loadMachineWithHardware } from './hardware.ts';
import { EXIT, type CliIo } from './main.ts';

export function configCheck(file: string, io: CliIo): number {
  requireFile(file, 'config file');
  const { config } = loadMachineWithHardware(file);
  const slots = config.catalog.slots.length;
  line(io.stdout, `ok: ${file} (${config.machine.name}, ${slots} column${slots === 1 ? '' : 's'}, ${config.currency.code})`);
  return EXIT.ok;
}
