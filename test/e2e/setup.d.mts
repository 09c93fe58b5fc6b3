// Types for setup.mjs (plain JS so that it also runs with `node test/e2e/setup.mjs`, without tsx).
export declare const NODE_VERSION: string;
export declare const CODE_SERVER_VERSION: string;
export declare const CHROMIUM: string;
export declare const CACHE: string;
export declare const NODE24: string;
export declare const CODE_SERVER_ENTRY: string;
export declare function e2eSkipReason(): string | null;
export declare function acquireLock(name: string, timeoutMs?: number): Promise<() => void>;
export declare function withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
export interface E2EPaths {
  node: string;
  codeServerEntry: string;
  chromium: string;
  nodeDir: string;
  timings: Record<string, number>;
}
export declare function ensureE2E(): Promise<E2EPaths>;
