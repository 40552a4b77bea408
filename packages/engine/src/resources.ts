const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "2G", "512M", "1.5Gi", "256mb", "1048576" → bytes (binary units, as podman and Slurm read them). */
export function parseMemory(value: string | number): number | undefined {
  if (typeof value === 'number') return value > 0 ? Math.floor(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b?)\s*$/i.exec(value);
  if (!m) return undefined;
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return bytes > 0 ? bytes : undefined;
}
