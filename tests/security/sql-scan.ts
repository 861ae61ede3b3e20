import ts from 'typescript';

/** A place where SQL text is built from a value that is not a known constant. */
export interface SqlFinding {
  file: string;
  line: number;
  /** The interpolated or concatenated expression, as written. */
  expression: string;
  /** The start of the SQL text, for the report. */
  sql: string;
}

/**
 * Text that starts like an SQL statement and goes on like one. Upper case only, as this repository writes SQL; templates
 * passed straight to `.query(…)` are checked whatever they look like.
 */
const SQL_TEXT =
  /^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|TRUNCATE|GRANT|WITH|VALUES)\s[\s\S]*\b(FROM|INTO|TABLE|SET|DATABASE|WHERE|STDIN|INDEX|SCHEMA|ROLE|EXISTS|AS|TO)\b/;

/**
 * Find SQL built by interpolating or concatenating values: template literals whose text is SQL (or
 * that are passed to `.query(…)`) and `+` concatenations with an SQL string literal. An expression is
 * accepted only when `allowed(file, expressionText)` says so: constant identifiers such as the column
 * list. Everything else must be a bind parameter.
 */
export function findStringBuiltSql(
  file: string,
  source: string,
  allowed: (file: string, expression: string, sql: string) => boolean,
): SqlFinding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const findings: SqlFinding[] = [];
  const report = (node: ts.Node, expression: ts.Node, sql: string) => {
    const text = expression.getText(sf);
    if (allowed(file, text, sql)) return;
    findings.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
      expression: text,
      sql: sql.replace(/\s+/g, ' ').trim().slice(0, 80),
    });
  };
  const isQueryArgument = (node: ts.Node) => {
    const call = node.parent;
    return (
      call !== undefined &&
      ts.isCallExpression(call) &&
      call.arguments[0] === node &&
      ts.isPropertyAccessExpression(call.expression) &&
      call.expression.name.text === 'query'
    );
  };
  const visit = (node: ts.Node) => {
    if (ts.isTemplateExpression(node)) {
      const text = node.head.text + node.templateSpans.map((s) => `\${…}${s.literal.text}`).join('');
      if (SQL_TEXT.test(text) || isQueryArgument(node)) {
        for (const span of node.templateSpans) report(node, span.expression, text);
      }
    }
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const sides = [node.left, node.right];
      const sql = sides.find((s) => ts.isStringLiteralLike(s) && SQL_TEXT.test(s.text));
      if (sql) {
        for (const s of sides)
          if (!ts.isStringLiteralLike(s)) report(node, s, (sql as ts.StringLiteral).text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return findings;
}
