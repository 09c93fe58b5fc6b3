// Types for make-golden.mjs (plain JS so that it runs with `node scripts/make-golden.mjs`).
export interface GoldenManifest {
  containers: Record<
    string,
    {
      sha256: string;
      bytes: number;
      original: string;
      originalSha256: string;
      base?: string;
      baseSha256?: string;
      kinds: string[];
    }
  >;
  refuse: Array<{ file: string; code: string; message: string }>;
}
export declare function makeGolden(dir: string): Promise<GoldenManifest>;
