/** What a text viewer reads of a file at most: enough to look at, never the whole of a large one. */
export const MAX_BYTES = 512 * 1024;

/**
 * The first MAX_BYTES of a file (a Range request: the file route honours it), as text, and whether
 * that was all of it.
 */
export async function fetchHead(url: string, signal: AbortSignal): Promise<{ text: string; truncated: boolean; size?: number }> {
  const res = await fetch(url, { headers: { Range: `bytes=0-${MAX_BYTES - 1}` }, credentials: 'same-origin', signal });
  if (!res.ok) throw new Error(`the server answered ${res.status} ${res.statusText}`);
  const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
  const buf = await res.arrayBuffer();
  const size = total ? Number(total) : buf.byteLength;
  // A cut may split a multi-byte character; the decoder marks it rather than failing.
  return { text: new TextDecoder().decode(buf.slice(0, MAX_BYTES)), truncated: size > MAX_BYTES, size };
}
