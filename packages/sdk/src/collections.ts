import type { Acquisition, Session } from './containers.js';
import { Finder } from './finder.js';
import { type Json, Model, withIds } from './model.js';
import { makeObject } from './registry.js';
import type { Note, ProjectPermission } from './types.js';

/** What `addSessions` … `removeAcquisitions` take: objects fetched before, or their ids. */
export type CollectionMember = string | { id: string };

export interface CollectionInput {
  label: string;
  description?: string;
  info?: Json;
  tags?: string[];
}

/**
 * Flywheel's Collection: a curated set of sessions and acquisitions from any projects. Changing
 * its contents sends Flywheel's body, `PUT /collections/{id}` with
 * `{contents: {operation: 'add'|'remove', nodes: [{_id, level}]}}`. Its sessions and acquisitions
 * are those the caller may see; a role on the collection does not open the projects they live in.
 */
export class Collection extends Model {
  declare label: string;
  declare description?: string;
  declare curator: string;
  declare info?: Json;
  declare info_exists: boolean;
  declare tags: string[];
  declare notes: Note[];
  declare permissions: ProjectPermission[];
  declare created: string;
  declare modified: string;

  get containerType(): 'collection' {
    return 'collection';
  }

  protected override convert(key: string, value: unknown): unknown {
    if (key === 'permissions') return withIds<ProjectPermission>(value);
    if (key === 'notes') return withIds<Note>(value);
    return value;
  }

  private get params(): { id: string } {
    return { id: this.id };
  }

  /** The sessions in the collection the caller may see. */
  sessions(): Finder<Session> {
    return new Finder<Session>(
      this.client.transport,
      'listCollectionSessions',
      this.params,
      (d) => makeObject(this.client, 'session', d) as Session,
      'sessions',
    );
  }

  /** The acquisitions in the collection the caller may see (those in added sessions included). */
  acquisitions(): Finder<Acquisition> {
    return new Finder<Acquisition>(
      this.client.transport,
      'listCollectionAcquisitions',
      this.params,
      (d) => makeObject(this.client, 'acquisition', d) as Acquisition,
      'acquisitions',
    );
  }

  /** The collection's acquisitions in one session, in one request. */
  async sessionAcquisitions(session: CollectionMember): Promise<Acquisition[]> {
    const docs = await this.client.transport.json<Json[]>('listCollectionAcquisitions', {
      params: this.params,
      query: { session: idOf(session) },
    });
    return docs.map((d) => makeObject(this.client, 'acquisition', d) as Acquisition);
  }

  addSessions(...sessions: (CollectionMember | CollectionMember[])[]): Promise<this> {
    return this.change('add', 'session', sessions.flat());
  }

  addAcquisitions(...acquisitions: (CollectionMember | CollectionMember[])[]): Promise<this> {
    return this.change('add', 'acquisition', acquisitions.flat());
  }

  removeSessions(...sessions: (CollectionMember | CollectionMember[])[]): Promise<this> {
    return this.change('remove', 'session', sessions.flat());
  }

  removeAcquisitions(...acquisitions: (CollectionMember | CollectionMember[])[]): Promise<this> {
    return this.change('remove', 'acquisition', acquisitions.flat());
  }

  private async change(operation: 'add' | 'remove', level: 'session' | 'acquisition', members: CollectionMember[]): Promise<this> {
    const nodes = members.map((m) => ({ _id: idOf(m), level }));
    await this.client.transport.json('modifyCollection', { params: this.params, body: { contents: { operation, nodes } } });
    return this;
  }

  /** Fetches the full document (with `info`). */
  async reload(): Promise<this> {
    this.assign(await this.client.transport.json<Json>('getCollection', { params: this.params }), true);
    return this;
  }

  /** Changes `label`, `description`, `info` (as a whole) or `tags`. */
  async update(fields: Partial<CollectionInput>): Promise<this> {
    await this.client.transport.json('modifyCollection', { params: this.params, body: fields as Json });
    Object.assign(this, fields);
    return this;
  }

  async updateInfo(set: Json): Promise<this> {
    await this.client.transport.json('modifyCollectionInfo', { params: this.params, body: { set } });
    if (this.info) this.info = { ...this.info, ...set };
    return this;
  }

  async addTag(tag: string): Promise<this> {
    await this.client.transport.json('addCollectionTag', { params: this.params, body: { value: tag } });
    if (this.tags && !this.tags.includes(tag)) this.tags.push(tag);
    return this;
  }

  async deleteTag(tag: string): Promise<this> {
    await this.client.transport.json('deleteCollectionTag', { params: { ...this.params, value: tag } });
    if (this.tags) this.tags = this.tags.filter((t) => t !== tag);
    return this;
  }

  /** Adds a note; returns its id. */
  async addNote(text: string): Promise<string> {
    const { _id } = await this.client.transport.json<{ _id: string }>('addCollectionNote', { params: this.params, body: { text } });
    return _id;
  }

  async deleteNote(noteId: string): Promise<void> {
    await this.client.transport.json('deleteCollectionNote', { params: { ...this.params, nid: noteId } });
  }

  async getPermissions(): Promise<ProjectPermission[]> {
    return withIds<ProjectPermission>(await this.client.transport.json<Json[]>('getCollectionPermissions', { params: this.params }));
  }

  /** Gives a user roles on the collection (`role_ids`, or a built-in `access` level). */
  async addPermission(permission: { id: string; role_ids?: string[]; access?: 'ro' | 'rw' | 'admin' }): Promise<void> {
    const { id, ...rest } = permission;
    await this.client.transport.json('addCollectionPermission', { params: this.params, body: { _id: id, ...rest } });
  }

  async updatePermission(userId: string, change: { role_ids?: string[]; access?: 'ro' | 'rw' | 'admin' }): Promise<void> {
    await this.client.transport.json('modifyCollectionUserPermission', { params: { ...this.params, uid: userId }, body: change });
  }

  async deletePermission(userId: string): Promise<void> {
    await this.client.transport.json('deleteCollectionUserPermission', { params: { ...this.params, uid: userId } });
  }

  /** Deletes the collection; its sessions and acquisitions stay where they are. */
  async delete(): Promise<void> {
    await this.client.transport.json('deleteCollection', { params: this.params });
  }
}

function idOf(m: CollectionMember): string {
  return typeof m === 'string' ? m : m.id;
}
