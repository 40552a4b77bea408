import { SdkError } from './errors.js';

/** One form field: text, or a file whose bytes come from `source` as the body is sent. */
export type MultipartPart =
  | { name: string; value: string }
  | { name: string; filename: string; contentType?: string; source: () => AsyncIterable<Uint8Array> | Uint8Array };

export function newBoundary(): string {
  // Web Crypto, not node:crypto: the transport that sends multipart bodies also runs in browsers.
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return `----sprocket-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Quotes a Content-Disposition parameter: quotes and backslashes become quoted-pairs; line breaks
 * cannot be carried at all (and no file may be named with one).
 */
function quoted(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new SdkError(`${JSON.stringify(value)}: names cannot contain line breaks or NUL`);
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The multipart body as a byte stream; file contents are pulled from their sources lazily. */
export async function* multipartBody(boundary: string, parts: MultipartPart[]): AsyncGenerator<Uint8Array> {
  const enc = new TextEncoder();
  for (const part of parts) {
    if ('value' in part) {
      yield enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.name)}\r\n\r\n${part.value}\r\n`);
      continue;
    }
    yield enc.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.name)}; filename=${quoted(part.filename)}\r\n` +
        `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
    );
    const src = part.source();
    if (src instanceof Uint8Array) yield src;
    else for await (const chunk of src) yield chunk;
    yield enc.encode('\r\n');
  }
  yield enc.encode(`--${boundary}--\r\n`);
}
