export * from './containers.js';
export * from './engine-protocol.js';
export * from './errors.js';
export * from './jobs.js';
export * from './keys.js';
export * from './permissions.js';
export * from './models.js';
export * from './gear/index.js';
