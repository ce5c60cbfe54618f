/** `vendomat config check FILE`. */
import { loadConfigFile } from '../config/load.ts';
import { line, requireFile } from './errors.ts';
import { EXIT, type CliIo } from './main.ts';

export function configCheck(file: string, io: CliIo): number {
  requireFile(file, 'config file');
  const config = loadConfigFile(file);
  const slots = config.catalog.slots.length;
  line(io.stdout, `ok: ${file} (${config.machine.name}, ${slots} column${slots === 1 ? '' : 's'}, ${config.currency.code})`);
  return EXIT.ok;
}
