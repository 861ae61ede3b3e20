import path from 'node:path';
import ts from 'typescript';

/**
 * The rooms of the repository and who may import whom, as a pure check over a set of files (path
 * relative to the repository root → source text), so the same checker runs on the real tree and,
 * in its own test, on a small set with planted violations.
 */

/** A rule: files under `from` must not import files under any of `notFrom`. */
interface Rule {
  from: string;
  notFrom: string[];
  why: string;
}

/** Who may not import whom; `tests/` and `scripts/dev/` may import any room. */
export const RULES: readonly Rule[] = [
  {
    from: 'functions/',
    notFrom: ['scripts/', 'tests/', 'infra/'],
    why: 'product code takes its configuration from its environment or its factory, never from tools, tests or the CDK app',
  },
  { from: 'infra/', notFrom: ['scripts/', 'tests/'], why: 'the CDK app deploys product code only' },
  {
    from: 'scripts/local/',
    notFrom: ['scripts/dev/'],
    why: 'the runtime npm start runs ships without dev tools',
  },
  { from: 'scripts/ops/', notFrom: ['scripts/dev/'], why: 'user-facing CLIs ship without dev tools' },
];

/**
 * The repository files a file imports, from its syntax tree: `import` (also `import type`), `export …
 * from`, and `import('…')` with a literal; bare package names are left out.
 */
export function relativeImports(file: string, source: string): { specifier: string; target: string }[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const specifiers: string[] = [];
  const walk = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      specifiers.push(node.moduleSpecifier.text);
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    )
      specifiers.push(node.arguments[0].text);
    ts.forEachChild(node, walk);
  };
  walk(sf);
  return specifiers
    .filter((s) => s.startsWith('./') || s.startsWith('../'))
    .map((specifier) => ({
      specifier,
      target: path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)),
    }));
}

/** Every broken rule, unresolved relative import and import cycle among `files`, one line each. */
export function importViolations(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const [file, source] of files) {
    const targets: string[] = [];
    for (const { specifier, target } of relativeImports(file, source)) {
      if (!files.has(target)) {
        problems.push(`${file}: import "${specifier}" does not resolve to a file of the repository`);
        continue;
      }
      targets.push(target);
      for (const rule of RULES) {
        const denied = rule.notFrom.find((room) => target.startsWith(room));
        if (file.startsWith(rule.from) && denied)
          problems.push(`${file} imports ${target}: ${rule.from} must not import ${denied} (${rule.why})`);
      }
    }
    graph.set(file, targets);
  }
  for (const cycle of importCycles(graph)) problems.push(`import cycle: ${cycle.join(' → ')}`);
  return problems;
}

/**
 * Cycles of a directed graph: one per strongly connected component (fix it and the next shows),
 * each as a path closed on its start.
 */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm, iterative enough for a repository: recursion depth is the longest import chain.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (;;) {
      const w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    const selfLoop = component.length === 1 && (graph.get(v) ?? []).includes(v);
    if (component.length > 1 || selfLoop) cycles.push(cyclePath(graph, new Set(component), v));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** One concrete cycle through `start` inside a strongly connected component, for the message. */
function cyclePath(
  graph: ReadonlyMap<string, readonly string[]>,
  component: Set<string>,
  start: string,
): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const chain = [v];
        while (chain[0] !== start) chain.unshift(previous.get(chain[0] as string) as string);
        return [...chain, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * Every place a file writes `process.env`: assigning a variable (`=`, `??=`, `||=`, …), deleting
 * one, replacing the object, or `Object.assign(process.env, …)`. Outside tests, configuration is
 * passed in, and child processes get theirs through `spawn`'s `env` option.
 */
export function envWrites(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const isEnv = (e: ts.Expression): boolean =>
    ts.isPropertyAccessExpression(e) &&
    e.name.text === 'env' &&
    ts.isIdentifier(e.expression) &&
    e.expression.text === 'process';
  const isEnvOrMember = (e: ts.Expression): boolean =>
    isEnv(e) ||
    ((ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)) && isEnv(e.expression));
  const at = (node: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const walk = (node: ts.Node) => {
    if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      node.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
      isEnvOrMember(node.left)
    )
      found.push(`${at(node)}: ${node.getText()}`);
    if (ts.isDeleteExpression(node) && isEnvOrMember(node.expression))
      found.push(`${at(node)}: ${node.getText()}`);
    if (
      ts.isCallExpression(node) &&
      node.expression.getText() === 'Object.assign' &&
      node.arguments[0] !== undefined &&
      isEnv(node.arguments[0])
    )
      found.push(`${at(node)}: Object.assign(process.env, …)`);
    ts.forEachChild(node, walk);
  };
  walk(sf);
  return found;
}
