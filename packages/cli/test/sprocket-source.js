#!/usr/bin/env node
// `sprocket` from its TypeScript sources, for the tests (bin/sprocket.js runs the compiled build):
// tsx for the TypeScript, and a resolve hook adding the `@sprocket/source` condition so the
// workspace packages resolve to their sources too, not to a dist/ that may be stale or missing.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

const hook = `export function resolve(specifier, context, next) {
  return next(specifier, { ...context, conditions: [...context.conditions, '@sprocket/source'] });
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
registerTsx();
await import(new URL('../src/main.ts', import.meta.url).href);
