// Apart from extract.ts so the pool (main thread) reads the defaults without loading the parser and
// the DICOM dictionary, which only the extraction workers need.

/** Bounds on one file's header extraction (settings SPROCKET_DICOM_*). */
export interface ExtractLimits {
  /** Bytes inflated in all (zip members, gzip) before extraction stops. */
  maxInflatedBytes: number;
  /** Zip members; a zip with more is not read. */
  maxMembers: number;
  /** Seconds of work before extraction stops (checked between zip members). */
  timeoutSeconds: number;
}

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = { maxInflatedBytes: 1 << 30, maxMembers: 100_000, timeoutSeconds: 60 };
