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

export function sendFile(
  url: string,
  file: Blob,
  name: string,
  opts: { csrf: string; metadata?: unknown; onProgress: (fraction: number) => void; signal?: AbortSignal },
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    if (opts.metadata) form.append('metadata', JSON.stringify(opts.metadata));
    form.append('file', file, name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('X-CSRF-Token', opts.csrf);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => e.lengthComputable && opts.onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        opts.onProgress(1);
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
    xhr.onabort = () => reject(new UploadError('Cancelled.'));
    opts.signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}
