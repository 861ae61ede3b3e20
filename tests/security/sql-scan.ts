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
  const isConstant = constantChecker(sf);
  const report = (node: ts.Node, expression: ts.Expression, sql: string) => {
    const text = expression.getText(sf);
    if (isConstant(expression) || allowed(file, text, sql)) return;
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

/** Imported bindings that are constants of this repository (the schema's column and enum lists). */
const CONSTANT_IMPORTS = new Set(['EVENT_COLUMNS', 'EVENT_TYPES', 'DEVICE_TYPES', 'topology']);
/** Globals whose use cannot bring data in. */
const PURE_GLOBALS = new Set(['String', 'Number', 'Math', 'JSON', 'undefined']);

/**
 * An expression is constant when every name it uses is a literal-built module-level `const` of the
 * same file (recursively), a known constant import, a pure global, or a parameter of a function
 * written inside the expression itself (`EVENT_COLUMNS.map((c) => \`s.${c}\`)`). Function
 * parameters, locals and anything read at run time are not.
 */
function constantChecker(sf: ts.SourceFile): (e: ts.Expression) => boolean {
  const moduleConsts = new Map<string, ts.Expression>();
  const imports = new Set<string>();
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st) && st.declarationList.flags & ts.NodeFlags.Const) {
      for (const d of st.declarationList.declarations)
        if (ts.isIdentifier(d.name) && d.initializer) moduleConsts.set(d.name.text, d.initializer);
    }
    if (
      ts.isImportDeclaration(st) &&
      st.importClause?.namedBindings &&
      ts.isNamedImports(st.importClause.namedBindings)
    ) {
      for (const el of st.importClause.namedBindings.elements) imports.add(el.name.text);
    }
  }
  const memo = new Map<string, boolean>();
  const constantName = (name: string): boolean => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    memo.set(name, false); // a cycle is not constant
    const init = moduleConsts.get(name);
    const verdict =
      init !== undefined
        ? check(init)
        : (imports.has(name) && CONSTANT_IMPORTS.has(name)) || PURE_GLOBALS.has(name);
    memo.set(name, verdict);
    return verdict;
  };
  const check = (expr: ts.Node): boolean => {
    const bound = new Set<string>();
    const collectParams = (n: ts.Node) => {
      if (ts.isParameter(n) && ts.isIdentifier(n.name)) bound.add(n.name.text);
      ts.forEachChild(n, collectParams);
    };
    collectParams(expr);
    let ok = true;
    const visit = (n: ts.Node) => {
      if (!ok) return;
      if (ts.isIdentifier(n)) {
        const p = n.parent;
        const isPropertyName =
          (ts.isPropertyAccessExpression(p) && p.name === n) ||
          (ts.isPropertyAssignment(p) && p.name === n) ||
          (ts.isParameter(p) && p.name === n);
        if (!isPropertyName && !bound.has(n.text) && !constantName(n.text)) ok = false;
        return;
      }
      ts.forEachChild(n, visit);
    };
    visit(expr);
    return ok;
  };
  return check;
}
