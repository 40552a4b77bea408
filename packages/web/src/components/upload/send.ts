import { api } from '../../api/client.js';
import type { SessionInfo } from '../../api/types.js';

/**
 * One multipart upload with progress. fetch() reports no upload progress, so this one request
 * goes through XMLHttpRequest; it carries the session's CSRF token, asked of the server once per
 * batch (the client layer keeps its copy in memory and out of reach, by design).
 */
export async function csrfToken(): Promise<string> {
  return (await api.get<SessionInfo>('/auth/session')).csrf_token;
}

export class UploadError extends Error {}

/** The upload was cancelled (its AbortSignal fired): not an error to show, a state. */
export class UploadCancelled extends Error {
  constructor() {
    super('Cancelled.');
  }
}

/** Bytes of the file itself sent so far (the multipart framing around it left out), and its size. */
export type Progress = (sent: number, size: number) => void;

export function sendFile(
  url: string,
  file: Blob,
  name: string,
  opts: { csrf: string; metadata?: unknown; onProgress: Progress; signal?: AbortSignal },
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new UploadCancelled());
      return;
    }
    const form = new FormData();
    if (opts.metadata) form.append('metadata', JSON.stringify(opts.metadata));
    form.append('file', file, name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('X-CSRF-Token', opts.csrf);
    xhr.setRequestHeader('Accept', 'application/json');
    // The framing (part headers, the metadata part) goes before the file: what is past it is the file's.
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) opts.onProgress(Math.max(0, Math.min(file.size, e.loaded - (e.total - file.size))), file.size);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        opts.onProgress(file.size, file.size);
        resolve(xhr.response ? JSON.parse(xhr.responseText) : undefined);
        return;
      }
      let message = `the server answered ${xhr.status} ${xhr.statusText}`;
      try {
        message = (JSON.parse(xhr.responseText) as { message?: string }).message ?? message;
      } catch {
        // Not JSON: the status says it.
      }
      reject(new UploadError(message.charAt(0).toUpperCase() + message.slice(1)));
    };
    xhr.onerror = () => reject(new UploadError('The server cannot be reached; the upload did not finish.'));
    xhr.onabort = () => reject(new UploadCancelled());
    // Aborting closes the connection before the body is complete: the server drops the partial
    // upload and stores nothing (it commits a file only after the whole body arrived).
    opts.signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}
