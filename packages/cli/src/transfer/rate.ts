import { CliError } from '../errors.js';

/** `500k`, `2M`, `1.5G` (bytes per second, powers of 1024) or a plain number of bytes. */
export function parseRate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  const n = m ? Number(m[1]) * 1024 ** ['', 'k', 'm', 'g'].indexOf(m[2]!.toLowerCase()) : Number.NaN;
  if (!m || !(n >= 1)) throw new CliError(`--limit-rate: expected bytes per second like 500k, 2M or 1G, got '${text}'`);
  return Math.floor(n);
}

/**
 * Caps the bytes per second of every transfer that shares it (`--limit-rate`, so an import or
 * download leaves bandwidth for others): `take` resolves when the bytes fit the budget.
 */
export class RateLimit {
  private readonly started = Date.now();
  private sent = 0;

  constructor(private readonly bytesPerSecond: number) {}

  async take(n: number): Promise<void> {
    this.sent += n;
    const due = this.started + (this.sent / this.bytesPerSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/** A limiter for the option's value, or undefined when there is no limit. */
export function rateLimit(text: string | undefined): RateLimit | undefined {
  const rate = parseRate(text);
  return rate ? new RateLimit(rate) : undefined;
}
