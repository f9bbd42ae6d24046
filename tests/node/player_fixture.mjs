// A development fixture for the player page (player/) and its harness
// (tests/node/player.mjs), made with plain ffmpeg, and a static server that
// serves it from another origin than the page, as the OSS bucket does.
//
//   node tests/node/player_fixture.mjs make  --out DIR [--seconds 20] [--bframes 0]
//   node tests/node/player_fixture.mjs serve --root DIR [--port 0] [--no-cors]
//
// `make` writes, under DIR:
//   abr/manifest.mpd, abr/master.m3u8, abr/media_N.m3u8, abr/init-streamN.m4s,
//   abr/chunk-streamN-0000K.m4s   three H.264 rungs (720p, 360p, 270p) with
//                                 aligned 2 s GOPs and two AAC renditions
//                                 (eng, fra) in 4 s CMAF segments (no B-frames:
//                                 see makeFixture), by ffmpeg's
//                                 dash muxer (-hls_playlist 1): one set of
//                                 fMP4 segments under both manifests
//   fixture.mp4                   a progressive 360p MP4 (+faststart)
//   sprite/sprite.jpg, sprite/thumbnails.vtt   seek previews, one 160x90 tile
//                                 every 2 s, cues `sprite.jpg#xywh=x,y,w,h`
// and prints one JSON line with the paths relative to DIR.
// The file names are ffmpeg's, not the pipeline's: the page and the harness
// only take URLs.
//
// `serve` prints {"url":"http://127.0.0.1:PORT/"} and serves DIR read-only
// with Range support and, unless --no-cors, Access-Control-Allow-Origin: *.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { promises as fs, createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LANGS = ['eng', 'fra'];

function ffmpeg(args, cwd) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    cwd,
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`ffmpeg could not start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

function vttTime(s) {
  const ms = Math.round(s * 1000);
  const h = String(Math.floor(ms / 3600000)).padStart(2, '0');
  const m = String(Math.floor(ms / 60000) % 60).padStart(2, '0');
  const sec = String(Math.floor(ms / 1000) % 60).padStart(2, '0');
  return `${h}:${m}:${sec}.${String(ms % 1000).padStart(3, '0')}`;
}

// bframes: x264's B-frames (null: x264's default, 3). The fixture has none
// by default: with B-frames ffmpeg writes each fMP4 track with a composition
// delay (first PTS 2 frames after the first DTS) that an edit list (elst)
// takes back. Chromium and dash.js honour the edit list; hls.js ignores edit
// lists, sees every fragment 2 frames late, and on a switch back to a
// rendition it played before reloads the fragment it already has
// (non-fatal mediaError bufferAppendNoProgress), which the harness counts as
// an error. `make --bframes 3` reproduces it.
export async function makeFixture(out, { seconds = 20, bframes = 0 } = {}) {
  out = path.resolve(out);
  const abr = path.join(out, 'abr');
  const sprite = path.join(out, 'sprite');
  await fs.rm(out, { recursive: true, force: true });
  await fs.mkdir(abr, { recursive: true });
  await fs.mkdir(sprite, { recursive: true });
  const src = [
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=660:sample_rate=48000:duration=${seconds}`,
  ];
  const gop = ['-g', '60', '-keyint_min', '60', '-sc_threshold', '0', ...(bframes == null ? [] : ['-bf', String(bframes)])];
  ffmpeg([
    ...src,
    '-filter_complex',
    '[0:v]split=3[a][b][c];[a]scale=1280:720[v0];[b]scale=640:360[v1];[c]scale=480:270[v2]',
    '-map', '[v0]', '-map', '[v1]', '-map', '[v2]', '-map', '1:a', '-map', '2:a',
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-pix_fmt', 'yuv420p', ...gop,
    '-b:v:0', '2500k', '-maxrate:v:0', '2750k', '-bufsize:v:0', '5000k',
    '-b:v:1', '900k', '-maxrate:v:1', '1000k', '-bufsize:v:1', '1800k',
    '-b:v:2', '400k', '-maxrate:v:2', '450k', '-bufsize:v:2', '800k',
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    ...LANGS.flatMap((l, i) => [`-metadata:s:a:${i}`, `language=${l}`]),
    '-f', 'dash', '-seg_duration', '4', '-use_template', '1', '-use_timeline', '1',
    '-hls_playlist', '1',
    // One adaptation set per audio language, so DASH players list both.
    '-adaptation_sets', 'id=0,streams=v id=1,streams=3 id=2,streams=4',
    'manifest.mpd',
  ], abr);
  // ffmpeg's master playlist names its audio renditions audio_3/audio_4 and
  // gives them no LANGUAGE; the pipeline's does. Add both so the page's audio
  // track list has something to show (the segments are untouched).
  const masterPath = path.join(abr, 'master.m3u8');
  let master = await fs.readFile(masterPath, 'utf8');
  let n = 0;
  master = master.replace(/^#EXT-X-MEDIA:TYPE=AUDIO,(.*?)NAME="[^"]*"/gm, (_, pre) => {
    const lang = LANGS[n++] ?? 'und';
    return `#EXT-X-MEDIA:TYPE=AUDIO,${pre}NAME="${lang}",LANGUAGE="${lang}"`;
  });
  await fs.writeFile(masterPath, master);

  ffmpeg([
    ...src.slice(0, 8), '-map', '0:v', '-map', '1:a',
    '-vf', 'scale=640:360', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', ...gop,
    '-b:v', '700k', '-c:a', 'aac', '-b:a', '96k', '-movflags', '+faststart', 'fixture.mp4',
  ], out);

  const every = 2;
  const tiles = Math.ceil(seconds / every);
  const cols = 10;
  const rows = Math.ceil(tiles / cols);
  const [w, h] = [160, 90];
  ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    '-vf', `fps=1/${every},scale=${w}:${h},tile=${cols}x${rows}`, '-frames:v', '1', '-q:v', '4',
    'sprite.jpg',
  ], sprite);
  let vtt = 'WEBVTT\n\n';
  for (let i = 0; i < tiles; i++) {
    const end = Math.min((i + 1) * every, seconds);
    vtt += `${vttTime(i * every)} --> ${vttTime(end)}\nsprite.jpg#xywh=${(i % cols) * w},${Math.floor(i / cols) * h},${w},${h}\n\n`;
  }
  await fs.writeFile(path.join(sprite, 'thumbnails.vtt'), vtt);
  return {
    dir: out,
    hls: 'abr/master.m3u8',
    dash: 'abr/manifest.mpd',
    mp4: 'fixture.mp4',
    thumbs: 'sprite/thumbnails.vtt',
    rungs: 3,
    seconds,
  };
}

