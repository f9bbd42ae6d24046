// The OSS emulator, driven by Alibaba Cloud's official Node client ali-oss
// (6.x, pinned in package.json): an independent implementation of OSS V1
// and V4 signing, bucket addressing and XML.
//
// ali-oss picks the addressing from the endpoint
// (lib/common/client/getReqUrl.js, lib/common/utils/createRequest.js):
// - an IP endpoint (http://127.0.0.1:PORT): it connects to the IP, sends the
//   key alone as the path and names the bucket in the Host header as
//   `<bucket>.oss-<region>.aliyuncs.com` (virtual-hosted style);
// - a host name endpoint (http://localhost:PORT): it connects to
//   `<bucket>.localhost:PORT`, again with the key alone as the path;
// - `sldEnable: true` (second-level domain): path style, `/<bucket>/<key>`
//   on the endpoint itself.
// It signs `/<bucket>/<key>` in all three (V1 resource, V4 canonical URI).
// Presigned URLs need a host name endpoint (signatureUrl refuses an IP).
//
// The emulator comes from OSS_EMULATOR_JSON (local-runner/tests/oss_node.rs
// starts one in-process and sets it) or, without it, from
// `cargo run -q -p local-runner --example oss-serve -- --json --stdin-lifeline`.
//
// Run: npm ci --prefix tests/node && node --test tests/node/

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const OSS = require('ali-oss');

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// --- the emulator ---------------------------------------------------------

let server = null;

