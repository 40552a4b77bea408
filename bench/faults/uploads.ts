import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createDatabase, dropDatabase } from '../../test-fixtures/pg-databases.js';
import { benchTransport } from '../api.js';
import { type Cluster, startCluster } from './cluster.js';
import { countFiles, stagingDir, storeLeftovers } from './jobs.js';
import type { FaultsContext, FaultsPart, PartReport } from './part.js';

/**
 * Uploads cut short: each sends one file of 1–4 MiB whose content follows from its number, so any
 * bytes but a complete upload's show as a wrong size or hash. Most are cut: the client hangs up
 * after a random number of the body's bytes (in the part's headers, the content or the closing
 * boundary), or the server is killed -9 while the body is half-sent and started again. Every fifth
 * is sent whole, so the same check proves that complete uploads land between the cuts. Cuts go to
 * new names and to names a complete upload already holds, where a cut new version must leave the
 * earlier one current. Afterwards the API may show complete uploads only, every version of them
 * whole, and the store may hold their blobs and nothing else.
 */
interface Campaign {
  uploads: number;
  serverKills: number;
}

const FULL: Campaign = { uploads: 100, serverKills: 5 };
const SMALL: Campaign = { uploads: 20, serverKills: 2 };
const WHOLE_EVERY = 5;
const MiB = 1 << 20;

type Way = 'whole' | 'socket' | 'kill';

interface Sent {
  n: number;
  name: string;
  way: Way;
  /** For a cut onto a name a complete upload holds: how many versions it had then. */
  onto?: number;
  /** Bytes of the body sent before the cut, and the body's length. */
  offset: number;
  bodyBytes: number;
  /** Where in the body a cut fell. */
  cutIn?: 'part headers' | 'content' | 'closing boundary';
  /** sha-384 of the whole content, in the API's form: names a cut upload that landed anyway. */
  hash: string;
}

/** A version a complete upload made, as the API must show it. */
interface Version {
  n: number;
  size: number;
  hash: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);
const apiHash = (b: Buffer) => `v0-sha384-${createHash('sha384').update(b).digest('hex')}`;

/** What upload n sends: its name line repeated up to the size, so a torn or mixed file shows. */
function content(n: number, size: number): Buffer {
  return Buffer.alloc(size, `sprocket-upload-${n}\n`);
}

/** One file as a multipart body, with where its content starts and ends (cut points are chosen around them). */
function multipart(name: string, data: Buffer): { boundary: string; body: Buffer; contentStart: number; contentEnd: number } {
  const boundary = `----sprocketcut${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { boundary, body: Buffer.concat([head, data, tail]), contentStart: head.length, contentEnd: head.length + data.length };
}

/**
 * Sends the request's head and the first `bytes` of its body over a raw socket, so that exactly
 * those leave whatever the body declares, and resolves once they are handed to the kernel (a
 * `destroy` after that still delivers them, then the hang-up). `Connection: close` makes the server
 * end the socket after its answer, which `answer` then reads.
 */
async function openUpload(
  cluster: Cluster,
  acquisition: string,
  boundary: string,
  body: Buffer,
  bytes: number,
): Promise<{ socket: net.Socket; answer: Promise<{ status: number; body: string }> }> {
  const url = new URL(cluster.url);
  const head =
    `POST ${url.pathname}/acquisitions/${acquisition}/files HTTP/1.1\r\nHost: ${url.host}\r\n` +
    `Authorization: scitran-user ${cluster.key}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const socket = net.connect(Number(url.port), url.hostname);
  // A whole upload's answer comes within seconds; a server that never gives one fails the part, not hangs it.
  socket.setTimeout(120_000, () => socket.destroy(new Error('no answer in 120 s')));
  const chunks: Buffer[] = [];
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
  // A cut upload's answer is never read: its rejection (reset by a killed server) is expected.
  answer.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () =>
      socket.write(Buffer.concat([Buffer.from(head), body.subarray(0, bytes)]), (e) => (e ? reject(e) : resolve())),
    );
    socket.once('error', reject);
  });
  return { socket, answer };
}

/** Polls until `ok` holds or `ms` pass; says which. */
async function until(ok: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (ok()) return true;
  return ok();
}

