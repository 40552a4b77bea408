/**
 * Data views: tables over a project (or any container below it) with one row per container, per
 * matching file, or per record inside matching CSV/TSV/JSON files. `readView` replaces the
 * hand-written loop that collects QA metrics into a table. Field names are Flywheel's DataView.
 */
export type ViewColumnType = 'string' | 'int' | 'float' | 'bool';

export interface ViewColumn {
  /** `subject.label`, `file.info.snr`, `file.info.bids_meta` (objects are flattened) … */
  src: string;
  dst?: string;
  type?: ViewColumnType;
}

/** A name match: a glob (`*`, `?`), or a regular expression with `regex: true`. */
export interface NameFilter {
  value: string;
  regex?: boolean;
}

export interface AnalysisFilter {
  label?: NameFilter;
  'gear.name'?: NameFilter;
  'gear.version'?: NameFilter;
}

export type FileContainer = 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';
export type FileMatch = 'first' | 'last' | 'newest' | 'oldest' | 'all';

export interface ViewFileSpec {
  /** The level whose files make the rows; with `analysisFilter`, the files of analyses under it. */
  container: FileContainer;
  filter?: NameFilter;
  /** Only analyses matching this (label, gear name, gear version) give their output files. */
  analysisFilter?: AnalysisFilter;
  match?: FileMatch;
  /** Read the records inside each file: one row per CSV/TSV row or JSON array element. */
  processFiles?: boolean;
  /** When the file names do not tell: `csv`, `tsv` or `json`. */
  format?: 'csv' | 'tsv' | 'json';
  formatOptions?: { delimiter?: string };
  /** With processFiles: the record fields to take (all when left out), typed by `type`. */
  columns?: ViewColumn[];
}

export interface DataViewSpec {
  label?: string;
  description?: string;
  columns: ViewColumn[];
  fileSpec?: ViewFileSpec;
  /** Id columns of each level (Flywheel's default: true). */
  includeIds?: boolean;
  /** Label columns of each level, and the file name (Flywheel's default: true). */
  includeLabels?: boolean;
  missingDataStrategy?: 'none' | 'drop-row';
  sort?: boolean;
}

export interface ViewOptions {
  /** Row filter over the output columns, in the list filter syntax (`snr>10,subject.label=~^sub`). */
  filter?: string;
  skip?: number;
  limit?: number;
}

export type ViewFormat = 'json' | 'json-flat' | 'json-row-column' | 'csv' | 'tsv';
export type ViewRow = Record<string, unknown>;

const asColumn = (c: string | ViewColumn): ViewColumn => (typeof c === 'string' ? { src: c } : c);

/** Builds a view over files: `fileView(['subject.label', 'file.info.snr'], 'acquisition', '*_qa.json')`. */
export function fileView(columns: (string | ViewColumn)[], container: FileContainer, nameGlob?: string): DataViewSpec {
  return {
    columns: columns.map(asColumn),
    fileSpec: { container, ...(nameGlob ? { filter: { value: nameGlob } } : {}) },
  };
}

/**
 * Flywheel's ViewBuilder: the same steps write the same DataView body. As there, ids, labels and
 * processFiles default to true, and file settings need both a container and a file filter.
 *
 *   new ViewBuilder({ label: 'QA' }).column('subject.label').files('acquisition', '*_qa.csv')
 *     .fileColumn('snr', { type: 'float' }).includeIds(false).build()
 */
export class ViewBuilder {
  private readonly spec: {
    label?: string;
    description?: string;
    includeIds: boolean;
    includeLabels: boolean;
    missingDataStrategy?: 'none' | 'drop-row';
    sort: boolean;
  };
  private readonly cols: ViewColumn[] = [];
  private readonly fileCols: ViewColumn[] = [];
  private container?: FileContainer;
  private filter?: NameFilter;
  private analysis?: AnalysisFilter;
  private match?: FileMatch;
  private format?: ViewFileSpec['format'];
  private formatOpts: { delimiter?: string } = {};
  private process = true;

