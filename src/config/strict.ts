/**
 * Unknown keys in a config are mistakes: zod's objects drop them silently, so `polcy:` or
 * `saveCreditMS` used to give "ok" and quietly fall back to the defaults. `unknownKeys` walks the
 * raw input beside the schema and names every key the schema does not have, with a "did you mean"
 * when a known key is close (a different case, or a letter or two off).
 *
 * It reads zod's schema definitions (`_zod.def`, zod 4) rather than making every object strict,
 * so the schemas stay as they are and one walk serves the machine config and each hardware block.
 */
import type { z } from 'zod';

interface Def {
  readonly type: string;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly out?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly discriminator?: string;
  readonly left?: z.ZodType;
  readonly right?: z.ZodType;
  readonly getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { readonly _zod: { readonly def: Def } })._zod.def;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional', 'success']);

/** The schema that reads the raw value: through wrappers, lazies and pipes (a preprocess pipe's `out`). */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let guard = 0; guard < 50; guard++) {
    const d = defOf(s);
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else if (d.type === 'pipe' && d.in && d.out) s = defOf(d.in).type === 'transform' ? d.out : d.in;
    else return s;
  }
  return s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Edit distance counting a swap of two neighbours as one edit (optimal string alignment), case
 *-insensitive: saveCreditMS is saveCreditMs, enabeld is enabled.
 */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= x.length; i++)
    for (let j = 1; j <= y.length; j++) {
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      const row = d[i];
      if (row) row[j] = v;
    }
  return at(x.length, y.length);
}

/** The known key closest to `key`, when it is close enough to be a slip of the keyboard. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.floor(key.length / 4));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

export interface UnknownKey {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Every key of `raw` that `schema` does not know, with its path from `prefix`. */
export function unknownKeys(schema: z.ZodType, raw: unknown, prefix: readonly (string | number)[] = []): UnknownKey[] {
  const out: UnknownKey[] = [];
  walk(schema, raw, [...prefix], out);
  return out;
}

function walk(schema: z.ZodType, raw: unknown, path: (string | number)[], out: UnknownKey[]): void {
  const s = unwrap(schema);
  const d = defOf(s);
  if (d.type === 'object' && d.shape && isRecord(raw)) {
    const known = Object.keys(d.shape);
    for (const [key, value] of Object.entries(raw)) {
      const child = d.shape[key];
      if (child === undefined) {
        const near = closestKey(key, known);
        out.push({ path: [...path, key], message: near !== undefined ? `unknown key; did you mean ${near}?` : `unknown key (expected one of ${known.join(', ')})` });
      } else walk(child, value, [...path, key], out);
    }
  } else if (d.type === 'array' && d.element && Array.isArray(raw)) {
    raw.forEach((v, i) => walk(d.element as z.ZodType, v, [...path, i], out));
  } else if (d.type === 'record' && d.valueType && isRecord(raw)) {
    for (const [key, value] of Object.entries(raw)) walk(d.valueType, value, [...path, key], out);
  } else if (d.type === 'intersection' && d.left && d.right) {
    walk(d.left, raw, path, out);
  } else if (d.type === 'union' && d.options && isRecord(raw)) {
    // The option the value means: by its discriminator, else the one it fits with fewest unknowns.
    const options = d.options.filter((o) => defOf(unwrap(o)).type === 'object');
    if (options.length === 0) return;
    const tag = d.discriminator !== undefined ? raw[d.discriminator] : undefined;
    const tagged = d.discriminator !== undefined ? options.filter((o) => fitsTag(o, d.discriminator ?? '', tag)) : [];
    let best: UnknownKey[] | undefined;
    for (const o of tagged.length > 0 ? tagged : options) {
      const found: UnknownKey[] = [];
      walk(o, raw, path, found);
      if (best === undefined || found.length < best.length) best = found;
    }
    out.push(...(best ?? []));
  }
}

function fitsTag(option: z.ZodType, discriminator: string, tag: unknown): boolean {
  const field = defOf(unwrap(option)).shape?.[discriminator];
  if (!field) return false;
  return field.safeParse(tag).success;
}
