import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateNet, netnsUnavailable, type PrivateNet, routesOf } from '../../../test-fixtures/netns.js';
import { makeHierarchy, startTestServer, type TestServer } from '../../server/test/helpers.js';
import { BwrapExecutor } from '../src/executors/bwrap.js';
import { addJob, type EngineProcess, engineKey, jobLog, startEngine, uploadGear, waitForJob } from './engines.js';
import { eventually } from './helpers.js';

/**
 * Engines on other hosts: two engines, each in its own network namespace, reach the server only over
 * a private network (the server binds only the bridge's address; the namespaces have no route but
 * that /24 and a loopback of their own). They get nothing but an engine key, which names the API.
 */
const unavailable = netnsUnavailable();
if (unavailable) console.log(`netns.test.ts skipped: ${unavailable}`);
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';

/** Whether a TCP connection to host:port succeeds from here. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Whether a TCP connection to host:port succeeds from inside the namespace (node run there). */
function connectsFrom(wrap: (argv: string[]) => string[], host: string, port: number): boolean {
  const script = `const s=require('net').connect({host:${JSON.stringify(host)},port:${port},timeout:2000});s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));s.on('timeout',()=>process.exit(1));`;
  const [cmd, ...args] = wrap([process.execPath, '-e', script]);
  return spawnSync(cmd!, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

describe.skipIf(unavailable)('engines on other hosts (network namespaces)', () => {
  let network: PrivateNet | undefined;
  let server: TestServer;
  let port: number;
  const engines: EngineProcess[] = [];
  const keys: string[] = [];

  beforeAll(async () => {
    network = createPrivateNet(2);
    server = await startTestServer({ env: { SPROCKET_HOST: network.hostAddress } });
    port = Number(new URL(server.url).port);
    for (const host of network.hosts) keys.push(await engineKey(server.admin, `engine on ${host.address}`));
  });
  afterAll(async () => {
    for (const e of engines) await e.stop();
    await server?.stop();
    network?.destroy();
  });

  it('has the server reachable only on the private network, never through a loopback', async () => {
    expect(server.url).toBe(`http://${network!.hostAddress}:${port}/api`);
    expect(await connects(network!.hostAddress, port)).toBe(true);
    // The server binds only the bridge address: the host's own loopback has nothing on that port.
    expect(await connects('127.0.0.1', port)).toBe(false);
    for (const host of network!.hosts) {
      const routes = routesOf(host);
      expect(routes).not.toMatch(/^default/m);
      // The main table routes only the private /24; 127.0.0.0/8 is the namespace's own loopback.
      const main = spawnSync('ip', ['-n', host.ns, 'route', 'show'], { encoding: 'utf8' }).stdout.trim().split('\n');
      expect(main).toEqual([expect.stringMatching(new RegExp(`^${network!.hostAddress.replace(/\.1$/, '.0')}/24 dev `))]);
      expect(connectsFrom(host.wrap, network!.hostAddress, port)).toBe(true);
      expect(connectsFrom(host.wrap, '127.0.0.1', port)).toBe(false);
    }
    // Each key names the API by the private address, which is all an engine is given.
    for (const key of keys) expect(key.startsWith(`${network!.hostAddress}:${port}:__force_insecure:`)).toBe(true);
  });

  it('runs real jobs on both engines to completion, inputs down and outputs up over the network', async () => {
    const ids = await makeHierarchy(server.admin);
    const gear = await uploadGear(server.admin, 'echo-config');
    const acquisitions: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await server.admin.post('/acquisitions', { session: ids.session, label: `run-${i}` });
      expect(r.status).toBe(200);
      acquisitions.push(r.body._id);
      const up = await server.admin.upload(`/acquisitions/${r.body._id}/files`, [{ name: 'notes.txt', content: `notes ${i}` }]);
      expect(up.status).toBe(200);
    }
    network!.hosts.forEach((host, i) => {
      // Only the key: no URL, no shared folder; PATH and NODE_OPTIONS are the test runner's own.
      engines.push(startEngine(keys[i]!, { concurrency: 1, executor, wrap: host.wrap }));
    });
    const devices = async () => (await server.admin.get('/devices')).body as { _id: string; name: string; last_seen: string | null }[];
    // Both engines have asked for work before any is queued, so both are waiting when it comes.
    const bothSeen = await eventually(
      async () => (await devices()).filter((d) => d.name.startsWith('engine on ') && d.last_seen).length === 2,
      60_000,
      200,
    );
    expect(bothSeen, engines.map((e) => e.output()).join('\n---\n')).toBe(true);

    const jobs: string[] = [];
    for (const [i, acq] of acquisitions.entries()) {
      jobs.push(
        await addJob(server.admin, {
          gear_id: gear,
          inputs: { text: { type: 'acquisition', id: acq, name: 'notes.txt' } },
          config: { message: `job ${i}` },
        }),
      );
    }
    const claimedBy = new Set<string>();
    for (const [i, id] of jobs.entries()) {
      const job = await waitForJob(server.admin, id, undefined, 90_000);
      expect(job.state, engines.map((e) => e.output()).join('\n---\n')).toBe('complete');
      const claim = (await jobLog(server.admin, id)).find((l) => l.fd === -1 && l.msg.includes('claimed the job'));
      claimedBy.add(/Engine (\S+) /.exec(claim!.msg)![1]!);
      const copy = await server.admin.bytes(`/acquisitions/${acquisitions[i]}/files/inputs.txt`);
      expect(copy.data.toString()).toBe('input/text/notes.txt\n');
      const config = await server.admin.bytes(`/acquisitions/${acquisitions[i]}/files/config-copy.json`);
      expect(JSON.parse(config.data.toString()).config).toEqual({ message: `job ${i}` });
    }
    // Two distinct engines (host/pid of each engine process) did the work.
    const pids = engines.map((e) => String(e.proc.pid));
    expect([...claimedBy].map((id) => id.split('/').pop()).sort()).toEqual(pids.sort());
  }, 180_000);
});
