#!/usr/bin/env node
// Runs the compiled CLI (npm run build).
import '../dist/cli/main.js';
