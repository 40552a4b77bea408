import type { Client } from './client.js';
import type { Container } from './containers.js';
import {
  type DownloadOptions,
  type DownloadToOptions,
  type FileLocation,
  type ZipInfo,
  downloadTo,
  downloadUrl,
  downloadZipMemberTo,
  openDownload,
  readAll,
  readZipMember,
  zipInfo,
} from './files.js';
import { type Json, Model } from './model.js';
import { PLURAL, makeObject } from './registry.js';
import type { Classification, ContainerRef, FileRef, Origin } from './types.js';

/** A file on a container (Flywheel's FileEntry). `id` is stable across versions of the file. */
export class FileEntry extends Model {
  declare file_id: string;
  declare version: number;
  declare name: string;
  declare type: string | null;
  declare mimetype: string;
  declare size: number;
  /** `v0-sha384-<hex>` */
  declare hash: string;
  declare modality: string | null;
  declare classification: Classification;
  declare tags: string[];
  /** Only on a single container GET (`reload()`); lists leave it out, as Flywheel's do. */
  declare info?: Json;
  declare info_exists: boolean;
  declare origin: Origin;
  declare parent_ref: ContainerRef;
  declare zip_member_count: number | null;
  declare from_failed_job?: boolean;
  declare created: string;
  declare modified: string;
  declare replaced: string | null;
  /** The container this file was listed on (for a looked-up file, a stub holding only its id). */
  declare readonly parent: Container;

  constructor(client: Client, doc: Json, parent?: Container) {
    super(client, doc);
    const ref = this.parent_ref;
    const p = parent ?? makeObject<Container>(client, ref.type, { _id: ref.id, container_type: ref.type });
    Object.defineProperty(this, 'parent', { value: p, enumerable: false, writable: true });
  }

  private get location(): FileLocation {
    return { cont: PLURAL[this.parent.containerType]!, id: this.parent.id, name: this.name };
  }

  /** The reference job inputs and analyses take: `{type, id, name}` of the file's container. */
  ref(): FileRef {
    return { type: this.parent.containerType, id: this.parent.id, name: this.name };
  }

  /** Streams the file to disk (see `downloadTo`); returns the path written. */
  download(dest: string, opts?: DownloadToOptions): Promise<string> {
    return downloadTo(this.client, this.location, dest, opts);
  }

  /** The whole content in memory. */
  read(opts?: DownloadOptions): Promise<Buffer> {
    return readAll(this.client, this.location, opts);
  }

  /** The content as a Node stream (with the server's content hash as `etag`). */
  open(opts?: DownloadOptions) {
    return openDownload(this.client, this.location, opts);
  }

  /** A one-shot URL that needs no key. */
  getDownloadUrl(): Promise<string> {
    return downloadUrl(this.client, this.location);
  }

  /** The members of this zip file (Flywheel's `get_zip_info`); a file that is not a zip is an ApiError (400). */
  getZipInfo(opts?: DownloadOptions): Promise<ZipInfo> {
    return zipInfo(this.client, this.location, opts);
  }

  /** Streams one member of this zip file to `dest` (a path, or a directory to put it in); returns the path written. */
  downloadZipMember(member: string, dest: string, opts?: DownloadOptions): Promise<string> {
    return downloadZipMemberTo(this.client, this.location, member, dest, opts);
  }

  /** One member of this zip file in memory. */
  readZipMember(member: string, opts?: DownloadOptions): Promise<Buffer> {
    return readZipMember(this.client, this.location, member, opts);
  }

  /** Fetches the file's current document, info included. */
  async reload(): Promise<this> {
    const doc = await this.client.transport.json<Json>('getFileInfo', { params: this.location });
    this.assign(doc, true);
    return this;
  }

  /**
   * Every stored version of the file, oldest first, each with its `origin` (who or which job wrote
   * it; job origins carry the job's `gear_info` and who launched it).
   */
  async getVersions(): Promise<FileEntry[]> {
    const docs = await this.client.transport.json<Json[]>('getFileVersions', { params: this.location });
    return docs.map((d) => new FileEntry(this.client, d, this.parent));
  }

  /** Changes fields such as `type`, `modality`, `tags`. */
  async update(fields: { type?: string | null; modality?: string | null; tags?: string[]; classification?: Classification; info?: Json }): Promise<this> {
    await this.client.transport.json('modifyFile', { params: this.location, body: fields });
    Object.assign(this, fields);
    return this;
  }

  async updateInfo(set: Json): Promise<this> {
    await this.client.transport.json('modifyFileInfo', { params: this.location, body: { set } });
    if (this.info) this.info = { ...this.info, ...set };
    return this;
  }

  async replaceInfo(info: Json): Promise<this> {
    await this.client.transport.json('modifyFileInfo', { params: this.location, body: { replace: info } });
    this.info = info;
    return this;
  }

  async deleteInfo(...keys: (string | string[])[]): Promise<this> {
    const del = keys.flat();
    await this.client.transport.json('modifyFileInfo', { params: this.location, body: { delete: del } });
    if (this.info) for (const k of del) delete this.info[k];
    return this;
  }

  /** Adds values to classification aspects (`{Intent: ['Structural']}`). */
  async updateClassification(add: Classification): Promise<this> {
    await this.client.transport.json('modifyFileClassification', { params: this.location, body: { add } });
    for (const [k, vs] of Object.entries(add)) this.classification[k] = [...new Set([...(this.classification[k] ?? []), ...vs])];
    return this;
  }

  async replaceClassification(classification: Classification, opts: { modality?: string | null } = {}): Promise<this> {
    const body = { replace: classification, ...(opts.modality !== undefined ? { modality: opts.modality } : {}) };
    await this.client.transport.json('modifyFileClassification', { params: this.location, body });
    this.classification = classification;
    if (opts.modality !== undefined) this.modality = opts.modality;
    return this;
  }

  async deleteClassification(remove: Classification): Promise<this> {
    await this.client.transport.json('modifyFileClassification', { params: this.location, body: { delete: remove } });
    for (const [k, vs] of Object.entries(remove)) {
      const left = (this.classification[k] ?? []).filter((v) => !vs.includes(v));
      if (left.length) this.classification[k] = left;
      else delete this.classification[k];
    }
    return this;
  }

  async addTag(tag: string): Promise<this> {
    if (!this.tags.includes(tag)) await this.update({ tags: [...this.tags, tag] });
    return this;
  }

  /** Deletes the file and all its versions. */
  async delete(): Promise<void> {
    await this.client.transport.json('deleteFile', { params: this.location });
  }
}
