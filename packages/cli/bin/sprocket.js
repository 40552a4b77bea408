#!/usr/bin/env node
// The compiled CLI (`npm run build`, or an installed package). In the checkout without a build,
// `npm run sprocket -- <command>` runs the sources through tsx instead.
import '../dist/main.js';
