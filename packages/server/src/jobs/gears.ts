import { PassThrough, type Readable } from 'node:stream';
import { checkManifest, type GearManifest } from '@sprocket/types';
import type { Kysely } from 'kysely';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { Database, GearImagesTable, GearsTable } from '../db/schema.js';
import { ApiError, apiError, badRequest } from '../errors.js';
import type { MultipartUpload } from '../files/upload-parts.js';
import type { FieldResolver } from '../http/filters.js';
import { newId, now } from '../ids.js';
import { readArchiveManifest } from './archive.js';
import { checkImageArchive, type ImageArchiveCheck, sameImage } from './gear-image.js';
import { checkMayUpload, claimGearName } from './gear-owners.js';

export const GEAR_CATEGORIES = ['converter', 'utility', 'qa', 'classifier', 'analysis'] as const;
export type GearCategory = (typeof GEAR_CATEGORIES)[number];

export interface LoadedGear {
  row: GearsTable;
  manifest: GearManifest;
}

/**
 * Parsed manifests, one cache per server (in its context). Several server processes may share one
 * database, so the database stays the truth: every lookup asks for the gear's `modified` stamp (a
 * primary-key read) and reuses the parsed manifest only while it matches. A gear another process
 * deleted or changed is therefore seen at once; what is saved is reading and parsing the manifest.
 */
export class GearCache {
  private readonly parsed = new Map<string, LoadedGear>();

  constructor(private readonly db: Kysely<Database>) {}

  /** The gear of a row just read, parsed once per stored version. */
  fromRow(row: GearsTable): LoadedGear {
    const hit = this.parsed.get(row.id);
    if (hit && hit.row.modified === row.modified) return hit;
    const g = { row, manifest: parseJson<GearManifest>(row.manifest, {} as GearManifest) };
    if (this.parsed.size > 5000) this.parsed.clear();
    this.parsed.set(row.id, g);
    return g;
  }

  async get(id: string): Promise<LoadedGear | undefined> {
    const hit = this.parsed.get(id);
    if (hit) {
      const stamp = await this.db.selectFrom('gears').select('modified').where('id', '=', id).executeTakeFirst();
      if (stamp?.modified === hit.row.modified) return hit;
      this.parsed.delete(id);
      if (!stamp) return undefined;
    }
    const row = await this.db.selectFrom('gears').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? this.fromRow(row) : undefined;
  }

  forget(id: string): void {
    this.parsed.delete(id);
  }
}

export function loadedGear(ctx: ServerContext, row: GearsTable): LoadedGear {
  return ctx.gears.fromRow(row);
}

export function getGear(ctx: ServerContext, id: string): Promise<LoadedGear | undefined> {
  return ctx.gears.get(id);
}

export async function requireGear(ctx: ServerContext, id: string): Promise<LoadedGear> {
  const g = await getGear(ctx, id);
  if (!g) throw apiError('GEAR_NOT_FOUND', { id });
  return g;
}

export function forgetGear(ctx: ServerContext, id: string): void {
  ctx.gears.forget(id);
}

/** A gear is disabled by `custom.flywheel.invalid: true`: not listed, cannot be run. */
export function gearInvalid(m: GearManifest): boolean {
  const fw = isPlainObject(m.custom) && isPlainObject(m.custom.flywheel) ? m.custom.flywheel : undefined;
  return fw?.invalid === true;
}

/** The gear document, in Flywheel's shape: `{_id, category, gear: <manifest>, exchange, created, modified}`. */
export function gearDoc(g: LoadedGear): JsonObject {
  return {
    _id: g.row.id,
    category: g.row.category,
    gear: g.manifest,
    exchange: parseJson<JsonObject>(g.row.exchange, {}),
    created: g.row.created,
    modified: g.row.modified,
  };
}

function builderCategory(m: GearManifest): string | undefined {
  const gb = isPlainObject(m.custom) ? m.custom['gear-builder'] : undefined;
  return isPlainObject(gb) && typeof gb.category === 'string' ? gb.category : undefined;
}

function categoryOf(m: GearManifest, formValue: string | undefined): GearCategory {
  const raw = builderCategory(m) ?? formValue ?? 'converter';
  if (!(GEAR_CATEGORIES as readonly string[]).includes(raw)) {
    const where = builderCategory(m) !== undefined ? 'manifest.custom.gear-builder.category' : "form field 'category'";
    throw badRequest(`${where}: '${raw}' is not a gear category (one of ${GEAR_CATEGORIES.join(', ')})`);
  }
  return raw as GearCategory;
}

type StagedArchive = { key: string; size: number; sha384: string };
type StagedImage = { key: string; size: number; check: ImageArchiveCheck };

