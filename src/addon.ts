// Where the native engine is built, and its addon loaded on first use. No protocol and no
// process here (src/engine/ has those): the syscall table (src/inject/syscalls.ts) needs only this.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReplaybookError } from './errors';
import type { NativeAddon } from './engine/native';

export const PACKAGE_ROOT = path.resolve(__dirname, '..');
const BUILD_DIR = path.join(PACKAGE_ROOT, 'native', 'build', 'Release');
export const ENGINE_PATH = path.join(BUILD_DIR, 'replaybook-engine');

/** The engine could not run (not built, crashed, interrupted). */
export class EngineError extends ReplaybookError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'EngineError';
  }
}

let addon: NativeAddon | undefined;

/** The native addon, loaded on first use with a message that says how to build it. */
export function nativeAddon(): NativeAddon {
  if (!addon) {
    const file = path.join(BUILD_DIR, 'replaybook.node');
    if (!fs.existsSync(file) || !fs.existsSync(ENGINE_PATH)) {
      throw new EngineError(
        'not_built',
        `the native engine is not built (${file} is missing): run \`npm install\` (or \`npm run build\`) in ${PACKAGE_ROOT}`,
      );
    }
    addon = require(file) as NativeAddon;
  }
  return addon;
}
