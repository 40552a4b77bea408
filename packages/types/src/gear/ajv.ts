import type { Ajv as AjvClass, Options } from 'ajv';

/**
 * Ajv, loaded on first use. Every process that imports `@sprocket/types` (each CLI command, each SDK
 * script) would otherwise pay for loading Ajv at start (~0.1 s measured), while only the server and
 * the CLI's gear commands validate manifests. Loaded through the Node builtin looked up at run time,
 * not a static `node:` import, so this package stays importable where there is no Node.
 */
let AjvCtor: typeof AjvClass | undefined;

export function newAjv(options: Options): AjvClass {
  if (!AjvCtor) {
    const nodeModule = globalThis.process?.getBuiltinModule?.('node:module');
    if (!nodeModule) throw new Error('gear manifest validation needs Node.js (Ajv is loaded on demand through node:module)');
    AjvCtor = (nodeModule.createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvClass }).Ajv;
  }
  return new AjvCtor(options);
}

/** A value made on first use: the validators below are compiled only when something validates. */
export function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
}
