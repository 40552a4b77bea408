// The gear spec in one place: server, engine, CLI and SDK import it from `@sprocket/types`.
export * from './filetypes.js';
export * from './invocation.js';
export * from './json.js';
export * from './layout.js';
export * from './manifest.js';
export * from './resources.js';
export * from './schema-compat.js';
