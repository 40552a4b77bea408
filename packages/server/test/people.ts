import type { Api, Reply, TestServer } from './helpers.js';

/** Fails a test set-up step loudly instead of letting a later assertion puzzle over it. */
export function ok<T = any>(r: Reply<T>, what = 'setup request'): T {
  if (r.status >= 300) throw new Error(`${what} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Creates a user through the admin API and returns a client holding a fresh key of theirs. */
export async function makeUser(s: TestServer, id: string, roles?: string[]): Promise<Api> {
  ok(
    await s.admin.post('/users', { _id: id, email: id, firstname: 'Test', lastname: id.split('@')[0], ...(roles ? { roles } : {}) }),
    `create user ${id}`,
  );
  const { key } = ok(await s.admin.post(`/users/${encodeURIComponent(id)}/key`, {}), `key for ${id}`);
  return s.as(key);
}