async function campaign(ctx: FaultsContext, c: Campaign, database: 'SQLite' | 'PostgreSQL'): Promise<PartReport> {
  const title = `uploads cut at random offsets (${database})`;
  const problems: string[] = [];
  const dbUrl = database === 'PostgreSQL' ? await createDatabase(ctx.postgresUrl!, 'sprocket_faults_uploads') : undefined;
  const dataDir = path.join(ctx.workDir, database.toLowerCase());
  const staging = stagingDir(dataDir);
  const cluster = await startCluster(ctx.root, dataDir, { PATH: process.env.PATH, ...(dbUrl ? { DATABASE_URL: dbUrl } : {}) });
  let report: PartReport | undefined;
  let versions = 0;
  try {
    const group = `faults${Date.now().toString(36)}`;
    await cluster.call('POST', '/groups', { _id: group, label: 'Faults' });
    const project = (await cluster.call('POST', '/projects', { group, label: `Uploads ${database}` }))._id;
    const session = (await cluster.call('POST', '/sessions', { project, label: 'ses-uploads' }))._id;
    const acquisition = (await cluster.call('POST', '/acquisitions', { session, label: 'cut-uploads' }))._id;

    // The server kills spread evenly over the cut uploads, so uploads follow each restart.
    const cutNumbers = Array.from({ length: c.uploads }, (_, n) => n).filter((n) => n % WHOLE_EVERY !== 0);
    const killAt = new Set(
      Array.from({ length: c.serverKills }, (_, k) => cutNumbers[Math.floor(((k + 0.5) * cutNumbers.length) / c.serverKills)]),
    );
    const complete = new Map<string, Version[]>();
    const sent: Sent[] = [];
    const count = { whole: 0, socket: 0, kill: 0 };
    let killsThatMetAPart = 0;
    const t0 = Date.now();
    for (let n = 0; n < c.uploads; n++) {
      const way: Way = n % WHOLE_EVERY === 0 ? 'whole' : killAt.has(n) ? 'kill' : 'socket';
      const k = count[way]++;
      // Every other upload of each way goes onto a name a complete upload holds (a new version), the rest to a new name.
      const names = [...complete.keys()];
      const onto = k % 2 === 1 && names.length ? names[rand(names.length)]! : undefined;
      const name = onto ?? `${way === 'whole' ? 'whole' : 'cut'}-${n}.bin`;
      const data = content(n, MiB + rand(3 * MiB));
      const { boundary, body, contentStart, contentEnd } = multipart(name, data);
      const L = body.length;
      let offset = L;
      if (way === 'socket') {
        // The first few cuts land on the edges a uniform draw would rarely meet: nothing of the body,
        // inside the part's headers, all the content but no closing boundary, the closing delimiter
        // without its final `--`, all but the last byte. The rest anywhere in the body.
        const edges = [0, 1 + rand(contentStart - 1), contentEnd, L - 4, L - 1];
        offset = k < edges.length ? edges[k]! : rand(L);
      } else if (way === 'kill') offset = contentStart + rand(contentEnd - contentStart);
      const cutIn =
        way === 'whole' ? undefined : offset < contentStart ? 'part headers' : offset < contentEnd ? 'content' : 'closing boundary';
      sent.push({ n, name, way, onto: onto ? complete.get(onto)!.length : undefined, offset, bodyBytes: L, cutIn, hash: apiHash(data) });

      // Before a kill, the earlier cuts' parts must be gone, so the part the kill waits for is this upload's.
      if (way === 'kill' && !(await until(() => countFiles(staging) === 0, 10_000)))
        problems.push(`before upload ${n}: ${countFiles(staging)} entries still in staging 10 s after the earlier cuts`);
      const { socket, answer } = await openUpload(cluster, acquisition, boundary, body, offset);
      if (way === 'whole') {
        const a = await answer.catch((e: Error) => ({ status: 0, body: e.message }));
        if (a.status >= 500) cluster.serverErrors.push(`upload ${n} (${name}, whole): HTTP ${a.status} ${a.body}`);
        let doc: any;
        try {
          doc = JSON.parse(a.body)[0];
        } catch {
          // Checked below: no document is not an answer to a whole upload.
        }
        if (a.status !== 200 || doc?.name !== name || doc.size !== data.length || doc.hash !== apiHash(data))
          problems.push(`whole upload ${n} (${name}): HTTP ${a.status} ${a.body.slice(0, 300)}`);
        else complete.set(name, [...(complete.get(name) ?? []), { n, size: data.length, hash: doc.hash }]);
      } else if (way === 'socket') socket.destroy();
      else {
        // Killed only once the server is writing the content to staging: the kill leaves a half-written part.
        if (await until(() => fs.readdirSync(staging).some((e) => e.endsWith('.part')), 10_000)) killsThatMetAPart++;
        else problems.push(`upload ${n} (${name}): no staged part appeared before the server kill at byte ${offset} of ${L}`);
        await cluster.killServer();
        socket.destroy();
        // The restart's recovery must have cleared what the killed upload left.
        const left = countFiles(staging);
        if (left) problems.push(`after the server kill during upload ${n} (${name}): ${left} entries in staging after the restart`);
      }
      if ((n + 1) % 25 === 0 || n + 1 === c.uploads) ctx.log(`${database}: ${n + 1}/${c.uploads} uploads sent`);
    }
    const seconds = (Date.now() - t0) / 1000;
    // A cut upload is cleaned up once the server notices the hang-up; give the last ones a moment.
    if (!(await until(() => countFiles(staging) === 0, 30_000)))
      problems.push(`${countFiles(staging)} entries still in staging 30 s after the last upload`);

    const check = await checkVisible(cluster, acquisition, complete, sent);
    problems.push(...check.problems, ...check.partial.map((p) => `partial file visible: ${p}`));
    versions = check.versions;
    // The server still takes requests after all that (no retries: an answer now, or a failure).
    const last = await benchTransport(cluster.url, cluster.key).request('GET', `/acquisitions/${acquisition}`, { anyStatus: true });
    await last.arrayBuffer();
    if (last.status !== 200) problems.push(`the server's last answer: HTTP ${last.status}`);
    problems.push(...cluster.serverErrors, ...cluster.serverLogProblems());

    const cuts = sent.filter((s) => s.way !== 'whole');
    const cutIn = (where: Sent['cutIn']) => cuts.filter((s) => s.cutIn === where).length;
    report = {
      title,
      problems,
      rows: [
        ['uploads sent: cut / whole', `${cuts.length} / ${count.whole}`],
        ['uploads cut (by socket / by server kill -9)', `${count.socket} / ${count.kill}`],
        [
          'cut offsets min–max (bytes, of bodies of 1–4 MiB)',
          `${Math.min(...cuts.map((s) => s.offset))}–${Math.max(...cuts.map((s) => s.offset))}`,
        ],
        [
          'cuts inside the part headers / content / closing boundary',
          `${cutIn('part headers')} / ${cutIn('content')} / ${cutIn('closing boundary')}`,
        ],
        [
          'cuts onto a new name / onto a complete file',
          `${cuts.filter((s) => s.onto === undefined).length} / ${cuts.filter((s) => s.onto !== undefined).length}`,
        ],
        ['server kills that met a half-written part', `${killsThatMetAPart} of ${count.kill}`],
        ['wall time of the uploads (s)', seconds.toFixed(0)],
        ['whole uploads landed (answered, listed, whole)', `${check.landed} of ${count.whole}`],
        ['partial files visible', check.partial.length],
        ['earlier versions still current and whole', `${check.earlierKept} of ${cuts.filter((s) => s.onto !== undefined).length}`],
        ['server answers at the end', last.status === 200 ? 'yes' : `HTTP ${last.status}`],
        ['answers 5xx (to clients / logged by the server)', `${cluster.serverErrors.length} / ${cluster.serverLog.length}`],
      ],
    };
  } finally {
    await cluster.stop();
    if (dbUrl) await dropDatabase(dbUrl).catch(() => undefined);
  }
  // No gear in this part: every blob must be a version the API lists.
  const left = storeLeftovers(dataDir, versions, 0);
  report.problems.push(...left.problems);
  report.rows.push(['store after a clean stop: staged entries, blobs (versions listed)', `${left.staged}, ${left.blobs} (${versions})`]);
  return report;
}

