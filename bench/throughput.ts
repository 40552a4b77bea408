import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { benchApi } from './api.js';
import { type ServerProcess, startServerProcess } from './server-process.js';
import { elapsedMs, median, table } from './stats.js';

/**
 * 1 GiB through the API against `cp` of the same file on the same disk. The server runs as its own
 * process so its memory can be read from /proc while the transfers run.
 */
export interface ThroughputResult {
  bytes: number;
  cpMBs: number;
  cpSyncMBs: number;
  uploadMBs: number;
  downloadMBs: number;
  uploadRatio: number;
  downloadRatio: number;
  rssIdleMB: number;
  /** Highest VmRSS sampled (every 20 ms) while the transfers ran. */
  rssPeakMB: number;
  /** VmHWM at the end: the process's peak since it started, start-up included. */
  rssLifetimePeakMB: number;
  /** An idle `node --import tsx` process, for reading the figures above. */
  loaderBaselineMB: number;
}

const MB = 1e6;

async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha384');
  const out = fs.createWriteStream(file, { highWaterMark: 1 << 20 });
  let left = bytes;
  const chunk = randomBytes(1 << 20);
  for (let i = 0; left > 0; i++) {
    // A fresh block every 64 MiB keeps the content incompressible without paying for 1 GiB of randomness.
    if (i % 64 === 0) randomBytes(1 << 20).copy(chunk);
    chunk.writeUInt32LE(i, (i * 4) % ((1 << 20) - 4));
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    hash.update(piece);
    left -= piece.length;
    if (!out.write(Buffer.from(piece))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

async function sha384File(file: string): Promise<string> {
  const hash = createHash('sha384');
  await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** VmRSS / VmHWM of a process in MB, from /proc. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: (kb('VmRSS') * 1024) / MB, hwm: (kb('VmHWM') * 1024) / MB };
}

/** RSS of an idle `node --import tsx` process: the part of the server's RSS that is the TypeScript loader's, not the server's. */
async function loaderBaselineMB(): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 3000));
  const { rss } = memoryOf(child.pid!);
  child.kill();
  return rss;
}

function api(server: ServerProcess, method: 'GET' | 'POST' | 'PUT' | 'DELETE', p: string, body?: unknown): Promise<any> {
  return benchApi(server.url, server.key)(method, p, body);
}

/** A multipart POST whose file part is piped from disk: the client never holds more than a stream buffer. */
function uploadFile(server: ServerProcess, urlPath: string, file: string, name: string): Promise<any> {
  const boundary = `----sprocketbench${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = fs.statSync(file).size;
  const url = new URL(server.url + urlPath);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          Authorization: `scitran-user ${server.key}`,
          'Content-Type': `multipart/form-data; boundary=${boundary}`,
          'Content-Length': head.length + size + tail.length,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString();
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`upload: HTTP ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.write(head);
    const src = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    src.on('error', reject);
    src.on('end', () => req.end(tail));
    src.pipe(req, { end: false });
  });
}

