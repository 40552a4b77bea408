/**
 * Data views: tables over a project (or any container below it) with one row per container or per
 * matching file. `readView` replaces the hand-written loop that collects QA metrics into a table.
 */
export interface ViewColumn {
  /** `subject.label`, `file.info.snr`, `file.info.bids_meta` (objects are flattened) … */
  src: string;
  dst?: string;
  type?: 'string' | 'int' | 'float' | 'bool';
}

export interface DataViewSpec {
  label?: string;
  description?: string;
  columns: ViewColumn[];
  /** Rows per file: the container level whose files to read and a name filter (glob, or regex). */
  fileSpec?: {
    container: 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';
    filter?: { value: string; regex?: boolean };
    match?: 'first' | 'last' | 'newest' | 'oldest' | 'all';
  };
  includeIds?: boolean;
  includeLabels?: boolean;
  missingDataStrategy?: 'none' | 'drop-row';
}

export interface ViewOptions {
  /** Row filter over the output columns, in the list filter syntax (`snr>10,subject.label=~^sub`). */
  filter?: string;
  skip?: number;
  limit?: number;
}

export type ViewFormat = 'json' | 'json-flat' | 'json-row-column' | 'csv' | 'tsv';
export type ViewRow = Record<string, unknown>;

/** Builds a view over files: `fileView(['subject.label', 'file.info.snr'], 'acquisition', '*_qa.json')`. */
export function fileView(columns: (string | ViewColumn)[], container: NonNullable<DataViewSpec['fileSpec']>['container'], nameGlob?: string): DataViewSpec {
  return {
    columns: columns.map((c) => (typeof c === 'string' ? { src: c } : c)),
    fileSpec: { container, ...(nameGlob ? { filter: { value: nameGlob } } : {}) },
  };
}