  constructor(
    opts: {
      label?: string;
      description?: string;
      includeIds?: boolean;
      includeLabels?: boolean;
      processFiles?: boolean;
      match?: FileMatch;
      sort?: boolean;
    } = {},
  ) {
    this.spec = {
      label: opts.label,
      description: opts.description,
      includeIds: opts.includeIds ?? true,
      includeLabels: opts.includeLabels ?? true,
      sort: opts.sort ?? true,
    };
    this.process = opts.processFiles ?? true;
    this.match = opts.match;
  }

  column(src: string, opts: { dst?: string; type?: ViewColumnType } = {}): this {
    this.cols.push({ src, ...(opts.dst ? { dst: opts.dst } : {}), ...(opts.type ? { type: opts.type } : {}) });
    return this;
  }

  /** Files to match: the container level and a name glob; analysis filters select analysis outputs. */
  files(container: FileContainer, filename: string, analysis: { label?: string; gearName?: string; gearVersion?: string } = {}): this {
    this.container = container;
    this.filter = { value: filename };
    if (analysis.label || analysis.gearName || analysis.gearVersion) this.analysisFilter(analysis);
    return this;
  }

  fileContainer(container: FileContainer): this {
    this.container = container;
    return this;
  }

  fileFilter(value: string, regex = false): this {
    this.filter = { value, regex };
    return this;
  }

  /** Match analyses by label, gear name and/or gear version (globs, or regular expressions). */
  analysisFilter(f: { label?: string; gearName?: string; gearVersion?: string; regex?: boolean }): this {
    const regex = f.regex ?? false;
    this.analysis = {
      ...this.analysis,
      ...(f.label ? { label: { value: f.label, regex } } : {}),
      ...(f.gearName ? { 'gear.name': { value: f.gearName, regex } } : {}),
      ...(f.gearVersion ? { 'gear.version': { value: f.gearVersion, regex } } : {}),
    };
    return this;
  }

  fileColumn(src: string, opts: { dst?: string; type?: ViewColumnType } = {}): this {
    this.fileCols.push({ src, ...(opts.dst ? { dst: opts.dst } : {}), ...(opts.type ? { type: opts.type } : {}) });
    return this;
  }

  fileMatch(match: FileMatch): this {
    this.match = match;
    return this;
  }

  fileFormat(format: NonNullable<ViewFileSpec['format']>): this {
    this.format = format;
    return this;
  }

  fileFormatOptions(opts: { delimiter?: string }): this {
    this.formatOpts = { ...this.formatOpts, ...opts };
    return this;
  }

  processFiles(value: boolean): this {
    this.process = value;
    return this;
  }

  includeIds(value = true): this {
    this.spec.includeIds = value;
    return this;
  }

  includeLabels(value = true): this {
    this.spec.includeLabels = value;
    return this;
  }

  missingDataStrategy(value: 'none' | 'drop-row'): this {
    this.spec.missingDataStrategy = value;
    return this;
  }

  sort(value = true): this {
    this.spec.sort = value;
    return this;
  }

  build(): DataViewSpec {
    let fileSpec: ViewFileSpec | undefined;
    if (this.container && this.filter) {
      fileSpec = {
        container: this.container,
        filter: this.filter,
        processFiles: this.process,
        formatOptions: this.formatOpts,
        columns: this.fileCols,
        ...(this.analysis ? { analysisFilter: this.analysis } : {}),
        ...(this.match ? { match: this.match } : {}),
        ...(this.format ? { format: this.format } : {}),
      };
    } else if (this.container || this.filter || this.fileCols.length || this.format || this.analysis) {
      throw new Error('ViewBuilder: both a file container and a file filter are needed to match files');
    }
    const { label, description, missingDataStrategy, ...flags } = this.spec;
    return {
      ...(label ? { label } : {}),
      ...(description ? { description } : {}),
      columns: [...this.cols],
      ...(fileSpec ? { fileSpec } : {}),
      ...flags,
      ...(missingDataStrategy ? { missingDataStrategy } : {}),
    };
  }
}
