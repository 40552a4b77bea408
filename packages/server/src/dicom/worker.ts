import { parentPort, workerData } from 'node:worker_threads';
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits, extractFile } from './extract.js';
import { DicomError } from './header.js';

/** Worker-thread entry: extracts headers one file at a time so parsing never blocks the API. */
export interface ExtractRequest {
  id: number;
  file: string;
}

export type ExtractReply = { id: number; ok: true; result: ReturnType<typeof extractFile> } | { id: number; ok: false; error: string };

const port = parentPort;
const limits: ExtractLimits = (workerData as { limits?: ExtractLimits } | null)?.limits ?? DEFAULT_EXTRACT_LIMITS;
if (port) {
  port.on('message', (msg: ExtractRequest) => {
    let reply: ExtractReply;
    try {
      reply = { id: msg.id, ok: true, result: extractFile(msg.file, limits) };
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      reply = { id: msg.id, ok: false, error: err instanceof DicomError ? text : `header extraction failed: ${text}` };
    }
    port.postMessage(reply);
  });
}
