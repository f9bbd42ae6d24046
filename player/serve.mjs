#!/usr/bin/env node
// Serves the preview page: index.html, player.js and the two pinned players
// from player/node_modules (hls.js and dash.js), nothing else. No
// dependencies; binds 127.0.0.1 only.
//
//   npm ci --prefix player && node player/serve.mjs [--port 0]
//
// prints one JSON line {"url":"http://127.0.0.1:PORT/"} on stdout once it
// listens; open <url>?hls=<master.m3u8 URL>&dash=<manifest.mpd URL>
// [&mp4=<URL>][&thumbs=<thumbnails.vtt URL>].
import { createServer } from 'node:http';
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// What the page is made of: these files, and the two libraries' dist/ trees
// (the .min.js files and their source maps).
const FILES = new Map([
  ['/', 'index.html'],
  ['/index.html', 'index.html'],
  ['/player.js', 'player.js'],
]);
const TREES = ['node_modules/hls.js/dist/', 'node_modules/dashjs/dist/'];
export const LIBRARIES = {
  hls: 'node_modules/hls.js/dist/hls.min.js',
  dash: 'node_modules/dashjs/dist/modern/umd/dash.all.min.js',
};

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export const FORBIDDEN = Symbol('forbidden');

// The file a (decoded) request path names; FORBIDDEN for a path that tries
// to climb out (a `..` or `.` segment, a backslash, a NUL), null when it
// names nothing the page serves.
export function resolveRequest(pathname) {
  if (FILES.has(pathname)) return path.join(here, FILES.get(pathname));
  if (pathname.includes('\\') || pathname.includes('\0')) return FORBIDDEN;
  if (pathname.split('/').some((s) => s === '..' || s === '.')) return FORBIDDEN;
  const rel = pathname.replace(/^\/+/, '');
  for (const tree of TREES) {
    if (!rel.startsWith(tree)) continue;
    const root = path.join(here, tree);
    const file = path.resolve(here, rel);
    if (file.startsWith(root) && file.length > root.length) return file;
  }
  return null;
}

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  });
  res.end(body);
}

export function createPlayerServer() {
  return createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'only GET and HEAD\n');
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    } catch {
      return send(res, 400, 'bad request path\n');
    }
    const file = resolveRequest(pathname);
    if (file === FORBIDDEN) return send(res, 403, 'forbidden path\n');
    if (!file) return send(res, 404, 'not found\n');
    let body;
    try {
      body = await fs.readFile(file);
    } catch {
      if (TREES.some((t) => pathname.startsWith('/' + t))) {
        return send(res, 404, `not found: ${pathname} (run \`npm ci --prefix player\`)\n`);
      }
      return send(res, 404, 'not found\n');
    }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const argv = process.argv.slice(2);
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i].startsWith('--port=')) port = Number(argv[i].slice(7));
    else {
      console.error(`serve.mjs: unknown argument ${argv[i]}; usage: node serve.mjs [--port N]`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('serve.mjs: --port takes 0..65535 (0: a free port)');
    process.exit(2);
  }
  for (const lib of Object.values(LIBRARIES)) {
    if (!existsSync(path.join(here, lib))) {
      console.error(`serve.mjs: ${lib} is missing: run \`npm ci --prefix player\` first`);
      process.exit(1);
    }
  }
  const server = createPlayerServer();
  server.on('error', (e) => {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}/` }));
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
