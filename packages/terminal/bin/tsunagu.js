#!/usr/bin/env node
// Runs the compiled CLI (npm run build). Called explicitly: through npm's bin link (node_modules/.bin/
// tsunagu, a symlink) the script path is not this file, so the CLI could not recognise it was run.
import { run } from '../dist/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
