/**
 * Workspace symbols: every tensor of every `.safetensors`, `.gguf` and `.tzip` file under the
 * workspace folders, from their headers. Built lazily on the first query: the file list is kept
 * until a watched file is created or deleted (or, for clients without file watching, for
 * LIST_TTL_MS); each file's tensor list comes from the header cache (mtime + size), and its
 * lower-cased names are kept beside it, so a warm query is one stat per file and a scan of names.
 */
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { SymbolKind, type SymbolInformation } from 'vscode-languageserver/node';
import type { TensorList } from '../../engine/container/shards';
import { tensorUri } from '../../protocol/lang';
import type { HeaderCache } from './headerCache';
import { fileUri, isFile } from './model';

const MODEL_FILE = /\.(safetensors|gguf|tzip)$/i;
/** Folders never searched (dependencies, VCS data, hidden tool folders). */
const SKIP_DIR = /^(node_modules|\.git|\.hg|\.svn)$|^\./;
/** Upper bound on directory entries visited per walk, so a huge tree cannot stall the server. */
export const MAX_WALK_ENTRIES = 200_000;
export const MAX_RESULTS = 1000;
const LIST_TTL_MS = 5000;

interface Names {
  list: TensorList;
  lower: string[];
}

export class WorkspaceSymbols {
  private files: Promise<string[]> | undefined;
  private listedAt = 0;
  private readonly names = new WeakMap<TensorList, Names>();

  constructor(
    private roots: string[],
    private readonly headers: HeaderCache,
    private readonly opts: { watched: () => boolean; tensorUris: () => boolean; log: (line: string) => void },
  ) {}

  setRoots(roots: string[]): void {
    this.roots = roots;
    this.files = undefined;
  }

  /** A model file appeared or disappeared: list the folders again on the next query. */
  filesChanged(): void {
    this.files = undefined;
  }

  private list(): Promise<string[]> {
    if (this.files && (this.opts.watched() || Date.now() - this.listedAt < LIST_TTL_MS)) return this.files;
    this.listedAt = Date.now();
    this.files = walk(this.roots, this.opts.log);
    return this.files;
  }

  async query(query: string, token?: { isCancellationRequested: boolean }): Promise<SymbolInformation[]> {
    const files = await this.list();
    const q = query.toLowerCase();
    const lists = await Promise.all(
      files.map((f) =>
        this.headers.get(f).then(
          (l) => this.namesOf(l),
          () => undefined,
        ),
      ),
    );
    const exact: SymbolInformation[] = [];
    const fuzzy: SymbolInformation[] = [];
    const tensorUris = this.opts.tensorUris();
    for (let i = 0; i < files.length && exact.length < MAX_RESULTS; i++) {
      if (token?.isCancellationRequested) break;
      const n = lists[i];
      if (!n) continue;
      const file = files[i]!;
      const uri = fileUri(file);
      const container = this.containerOf(file);
      for (let k = 0; k < n.lower.length; k++) {
        const name = n.lower[k]!;
        const hit =
          q === '' || name.includes(q) ? exact : fuzzy.length < MAX_RESULTS && subsequence(q, name) ? fuzzy : undefined;
        if (!hit) continue;
        const t = n.list.tensors[k]!;
        hit.push({
          name: t.name,
          kind: SymbolKind.Field,
          containerName: `${container} · ${t.dtype} [${t.shape.join(', ')}]`,
          location: {
            uri: tensorUris ? tensorUri(uri, t.name) : uri,
            range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
          },
        });
        if (exact.length >= MAX_RESULTS) break;
      }
    }
    return exact.concat(fuzzy).slice(0, MAX_RESULTS);
  }

  private containerOf(file: string): string {
    const root = this.roots.find((r) => file.startsWith(r + path.sep));
    return root ? path.relative(root, file) : file;
  }

  private namesOf(list: TensorList): Names {
    let n = this.names.get(list);
    if (!n) this.names.set(list, (n = { list, lower: list.tensors.map((t) => t.name.toLowerCase()) }));
    return n;
  }
}

/** Every character of `q` in order in `s` (VS Code filters the same way on its side). */
function subsequence(q: string, s: string): boolean {
  let j = 0;
  for (let i = 0; i < s.length && j < q.length; i++) if (s.charCodeAt(i) === q.charCodeAt(j)) j++;
  return j === q.length;
}

async function walk(roots: string[], log: (line: string) => void): Promise<string[]> {
  const out: string[] = [];
  let visited = 0;
  const queue = [...roots];
  while (queue.length) {
    const dir = queue.shift()!;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (++visited > MAX_WALK_ENTRIES) {
        log(`workspace symbols: stopped listing after ${MAX_WALK_ENTRIES} entries`);
        return out.sort();
      }
      if (e.isDirectory()) {
        if (!SKIP_DIR.test(e.name)) queue.push(path.join(dir, e.name));
      } else if (
        MODEL_FILE.test(e.name) &&
        (e.isFile() || (e.isSymbolicLink() && (await isFile(path.join(dir, e.name)))))
      ) {
        // symlinked files count (the Hugging Face cache links snapshots to blobs); linked folders are not followed
        out.push(path.join(dir, e.name));
      }
    }
  }
  return out.sort();
}
