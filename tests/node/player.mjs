#!/usr/bin/env node
// Plays a job's adaptive-streaming outputs to the end in headless Chromium
// with the real players of the preview page (player/: hls.js and dash.js), and
// checks what they did.
//
//   node tests/node/player.mjs --hls URL --dash URL [--mp4 URL] [--thumbs URL] \
//        --rungs N --out DIR [--audio-tracks N] [--rate 2] [--timeout 180]
//   node tests/node/player.mjs --fixture DIR --out DIR [--no-cors]
//
// Each argument may come from the environment instead: PLAYER_HLS,
// PLAYER_DASH, PLAYER_MP4, PLAYER_THUMBS, PLAYER_RUNGS, PLAYER_OUT,
// PLAYER_AUDIO_TRACKS, PLAYER_RATE, PLAYER_TIMEOUT, PLAYER_STALL; CHROMIUM
// names the browser (default /usr/bin/chromium: playwright-core never
// downloads one). --fixture makes the
// development fixture of tests/node/player_fixture.mjs in DIR (unless it is
// there) and serves it from another origin than the page, with CORS headers
// (--no-cors: without them, which must fail).
//
// It starts player/serve.mjs, opens the page with cycle=1 (every player loads
// every rung in turn) and rate=R, waits until every player has ended, and
// asserts for HLS and DASH (and MP4 when given): no error at all from the
// player or the media element, fatal or not; ended; currentTime within 0.5 s
// of duration; as many levels as --rungs, each with a size and a bitrate;
// every level rendered; frames decoded; with --audio-tracks, that many audio
// tracks; with --thumbs, the cues parse, the sprite loads, every tile lies in
// it, and hovering over a seek bar shows a tile. It saves DIR/page.png,
// DIR/hls.png, DIR/dash.png (DIR/mp4.png) and DIR/report.json, prints one
// JSON summary line, and exits 1 with the reasons (and the browser's console)
// on any failure, including a player whose time stops moving for --stall
// seconds (30) before it ends, and --timeout (180 s) for the whole playback.
// --allow DETAILS lets through a non-fatal error with that details string
// (e.g. hls.js's bufferAppendNoProgress; see player_fixture.mjs on B-frames);
// the summary still lists it.
import { spawn } from 'node:child_process';
import { promises as fs, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { makeFixture, serveStatic } from './player_fixture.mjs';
import { CHROMIUM_FLAGS, checkPlayer, waitForPlayers } from './player_checks.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const playerDir = path.join(repo, 'player');


function usage(msg) {
  if (msg) console.error(`player.mjs: ${msg}`);
  console.error(
    'usage: node tests/node/player.mjs --hls URL --dash URL [--mp4 URL] [--thumbs URL] --rungs N --out DIR\n' +
      '                                 [--audio-tracks N] [--rate R] [--timeout S] [--stall S]\n' +
      '                                 [--allow DETAILS]... [--no-cycle] [--debug]\n' +
      '       node tests/node/player.mjs --fixture DIR --out DIR [--no-cors]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    hls: process.env.PLAYER_HLS,
    dash: process.env.PLAYER_DASH,
    mp4: process.env.PLAYER_MP4,
    thumbs: process.env.PLAYER_THUMBS,
    rungs: process.env.PLAYER_RUNGS,
    out: process.env.PLAYER_OUT,
    audioTracks: process.env.PLAYER_AUDIO_TRACKS,
    rate: process.env.PLAYER_RATE ?? '2',
    timeout: process.env.PLAYER_TIMEOUT ?? '180',
    chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
    stall: process.env.PLAYER_STALL ?? '30',
    allow: [],
    cycle: true,
    cors: true,
    fixture: null,
  };
  const flags = {
    '--hls': 'hls', '--dash': 'dash', '--mp4': 'mp4', '--thumbs': 'thumbs', '--rungs': 'rungs',
    '--out': 'out', '--audio-tracks': 'audioTracks', '--rate': 'rate', '--timeout': 'timeout',
    '--fixture': 'fixture', '--chromium': 'chromium', '--stall': 'stall',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-cycle') o.cycle = false;
    else if (a === '--debug') o.debug = true;
    else if (a === '--allow') {
      if (i + 1 >= argv.length) usage('--allow needs an error detail');
      o.allow.push(argv[++i]);
    }
    else if (a === '--no-cors') o.cors = false;
    else if (a === '-h' || a === '--help') usage();
    else if (flags[a]) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      o[flags[a]] = argv[++i];
    } else usage(`unknown argument ${a}`);
  }
  if (!o.out) usage('--out DIR is required');
  if (!o.fixture) {
    if (!o.hls || !o.dash) usage('--hls and --dash are required (or --fixture DIR)');
    if (!o.rungs) usage('--rungs N is required');
  }
  for (const k of ['rate', 'timeout', 'stall']) {
    o[k] = Number(o[k]);
    if (!(o[k] > 0)) usage(`--${k} must be a positive number`);
  }
  if (o.rungs != null) {
    o.rungs = Number(o.rungs);
    if (!Number.isInteger(o.rungs) || o.rungs < 1) usage('--rungs must be a positive integer');
  }
  if (o.audioTracks != null) o.audioTracks = Number(o.audioTracks);
  return o;
}

