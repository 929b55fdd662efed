#!/usr/bin/env node
// The `subtomo` executable (package.json "bin", so `npx subtomo …` works from the repo): the sources are
// TypeScript run through tsx's loader, as every script of the project is; nothing is compiled.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
