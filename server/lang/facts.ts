/**
 * Results of the jobs this server ran that hovers can show: per-tensor analysis (exponent
 * entropy, estimated coded size) and the last verify of each .tzip. Keyed by absolute path; a
 * watched change of that file drops its entry (the figures no longer describe it).
 */
import type { FileAnalysis, TensorAnalysis, VerifyResult } from '../../protocol/server';

export class JobFacts {
  private readonly analyses = new Map<string, Map<string, TensorAnalysis>>();
  private readonly verifies = new Map<string, VerifyResult>();

  recordAnalysis(file: string, a: FileAnalysis): void {
    const byName = new Map<string, TensorAnalysis>();
    for (const t of a.tensors) byName.set(t.name, t);
    this.analyses.set(file, byName);
  }

  recordVerify(file: string, r: VerifyResult): void {
    this.verifies.set(file, r);
  }

  /** The tensor's analysis from any of `files` (the index, then its shard), if one was analysed. */
  tensor(name: string, ...files: string[]): TensorAnalysis | undefined {
    for (const f of files) {
      const t = this.analyses.get(f)?.get(name);
      if (t) return t;
    }
    return undefined;
  }

  verify(tzip: string): VerifyResult | undefined {
    return this.verifies.get(tzip);
  }

  forget(file: string): void {
    this.analyses.delete(file);
    this.verifies.delete(file);
  }
}