interface Visible {
  problems: string[];
  /** What the API shows that no complete upload made, one entry per file version. */
  partial: string[];
  /** Versions shown whole, each a complete upload's. */
  landed: number;
  /** Cuts onto a complete file whose name still shows exactly its complete uploads, whole. */
  earlierKept: number;
  /** Versions the API lists: the blobs the store must hold. */
  versions: number;
}

/**
 * Everything the API shows for the acquisition, against the complete uploads: the listing, each
 * name's versions, every version's content downloaded and hashed, and the names only cut uploads
 * used, which must answer 404.
 */
async function checkVisible(cluster: Cluster, acquisition: string, complete: Map<string, Version[]>, sent: Sent[]): Promise<Visible> {
  const problems: string[] = [];
  const partial = new Map<string, string>();
  const visible = (key: string, what: string) => partial.has(key) || partial.set(key, `${key}: ${what}`);
  // What a version that no complete upload made holds: a cut upload's whole content (it landed
  // although its request was cut) or bytes of no upload at all (torn).
  const whose = (size: number, hash: string) => {
    const s = sent.find((u) => u.way !== 'whole' && u.hash === hash);
    return s
      ? `the whole content of cut upload ${s.n} (${s.way === 'kill' ? 'server killed' : 'hung up'} at byte ${s.offset} of ${s.bodyBytes}, in the ${s.cutIn})`
      : `${size} bytes matching no upload`;
  };
  const transport = benchTransport(cluster.url, cluster.key);
  const get = async (p: string): Promise<{ status: number; size: number; hash: string }> => {
    const res = await transport.request('GET', p, { anyStatus: true });
    if (res.status >= 500) cluster.serverErrors.push(`GET ${p}: HTTP ${res.status}`);
    const got = Buffer.from(await res.arrayBuffer());
    return { status: res.status, size: got.length, hash: apiHash(got) };
  };
  const files = `/acquisitions/${acquisition}/files`;

  const listed: any[] = (await cluster.call('GET', `/acquisitions/${acquisition}`)).files ?? [];
  let landed = 0;
  let versions = 0;
  const intact = new Set<string>();
  // Every name a complete upload made and every name listed (a name only cut uploads used shows as partial).
  for (const name of new Set([...complete.keys(), ...listed.map((f) => f.name as string)])) {
    const history = complete.get(name) ?? [];
    let ok = true;
    const last = history.at(-1);
    const current = listed.filter((f) => f.name === name);
    if (current.length !== 1 || !last) {
      if (history.length) problems.push(`${name}: listed ${current.length} times for ${history.length} complete uploads`);
      for (const f of current)
        if (!history.some((h) => h.hash === f.hash)) visible(`${name} v${f.version}`, `listed, ${whose(f.size, f.hash)}`);
      ok = false;
    } else if (current[0].version !== history.length || current[0].size !== last.size || current[0].hash !== last.hash) {
      const cur = current[0];
      if (history.some((h) => h.hash === cur.hash))
        problems.push(`${name}: current is version ${cur.version}, not upload ${last.n}'s ${history.length}`);
      else visible(`${name} v${cur.version}`, `current, ${whose(cur.size, cur.hash)}`);
      ok = false;
    } else {
      const got = await get(`${files}/${name}`);
      if (got.status !== 200 || got.hash !== last.hash) {
        visible(`${name} v${history.length}`, `downloads as ${got.size} bytes (HTTP ${got.status}), not upload ${last.n}'s ${last.size}`);
        ok = false;
      }
    }
    // A name not listed at all has no versions route to ask (404); it was reported above.
    if (!current.length) continue;
    const shown: any[] = await cluster.call('GET', `${files}/${name}/versions`);
    versions += shown.length;
    if (history.length && shown.length !== history.length) {
      problems.push(`${name}: ${shown.length} versions listed for ${history.length} complete uploads`);
      ok = false;
    }
    for (const v of shown) {
      const want = history[v.version - 1];
      if (!want || v.size !== want.size || v.hash !== want.hash) {
        visible(`${name} v${v.version}`, `in the versions list, ${whose(v.size, v.hash)}`);
        ok = false;
        continue;
      }
      const got = await get(`${files}/${name}?version=${v.version}`);
      if (got.status !== 200 || got.hash !== want.hash) {
        visible(`${name} v${v.version}`, `downloads as ${got.size} bytes (HTTP ${got.status}), not upload ${want.n}'s ${want.size}`);
        ok = false;
      } else landed++;
    }
    if (ok) intact.add(name);
  }
  for (const s of sent) {
    if (s.way === 'whole' || s.onto !== undefined) continue;
    const got = await get(`${files}/${s.name}`);
    if (got.status !== 404) visible(`${s.name} v1`, `downloads (HTTP ${got.status}), ${whose(got.size, got.hash)}`);
  }
  const earlierKept = sent.filter((s) => s.way !== 'whole' && s.onto !== undefined && intact.has(s.name)).length;
  return { problems, partial: [...partial.values()], landed, earlierKept, versions };
}

export const run: FaultsPart = async (ctx) => {
  const c = ctx.small ? SMALL : FULL;
  const reports = [await campaign(ctx, c, 'SQLite')];
  if (ctx.postgresUrl) reports.push(await campaign(ctx, c, 'PostgreSQL'));
  else reports.push({ title: 'uploads cut at random offsets (PostgreSQL)', rows: [], problems: [], skipped: 'DATABASE_URL is not set' });
  return reports;
};
