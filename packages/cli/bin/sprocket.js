#!/usr/bin/env node
// The CLI is TypeScript run through tsx, in this same process: register the loader, then load main.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/main.ts', import.meta.url).href);
