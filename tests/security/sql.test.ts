import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { findStringBuiltSql } from './sql-scan.ts';

/**
 * Parameterized SQL everywhere: no SQL text is built from values. Interpolating constants (the
 * column list, literal-built module constants: see `sql-scan.ts`) is fine; the few other
 * interpolations allowed are listed below, each with the reason it is not data.
 */
const ALLOWED: { file: string; expression: string; why: string }[] = [
  {
    file: 'scripts/dev/scratch-db.ts',
    expression: 'template ?',
    why: 'the name of a template database made by the same module, checked to be a plain identifier',
  },
  {
    file: 'scripts/dev/chaos/verify.ts',
    expression: 'target',
    why: 'a table name chosen by the verifier itself, never read from input',
  },
];

/** CREATE/DROP DATABASE: a name is an identifier and cannot be a bind parameter; callers generate or check it. */
const DATABASE_DDL = /^\s*(CREATE|DROP) DATABASE (IF EXISTS )?"?\$\{…\}"?(\$\{…\})?( WITH \(FORCE\))?\s*$/;

function allowed(file: string, expression: string, sql: string): boolean {
  if (DATABASE_DDL.test(sql) && /^(name|options\.database)$/.test(expression)) return true;
  return ALLOWED.some((a) => a.file === file && expression.startsWith(a.expression));
}

function sourceFiles(): string[] {
  const files: string[] = [];
  for (const dir of ['functions', 'scripts', 'infra', 'tests']) {
    for (const f of readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]) {
      if (f.endsWith('.ts') && !f.includes('node_modules')) files.push(path.join(dir, f));
    }
  }
  return files;
}

describe('parameterized SQL everywhere', () => {
  it('finds no SQL built by interpolating or concatenating data in functions/, scripts/, infra/, tests/', () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(40);
    const findings = files.flatMap((file) =>
      findStringBuiltSql(file, readFileSync(path.join(ROOT, file), 'utf8'), allowed),
    );
    expect(findings.map((f) => `${f.file}:${f.line} \${${f.expression}} in "${f.sql}"`)).toEqual([]);
  });

  it('the scan catches interpolated and concatenated values (so the test above can fail)', () => {
    const bad = `
      await client.query(\`SELECT * FROM user_events WHERE user_id = '\${userId}'\`);
      const sql = \`DELETE FROM rejected_events WHERE reason = \${reason}\`;
      await pool.query('INSERT INTO t (a) VALUES (' + value + ')');
      await client.query(\`select 1 where x = \${x}\`);
      const ok = await client.query('SELECT * FROM t WHERE a = $1', [a]);
      const log = \`Copy \${n} rows\`;
      const cols = ['a', 'b'].join(', ');
      const fine = \`SELECT \${cols}, \${['c'].map((c) => \`t.\${c}\`).join()} FROM t\`;
      function f(table: string) { return \`SELECT * FROM \${table} WHERE a = 1\`; }
      const late = process.env.TABLE;
      const notFine = \`DELETE FROM \${late} WHERE a = 1\`;
    `;
    const found = findStringBuiltSql('bad.ts', bad, () => false).map((f) => [f.line, f.expression]);
    expect(found).toEqual([
      [2, 'userId'],
      [3, 'reason'],
      [4, 'value'],
      [5, 'x'],
      [10, 'table'],
      [12, 'late'],
    ]);
  });
});
