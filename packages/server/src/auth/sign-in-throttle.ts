/** Failed sign-ins allowed per account from one address, and per address over all accounts, per window. */
const PER_ACCOUNT = 10;
const PER_ADDRESS = 50;
const WINDOW_MS = 15 * 60_000;
/** Addresses and accounts tracked at most: the oldest entry goes first, so a flood cannot grow memory. */
const MAX_ENTRIES = 10_000;

interface Entry {
  failures: number;
  since: number;
}

/**
 * Slows password guessing at `POST /auth/session`: after PER_ACCOUNT wrong passwords for one email
 * from one address (or PER_ADDRESS failures from one address whatever the email) within the window,
 * further attempts get a 429 with Retry-After until the window passes, without checking the password,
 * so each refused guess also costs no argon2 time. A correct sign-in clears its account's count.
 * Only failures count: a lab behind one NAT address signing in all day is never throttled.
 *
 * The counts live in this server process (ServerContext.signIns); with several server processes
 * each allows its own share, which still bounds guessing to a few hundred an hour per address.
 */
export class SignInThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.since >= WINDOW_MS) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Seconds to wait when this address, or this address for this account, failed too often; else undefined. */
  wait(address: string, account: string): number | undefined {
    for (const [key, max] of [
      [`a:${address}`, PER_ADDRESS],
      [`u:${address}:${account.toLowerCase()}`, PER_ACCOUNT],
    ] as const) {
      const e = this.live(key);
      if (e && e.failures >= max) return Math.max(1, Math.ceil((e.since + WINDOW_MS - this.now()) / 1000));
    }
    return undefined;
  }

  failed(address: string, account: string): void {
    for (const key of [`a:${address}`, `u:${address}:${account.toLowerCase()}`]) {
      const e = this.live(key);
      if (e) e.failures++;
      else {
        if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
        this.entries.set(key, { failures: 1, since: this.now() });
      }
    }
  }

  succeeded(address: string, account: string): void {
    this.entries.delete(`u:${address}:${account.toLowerCase()}`);
  }
}
