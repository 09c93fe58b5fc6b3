/**
 * Import rules (docs/architecture.md, "Layers"): parses every import of the product's sources with
 * the TypeScript compiler API (already the build's compiler, so no further dependency; it sees
 * `import type`, `export ... from`, `import()` and `import('x').T` exactly as tsc does) and fails on
 * - any file cycle (value or type imports alike),
 * - any folder cycle inside engine/, and any engine import into a higher layer of LAYERS,
 * - `vscode` outside client/,
 * - an import outside a top-level folder's ALLOWED list (engine and webview import nothing of
 *   client/server/cli; the client reaches the engine only through engine/api.ts, the webview not
 *   at all; shared/ is a leaf; protocol/ has no runtime import of our code; the engine names only
 *   its pool's message types in protocol/, and those name only engine types below the importer's layer).
 * The per-runtime TypeScript projects (tsconfig.node.json, tsconfig.client.json, tsconfig.webview.json) check the
 * other half: node and vscode types only where that runtime has them, no DOM there, no node in the webview; the
 * webview's import closure is checked here too, and that `npm run typecheck` compiles every project.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOP = ['shared', 'engine', 'protocol', 'webview', 'client', 'server', 'cli'] as const;
type Top = (typeof TOP)[number];

/** Engine folders bottom up: a file may import its own folder or a lower one. */
const LAYERS: readonly (readonly string[])[] = [
  ['engine/core'],
  ['engine/io'],
  ['engine/formats'],
  ['engine/codec', 'engine/codec/wasm'],
  ['engine/lossy'],
  ['engine/pool'],
  ['engine/container'],
  ['engine/analysis', 'engine/analysis/wasm'],
  ['engine/diff'],
  ['engine'], // api.ts: re-exports only
];

/** The client's whole view of the engine: the operations it runs in the extension host. */
const ENGINE_PUBLIC = 'engine/api.ts';
/** Engine files protocol/ may name types from (type-only). */
const PROTOCOL_ENGINE_TYPES = new Set([
  ENGINE_PUBLIC,
  'engine/analysis/types.ts',
  'engine/analysis/viewTypes.ts',
  'engine/diff/types.ts',
  'engine/formats/types.ts',
  // the pool's task messages (protocol/pool.ts)
  'engine/codec/checksum.ts',
  'engine/lossy/errorStats.ts',
]);
/** The protocol files the engine may name types from (type-only): its worker pool's messages. */
const ENGINE_PROTOCOL = new Set(['protocol/pool.ts']);

/** Top-level folders each folder may import (runtime or type). */
const ALLOWED: Record<Top, readonly Top[]> = {
  shared: ['shared'],
  engine: ['engine', 'shared', 'protocol'], // protocol: type-only, ENGINE_PROTOCOL
  protocol: ['protocol', 'shared', 'engine'], // engine: type-only, PROTOCOL_ENGINE_TYPES
  webview: ['webview', 'protocol', 'shared'],
  client: ['client', 'protocol', 'shared', 'engine'], // engine: ENGINE_PUBLIC only
  server: ['server', 'protocol', 'shared', 'engine'],
  cli: ['cli', 'protocol', 'shared', 'engine'],
};

interface Import {
  from: string;
  spec: string;
  /** repo-relative target for our own files, undefined for packages and builtins */
  to?: string;
  typeOnly: boolean;
  line: number;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|mts)$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

function parseImports(file: string, files: ReadonlySet<string>): Import[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (node: ts.Node, spec: ts.Expression | undefined, typeOnly: boolean) => {
    if (!spec || !ts.isStringLiteralLike(spec)) return;
    const s = spec.text;
    let to: string | undefined;
    if (s.startsWith('.')) {
      const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.(js|ts|mjs|mts)$/, '');
      // a relative path into node_modules is a package; assets (.css, .json) are not modules; build
      // outputs (wasm/*.generated.ts) may be absent before a build
      if ((TOP as readonly string[]).includes(base.split('/')[0]!) && !/\.(generated|css|json)$/.test(base)) {
        to = [`${base}.ts`, `${base}.mts`, `${base}/index.ts`].find((c) => files.has(c));
        assert.ok(to, `${file}: import '${s}' resolves to no source file`);
      }
    }
    out.push({ from: file, spec: s, to, typeOnly, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly =
        !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier, typeOnly);
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(
        node,
        node.moduleSpecifier,
        node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)),
      );
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, true);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Strongly connected components with more than one member (or a self-import): the cycles. */
export function cycles(nodes: readonly string[], next: (n: string) => Iterable<string>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    let self = false;
    for (const w of next(v)) {
      if (w === v) self = true;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || self) found.push(c.sort());
    }
  };
  for (const n of nodes) if (!index.has(n)) connect(n);
  return found;
}

const files = TOP.flatMap((t) => sources(path.join(ROOT, t))).map((f) =>
  path.relative(ROOT, f).split(path.sep).join('/'),
);
const fileSet = new Set(files);
const imports = files.flatMap((f) => parseImports(f, fileSet));
const topOf = (f: string) => f.split('/')[0] as Top;
const folderOf = (f: string) => path.posix.dirname(f);
const where = (i: Import) => `${i.from}:${i.line} imports '${i.spec}'`;

function layerOf(folder: string): number {
  const k = LAYERS.findIndex((l) => l.includes(folder));
  assert.notEqual(
    k,
    -1,
    `engine folder ${folder} has no place in LAYERS (test/unit/import-rules.test.ts): add it where it belongs`,
  );
  return k;
}

