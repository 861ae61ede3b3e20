import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root folder, the one place it is computed. The CDK stack finds the function
 * entries and `sql/` from it; the scripts and tests find `.data/`, `bench/` and `docs/` from it.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
