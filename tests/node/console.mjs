#!/usr/bin/env node
// Drives the console of `local-runner up` in headless Chromium as a user
// would: drops a clip on the upload control, waits for its execution to
// succeed in the executions list, opens it, and checks the timeline and the
// players.
//
//   node tests/node/console.mjs --url CONSOLE_URL --clip FILE --pieces N --rungs N --out DIR
//        [--secret S] [--rate 2] [--timeout 240]
//
// Asserts: the upload went by a signed form (the page never saw --secret in
// any answer from the console, nor sent it anywhere); the execution appears
// and succeeds; the timeline has Split, one Transcode per piece (0..N-1) and
// the audio task, Merge and AfterProcess, each succeeded on a named FC
// instance; a step's log opens with its FC framing; the preview page in the
// console plays the MP4, HLS and DASH outputs to the end with no error, every
// rendition rendered (player_checks.mjs, as for player.mjs); the GIF, the
// thumbnail and the sprite's seek previews load; the manifest is shown.
// Screenshots and report.json go to DIR; one JSON summary line is printed;
// the exit status is 1 with the reasons on any failure.
import { promises as fs, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_FLAGS, checkPlayer, waitForPlayers } from './player_checks.mjs';

function usage(msg) {
  if (msg) console.error(`console.mjs: ${msg}`);
  console.error('usage: node tests/node/console.mjs --url URL --clip FILE --pieces N --rungs N --out DIR [--secret S] [--rate R] [--timeout S]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { rate: '2', timeout: '240', cycle: '1', chromium: process.env.CHROMIUM ?? '/usr/bin/chromium' };
  const flags = {
    '--url': 'url', '--clip': 'clip', '--pieces': 'pieces', '--rungs': 'rungs', '--out': 'out',
    '--secret': 'secret', '--rate': 'rate', '--timeout': 'timeout', '--chromium': 'chromium', '--cycle': 'cycle',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = flags[argv[i]];
    if (!k) usage(`unknown argument ${argv[i]}`);
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    o[k] = argv[++i];
  }
  for (const k of ['url', 'clip', 'pieces', 'rungs', 'out']) if (!o[k]) usage(`--${k} is required`);
  for (const k of ['pieces', 'rungs', 'rate', 'timeout']) {
    o[k] = Number(o[k]);
    if (!(o[k] > 0)) usage(`--${k} must be a positive number`);
  }
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(o.chromium)) throw new Error(`no Chromium at ${o.chromium} (apt-get install chromium, or CHROMIUM=/path)`);
  await fs.mkdir(o.out, { recursive: true });
  const t0 = Date.now();
  const deadline = t0 + o.timeout * 1000;
  const failures = [];
  const consoleLines = [];
  const leaks = [];
  const shot = (p, name) => p.screenshot({ path: path.join(o.out, name) }).catch(() => {});
  let report = null;
  let detail = null;
  let steps = [];
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'console-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: o.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1400, height: 1000 },
    timeout: 60000,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (r) => consoleLines.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText ?? ''}`));
    if (o.secret) {
      // Nothing the page sends or gets from the console may hold the secret.
      page.on('request', (r) => {
        if ((r.url() + (r.postData() ?? '')).includes(o.secret)) leaks.push(`request ${r.url()}`);
      });
      page.on('response', async (r) => {
        if (!r.url().startsWith(o.url) || r.url().includes('/files/') || r.url().includes('/player/')) return;
        const body = await r.text().catch(() => '');
        if (body.includes(o.secret)) leaks.push(`response ${r.url()}`);
      });
    }
    const q = new URLSearchParams({ rate: String(o.rate), cycle: o.cycle });
    await page.goto(`${o.url}?${q}`, { waitUntil: 'load', timeout: 30000 });
    await page.waitForSelector('#system:not(:empty)', { timeout: 10000 });

    // Drop the clip on the upload control, as a file dragged from the desktop.
    const bytes = (await fs.readFile(o.clip)).toString('base64');
    const name = path.basename(o.clip);
    await page.evaluate(({ bytes, name }) => {
      const raw = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([raw], name, { type: 'video/mp4' }));
      const drop = document.getElementById('drop');
      drop.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      drop.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, { bytes, name });

    // The upload, then its execution, then success.
    let execution = null;
    for (;;) {
      const st = await page.evaluate(() => JSON.parse(JSON.stringify(window.consoleState)));
      const u = st.uploads[0];
      if (u?.state === 'failed') throw new Error(`the upload failed: ${u.error}`);
      if (u?.state === 'started') {
        execution = u.execution;
        break;
      }
      if (Date.now() > deadline) throw new Error(`no execution for the upload (${JSON.stringify(u)})`);
      await sleep(250);
    }
    await shot(page, 'running.png');
    const row = page.locator(`#executions tr[data-name="${execution}"]`);
    for (;;) {
      const status = await row.getAttribute('data-status');
      if (status === 'Succeeded') break;
      if (status === 'Failed') throw new Error(`execution ${execution} failed: ${await row.innerText()}`);
      if (Date.now() > deadline) throw new Error(`execution ${execution} still ${status}`);
      await sleep(500);
    }
    await row.click();
    await page.waitForFunction((n) => {
      const d = window.consoleState.selected;
      return d && d.summary.name === n && d.summary.status === 'Succeeded' && d.manifest;
    }, execution, { timeout: 30000 });
    await page.waitForSelector('#outputs:not([hidden])', { timeout: 10000 });
    await shot(page, 'executions.png');
    detail = await page.evaluate(() => JSON.parse(JSON.stringify(window.consoleState.selected)));

    // ---- the timeline ----
    steps = await page.$$eval('#timeline .step', (rows) => rows.map((r) => ({ ...r.dataset })));
    const find = (pred) => steps.filter(pred);
    const need = (what, pred) => {
      const got = find(pred);
      if (!got.length) return failures.push(`timeline: no ${what} (${JSON.stringify(steps)})`);
      for (const s of got) {
        if (s.status !== 'Succeeded') failures.push(`timeline: ${what} is ${s.status}`);
        if (!s.instance) failures.push(`timeline: ${what} names no FC instance`);
      }
    };
    need('Split', (s) => s.name === 'Split');
    for (let i = 0; i < o.pieces; i++) need(`Transcode piece ${i}`, (s) => s.name === 'Transcode' && s.item === `piece ${i}`);
    const extra = find((s) => s.item.startsWith('piece ') && Number(s.item.slice(6)) >= o.pieces);
    if (extra.length) failures.push(`timeline: more pieces than ${o.pieces}: ${JSON.stringify(extra)}`);
    need('the audio task', (s) => s.name === 'Transcode' && s.item.startsWith('audio'));
    need('Merge', (s) => s.name === 'Merge');
    need('AfterProcess', (s) => s.name === 'AfterProcess');
    if (detail.pieces !== o.pieces) failures.push(`the console says ${detail.pieces} pieces, expected ${o.pieces}`);
    // A piece's call: input, output and its log, framed by FC's lines.
    const piece = page.locator('#timeline .step[data-item="piece 0"]');
    await piece.click();
    await page.waitForFunction(() => !/^…$/.test(document.getElementById('step-log').textContent), null, { timeout: 10000 });
    const info = await page.evaluate(() => ({
      title: document.getElementById('step-title').textContent,
      input: document.getElementById('step-input').textContent,
      output: document.getElementById('step-output').textContent,
      log: document.getElementById('step-log').textContent,
    }));
    if (!/FC Invoke Start RequestId: \S+/.test(info.log) || !/FC Invoke End RequestId/.test(info.log)) {
      failures.push(`the piece's log lacks FC's framing: ${info.log.slice(0, 500)}`);
    }
    if (!info.input.includes('"index": 0') || !info.output.includes('"frames"')) {
      failures.push(`the piece's input/output are not shown: ${JSON.stringify(info).slice(0, 500)}`);
    }
    await page.locator('#detail').screenshot({ path: path.join(o.out, 'timeline.png') }).catch(() => {});

    // ---- the players, in the console's frame ----
    const frameEl = page.locator('#player-frame');
    await frameEl.scrollIntoViewIfNeeded();
    const frame = page.frames().find((f) => f.url().includes('/player/index.html'));
    if (!frame) throw new Error('the console shows no player frame');
    const kinds = ['mp4', 'hls', 'dash'];
    const waited = await waitForPlayers(frame, kinds, { deadline, stall: 30, timeout: o.timeout });
    report = waited.report;
    if (waited.why) failures.push(waited.why);
    for (const e of report?.pageErrors ?? []) failures.push(`player page error: ${e}`);
    for (const k of kinds) checkPlayer(k, report?.[k], { rungs: o.rungs, allow: [], cycle: o.cycle === '1' }, failures);
    const t = report?.thumbs;
    if (!t || !(t.cues > 0) || Object.values(t.images).some((i) => !i.loaded)) {
      failures.push(`the sprite's seek previews did not load: ${JSON.stringify(t)}`);
    }
    const images = await page.evaluate(() => ['gif', 'jpg'].map((id) => {
      const img = document.getElementById(id);
      return { id, src: img.getAttribute('src'), width: img.naturalWidth, shown: !img.closest('figure').hidden };
    }));
    for (const i of images) if (!(i.shown && i.width > 0)) failures.push(`the ${i.id} did not load: ${JSON.stringify(i)}`);
    const manifest = await page.locator('#manifest').textContent();
    if (!manifest.includes(`"jobId": "${execution}"`)) failures.push('the manifest is not shown');
    await frameEl.screenshot({ path: path.join(o.out, 'players.png') }).catch(() => {});
    await page.screenshot({ path: path.join(o.out, 'page.png'), fullPage: true });
    const st = await page.evaluate(() => window.consoleState.pageErrors);
    for (const e of st) failures.push(`console page error: ${e}`);
  } catch (e) {
    failures.push(`harness: ${e.stack || e.message}`);
  } finally {
    await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
  for (const l of leaks) failures.push(`the secret key went over the wire: ${l}`);

  const summary = {
    ok: failures.length === 0,
    seconds: Number(((Date.now() - t0) / 1000).toFixed(1)),
    execution: detail?.summary?.name,
    durationSeconds: detail?.summary?.durationSeconds,
    cost: detail?.summary?.cost,
    timeline: steps.map((s) => `${s.name}${s.item ? ` ${s.item}` : ''}@${s.instance}`),
    players: Object.fromEntries(['mp4', 'hls', 'dash'].filter((k) => report?.[k]).map((k) => [k, {
      ended: report[k].ended, currentTime: report[k].currentTime, duration: report[k].duration,
      levels: report[k].levels.length, played: report[k].played, errors: report[k].errors.length,
    }])),
    out: path.resolve(o.out),
  };
  if (failures.length) {
    summary.failures = failures;
    summary.console = consoleLines.slice(-100);
  }
  await fs.writeFile(path.join(o.out, 'report.json'), JSON.stringify({ summary, detail, report, console: consoleLines }, null, 2));
  console.log(JSON.stringify(summary));
  if (failures.length) {
    console.error(`console.mjs: FAILED (${failures.length}):\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`console.mjs: ${e.stack || e.message}`);
  process.exit(1);
});
