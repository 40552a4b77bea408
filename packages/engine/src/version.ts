/** Reported in each job's profile, so a result can be traced to the engine that produced it. */
export const ENGINE_VERSION = '0.1.0';