describe('import rules', () => {
  test('the cycle finder finds cycles (a -> b -> c -> a, d -> d) and passes a DAG', () => {
    const g: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a', 'e'], d: ['d'], e: [] };
    assert.deepEqual(
      cycles(Object.keys(g), (n) => g[n]!),
      [['a', 'b', 'c'], ['d']],
    );
    assert.deepEqual(
      cycles(['x', 'y'], (n) => (n === 'x' ? ['y'] : [])),
      [],
    );
  });

  test('the parser sees every kind of import (sanity: the graph is not empty)', () => {
    assert.ok(files.length > 100, `${files.length} files`);
    assert.ok(imports.some((i) => i.from === 'engine/api.ts' && i.to === 'engine/container/compress.ts'));
    assert.ok(imports.some((i) => i.from.startsWith('client/') && i.spec === 'vscode'));
    assert.ok(imports.some((i) => i.typeOnly) && imports.some((i) => !i.typeOnly));
  });

  test('no file imports itself through a cycle', () => {
    const next = new Map<string, string[]>(files.map((f) => [f, []]));
    for (const i of imports) if (i.to) next.get(i.from)!.push(i.to);
    assert.deepEqual(
      cycles(files, (f) => next.get(f)!),
      [],
    );
  });

  test('engine/: no folder cycle, and each folder imports only its own layer or lower ones', () => {
    const engine = files.filter((f) => topOf(f) === 'engine');
    const folders = [...new Set(engine.map(folderOf))];
    const next = new Map<string, Set<string>>(folders.map((d) => [d, new Set()]));
    const upward: string[] = [];
    for (const i of imports) {
      if (topOf(i.from) !== 'engine' || !i.to || topOf(i.to) !== 'engine') continue;
      const a = folderOf(i.from);
      const b = folderOf(i.to);
      if (a !== b) next.get(a)!.add(b);
      if (layerOf(b) > layerOf(a)) upward.push(`${where(i)}: ${b} is above ${a}`);
    }
    // through protocol/: the engine types a protocol file names must not be above its engine importer
    for (const i of imports) {
      if (topOf(i.from) !== 'engine' || !i.to || topOf(i.to) !== 'protocol') continue;
      for (const j of imports)
        if (j.from === i.to && j.to && topOf(j.to) === 'engine' && layerOf(folderOf(j.to)) > layerOf(folderOf(i.from)))
          upward.push(`${where(i)}, which names ${j.to}: ${folderOf(j.to)} is above ${folderOf(i.from)}`);
    }
    assert.deepEqual(
      cycles(folders, (d) => next.get(d)!),
      [],
    );
    assert.deepEqual(upward, []);
  });

  test('vscode is imported only in client/', () => {
    assert.deepEqual(imports.filter((i) => i.spec === 'vscode' && topOf(i.from) !== 'client').map(where), []);
  });

  test('each top-level folder imports only what it may', () => {
    const bad: string[] = [];
    for (const i of imports) {
      const a = topOf(i.from);
      if (!i.to) {
        // packages and builtins: shared/ runs everywhere, so it imports none
        if (a === 'shared') bad.push(`${where(i)}: shared/ imports nothing outside shared/`);
        if (a === 'webview' && i.spec.startsWith('node:')) bad.push(`${where(i)}: the webview runs in a browser`);
        continue;
      }
      const b = topOf(i.to);
      if (!ALLOWED[a].includes(b)) bad.push(`${where(i)}: ${a}/ may import only ${ALLOWED[a].join(', ')}`);
      else if (a === 'engine' && b === 'protocol' && !(i.typeOnly && ENGINE_PROTOCOL.has(i.to)))
        bad.push(`${where(i)}: the engine names only its pool's message types (import type from protocol/pool.ts)`);
      else if (a === 'client' && b === 'engine' && i.to !== ENGINE_PUBLIC)
        bad.push(`${where(i)}: the client reaches the engine through ${ENGINE_PUBLIC} only`);
      else if (a === 'protocol' && b === 'engine' && !(i.typeOnly && PROTOCOL_ENGINE_TYPES.has(i.to)))
        bad.push(
          `${where(i)}: protocol/ names engine types only (import type from ${[...PROTOCOL_ENGINE_TYPES].join(', ')})`,
        );
    }
    assert.deepEqual(bad, []);
  });

  test("the webview's import closure (type imports too) reaches no node builtin and no other package", () => {
    const byFile = new Map<string, Import[]>();
    for (const i of imports) byFile.set(i.from, [...(byFile.get(i.from) ?? []), i]);
    const seen = new Set(files.filter((f) => topOf(f) === 'webview'));
    const bad: string[] = [];
    for (const f of seen) {
      for (const i of byFile.get(f) ?? []) {
        if (i.to) seen.add(i.to);
        else if (!i.spec.startsWith('./') && !i.spec.startsWith('../') && !i.spec.startsWith('@vscode-elements/'))
          bad.push(`${where(i)}: reached from webview/, which runs in a browser`);
      }
    }
    assert.deepEqual(bad, []);
    assert.ok(
      [...seen].some((f) => topOf(f) === 'protocol'),
      'sanity: the closure reaches protocol/',
    );
  });

  test('npm run typecheck compiles every per-runtime project', () => {
    const script = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts.typecheck!;
    const projects = readdirSync(ROOT).filter((n) => /^tsconfig\.\w+\.json$/.test(n) && n !== 'tsconfig.base.json');
    assert.ok(projects.length >= 3, `sanity: ${projects.join(', ')}`);
    for (const p of projects)
      assert.match(script, new RegExp(`tsc -p ${p.replace(/\./g, '\\.')}(\\s|$)`), `${p} is not in npm run typecheck`);
  });
});
