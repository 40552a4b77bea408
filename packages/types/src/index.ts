export * from './containers.js';
export * from './errors.js';
export * from './jobs.js';
export * from './permissions.js';
