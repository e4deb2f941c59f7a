#!/usr/bin/env node
'use strict';
// Builds the native engine and addon with node-gyp. When this Node's own headers are installed
// next to it (Debian's nodejs, the official tarballs: <prefix>/include/node), build against them
// instead of downloading a headers tarball, which fails on a machine without internet access.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const prefix = path.resolve(path.dirname(process.execPath), '..');
const args = ['rebuild', '--directory=native'];
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// The in-process recording code (record --fast) is embedded in the engine: build it first.
const blob = spawnSync(process.execPath, [path.join(__dirname, 'build-blob.js')], { stdio: 'inherit' });
if (blob.status !== 0) process.exit(blob.status ?? 1);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
if (r.status !== 0) process.exit(r.status ?? 1);
// The TypeScript view of the syscall table follows the table just built.
const g = spawnSync(process.execPath, [path.join(__dirname, 'gen-syscall-table.js')], { stdio: 'inherit' });
process.exit(g.status ?? 1);