const TYPES = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.vtt': 'text/vtt; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.json': 'application/json',
};

// A read-only static server for the fixture: GET/HEAD/OPTIONS, Range, and
// CORS (Access-Control-Allow-Origin: *) unless cors is false.
export function serveStatic(root, { port = 0, cors = true } = {}) {
  root = path.resolve(root);
  const server = createServer(async (req, res) => {
    const headers = {};
    if (cors) {
      headers['Access-Control-Allow-Origin'] = '*';
      headers['Access-Control-Allow-Headers'] = 'Range';
      headers['Access-Control-Expose-Headers'] = 'Content-Length, Content-Range, Accept-Ranges';
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...headers, 'Access-Control-Allow-Methods': 'GET, HEAD' });
      return res.end();
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers);
      return res.end();
    }
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400, headers);
      return res.end();
    }
    const file = path.join(root, rel);
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403, headers);
      return res.end();
    }
    let st;
    try {
      st = await fs.stat(file);
    } catch {
      st = null;
    }
    if (!st || !st.isFile()) {
      res.writeHead(404, headers);
      return res.end();
    }
    headers['Content-Type'] = TYPES[path.extname(file)] ?? 'application/octet-stream';
    headers['Accept-Ranges'] = 'bytes';
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && (m[1] || m[2])) {
      if (m[1]) {
        start = Number(m[1]);
        if (m[2]) end = Math.min(Number(m[2]), st.size - 1);
      } else {
        start = Math.max(0, st.size - Number(m[2]));
      }
      if (start > end) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${st.size}` });
        return res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
    }
    headers['Content-Length'] = end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return res.end();
    createReadStream(file, { start, end }).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${server.address().port}/` });
    });
  });
}

function arg(argv, name, dflt) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const argv = process.argv.slice(2);
  const cmd = argv[0];
  if (cmd === 'make') {
    const out = arg(argv, '--out');
    if (!out) throw new Error('make needs --out DIR');
    const made = await makeFixture(out, {
      seconds: Number(arg(argv, '--seconds', 20)),
      bframes: Number(arg(argv, '--bframes', 0)),
    });
    console.log(JSON.stringify(made));
  } else if (cmd === 'serve') {
    const root = arg(argv, '--root');
    if (!root || !existsSync(root)) throw new Error('serve needs --root DIR (an existing folder)');
    const { url } = await serveStatic(root, {
      port: Number(arg(argv, '--port', 0)),
      cors: !argv.includes('--no-cors'),
    });
    console.log(JSON.stringify({ url }));
  } else {
    console.error('usage: player_fixture.mjs make --out DIR [--seconds 20] [--bframes 0] | serve --root DIR [--port 0] [--no-cors]');
    process.exit(2);
  }
}
