import { type Json, Model } from './model.js';

/** An API key as listed (never its secret). */
export interface ApiKey {
  id: string;
  label: string;
  /** `user`, or what issued it. */
  type: string;
  created: string;
  last_used: string | null;
  revoked: boolean;
}

/** A key just issued: `key` is the whole compound key, shown this once. */
export interface IssuedApiKey {
  id: string;
  key: string;
}

/** A user; `id` is their user id (an email-like string). */
export class User extends Model {
  declare email: string;
  declare firstname: string;
  declare lastname: string;
  /** Site roles: `user`, `developer`, `site_admin`. */
  declare roles: string[];
  declare root: boolean;
  declare disabled: boolean;
  declare api_key?: { created: string; last_used: string | null };
  declare created: string;
  declare modified: string;

  async reload(): Promise<this> {
    this.assign(await this.client.transport.json<Json>('getUser', { params: { uid: this.id } }), true);
    return this;
  }

  async update(fields: { email?: string; firstname?: string; lastname?: string; roles?: string[]; disabled?: boolean }): Promise<this> {
    await this.client.transport.json('modifyUser', { params: { uid: this.id }, body: fields });
    Object.assign(this, fields);
    return this;
  }

  /** Disables the user and revokes their keys (users own provenance, so they are never erased). */
  async delete(): Promise<void> {
    await this.client.transport.json('deleteUser', { params: { uid: this.id } });
  }
}