function downloadFile(server: ServerProcess, urlPath: string, dest: string): Promise<number> {
  const url = new URL(server.url + urlPath);
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: url.hostname, port: url.port, path: url.pathname, headers: { Authorization: `scitran-user ${server.key}` } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`download: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let n = 0;
        const count = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            n += chunk.length;
            cb(null, chunk);
          },
        });
        pipeline(res, count, fs.createWriteStream(dest, { highWaterMark: 1 << 20 })).then(() => resolve(n), reject);
      },
    );
    req.on('error', reject);
  });
}

function timeCommand(cmd: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  return elapsedMs(start);
}

export async function measureThroughput(
  workDir: string,
  opts: { bytes: number; repeats: number; settleMs: number; env: NodeJS.ProcessEnv },
  log: (l: string) => void,
): Promise<ThroughputResult> {
  const src = path.join(workDir, 'transfer.bin');
  const copy = path.join(workDir, 'transfer.copy');
  const back = path.join(workDir, 'transfer.download');
  log(`  writing a ${(opts.bytes / 2 ** 20).toFixed(0)} MiB test file …`);
  const sha = await writeRandomFile(src, opts.bytes);
  spawnSync('sync');

  const server = await startServerProcess(path.join(workDir, 'server-data'), opts.env);
  const pid = server.child.pid!;
  let peak = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const group = `tp${Date.now().toString(36)}`;
    await api(server, 'POST', '/groups', { _id: group, label: 'Throughput' });
    const project = (await api(server, 'POST', '/projects', { group, label: 'Transfer' }))._id as string;
    const session = (await api(server, 'POST', '/sessions', { project, label: 'ses-01' }))._id as string;
    const acq = (await api(server, 'POST', '/acquisitions', { session, label: 'T1w' }))._id as string;
    const started = memoryOf(pid).rss;
    const settleStart = process.hrtime.bigint();

    const cpMs: number[] = [];
    const cpSyncMs: number[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      cpMs.push(timeCommand('cp', [src, copy]));
      await fsp.rm(copy);
      spawnSync('sync');
      // The server fsyncs every upload before acknowledging it; this is the like-for-like copy.
      cpSyncMs.push(timeCommand('sh', ['-c', 'cp "$0" "$1" && sync "$1"', src, copy]));
      await fsp.rm(copy);
      spawnSync('sync');
    }

    // Right after start V8 still holds the heap it grew while compiling routes and schemas; its memory
    // reducer returns that after a minute or so of idling, which is the state a running server is in.
    while (elapsedMs(settleStart) < opts.settleMs && memoryOf(pid).rss > started * 0.8) await new Promise((r) => setTimeout(r, 2000));
    const idle = memoryOf(pid).rss;
    log(
      `  server RSS ${started.toFixed(0)} MB after start, ${idle.toFixed(0)} MB after ${(elapsedMs(settleStart) / 1000).toFixed(0)} s idle`,
    );
    sampler = setInterval(() => {
      peak = Math.max(peak, memoryOf(pid).rss);
    }, 20);

    const upMs: number[] = [];
    const downMs: number[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      const start = process.hrtime.bigint();
      const docs = await uploadFile(server, `/acquisitions/${acq}/files`, src, 'big.nii.gz');
      upMs.push(elapsedMs(start));
      if (docs[0]?.hash !== `v0-sha384-${sha}` || docs[0]?.size !== opts.bytes)
        throw new Error(`upload ${i + 1}: server stored a different file: ${JSON.stringify(docs[0])}`);
      spawnSync('sync');
    }
    for (let i = 0; i < opts.repeats; i++) {
      const start = process.hrtime.bigint();
      const n = await downloadFile(server, `/acquisitions/${acq}/files/big.nii.gz`, back);
      downMs.push(elapsedMs(start));
      if (n !== opts.bytes) throw new Error(`download ${i + 1}: got ${n} bytes, expected ${opts.bytes}`);
      if (i === 0 && (await sha384File(back)) !== sha) throw new Error('download: content differs from the upload');
      await fsp.rm(back);
      spawnSync('sync');
    }
    clearInterval(sampler);
    const lifetime = memoryOf(pid).hwm;
    const loader = await loaderBaselineMB();

    const rate = (ms: number[]) => opts.bytes / MB / (median(ms) / 1000);
    const r: ThroughputResult = {
      bytes: opts.bytes,
      cpMBs: rate(cpMs),
      cpSyncMBs: rate(cpSyncMs),
      uploadMBs: rate(upMs),
      downloadMBs: rate(downMs),
      uploadRatio: rate(upMs) / rate(cpMs),
      downloadRatio: rate(downMs) / rate(cpMs),
      rssIdleMB: idle,
      rssPeakMB: peak,
      rssLifetimePeakMB: lifetime,
      loaderBaselineMB: loader,
    };
    const f = (x: number) => x.toFixed(0);
    log(
      table(
        ['transfer (median of ' + opts.repeats + ')', 'MB/s', 'ratio to cp', 'ratio to cp+fsync'],
        [
          ['cp', f(r.cpMBs), '1.00', (r.cpMBs / r.cpSyncMBs).toFixed(2)],
          ['cp + fsync', f(r.cpSyncMBs), (r.cpSyncMBs / r.cpMBs).toFixed(2), '1.00'],
          ['upload (multipart, sha-384, fsync)', f(r.uploadMBs), r.uploadRatio.toFixed(2), (r.uploadMBs / r.cpSyncMBs).toFixed(2)],
          ['download', f(r.downloadMBs), r.downloadRatio.toFixed(2), (r.downloadMBs / r.cpSyncMBs).toFixed(2)],
        ],
      ),
    );
    log(
      `  server RSS: ${f(idle)} MB idle, ${f(peak)} MB peak during transfers (target < 200 MB), ${f(lifetime)} MB lifetime peak (VmHWM, start-up included)`,
    );
    log(
      `  (an idle \`node --import tsx\` process alone is ${f(loader)} MB: the server runs from TypeScript sources through tsx, as npm start does)`,
    );
    log(
      `  runs (ms): cp ${cpMs.map(f).join('/')}, cp+fsync ${cpSyncMs.map(f).join('/')}, upload ${upMs.map(f).join('/')}, download ${downMs.map(f).join('/')}`,
    );
    return r;
  } finally {
    clearInterval(sampler);
    await server.stop();
    await fsp.rm(src, { force: true });
    await fsp.rm(back, { force: true });
  }
}