/** Streams the upload's archive into staging while its manifest is read on the way; the `category` field beside it. */
async function stageArchive(
  ctx: ServerContext,
  upload: MultipartUpload,
): Promise<{ blob: StagedArchive; found: Awaited<ReturnType<typeof readArchiveManifest>>; category?: string; image?: StagedImage }> {
  if (!upload.isMultipart())
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', "a gear is uploaded as multipart/form-data with its tar.gz in the field 'file'");
  let staged: StagedArchive | undefined;
  let found: Awaited<ReturnType<typeof readArchiveManifest>> | undefined;
  let category: string | undefined;
  let image: StagedImage | undefined;
  try {
    for await (const part of upload.parts()) {
      if (part.type === 'field') {
        if (part.fieldname === 'category') category = String(part.value);
        continue;
      }
      if (part.fieldname === 'image' && !image) {
        image = await stageImage(ctx, part.file);
        continue;
      }
      if (part.fieldname !== 'file' || staged) {
        part.file.resume();
        throw badRequest(
          staged || part.fieldname === 'image'
            ? `only one ${part.fieldname === 'image' ? 'image archive' : 'gear archive'} per upload (field '${part.fieldname}')`
            : `unexpected file field '${part.fieldname}' (the archive goes in 'file', a container image archive in 'image')`,
        );
      }
      const toStore = new PassThrough();
      const toParse = new PassThrough();
      part.file.pipe(toStore);
      part.file.pipe(toParse);
      const [blob, manifest] = await Promise.all([ctx.store.stage(newId(), toStore), readArchiveManifest(toParse, ctx.config.gearArchive)]);
      staged = blob;
      found = manifest;
    }
  } catch (err) {
    await ctx.store.discard([...(staged ? [staged.key] : []), ...(image ? [image.key] : [])]);
    if (err instanceof ApiError) throw err;
    throw badRequest(`upload failed: ${(err as Error).message}`);
  }
  if (!staged || !found) {
    if (image) await ctx.store.discard([image.key]);
    throw badRequest("upload has no gear archive (send the tar.gz as form field 'file')");
  }
  return { blob: staged, found, category, ...(image ? { image } : {}) };
}

/**
 * Streams a container image archive (field `image`) into staging while it is checked; a refused
 * archive is discarded and answered 413 (too large) or 400 (not a podman/docker save archive).
 */
async function stageImage(ctx: ServerContext, file: Readable): Promise<StagedImage> {
  const toStore = new PassThrough();
  const toCheck = new PassThrough();
  file.pipe(toStore);
  file.pipe(toCheck);
  // Past the bound nothing more is read: the upload stops, and so does the copy into staging.
  const tooLarge = () => {
    const err = new Error('image archive too large');
    file.unpipe();
    toStore.destroy(err);
    file.on('error', () => undefined); // the refusal is the answer; this error says nothing more
    file.destroy(err);
  };
  const [stored, check] = await Promise.allSettled([
    ctx.store.stage(newId(), toStore),
    checkImageArchive(toCheck, ctx.config.gearImage, tooLarge),
  ]);
  const refusal = check.status === 'fulfilled' ? check.value : { problem: `image: ${(check.reason as Error).message}` };
  if (stored.status === 'rejected' || refusal.problem) {
    if (stored.status === 'fulfilled') await ctx.store.discard([stored.value.key]);
    if (refusal.problem)
      throw refusal.tooLarge ? new ApiError('PAYLOAD_TOO_LARGE', `image: ${refusal.problem}`) : badRequest(`image: ${refusal.problem}`);
    throw badRequest(`upload of the image archive failed: ${(stored as PromiseRejectedResult).reason?.message}`);
  }
  return { key: stored.value.key, size: stored.value.size, check: refusal };
}

/** The container image the manifest names (custom.gear-builder.image), if any. */
function manifestImage(m: GearManifest): string | undefined {
  const gb = isPlainObject(m.custom) ? m.custom['gear-builder'] : undefined;
  return isPlainObject(gb) && typeof gb.image === 'string' && gb.image ? gb.image : undefined;
}

/** The image archive, when it provides the image the manifest names; else a 400 saying how they differ. */
function imageRow(manifest: GearManifest, image: StagedImage, gearId: string): GearImagesTable {
  const named = manifestImage(manifest);
  const tags = image.check.tags ?? [];
  if (!named)
    throw badRequest(
      `image: an image archive was sent, but manifest.json names no container image (custom.gear-builder.image; the archive provides ${tags.join(', ')})`,
    );
  if (!tags.some((t) => sameImage(t, named)))
    throw badRequest(
      `image: the archive provides ${tags.join(', ') || 'no named image'}, but manifest.json names ${named} (custom.gear-builder.image): save that image (podman save ${named})`,
    );
  return { gear_id: gearId, archive_key: image.key, size: image.size, digest: image.check.digest!, image: named, created: now() };
}

