/**
 * How the Information tab reads a typed value: JSON when it parses as JSON (numbers, true/false,
 * null, quoted strings, objects, arrays), otherwise the text itself as a string. So `3` is a
 * number and `"3"` or `3 apples` a string, as a researcher would expect.
 */
export function parseInfoValue(text: string): unknown {
  const t = text.trim();
  if (t === '') return '';
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return text;
  }
}

/** The text an editor starts from for a value (strings bare, the rest as JSON). */
export function infoValueText(v: unknown): string {
  return typeof v === 'string' && JSON.stringify(parseInfoValue(v)) !== JSON.stringify(v)
    ? JSON.stringify(v)
    : typeof v === 'string'
      ? v
      : JSON.stringify(v);
}

/** `info` with the value at `path` replaced (objects along the way copied, never mutated). */
export function setAt(info: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return info;
  if (!rest.length) return { ...info, [head]: value };
  const child = info[head];
  const obj = child && typeof child === 'object' && !Array.isArray(child) ? (child as Record<string, unknown>) : {};
  return { ...info, [head]: setAt(obj, rest, value) };
}

/** `info` without the key at `path`. */
export function deleteAt(info: Record<string, unknown>, path: string[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined || !(head in info)) return info;
  if (!rest.length) {
    const { [head]: _gone, ...others } = info;
    return others;
  }
  const child = info[head];
  if (!child || typeof child !== 'object' || Array.isArray(child)) return info;
  return { ...info, [head]: deleteAt(child as Record<string, unknown>, rest) };
}
