import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED, root } from './docs/generate.ts';

describe('generated docs are up to date (npm run docs)', () => {
  for (const [file, make] of Object.entries(GENERATED)) {
    it(file, () => {
      expect(readFileSync(join(root, file), 'utf8')).toBe(make());
    });
  }
});
