import { type SeriesPlan as Plan, type PlanOptions, planSeries as plan } from '@sprocket/types';
import type { DicomInfo } from '../dicom/scan.js';

// The sorting lives in @sprocket/types, shared with the web UI's drag-and-drop upload.
export { fileSafe, type PlanOptions, pathSafe } from '@sprocket/types';

/** One series of files on disk as it will land. */
export type SeriesPlan = Plan<DicomInfo>;

export function planSeries(infos: DicomInfo[], opts: PlanOptions = {}): SeriesPlan[] {
  return plan(infos, opts);
}
