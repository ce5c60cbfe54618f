/**
 * Where the journal lives by default: `$VENDOMAT_DATA` when set, else `~/.local/share/vendomat`
 * (the XDG data location on Linux). The environment and home directory are injectable for tests.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const DATA_DIR_ENV = 'VENDOMAT_DATA';

export function defaultDataDir(env: Readonly<Record<string, string | undefined>> = process.env, home: string = homedir()): string {
  const fromEnv = env[DATA_DIR_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return resolve(fromEnv);
  return join(home, '.local', 'share', 'vendomat');
}
