import { fileURLToPath } from 'node:url';

/** The built-in demo machine's config file. */
export const demoConfigFile = fileURLToPath(new URL('../sim/machines/demo.yaml', import.meta.url));
