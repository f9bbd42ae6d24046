// What a player of the preview page (player/player.js) must have done to
// pass: shared by player.mjs (the page alone) and console.mjs (the page in
// the runner's console), with the Chromium flags both launch it with.

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// `s` is the page's window.report.<kind>; `o`: rungs (levels expected),
// allow (non-fatal error details let through), cycle (every level must have
// rendered), audioTracks (how many, when given). Failures are pushed.
export function checkPlayer(name, s, o, failures) {
  const fail = (m) => failures.push(`${name}: ${m}`);
  if (!s) return fail('the page set up no player');
  for (const e of s.errors) {
    if (!e.fatal && o.allow.includes(e.details)) continue;
    fail(`${e.fatal ? 'fatal ' : ''}error: ${JSON.stringify(e)}`);
  }
  if (!s.ended) fail(`did not end (currentTime ${s.currentTime}, duration ${s.duration})`);
  if (!(Number.isFinite(s.duration) && s.duration > 0)) fail(`no duration (${s.duration})`);
  else if (Math.abs(s.currentTime - s.duration) > 0.5) {
    fail(`ended at ${s.currentTime} s, not within 0.5 s of the duration ${s.duration} s`);
  }
  if (!(s.decodedFrames > 0)) fail(`no frame decoded (decodedFrames ${s.decodedFrames})`);
  if (name === 'mp4') return;
  if (s.levels.length !== o.rungs) {
    fail(`${s.levels.length} levels, expected ${o.rungs}: ${JSON.stringify(s.levels)}`);
  }
  s.levels.forEach((l, i) => {
    if (!(l.width > 0 && l.height > 0 && l.bitrate > 0)) fail(`level ${i} lacks a size or bitrate: ${JSON.stringify(l)}`);
  });
  if (o.cycle) {
    const missing = s.levels.map((_, i) => i).filter((i) => !s.played.includes(i));
    if (missing.length) {
      fail(`levels ${missing.join(', ')} never rendered (played ${JSON.stringify(s.played)}, loaded ${JSON.stringify(s.loaded)})`);
    }
  }
  if (o.audioTracks != null && s.audioTracks.length !== o.audioTracks) {
    fail(`${s.audioTracks.length} audio tracks, expected ${o.audioTracks}: ${JSON.stringify(s.audioTracks)}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls the page's window.report (`target`: a Playwright page or frame)
// until every player of `kinds` has ended, one stops on a fatal error, one's
// time stands still for `stall` seconds before its end, or `deadline` (ms
// since the epoch) passes. Resolves with the last report and why it stopped
// early (null when every player ended).
export async function waitForPlayers(target, kinds, { deadline, stall, timeout }) {
  const progress = {}; // kind -> [currentTime, when it last moved]
  for (;;) {
    const report = await target.evaluate(() => JSON.parse(JSON.stringify(window.report ?? null)));
    if (report?.ready) {
      const states = kinds.map((k) => report[k]);
      if (states.every((s) => s && s.ended)) return { report, why: null };
      const fatal = states.find((s) => s && s.fatal);
      if (fatal) return { report, why: `${fatal.kind} stopped on a fatal error` };
      const now = Date.now();
      const stalled = states.find((s) => {
        if (!s || s.ended) return false;
        const p = progress[s.kind];
        if (!p || p[0] !== s.currentTime) {
          progress[s.kind] = [s.currentTime, now];
          return false;
        }
        return now - p[1] > stall * 1000;
      });
      if (stalled) {
        return {
          report,
          why: `${stalled.kind} stalled: currentTime ${stalled.currentTime} of ${stalled.duration} s has not moved for ${stall} s, and it has not ended`,
        };
      }
    }
    if (Date.now() > deadline) {
      return { report, why: `timed out after ${timeout} s waiting for every player to end` };
    }
    await sleep(500);
  }
}
