import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * A private network of "hosts" on this machine: a bridge on the host side holding the first address
 * of a random 10.x.y.0/24, and one network namespace per host, each joined to the bridge by a veth
 * pair and holding the next address. A namespace has its own loopback and only a route to that /24,
 * so what runs in it reaches the host only over the bridge, like a machine on another network would.
 * Needs root (CAP_NET_ADMIN) and iproute2; `netnsUnavailable()` says why it cannot run, for a skip.
 */
export interface NetHost {
  /** Namespace name, for `ip netns exec`. */
  ns: string;
  address: string;
  /** argv that runs the command inside the namespace. */
  wrap(argv: string[]): string[];
}

export interface PrivateNet {
  /** The host side's address: what a server on the host binds to be reachable from the namespaces. */
  hostAddress: string;
  hosts: NetHost[];
  /** Deletes namespaces, links and the bridge; safe to call twice and after a partial setup. */
  destroy(): void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why a private network cannot be built here, or null when it can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0) return 'iproute2 (`ip`) is not installed';
  const probe = `sprobe${randomBytes(3).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  return null;
}

/** A /24 no interface on this machine uses yet. */
function freeSubnet(): string {
  const used = ip(['-4', 'addr', 'show']);
  for (;;) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(` ${prefix}.`)) return prefix;
  }
}

export function createPrivateNet(count: number): PrivateNet {
  const tag = randomBytes(3).toString('hex');
  const prefix = freeSubnet();
  const bridge = `spbr${tag}`;
  const namespaces: string[] = [];
  const hostLinks: string[] = [];
  const destroy = () => {
    // Deleting a namespace deletes its veth end, and with it the host end; the explicit deletes
    // cover a setup that failed before the move.
    for (const ns of namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    for (const link of hostLinks.splice(0)) spawnSync('ip', ['link', 'del', link], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  };
  try {
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${prefix}.1/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    const hosts: NetHost[] = [];
    for (let i = 0; i < count; i++) {
      const ns = `sprocket-${tag}-${i}`;
      const hostEnd = `sph${tag}${i}`;
      const nsEnd = `spn${tag}${i}`;
      ip(['netns', 'add', ns]);
      namespaces.push(ns);
      ip(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd]);
      hostLinks.push(hostEnd);
      ip(['link', 'set', hostEnd, 'master', bridge]);
      ip(['link', 'set', hostEnd, 'up']);
      ip(['link', 'set', nsEnd, 'netns', ns]);
      const address = `${prefix}.${i + 2}`;
      ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', nsEnd]);
      ip(['-n', ns, 'link', 'set', nsEnd, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      hosts.push({ ns, address, wrap: (argv) => ['ip', 'netns', 'exec', ns, ...argv] });
    }
    return { hostAddress: `${prefix}.1`, hosts, destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}

/** The namespace's routing table, as `ip route` prints it. */
export function routesOf(host: NetHost): string {
  return ip(['-n', host.ns, 'route', 'show', 'table', 'all']);
}
