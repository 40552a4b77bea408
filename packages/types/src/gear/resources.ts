import type { ResourceRequest } from '../jobs.js';
import { isPlainObject } from './json.js';

const MEMORY = /^\d+(\.\d+)?\s*([KMGTP]i?B?|B)?$/i;

/**
 * Checks a resource request (a job's `resources`, or a manifest's `custom.sprocket.resources`):
 * `cpu` (cores, > 0), `memory` ("512M", "2G", "1.5GiB" or bytes), `gpu` (count), `walltime`
 * (seconds). Returns the problem, naming the key, or the cleaned request.
 */
export function parseResources(raw: unknown, where: string): { value?: ResourceRequest; problem?: string } {
  if (raw === undefined || raw === null) return { value: {} };
  if (!isPlainObject(raw)) return { problem: `${where}: must be an object {cpu, memory, gpu, walltime}` };
  const out: ResourceRequest = {};
  for (const [k, v] of Object.entries(raw)) {
    switch (k) {
      case 'cpu':
        if (typeof v !== 'number' || !(v > 0)) return { problem: `${where}.cpu: must be a number of cores greater than 0` };
        out.cpu = v;
        break;
      case 'memory':
        if (typeof v === 'number' && Number.isInteger(v) && v > 0) out.memory = String(v);
        else if (typeof v === 'string' && MEMORY.test(v.trim()) && Number.parseFloat(v) > 0) out.memory = v.trim();
        else return { problem: `${where}.memory: must be a size such as "512M" or "2G" (or bytes as an integer)` };
        break;
      case 'gpu':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
          return { problem: `${where}.gpu: must be a whole number of GPUs (0 or more)` };
        out.gpu = v;
        break;
      case 'walltime':
        if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
          return { problem: `${where}.walltime: must be a whole number of seconds greater than 0` };
        out.walltime = v;
        break;
      default:
        return { problem: `${where}.${k}: unknown resource (cpu, memory, gpu, walltime)` };
    }
  }
  return { value: out };
}

/** `custom.sprocket.resources` of a manifest: what the gear asks for unless the job says otherwise. */
export function manifestResources(custom: unknown): unknown {
  if (!isPlainObject(custom) || !isPlainObject(custom.sprocket)) return undefined;
  return custom.sprocket.resources;
}
