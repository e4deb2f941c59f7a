// The package's public surface, as an installed copy resolves it (through package.json's
// `exports`, from the built dist/): what README.md imports from 'replaybook' is there, the
// notebook API is 'replaybook/notebook', and wire internals are not reachable.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
// A require from inside the package: Node resolves the package's own name through its exports.
const load = createRequire(path.join(root, 'package.json'));

describe("the package's exports", () => {
  it("has every name README.md imports from 'replaybook'", () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const names = [...readme.matchAll(/import \{([^}]*)\} from 'replaybook';/g)].flatMap((m) => m[1].split(',').map((n) => n.trim()));
    expect(names).toContain('verifyFix');
    const api = load('replaybook') as Record<string, unknown>;
    for (const n of names) expect(api[n], n).toBeDefined();
    for (const n of ['openServerStore', 'copyIncident', 'StoreError', 'exportNotebook', 'timeout', 'latency', 'fail', 'delay']) expect(api[n], n).toBeDefined();
  });

  it('keeps wire internals out', () => {
    const api = load('replaybook') as Record<string, unknown>;
    for (const n of ['toEngineConfig', 'rewriteConfig', 'whenHits', 'loadIncident', 'longestCall', 'applyToCommand', 'writtenTo', 'errnoByName']) {
      expect(api[n], n).toBeUndefined();
    }
    expect(() => load('replaybook/dist/inject/serialize')).toThrow(/is not defined by "exports"/);
  });

  it("serves the notebook API the kernel preloads as 'replaybook/notebook'", () => {
    const notebook = load('replaybook/notebook') as { GLOBAL_NAMES: readonly string[] } & Record<string, unknown>;
    expect(notebook.GLOBAL_NAMES).toContain('replay');
    for (const n of notebook.GLOBAL_NAMES) expect(notebook[n], n).toBeDefined();
  });
});
