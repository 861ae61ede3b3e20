/**
 * Environment access for handlers. Handlers read configuration only from environment variables,
 * checked once at cold start, so a misconfigured function fails at init with a message naming the
 * variable instead of failing every record later.
 */

/** A required variable; throws naming it when absent or empty. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is required but not set`);
  }
  return value;
}

/** An optional numeric variable with a default; throws when set to something that is not a number. */
export function numberEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`Environment variable ${name} must be a number, got "${raw}"`);
  return value;
}

/** An optional variable, `undefined` when empty. */
export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}
