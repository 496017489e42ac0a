#!/usr/bin/env node
// The `blackroad` command as tsc builds it (dist/src/cli/main.js); the installed one is the bundle of entry.ts.

import { runMain } from './entry.js'

runMain()