// Starts player/serve.mjs and resolves with its URL (its first stdout line).
function startPageServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(playerDir, 'serve.mjs'), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve.mjs printed no URL in 10 s: ${err}`)), 10000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve({ child, url: JSON.parse(out.slice(0, nl)).url });
      } catch (e) {
        reject(new Error(`serve.mjs printed ${out.slice(0, nl)}: ${e.message}`));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve.mjs exited (${code}): ${err.trim()}`));
    });
  });
}

// "-640px 0px" (the browser writes -0px as 0px) against the cue's x,y.
function samePosition(css, cue) {
  const m = /^(-?[\d.]+)px (-?[\d.]+)px$/.exec(css ?? '');
  return !!m && Number(m[1]) === -cue.x && Number(m[2]) === -cue.y;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  for (const lib of ['node_modules/hls.js/dist/hls.min.js', 'node_modules/dashjs/dist/modern/umd/dash.all.min.js']) {
    if (!existsSync(path.join(playerDir, lib))) {
      throw new Error(`player/${lib} is missing: run \`npm ci --prefix player\``);
    }
  }
  if (!existsSync(o.chromium)) throw new Error(`no Chromium at ${o.chromium} (apt-get install chromium, or CHROMIUM=/path)`);
  await fs.mkdir(o.out, { recursive: true });

  const cleanups = [];
  const failures = [];
  const consoleLines = [];
  let report = null;
  let thumbsCheck = null;
  try {
    if (o.fixture) {
      const dir = path.resolve(o.fixture);
      if (!existsSync(path.join(dir, 'abr', 'manifest.mpd'))) await makeFixture(dir);
      const { server, url } = await serveStatic(dir, { cors: o.cors });
      cleanups.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
      Object.assign(o, {
        hls: new URL('abr/master.m3u8', url).href,
        dash: new URL('abr/manifest.mpd', url).href,
        mp4: new URL('fixture.mp4', url).href,
        thumbs: new URL('sprite/thumbnails.vtt', url).href,
        rungs: o.rungs ?? 3,
        audioTracks: o.audioTracks ?? 2,
      });
    }
    const page0 = await startPageServer();
    cleanups.push(() => page0.child.kill('SIGTERM'));

    const q = new URLSearchParams();
    for (const k of ['hls', 'dash', 'mp4', 'thumbs']) if (o[k]) q.set(k, o[k]);
    if (o.cycle) q.set('cycle', '1');
    if (o.debug) q.set('debug', '1');
    q.set('rate', String(o.rate));
    const pageUrl = `${page0.url}?${q}`;

    const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'player-chromium-'));
    cleanups.push(() => rmSync(userDataDir, { recursive: true, force: true }));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: o.chromium,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1500, height: 1000 },
      timeout: 60000,
    });
    cleanups.unshift(() => context.close());
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (r) => consoleLines.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 30000 });

    const kinds = ['hls', 'dash', ...(o.mp4 ? ['mp4'] : [])];
    const waited = await waitForPlayers(page, kinds, { deadline: Date.now() + o.timeout * 1000, stall: o.stall, timeout: o.timeout });
    report = waited.report;
    const why = waited.why;
    if (why) failures.push(why);

    if (o.thumbs) {
      // Hover over the middle of the first seek bar: the preview must show
      // the tile of the cue at half the duration.
      const seek = page.locator(`#seek-${kinds[0]}`);
      const box = await seek.boundingBox();
      if (box) await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await sleep(300);
      thumbsCheck = await page.evaluate((kind) => {
        const prev = document.querySelector(`#seek-${kind} .preview`);
        const tile = prev?.querySelector('.tile');
        return {
          visible: !!prev && getComputedStyle(prev).display !== 'none' && getComputedStyle(tile).display !== 'none',
          backgroundImage: tile?.style.backgroundImage ?? null,
          backgroundPosition: tile?.style.backgroundPosition ?? null,
          shown: window.report.thumbs?.shown ?? null,
        };
      }, kinds[0]);
      report = await page.evaluate(() => JSON.parse(JSON.stringify(window.report)));
    }

    for (const k of kinds) {
      const sec = page.locator(`#player-${k}`);
      if (await sec.count()) await sec.screenshot({ path: path.join(o.out, `${k}.png`) });
    }
    await page.screenshot({ path: path.join(o.out, 'page.png'), fullPage: true });

    // ---- assertions ----
    if (!report?.ready) failures.push('the page never became ready (window.report.ready)');
    for (const e of report?.pageErrors ?? []) failures.push(`page error: ${e}`);
    for (const k of kinds) checkPlayer(k, report?.[k], o, failures);
    if (o.thumbs) {
      const t = report?.thumbs;
      if (!t) failures.push('thumbs: not loaded');
      else {
        for (const e of t.errors) failures.push(`thumbs: ${e}`);
        if (!(t.cues > 0)) failures.push('thumbs: no cues');
        const imgs = Object.entries(t.images);
        if (!imgs.length) failures.push('thumbs: no sprite image');
        for (const [u, i] of imgs) if (!i.loaded) failures.push(`thumbs: sprite ${u} did not load`);
        const d = report?.[kinds[0]]?.duration;
        const s = thumbsCheck?.shown;
        if (!thumbsCheck?.visible || !s) failures.push(`thumbs: hovering over the seek bar showed no tile (${JSON.stringify(thumbsCheck)})`);
        else if (Number.isFinite(d) && Math.abs(s.time - d / 2) > d / 20) {
          failures.push(`thumbs: hover at the middle previewed ${s.time} s, not about ${d / 2} s`);
        } else if (!samePosition(thumbsCheck.backgroundPosition, s)) {
          failures.push(`thumbs: the tile is drawn at ${thumbsCheck.backgroundPosition}, its cue says ${s.x},${s.y}`);
        }
      }
    }
  } catch (e) {
    failures.push(`harness: ${e.stack || e.message}`);
  } finally {
    for (const c of cleanups) {
      try {
        await c();
      } catch {
        // best effort
      }
    }
  }

  const seconds = Number(((Date.now() - t0) / 1000).toFixed(1));
  const players = {};
  for (const k of ['hls', 'dash', 'mp4']) {
    const s = report?.[k];
    if (!s) continue;
    players[k] = {
      library: s.library,
      levels: s.levels.map((l) => `${l.width}x${l.height}@${l.bitrate}`),
      played: s.played,
      loaded: s.loaded,
      audioTracks: s.audioTracks.map((t) => t.lang || t.name),
      errors: s.errors.length,
      allowedErrors: s.errors.filter((e) => !e.fatal && o.allow.includes(e.details)).map((e) => e.details),
      ended: s.ended,
      currentTime: s.currentTime,
      duration: s.duration,
      decodedFrames: s.decodedFrames,
      droppedFrames: s.droppedFrames,
    };
  }
  const summary = {
    ok: failures.length === 0,
    seconds,
    rate: o.rate,
    cycle: o.cycle,
    rungs: o.rungs,
    players,
    thumbs: report?.thumbs ? { cues: report.thumbs.cues, shown: report.thumbs.shown } : undefined,
    out: path.resolve(o.out),
  };
  if (failures.length) {
    summary.failures = failures;
    summary.console = consoleLines.slice(-200);
  }
  await fs.writeFile(
    path.join(o.out, 'report.json'),
    JSON.stringify({ summary, report, console: consoleLines }, null, 2),
  );
  console.log(JSON.stringify(summary));
  if (failures.length) {
    console.error(`player.mjs: FAILED (${failures.length}):\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`player.mjs: ${e.stack || e.message}`);
  process.exit(1);
});