async function startEmulator() {
  if (process.env.OSS_EMULATOR_JSON) {
    return JSON.parse(process.env.OSS_EMULATOR_JSON);
  }
  server = spawn(
    'cargo',
    // V1 explicitly: the V1 cases below sign V1 on purpose (ali-oss's default).
    ['run', '-q', '-p', 'local-runner', '--example', 'oss-serve', '--', '--json', '--stdin-lifeline', '--accept-v1'],
    { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = readline.createInterface({ input: server.stdout });
  const exited = new Promise((_, reject) =>
    server.once('exit', code => reject(new Error(`oss-serve exited (${code}) before printing its JSON line`))),
  );
  const [line] = await Promise.race([lines[Symbol.asyncIterator]().next().then(r => [r.value]), exited]);
  lines.close();
  return JSON.parse(line);
}

const emulatorReady = startEmulator();

after(async () => {
  agent.destroy();
  if (server) {
    // Closing stdin is the emulator's signal to stop.
    server.stdin.end();
    await new Promise(resolve => {
      const t = setTimeout(() => {
        server.kill();
        resolve();
      }, 30_000);
      server.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
});

// --- name resolution for <bucket>.localhost ---------------------------------

// With a `localhost` endpoint ali-oss connects to `<bucket>.localhost`. RFC
// 6761 (6.3) reserves every *.localhost name for loopback, and browsers and
// systemd-resolved answer them so, but glibc with a plain /etc/hosts does not
// (getaddrinfo says ENOTFOUND), and Node asks glibc. Rather than editing
// /etc/hosts, hand ali-oss an `agent` (its documented option for a custom
// http.Agent) whose `lookup` answers *.localhost with 127.0.0.1, where the
// emulator listens. Node's Agent passes its options to net.connect, so the
// lookup applies to every connection the client opens; other names go to DNS.
function loopbackLookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = {};
  }
  const name = hostname.toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) {
    if (options && options.all) {
      callback(null, [{ address: '127.0.0.1', family: 4 }]);
    } else {
      callback(null, '127.0.0.1', 4);
    }
    return;
  }
  dns.lookup(hostname, options, callback);
}

const agent = new http.Agent({ keepAlive: true, lookup: loopbackLookup });

// Plain HTTP GET of a URL whose host is `<bucket>.localhost` (fetch() has no
// lookup option): node:http with the same loopback lookup.
function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { lookup: loopbackLookup, headers }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// --- clients ----------------------------------------------------------------

const port = emu => new URL(emu.endpoint).port;

// The ways to address the emulator, each with V4 and V1 signing.
const STYLES = {
  // Host: <bucket>.oss-<region>.aliyuncs.com, connected to 127.0.0.1.
  ip: emu => ({ endpoint: emu.endpoint }),
  // Host: <bucket>.localhost:PORT.
  'virtual-hosted': emu => ({ endpoint: `http://localhost:${port(emu)}`, agent }),
  // Host: localhost:PORT, path /<bucket>/<key>.
  'path (sldEnable)': emu => ({ endpoint: `http://localhost:${port(emu)}`, sldEnable: true, agent }),
};

function client(emu, style, v4, overrides = {}) {
  return new OSS({
    ...STYLES[style](emu),
    // ali-oss takes the region as `oss-<region>` and signs V4 with `<region>`.
    region: `oss-${emu.region}`,
    accessKeyId: emu.accessKeyId,
    accessKeySecret: emu.accessKeySecret,
    bucket: emu.buckets[0],
    authorizationV4: v4,
    timeout: 30_000,
    ...overrides,
  });
}

const unique = prefix => `${prefix}/${crypto.randomUUID().slice(0, 8)}`;
const md5 = b => crypto.createHash('md5').update(b).digest('hex');

// --- tests --------------------------------------------------------------------

for (const style of Object.keys(STYLES)) {
  for (const v4 of [true, false]) {
    const sig = v4 ? 'V4' : 'V1';

    test(`${style} ${sig}: put, head, get, ranged get, list, delete`, async () => {
      const emu = await emulatorReady;
      const c = client(emu, style, v4);
      const base = unique(`node-${style.split(' ')[0]}-${sig}`);
      const names = ['plain.txt', 'with space.txt', 'ünïcødé/文件.mp4', 'plus+sign.bin', 'per%cent.bin'];
      const bodies = {};
      for (const name of names) {
        const key = `${base}/${name}`;
        const data = Buffer.concat([crypto.randomBytes(1000), Buffer.from(name)]);
        bodies[key] = data;
        const put = await c.put(key, data, { headers: { 'x-oss-meta-origin': 'node' } });
        assert.equal(put.res.status, 200);
        assert.equal(put.res.headers.etag, `"${md5(data).toUpperCase()}"`);
      }
      const key = `${base}/plain.txt`;
      const head = await c.head(key);
      assert.equal(head.status, 200);
      assert.equal(head.meta.origin, 'node');
      assert.equal(Number(head.res.headers['content-length']), bodies[key].length);

      for (const [k, data] of Object.entries(bodies)) {
        const got = await c.get(k);
        assert.equal(got.res.status, 200);
        assert.ok(got.content.equals(data), k);
      }
      const ranged = await c.get(key, { headers: { Range: 'bytes=10-19' } });
      assert.equal(ranged.res.status, 206);
      assert.equal(ranged.res.headers['content-range'], `bytes 10-19/${bodies[key].length}`);
      assert.ok(ranged.content.equals(bodies[key].subarray(10, 20)));

      const listed = await c.list({ prefix: `${base}/`, 'max-keys': 100 });
      assert.deepEqual(listed.objects.map(o => o.name).sort(), Object.keys(bodies).sort());
      const paged = await c.listV2({ prefix: `${base}/`, delimiter: '/', 'max-keys': 2 });
      assert.equal(paged.isTruncated, true);
      assert.equal(paged.keyCount, 2);
      const rest = await c.listV2({
        prefix: `${base}/`,
        delimiter: '/',
        'max-keys': 100,
        'continuation-token': paged.nextContinuationToken,
      });
      const seen = [...paged.objects, ...(rest.objects || [])].map(o => o.name);
      seen.push(...(paged.prefixes || []), ...(rest.prefixes || []));
      assert.deepEqual(
        seen.sort(),
        names
          .map(n => (n.includes('/') ? `${base}/${n.split('/')[0]}/` : `${base}/${n}`))
          .sort(),
      );

      const del = await c.delete(key);
      assert.equal(del.res.status, 204);
      await assert.rejects(c.get(key), e => e.status === 404 && e.code === 'NoSuchKey');
    });

    test(`${style} ${sig}: multipartUpload`, async () => {
      const emu = await emulatorReady;
      const c = client(emu, style, v4);
      const key = `${unique(`node-mp-${sig}`)}/big.bin`;
      // Three parts: two of the 100 KiB minimum and a short last one.
      const data = crypto.randomBytes(250 * 1024);
      const progress = [];
      const res = await c.multipartUpload(key, data, {
        partSize: 100 * 1024,
        parallel: 2,
        progress: p => progress.push(p),
        mime: 'application/octet-stream',
      });
      assert.equal(res.res.status, 200);
      assert.equal(progress.at(-1), 1);
      const head = await c.head(key);
      assert.match(head.res.headers.etag, /-3"$/);
      assert.equal(head.res.headers['x-oss-object-type'], 'Multipart');
      const got = await c.get(key);
      assert.ok(got.content.equals(data));
    });
  }
}

test('presigned URLs (V1 signatureUrl, V4 signatureUrlV4) fetched with plain HTTP', async () => {
  const emu = await emulatorReady;
  const key = `${unique('node-presign')}/clip name+ü.bin`;
  const data = crypto.randomBytes(4096);
  await client(emu, 'ip', true).put(key, data);

  // Path style: fetch() reaches localhost on its own.
  for (const v4 of [true, false]) {
    const c = client(emu, 'path (sldEnable)', v4);
    const url = v4 ? await c.signatureUrlV4('GET', 600, undefined, key) : c.signatureUrl(key, { expires: 600 });
    assert.ok(url.startsWith(`http://localhost:${port(emu)}/${emu.buckets[0]}/`), url);
    const res = await fetch(url);
    assert.equal(res.status, 200, url);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    const ranged = await fetch(url, { headers: { Range: 'bytes=0-99' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(0, 100)));
    // Someone else's key in the same URL.
    const other = new URL(url);
    other.pathname = other.pathname.replace(/[^/]+$/, 'other.bin');
    assert.equal((await fetch(other)).status, 403);
  }

  // Virtual-hosted: http://<bucket>.localhost:PORT/<key>?...
  for (const v4 of [true, false]) {
    const c = client(emu, 'virtual-hosted', v4);
    const url = v4 ? await c.signatureUrlV4('GET', 600, undefined, key) : c.signatureUrl(key, { expires: 600 });
    assert.ok(url.startsWith(`http://${emu.buckets[0]}.localhost:${port(emu)}/`), url);
    const res = await httpGet(url);
    assert.equal(res.status, 200, url);
    assert.ok(res.body.equals(data));
    const tampered = new URL(url);
    const name = v4 ? 'x-oss-signature' : 'Signature';
    const sigValue = tampered.searchParams.get(name);
    tampered.searchParams.set(name, (sigValue[0] === 'a' ? 'b' : 'a') + sigValue.slice(1));
    const refused = await httpGet(tampered.toString());
    assert.equal(refused.status, 403);
    assert.match(refused.body.toString(), /SignatureDoesNotMatch/);
  }

  // A presigned PUT (V4): upload with plain fetch.
  const c = client(emu, 'path (sldEnable)', true);
  const putKey = `${unique('node-presign')}/put.bin`;
  const putUrl = await c.signatureUrlV4('PUT', 600, undefined, putKey);
  const put = await fetch(putUrl, { method: 'PUT', body: data });
  assert.equal(put.status, 200);
  assert.ok((await c.get(putKey)).content.equals(data));
});

test('a wrong secret is refused with 403 SignatureDoesNotMatch (V4 and V1)', async () => {
  const emu = await emulatorReady;
  for (const style of Object.keys(STYLES)) {
    for (const v4 of [true, false]) {
      const c = client(emu, style, v4, { accessKeySecret: `${emu.accessKeySecret}x` });
      await assert.rejects(
        c.put(`${unique('node-wrong')}/x.txt`, Buffer.from('x')),
        e => e.status === 403 && e.code === 'SignatureDoesNotMatch',
        `${style} ${v4 ? 'V4' : 'V1'}`,
      );
      await assert.rejects(
        c.list({ prefix: 'node' }),
        e => e.status === 403 && e.code === 'SignatureDoesNotMatch',
      );
    }
  }
  const unknown = client(emu, 'ip', true, { accessKeyId: 'LTAInobodyknowsthisid' });
  await assert.rejects(unknown.list({}), e => e.status === 403 && e.code === 'InvalidAccessKeyId');
});

test('temporary credentials (stsToken) sign V4 and V1', async t => {
  const emu = await emulatorReady;
  if (!emu.temporary) {
    t.skip('the emulator description has no temporary credentials');
    return;
  }
  const { accessKeyId, accessKeySecret, securityToken } = emu.temporary;
  for (const v4 of [true, false]) {
    const c = client(emu, 'virtual-hosted', v4, {
      accessKeyId,
      accessKeySecret,
      stsToken: securityToken,
      // The same credentials again: ali-oss warns about an stsToken without a refresher.
      refreshSTSToken: async () => ({ accessKeyId, accessKeySecret, stsToken: securityToken }),
    });
    const key = `${unique('node-sts')}/t.txt`;
    await c.put(key, Buffer.from('temporary'));
    assert.equal((await c.get(key)).content.toString(), 'temporary');
    const url = v4 ? await c.signatureUrlV4('GET', 600, undefined, key) : c.signatureUrl(key, { expires: 600 });
    assert.equal((await httpGet(url)).status, 200);
    const noToken = client(emu, 'virtual-hosted', v4, { accessKeyId, accessKeySecret });
    await assert.rejects(noToken.get(key), e => e.status === 403 && e.code === 'InvalidSecurityToken');
  }
});
