import { createRequire } from 'node:module';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import type tar from 'tar-stream';

// tar-stream loads on the first gear upload (CommonJS, so synchronously): an idle server need not hold it.
const load = createRequire(import.meta.url);
let tarStream: typeof tar | undefined;

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/**
 * The expansion ratio is judged only past this much output: small archives of text and tar padding
 * legitimately compress far better than the ratio allows, and cost nothing to expand.
 */
const RATIO_FLOOR_BYTES = 64 * 1024 * 1024;
/** Link chains longer than this are refused rather than followed (also ends loops). */
const MAX_LINK_HOPS = 40;

/** How far a gear archive may expand (settings SPROCKET_GEAR_ARCHIVE_*). */
export interface ArchiveLimits {
  /** Uncompressed bytes of the whole tar stream, declared or real. */
  maxBytes: number;
  /** Tar members, folders included. */
  maxEntries: number;
  /** Uncompressed bytes per compressed byte received, once past RATIO_FLOOR_BYTES of output. */
  maxRatio: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 4 * 1024 ** 3, maxEntries: 100_000, maxRatio: 100 };

export interface ArchiveManifest {
  /** The manifest's text, or undefined with `problem` saying why none was usable. */
  text?: string;
  /** '' when manifest.json sits at the top of the archive, else the one top-level folder holding it. */
  root?: string;
  problem?: string;
  /** Set when `problem` is a size bound (the upload is refused with 413, not 400). */
  tooLarge?: boolean;
}

/** Why an uploaded archive is refused; `tooLarge` makes it a 413 rather than a 400. */
export class Refusal extends Error {
  constructor(
    message: string,
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

/**
 * What the engine would refuse when it extracts the gear for a job (packages/engine/src/archive.ts),
 * checked member by member so the upload fails instead, naming the member: names outside the gear
 * (absolute, `..`), links that lead out of it (directly or through other links), hard links to
 * anything but an earlier file, two members at one path, members below a file or link, and devices
 * or fifos, which have no place in a gear.
 */
class MemberRules {
  private readonly dirs = new Set<string>();
  private readonly files = new Set<string>();
  /** Symbolic links: path → target, resolved once every member is known. */
  private readonly links = new Map<string, string>();

  /** The member's path parts (without `.` and empty ones); throws a Refusal naming it. */
  check(header: tar.Header): string[] {
    const raw = header.name;
    const shown = JSON.stringify(raw);
    if (raw.startsWith('/')) throw new Refusal(`archive member ${shown} has an absolute path`);
    const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new Refusal(`archive member ${shown} has a '..' in its path`);
    if (!parts.length) return parts;
    const key = parts.join('/');
    for (let i = 1; i < parts.length; i++) {
      const above = parts.slice(0, i).join('/');
      if (this.files.has(above) || this.links.has(above))
        throw new Refusal(`archive member ${shown} lies below ${JSON.stringify(above)}, which is not a folder`);
    }
    const taken = this.files.has(key) || this.links.has(key);
    switch (header.type) {
      case 'directory':
        if (taken) throw new Refusal(`archive member ${shown} is a folder where another member is not`);
        break;
      case 'file':
      case 'contiguous-file':
      case 'symlink':
      case 'link':
        if (taken || this.dirs.has(key)) throw new Refusal(`archive member ${shown} appears twice in the archive`);
        break;
      default:
        throw new Refusal(`archive member ${shown} is a ${header.type ?? 'special file'}; a gear holds only files, folders and links`);
    }
    if (header.type === 'symlink') {
      const target = header.linkname ?? '';
      if (!target) throw new Refusal(`archive link ${shown} has no target`);
      if (path.posix.isAbsolute(target)) throw new Refusal(`archive link ${shown} → ${JSON.stringify(target)} is absolute`);
      this.links.set(key, target);
    } else if (header.type === 'link') {
      const target = header.linkname ?? '';
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/') || targetParts.includes('..') || !this.files.has(targetParts.join('/'))) {
        throw new Refusal(`archive hard link ${shown} → ${JSON.stringify(target)} does not name an earlier file of the archive`);
      }
      this.files.add(key);
    } else if (header.type === 'directory') {
      this.dirs.add(key);
    } else {
      this.files.add(key);
    }
    for (let i = 1; i < parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'));
    return parts;
  }

  /** Once all members are known: every symbolic link, followed through the others, stays inside. */
  checkLinks(): void {
    for (const [link, target] of this.links) {
      const parts = link.split('/').slice(0, -1);
      let queue = target.split('/');
      let hops = 0;
      while (queue.length) {
        const c = queue.shift()!;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (!parts.length) throw new Refusal(`archive link ${JSON.stringify(link)} → ${JSON.stringify(target)} leads outside the gear`);
          parts.pop();
          continue;
        }
        parts.push(c);
        const next = this.links.get(parts.join('/'));
        if (next === undefined) continue;
        if (++hops > MAX_LINK_HOPS)
          throw new Refusal(
            `archive link ${JSON.stringify(link)} → ${JSON.stringify(target)} goes through more than ${MAX_LINK_HOPS} links`,
          );
        if (path.posix.isAbsolute(next))
          throw new Refusal(`archive link ${JSON.stringify(link)} → ${JSON.stringify(target)} leads outside the gear`);
        parts.pop();
        queue = [...next.split('/'), ...queue];
      }
    }
  }
}

/**
 * Which manifest.json of an archive is its manifest: the one at the top, else the one inside the
 * archive's only top-level folder. `candidates` maps '' or that folder to a manifest's text.
 */
function chooseManifest(candidates: Map<string, string>, tops: Set<string>): ArchiveManifest {
  const atRoot = candidates.get('');
  if (atRoot !== undefined) return { text: atRoot, root: '' };
  const nested = [...candidates.entries()];
  if (nested.length === 1 && tops.size === 1) return { text: nested[0]![1], root: nested[0]![0] };
  if (nested.length > 1 || tops.size > 1)
    return { problem: 'the archive has no manifest.json at its top and more than one top-level folder' };
  return { problem: 'the archive has no manifest.json (at its top or inside its one top-level folder)' };
}

/** What an archive expands to as it streams past, against `limits`: declared and real bytes, members, ratio. */
class ExpansionBudget {
  private compressed = 0;
  private inflated = 0;
  private declared = 0;
  private entries = 0;

