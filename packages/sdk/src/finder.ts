import { SdkError } from './errors.js';
import type { Json } from './model.js';
import { wireId } from './model.js';
import type { RouteName } from './routes.js';
import type { Transport } from './transport.js';

export interface FindOptions {
  /** e.g. `label:asc,created:desc` */
  sort?: string;
  /** Send one request with this limit instead of paging through everything. */
  limit?: number;
  skip?: number;
}

/** Flywheel's page size for iteration. */
export const PAGE_SIZE = 250;

type FindArg = string | FindOptions;

function splitArgs(args: FindArg[]): { filter?: string; opts: FindOptions } {
  const filters = args.filter((a): a is string => typeof a === 'string' && a !== '');
  const opts = Object.assign({}, ...args.filter((a): a is FindOptions => typeof a === 'object' && a !== null)) as FindOptions;
  return { filter: filters.length ? filters.join(',') : undefined, opts };
}

/**
 * Flywheel's finder over one list route: `find('label=X')`, `findFirst`, `findOne`, and
 * `for await (const x of finder.iter())`, which pages with `limit=250` and `after_id` until an
 * empty page. Filters are Flywheel's syntax; several are ANDed.
 */
export class Finder<T> implements AsyncIterable<T> {
  constructor(
    private readonly transport: Transport,
    private readonly route: RouteName,
    private readonly params: Record<string, string>,
    private readonly make: (doc: Json) => T,
    /** What the objects are called in messages ("projects"). */
    readonly noun: string,
  ) {}

  private async page(query: Record<string, string | number | undefined>): Promise<Json[]> {
    const body = await this.transport.json<unknown>(this.route, { params: this.params, query });
    if (Array.isArray(body)) return body as Json[];
    // A server that wraps lists ({results}) is answered the same way.
    const results = (body as { results?: unknown } | undefined)?.results;
    if (Array.isArray(results)) return results as Json[];
    throw new SdkError(`${this.noun}: expected a list from ${this.route}, got ${typeof body}`);
  }

  /** Every match (paged behind the scenes), or one page when `limit` is given. */
  async find(...args: FindArg[]): Promise<T[]> {
    const { filter, opts } = splitArgs(args);
    if (opts.limit !== undefined) {
      const docs = await this.page({ filter, sort: opts.sort, limit: opts.limit, skip: opts.skip });
      return docs.map(this.make);
    }
    const out: T[] = [];
    for await (const x of this.iter(...args)) out.push(x);
    return out;
  }

  /** The first match, or undefined. */
  async findFirst(...args: FindArg[]): Promise<T | undefined> {
    const { filter, opts } = splitArgs(args);
    const docs = await this.page({ filter, sort: opts.sort, limit: 1 });
    return docs[0] ? this.make(docs[0]) : undefined;
  }

  /** The only match; an SdkError when there is none or more than one. */
  async findOne(...args: FindArg[]): Promise<T> {
    const { filter, opts } = splitArgs(args);
    const docs = await this.page({ filter, sort: opts.sort, limit: 2 });
    const what = filter ? ` matching '${filter}'` : '';
    if (docs.length === 0) throw new SdkError(`found no ${this.noun}${what}`);
    if (docs.length > 1) throw new SdkError(`found more than one of the ${this.noun}${what}`);
    return this.make(docs[0]!);
  }

  /**
   * Iterates every match, one page at a time. Pages follow `after_id` (stable while objects are
   * added); with a `sort`, which the API cannot combine with `after_id`, they follow `skip`.
   */
  async *iter(...args: FindArg[]): AsyncGenerator<T> {
    const { filter, opts } = splitArgs(args);
    const limit = opts.limit ?? PAGE_SIZE;
    if (opts.sort) {
      for (let skip = opts.skip ?? 0; ; skip += limit) {
        const docs = await this.page({ filter, sort: opts.sort, limit, skip });
        if (!docs.length) return;
        for (const d of docs) yield this.make(d);
      }
    }
    let afterId: string | undefined;
    for (;;) {
      const docs = await this.page({ filter, limit, after_id: afterId });
      if (!docs.length) return;
      for (const d of docs) yield this.make(d);
      const last = wireId(docs[docs.length - 1]!);
      // A route that ignores after_id would otherwise loop forever on its first page.
      if (!last || last === afterId) throw new SdkError(`${this.noun}: the API did not advance past ${last || 'an item without an id'}`);
      afterId = last;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.iter();
  }
}
