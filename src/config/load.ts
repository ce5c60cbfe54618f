import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { machineConfigSchema, type MachineConfig } from './schema.ts';
import { unknownKeys } from './strict.ts';

/** A config that failed validation: one line per problem, each naming the field's path. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

function problemsOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`);
}

/**
 * Validate an already-parsed object. Throws ConfigError naming every bad field, unknown keys
 * (misspellings that would otherwise fall back to a default in silence) included.
 */
export function parseConfig(raw: unknown, source = '(inline)'): MachineConfig {
  const result = machineConfigSchema.safeParse(raw);
  const unknown = unknownKeys(machineConfigSchema, raw).map((u) => `${formatIssuePath(u.path)}: ${u.message}`);
  if (!result.success || unknown.length > 0) throw new ConfigError(source, [...unknown, ...(result.success ? [] : problemsOf(result.error))]);
  return result.data;
}

export function parseConfigText(text: string, source = '(inline)'): MachineConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(source, [`not valid YAML: ${(e as Error).message}`]);
  }
  return parseConfig(raw, source);
}

export function loadConfigFile(path: string): MachineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [`cannot read file: ${(e as Error).message}`]);
  }
  return parseConfigText(text, path);
}
