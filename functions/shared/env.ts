/**
 * Environment access for the deployed functions' entry points. Each handler module's exported
 * `handler` reads its configuration from environment variables (as the CDK stack sets them) once,
 * at cold start, and checks it there, so a misconfigured function fails with a message naming the
 * variable instead of failing every record later. Everything below the entry point takes its
 * configuration as values.
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

/**
 * An optional queue or endpoint URL; throws naming the variable when it is set but does not start
 * with `http://` or `https://`. Checked by shape, not parsed: emulators name queues on hosts such as
 * `sqs.us-east-1.127.0.0.1`, which a URL parser refuses.
 */
export function optionalUrlEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = optionalEnv(name, env);
  if (value !== undefined && !/^https?:\/\/[^\s/]+\/?\S*$/.test(value))
    throw new Error(`Environment variable ${name} must be an http(s) URL, got "${value}"`);
  return value;
}