  constructor(private readonly limits: ArchiveLimits) {}

  received(bytes: number): void {
    this.compressed += bytes;
  }

  /** Inflated output: the refusal when the archive has now expanded too far (in bytes, or as a ratio). */
  inflatedBy(bytes: number): string | undefined {
    const { maxBytes, maxRatio } = this.limits;
    this.inflated += bytes;
    if (this.inflated > maxBytes) return `the archive expands to more than ${maxBytes} bytes (SPROCKET_GEAR_ARCHIVE_MAX_BYTES)`;
    if (this.inflated > RATIO_FLOOR_BYTES && this.inflated > maxRatio * this.compressed)
      return `the archive expands more than ${maxRatio} times (${this.inflated} bytes from the first ${this.compressed} compressed; SPROCKET_GEAR_ARCHIVE_MAX_RATIO): refused as a decompression bomb`;
    return undefined;
  }

  /** A member's header, before its content: throws a Refusal past the member count or the declared bytes. */
  member(header: tar.Header): void {
    const { maxBytes, maxEntries } = this.limits;
    if (++this.entries > maxEntries)
      throw new Refusal(`the archive has more than ${maxEntries} members (SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES)`, true);
    this.declared += header.size ?? 0;
    if (this.declared > maxBytes) {
      throw new Refusal(
        `archive member ${JSON.stringify(header.name)} declares ${header.size} bytes: the archive would expand to more than ${maxBytes} bytes (SPROCKET_GEAR_ARCHIVE_MAX_BYTES)`,
        true,
      );
    }
  }
}

/**
 * Checks a member's header against the budget and the member rules (throwing a Refusal naming it)
 * and notes its top-level folder; answers its path parts.
 */
function admitMember(header: tar.Header, budget: ExpansionBudget, rules: MemberRules, tops: Set<string>): string[] {
  budget.member(header);
  const parts = rules.check(header);
  if (parts.length) tops.add(parts.length > 1 || header.type === 'directory' ? parts[0]! : '');
  return parts;
}

/** Stops inflating once refused: a bomb must not be expanded to its end just to be refused. */
function stopInflating(source: Readable, gunzip: Gunzip, extract: tar.Extract): void {
  source.unpipe(gunzip);
  gunzip.unpipe(extract);
  gunzip.destroy();
  extract.destroy();
}

/** A manifest.json at the top or one folder down (`parts`: the member's path parts). */
function isManifestMember(header: tar.Header, parts: string[]): boolean {
  return header.type === 'file' && parts[parts.length - 1] === 'manifest.json' && parts.length <= 2;
}

/** The part of a tar member's content stream that readManifestMember uses. */
interface MemberStream {
  on(event: 'data', listener: (c: unknown) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** Reads a manifest member to its end: `done` gets its text, or undefined when it passes MAX_MANIFEST_BYTES (kept no further). */
function readManifestMember(stream: MemberStream, done: (text: string | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (c: unknown) => {
    if (!Buffer.isBuffer(c)) return;
    size += c.length;
    if (size <= MAX_MANIFEST_BYTES) chunks.push(c);
  });
  stream.on('end', () => done(size > MAX_MANIFEST_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')));
}

/**
 * Reads a gear archive (tar.gz of the gear's directory) as it streams past, checks its members (see
 * MemberRules) and its expansion (`limits`: declared and real uncompressed bytes, members, ratio),
 * and finds its manifest.json: at the top, or inside the one top-level folder the archive has (what
 * `tar czf gear.tgz mygear/` makes). Always consumes the whole stream, even when it is refused or
 * not a tar.gz, so a caller teeing the upload into storage is never stalled; once refused, nothing
 * more is inflated.
 */
export function readArchiveManifest(source: Readable, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<ArchiveManifest> {
  return new Promise((resolve) => {
    const candidates = new Map<string, string>();
    const tops = new Set<string>();
    const rules = new MemberRules();
    const budget = new ExpansionBudget(limits);
    let failed: string | undefined;
    let tooLarge = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      if (!failed) {
        try {
          rules.checkLinks();
        } catch (e) {
          failed = (e as Error).message;
        }
      }
      settled = true;
      resolve(failed ? { problem: failed, ...(tooLarge ? { tooLarge } : {}) } : chooseManifest(candidates, tops));
    };
    let sourceEnded = false;
    source.once('end', () => {
      sourceEnded = true;
      if (failed) finish();
    });
    tarStream ??= load('tar-stream') as typeof tar;
    const extract = tarStream.extract();
    const gunzip = createGunzip();
    const drainOnError = (msg: string, bound = false) => {
      if (failed) return;
      failed = msg;
      tooLarge = bound;
      stopInflating(source, gunzip, extract);
      if (sourceEnded) return finish();
      // Keep reading so the other consumer of `source` sees the whole upload.
      source.on('data', () => undefined);
      source.resume();
    };
    source.on('data', (c: Buffer) => budget.received(c.length));
    gunzip.on('data', (c: Buffer) => {
      const refusal = budget.inflatedBy(c.length);
      if (refusal) drainOnError(refusal, true);
    });
    extract.on('entry', (header, stream, next) => {
      let parts: string[];
      try {
        parts = admitMember(header, budget, rules, tops);
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
        return drainOnError(e.message, e.tooLarge);
      }
      if (!isManifestMember(header, parts)) {
        stream.on('end', next);
        stream.resume();
        return;
      }
      readManifestMember(stream, (text) => {
        if (text === undefined) failed ??= `manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes`;
        else candidates.set(parts.length === 2 ? parts[0]! : '', text);
        next();
      });
    });
    extract.on('finish', finish);
    extract.on('error', (e) => drainOnError(`the file is not a gzip-compressed tar archive (${e.message})`));
    gunzip.on('error', (e) => drainOnError(`the file is not a gzip-compressed tar archive (${e.message})`));
    source.on('error', (e) => {
      failed ??= `upload failed: ${e.message}`;
      finish();
    });
    extract.on('close', () => {
      if (sourceEnded) finish();
    });
    source.pipe(gunzip).pipe(extract);
  });
}
