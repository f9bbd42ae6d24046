// player/serve.mjs: what it serves, with which content types, and what it
// refuses. Needs `npm ci --prefix player` (the server will not start without
// the two libraries). Run: node --test player/test/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const serve = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'serve.mjs');
let child;
let base;

before(async () => {
  child = spawn(process.execPath, [serve, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  base = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(JSON.parse(String(d).split('\n')[0]).url));
    child.once('exit', (code) => reject(new Error(`serve.mjs exited ${code}: ${err}`)));
  });
});

after(() => child?.kill('SIGTERM'));

// A raw request: the path goes out as written (no client-side normalizing).
function get(rawPath, method = 'GET') {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('prints its URL on 127.0.0.1', () => {
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
});

test('serves the page, its script and the two libraries with their types', async () => {
  for (const [p, type] of [
    ['/', 'text/html; charset=utf-8'],
    ['/index.html', 'text/html; charset=utf-8'],
    ['/player.js', 'text/javascript; charset=utf-8'],
    ['/node_modules/hls.js/dist/hls.min.js', 'text/javascript; charset=utf-8'],
    ['/node_modules/dashjs/dist/modern/umd/dash.all.min.js', 'text/javascript; charset=utf-8'],
    ['/node_modules/hls.js/dist/hls.min.js.map', 'application/json; charset=utf-8'],
  ]) {
    const r = await get(p);
    assert.equal(r.status, 200, p);
    assert.equal(r.type, type, p);
    assert.ok(r.body.length > 0, p);
  }
  const page = await get('/');
  for (const src of ['node_modules/hls.js/dist/hls.min.js', 'node_modules/dashjs/dist/modern/umd/dash.all.min.js', 'player.js']) {
    assert.ok(page.body.includes(`src="${src}"`), `index.html loads ${src}`);
  }
  assert.ok(!/https?:\/\//.test(page.body.replace(/<code>[^]*?<\/code>/g, '')), 'index.html loads nothing from another host');
});

test('serves nothing else: no server source, no package files, no other modules', async () => {
  for (const p of ['/serve.mjs', '/package.json', '/package-lock.json', '/node_modules/hls.js/package.json',
    '/node_modules/sax/package.json', '/node_modules/dashjs/dist/', '/test/serve.test.mjs']) {
    assert.equal((await get(p)).status, 404, p);
  }
});

test('refuses path traversal', async () => {
  for (const p of [
    '/node_modules/hls.js/dist/../package.json',
    '/node_modules/hls.js/dist/../../../serve.mjs',
    '/node_modules/hls.js/dist/..%2fpackage.json',
    '/node_modules/hls.js/dist/%2e%2e%2f%2e%2e%2fdashjs/package.json',
    '/node_modules/hls.js/dist/..%5c..%5cpackage.json',
    '/node_modules/hls.js/dist/%00',
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
  ]) {
    const r = await get(p);
    assert.ok(r.status === 403 || r.status === 404, `${p}: ${r.status}`);
    assert.ok(!r.body.includes('"name"') && !r.body.includes('root:'), p);
  }
  assert.equal((await get('/node_modules/hls.js/dist/..%2fpackage.json')).status, 403);
});

test('only GET and HEAD', async () => {
  assert.equal((await get('/', 'POST')).status, 405);
  const head = await get('/player.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});
