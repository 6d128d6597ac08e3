#!/usr/bin/env node
// Entry point of `tsunagu-server` (bin/tsunagu-server.js imports the compiled form of this file).
import { run } from './program.js';

process.exitCode = await run(process.argv);
