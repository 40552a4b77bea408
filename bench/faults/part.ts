/**
 * What each part of `npm run bench:faults` gets and gives back. A part measures one kind of fault
 * (or the throughput baseline), prints its progress through `log`, and reports rows for the final
 * table plus the problems it found: anything lost, doubled, half-written or answered 5xx. Any
 * problem makes the campaign exit non-zero.
 */
export interface FaultsContext {
  /** `--small`: the reduced campaign CI runs, minutes instead of hours. */
  small: boolean;
  /** The checkout's root. */
  root: string;
  /** A fresh directory this part may fill; removed afterwards unless BENCH_KEEP=1. */
  workDir: string;
  /** A PostgreSQL server to create throwaway databases on (DATABASE_URL), when there is one. */
  postgresUrl?: string;
  log(line: string): void;
}

export interface PartReport {
  /** Heads the part's rows in the table, e.g. "engine kill -9 (SQLite)". */
  title: string;
  rows: [measure: string, value: string | number][];
  /** Empty when nothing was lost, doubled, half-written or answered 5xx. */
  problems: string[];
  /** Set when the part could not run here (no root, no Slurm …): printed, not a failure. */
  skipped?: string;
}

export type FaultsPart = (ctx: FaultsContext) => Promise<PartReport[]>;
