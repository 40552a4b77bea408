import { startTestServer, type TestServer } from '../../server/test/helpers.js';
import { makeUser } from '../../server/test/people.js';
import { Client, type ClientOptions, type RequestRecord } from '../src/index.js';

export { startTestServer, type TestServer };

/** The admin key of a test server, in the compound form the SDK parses. */
export function adminKey(s: TestServer): string {
  return s.admin.key!;
}

/** A client on the test server that also records every request it makes. */
export function recordingClient(key: string, opts: ClientOptions = {}): { fw: Client; requests: RequestRecord[] } {
  const requests: RequestRecord[] = [];
  const fw = new Client(key, { ...opts, onRequest: (r) => requests.push(r) });
  return { fw, requests };
}

/** A new user with a key, as a compound key the SDK can use. */
export async function newUserKey(s: TestServer, id: string, roles: string[] = ['user']): Promise<string> {
  return (await makeUser(s, id, roles)).key!;
}

export const uniq = (p: string) => `${p}${Math.random().toString(36).slice(2, 8)}`;
