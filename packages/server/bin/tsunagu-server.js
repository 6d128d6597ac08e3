#!/usr/bin/env node
// Runs the compiled CLI (npm run build). In this repository, `npm start` builds first.
import '../dist/cli/main.js';
