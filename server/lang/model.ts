/**
 * What the server knows about one open document: for an index, the engine's `checkIndex` result
 * over the shard headers on disk; for a `config.json` beside weights, the config problems and
 * the weights it was checked against. Computed from the editor's text (unsaved edits included)
 * and cached per document version and disk epoch (bumped when a watched model file changes).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readShardStates } from '../../engine/container/shards';
import { checkConfig, type ConfigProblem } from '../../engine/formats/configCheck';
import { checkIndex, parseIndex, shardNames, type IndexCheck, type ShardTensor } from '../../engine/formats/indexCheck';
import type { HeaderCache } from './headerCache';

export type DocModel =
  | {
      kind: 'index';
      file: string;
      dir: string;
      check: IndexCheck;
      /** shard name -> `<shard>.tzip` that exists beside it */ tzips: Map<string, string>;
    }
  | { kind: 'config'; file: string; dir: string; problems: ConfigProblem[]; weightsLabel?: string }
  | { kind: 'none' };

const SAFETENSORS_INDEX = /\.safetensors\.index\.json$/i;
const ANY_INDEX = /\.index\.json$/i;

/** The file-system path of a `file:` document URI, else undefined (no disk to check against). */
export function fsPathOf(uri: string): string | undefined {
  if (!uri.startsWith('file:')) return undefined;
  try {
    return fileURLToPath(uri);
  } catch {
    return undefined;
  }
}

export function fileUri(file: string): string {
  return pathToFileURL(file).href;
}

/** Which checks a document gets, from its name (and, for a generic `*.index.json`, its content). */
export function kindOf(file: string, text: string): 'index' | 'config' | 'none' {
  const base = path.basename(file);
  if (SAFETENSORS_INDEX.test(base)) return 'index';
  if (ANY_INDEX.test(base)) return /"weight_map"\s*:/.test(text) ? 'index' : 'none';
  if (base === 'config.json') return 'config';
  return 'none';
}

export class DocModels {
  private readonly cache = new Map<string, { version: number; epoch: number; model: Promise<DocModel> }>();
  private epoch = 0;

  constructor(private readonly headers: HeaderCache) {}

  /** Something on disk changed: every cached model is recomputed on next use. */
  invalidate(): void {
    this.epoch++;
  }

  forget(uri: string): void {
    this.cache.delete(uri);
  }

  get(doc: TextDocument): Promise<DocModel> {
    const hit = this.cache.get(doc.uri);
    if (hit && hit.version === doc.version && hit.epoch === this.epoch) return hit.model;
    const model = this.compute(doc);
    this.cache.set(doc.uri, { version: doc.version, epoch: this.epoch, model });
    return model;
  }

  private readonly read = (file: string) => this.headers.get(file);

  private async compute(doc: TextDocument): Promise<DocModel> {
    const file = fsPathOf(doc.uri);
    if (!file) return { kind: 'none' };
    const text = doc.getText();
    const kind = kindOf(file, text);
    const dir = path.dirname(file);
    if (kind === 'index') {
      const parsed = parseIndex(text);
      const shards = await readShardStates(file, shardNames(parsed), { read: this.read });
      const check = checkIndex(parsed, shards);
      const tzips = new Map<string, string>();
      await Promise.all(
        check.shards.map(async (s) => {
          if (s.state === 'tzip') tzips.set(s.name, path.join(dir, s.tzipName!));
          else if (s.state === 'present' && (await isFile(path.join(dir, s.name + '.tzip'))))
            tzips.set(s.name, path.join(dir, s.name + '.tzip'));
        }),
      );
      return { kind, file, dir, check, tzips };
    }
    if (kind === 'config') {
      const weights = await this.weightsBeside(dir);
      if (!weights) return { kind, file, dir, problems: [] };
      return {
        kind,
        file,
        dir,
        problems: checkConfig(text, weights.tensors, weights.label),
        weightsLabel: weights.label,
      };
    }
    return { kind: 'none' };
  }

  /**
   * The weights a config.json describes: the shards of a `*.safetensors.index.json` in its folder
   * (as saved on disk), else every `*.safetensors` file there.
   */
  private async weightsBeside(dir: string): Promise<{ tensors: ShardTensor[]; label: string } | undefined> {
    const names = await readdir(dir).catch(() => [] as string[]);
    const index = names.filter((n) => SAFETENSORS_INDEX.test(n)).sort()[0];
    if (index) {
      const text = await readFile(path.join(dir, index), 'utf8').catch(() => undefined);
      if (text === undefined) return undefined;
      const shards = await readShardStates(path.join(dir, index), shardNames(parseIndex(text)), {
        read: this.read,
        siblings: false,
      });
      const tensors: ShardTensor[] = [];
      let n = 0;
      for (const s of shards.values()) {
        if (s.state !== 'present' && s.state !== 'tzip') continue;
        n++;
        tensors.push(...s.tensors);
      }
      return n ? { tensors, label: `${n} shard${n === 1 ? '' : 's'}` } : undefined;
    }
    const files = names.filter((n) => /\.safetensors$/i.test(n)).sort();
    const tensors: ShardTensor[] = [];
    const read: string[] = [];
    for (const f of files) {
      const t = await this.headers.get(path.join(dir, f)).catch(() => undefined);
      if (!t) continue;
      read.push(f);
      tensors.push(...t.tensors);
    }
    if (!read.length) return undefined;
    return { tensors, label: read.length === 1 ? read[0]! : `${read.length} files` };
  }
}

export async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}
