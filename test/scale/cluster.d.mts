// Types for cluster.mjs (plain JS so that bench/scale.mjs runs it without tsx).
export interface Cluster {
  dir: string;
  env: NodeJS.ProcessEnv;
  host: string;
  cpus: number;
  stop(): Promise<void>;
  sbatch(args: string[]): string;
  scancel(id: string): void;
  queued(id: string): boolean;
}
export declare function slurmSkipReason(): string | null;
export declare function ensureSlurm(): void;
export declare function startCluster(dir: string, opts?: { cpus?: number }): Promise<Cluster>;
export declare function jobScript(file: string, command: string, doneDir: string): void;
export declare function waitTasks(
  cluster: Cluster,
  doneDir: string,
  job: string,
  tasks: number[],
  timeoutMs: number,
  orGone?: Set<number>,
): Promise<Map<number, number | null>>;
export declare function writeModel(file: string, seed: number, elements: number): string;
export declare function filesUnder(dir: string): string[];