/** The archive's manifest.json, parsed and checked against the gear spec. */
function uploadedManifest(found: Awaited<ReturnType<typeof readArchiveManifest>>): { manifest: GearManifest; warnings: string[] } {
  if (found.problem || found.text === undefined) {
    throw found.tooLarge ? new ApiError('PAYLOAD_TOO_LARGE', `file: ${found.problem}`) : badRequest(`file: ${found.problem}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(found.text);
  } catch (e) {
    throw badRequest(`manifest.json is not valid JSON: ${(e as Error).message}`);
  }
  const { errors, warnings } = checkManifest(parsed);
  if (errors.length) throw apiError('GEAR_MANIFEST_INVALID', { problems: errors.join('; ') });
  return { manifest: parsed as GearManifest, warnings };
}

function gearRow(manifest: GearManifest, blob: StagedArchive, category: string | undefined, uploader: Principal): GearsTable {
  const stamp = now();
  const id = newId();
  return {
    id,
    name: manifest.name,
    version: manifest.version,
    category: categoryOf(manifest, category),
    manifest: JSON.stringify(manifest),
    exchange: JSON.stringify({ 'rootfs-hash': `sha384:${blob.sha384}`, 'rootfs-url': `/api/gears/${id}/archive` }),
    archive_key: blob.key,
    archive_size: blob.size,
    disabled: gearInvalid(manifest) ? 1 : 0,
    owner_id: null,
    uploaded_by: uploader.userId,
    created: stamp,
    modified: stamp,
  };
}

/** Stores a new name+version with its archive, claiming the name for a first upload. */
async function storeGear(ctx: ServerContext, row: GearsTable, uploader: Principal, image?: GearImagesTable): Promise<void> {
  // Asked before storing, and again if the insert fails, to tell a duplicate from another failure.
  const versionStored = () =>
    ctx.handle.db.selectFrom('gears').select('id').where('name', '=', row.name).where('version', '=', row.version).executeTakeFirst();
  if (await versionStored()) throw gearExists(row);
  const keys = [row.archive_key!, ...(image ? [image.archive_key] : [])];
  await ctx.store.publish(keys);
  try {
    // The name is claimed (or its owner checked again) in the transaction that stores the version:
    // a first upload that fails leaves the name unclaimed, and racing first uploads get one owner.
    await ctx.handle.db.transaction().execute(async (trx) => {
      row.owner_id = await claimGearName(trx, row.name, uploader);
      await trx.insertInto('gears').values(row).execute();
      if (image) await trx.insertInto('gear_images').values(image).execute();
    });
  } catch (e) {
    if (e instanceof ApiError) throw e;
    // Two uploads of the same name+version raced past the check: the unique index decides.
    throw (await versionStored()) ? gearExists(row) : e;
  }
  await ctx.store.confirm(keys);
}

/** The image archive uploaded with a gear, if any. */
export function gearImageOf(ctx: ServerContext, gearId: string): Promise<GearImagesTable | undefined> {
  return ctx.handle.db.selectFrom('gear_images').selectAll().where('gear_id', '=', gearId).executeTakeFirst();
}

/**
 * Receives `POST /gears`: the multipart field `file` (the gear directory as a tar.gz) streams into
 * the file store while its manifest is read on the way; an optional `category` field; an optional
 * `image` field, the container image archive the manifest names (podman save / docker save). The gear is
 * stored only when the manifest is valid, its name+version is new and `uploader` may add versions
 * of the name (its owner or a site admin; a new name becomes the uploader's).
 */
export async function receiveGearUpload(
  ctx: ServerContext,
  upload: MultipartUpload,
  uploader: Principal,
): Promise<{ gear: LoadedGear; warnings: string[] }> {
  const { blob, found, category, image } = await stageArchive(ctx, upload);
  try {
    const { manifest, warnings } = uploadedManifest(found);
    await checkMayUpload(ctx.handle.db, manifest.name, uploader);
    const row = gearRow(manifest, blob, category, uploader);
    await storeGear(ctx, row, uploader, image ? imageRow(manifest, image, row.id) : undefined);
    return { gear: loadedGear(ctx, row), warnings };
  } catch (err) {
    await ctx.store.discard([blob.key, ...(image ? [image.key] : [])]);
    throw err;
  }
}

function gearExists(row: GearsTable): ApiError {
  return apiError('GEAR_EXISTS', { name: row.name, version: row.version, detail: '; consider changing the version string' });
}

/** Filter and sort keys of `GET /gears`. */
export const gearFieldResolver: FieldResolver = (key) => {
  if (key === '_id' || key === 'id') return { kind: 'column', column: 'gears.id' };
  if (key === 'gear.name' || key === 'name') return { kind: 'column', column: 'gears.name' };
  if (key === 'gear.version' || key === 'version') return { kind: 'column', column: 'gears.version' };
  if (key === 'category') return { kind: 'column', column: 'gears.category' };
  if (key === 'created' || key === 'modified') return { kind: 'column', column: `gears.${key}` };
  if (key.startsWith('gear.')) return { kind: 'json', column: 'gears.manifest', path: key.slice(5).split('.') };
  return undefined;
};

/** Non-optional file inputs of a gear (what "single input" gears have at most one of). */
export function requiredFileInputs(m: GearManifest): string[] {
  return Object.entries(m.inputs ?? {})
    .filter(([, s]) => s.base === 'file' && s.optional !== true)
    .map(([k]) => k);
}

/** True when the gear takes an api-key input that may write (rules may not launch such gears). */
export function requiresReadWriteKey(m: GearManifest): boolean {
  return Object.values(m.inputs ?? {}).some((s) => s.base === 'api-key' && s['read-only'] !== true);
}
