import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';

/**
 * The layout that README.md and docs/architecture.md draw must be the tree's: every file a block
 * names exists where it says, every code folder and every file of the product's folders is named,
 * and every top-level folder has its line.
 */

/** The first fenced block after `heading` in a Markdown file. */
function block(file: string, heading: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`${file} has no "${heading}"`);
  const open = text.indexOf('```', at);
  const close = text.indexOf('```', open + 3);
  return text
    .slice(text.indexOf('\n', open) + 1, close)
    .split('\n')
    .filter((l) => l.trim());
}

/** Folders a layout can name: everything but dot-folders, dependencies and build output. */
function folders(rel: string): string[] {
  return readdirSync(path.join(ROOT, rel))
    .filter((f) => !f.startsWith('.') && f !== 'node_modules' && f !== 'cdk.out')
    .filter((f) => statSync(path.join(ROOT, rel, f)).isDirectory());
}

const tsFiles = (rel: string) => readdirSync(path.join(ROOT, rel)).filter((f) => f.endsWith('.ts'));

/**
 * docs/architecture.md's block, as the folder each line speaks of and the file names it holds:
 * a path at column 0 opens a folder, one indented by two spaces a folder inside it, and deeper
 * lines go on with the folder above them.
 */
function architectureEntries(lines: string[]): { folder: string; names: string[] }[] {
  const entries: { folder: string; names: string[] }[] = [];
  let top = '';
  for (const line of lines) {
    const own = /^(\S+\/)\s/.exec(line) ?? /^ {2}(\S+\/)\s/.exec(line);
    if (own?.[1]) {
      const folder = line.startsWith(' ') ? `${top}${own[1]}` : own[1];
      if (!line.startsWith(' ')) top = own[1];
      entries.push({ folder, names: [] });
    }
    const names = line.match(/[\w.-]+\.(?:ts|md|json|sql)\b/g) ?? [];
    entries.at(-1)?.names.push(...names);
  }
  return entries;
}

describe('docs/architecture.md, where things live', () => {
  const entries = architectureEntries(block('docs/architecture.md', '## Where things live'));
  const named = new Set(entries.map((e) => e.folder));

  it('names only files that are in the folder of their line', () => {
    const missing = entries.flatMap(({ folder, names }) =>
      names
        .filter((n) => n.endsWith('.ts'))
        .filter((n) => !tsFiles(folder).includes(n))
        .map((n) => `${folder}${n}`),
    );
    expect(missing).toEqual([]);
  });

  it('has a line for every top-level folder and every folder of functions/ and scripts/', () => {
    const expected = [
      ...folders('.').filter((f) => f !== 'scripts'),
      ...folders('scripts').map((f) => `scripts/${f}`),
    ].map((f) => `${f}/`);
    expect(expected.filter((f) => !named.has(f))).toEqual([]);
    const inside = folders('functions').map((f) => `functions/${f}/`);
    expect(inside.filter((f) => !named.has(f))).toEqual([]);
  });

  it("names every file of the functions' folders (but shared/) and of scripts/local/", () => {
    const unnamed = [
      ...folders('functions')
        .filter((f) => f !== 'shared')
        .map((f) => `functions/${f}/`),
      'scripts/local/',
    ].flatMap((folder) => {
      const said = new Set(entries.filter((e) => e.folder === folder).flatMap((e) => e.names));
      return tsFiles(folder)
        .filter((f) => !said.has(f))
        .map((f) => `${folder}${f}`);
    });
    expect(unnamed).toEqual([]);
  });
});

describe("README.md's layout", () => {
  const lines = block('README.md', '## Layout');

  it('has a line for every top-level folder, and names the rooms of scripts/', () => {
    const tops = new Set(lines.map((l) => /^(\S+\/)\s/.exec(l)?.[1]).filter(Boolean));
    expect(folders('.').filter((f) => !tops.has(`${f}/`))).toEqual([]);
    const text = lines.join('\n');
    expect(folders('scripts').filter((f) => !new RegExp(`\\s${f}/\\s`).test(text))).toEqual([]);
  });
});

describe('the layout checker itself', () => {
  it('reads folders, sub-folders and continuation lines', () => {
    expect(
      architectureEntries([
        'functions/   the product',
        '  ingest/    handler.ts, config.ts (its',
        '             settings), gone.ts',
        'scripts/local/  start.ts',
      ]),
    ).toEqual([
      { folder: 'functions/', names: [] },
      { folder: 'functions/ingest/', names: ['handler.ts', 'config.ts', 'gone.ts'] },
      { folder: 'scripts/local/', names: ['start.ts'] },
    ]);
  });
});
