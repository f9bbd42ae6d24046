// The job preview page: one muted <video> per presentation given in the query
// (hls=, dash=, mp4=), the renditions each player reports with a picker (Auto
// or one rendition), an audio track picker, and, with thumbs=, seek previews
// from the sprite's WebVTT cues when hovering over a seek bar.
//
// For tests the page keeps window.report, a plain JSON-able object:
//   report.ready                 true once every player is set up
//   report.hls / .dash / .mp4    per player: levels [{width, height, bitrate}],
//     played (level indices rendered: hls.js FRAG_CHANGED/LEVEL_SWITCHED,
//     dash.js QUALITY_CHANGE_RENDERED and the segment under the playhead),
//     loaded (level indices of the media segments loaded), audioTracks
//     [{lang, name}], errors (every fatal and non-fatal error), ended,
//     currentTime, duration, decodedFrames, droppedFrames, ...
//   report.thumbs                the parsed cues, the sprite's size, the tile
//                                last shown
// cycle=1 makes each player load every rendition in turn, one segment each,
// so a test can prove that every rendition decodes; rate=N plays at N×.
'use strict';
(() => {
  const params = new URLSearchParams(location.search);
  const cycle = params.get('cycle') === '1';
  const debug = params.get('debug') === '1';
  const rateParam = Number(params.get('rate'));
  const rate = Number.isFinite(rateParam) && rateParam > 0 ? rateParam : 1;
  const urls = {
    hls: params.get('hls'),
    dash: params.get('dash'),
    mp4: params.get('mp4'),
    thumbs: params.get('thumbs'),
  };
  const report = {
    ready: false,
    cycle,
    rate,
    urls,
    libraries: {
      hls: window.Hls ? window.Hls.version : null,
      dash: window.dashjs && window.dashjs.Version ? window.dashjs.Version : null,
    },
    thumbs: null,
    pageErrors: [],
  };
  window.report = report;
  window.players = {};

  window.addEventListener('error', (e) => {
    report.pageErrors.push(String(e.message || e));
  });
  window.addEventListener('unhandledrejection', (e) => {
    report.pageErrors.push(`unhandled rejection: ${describe(e.reason)}`);
  });

  // ---- helpers -------------------------------------------------------------

  function describe(v) {
    if (v == null) return String(v);
    if (typeof v === 'string') return v;
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    if (typeof v.message === 'string') return v.message;
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }

  function addUnique(list, v) {
    if (typeof v !== 'number' || v < 0 || list.includes(v)) return;
    list.push(v);
    list.sort((a, b) => a - b);
  }

  function fmtTime(s) {
    if (!Number.isFinite(s)) return '--:--';
    s = Math.floor(s + 0.01); // 19.999999 is 0:20
    const m = Math.floor(s / 60);
    const sec = Math.floor(s % 60);
    return `${m}:${String(sec).padStart(2, '0')}`;
  }

  function fmtRate(bps) {
    if (!bps) return '—';
    return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mb/s` : `${Math.round(bps / 1e3)} kb/s`;
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  // ---- one player's box ----------------------------------------------------

  function makeBox(kind, title, url, library) {
    const state = {
      kind,
      url,
      library,
      levels: [],
      played: [],
      loaded: [],
      currentLevel: -1,
      auto: true,
      audioTracks: [],
      audioTrack: -1,
      errors: [],
      fatal: false,
      started: false,
      ended: false,
      currentTime: 0,
      duration: null,
      decodedFrames: 0,
      droppedFrames: 0,
      playbackRate: rate,
    };
    report[kind] = state;

    const video = el('video', { muted: '', playsinline: '', preload: 'auto', id: `video-${kind}` });
    video.muted = true;
    video.defaultPlaybackRate = rate;
    const fill = el('div', { class: 'fill' });
    const buffered = el('div', { class: 'buffered' });
    const tile = el('div', { class: 'tile' });
    const ptime = el('div', { class: 'ptime' });
    const preview = el('div', { class: 'preview' }, tile, ptime);
    const seek = el('div', { class: 'seek', id: `seek-${kind}`, title: 'seek' }, buffered, fill, preview);
    const playBtn = el('button', { text: 'Pause' });
    const time = el('span', { class: 'time', text: '--:-- / --:--' });
    const levelSelect = el('select', { id: `level-${kind}`, title: 'rendition' });
    levelSelect.append(el('option', { value: '-1', text: 'Auto' }));
    const audioSelect = el('select', { id: `audio-${kind}`, title: 'audio track' });
    const audioLabel = el('label', { text: 'Audio ', hidden: '' }, audioSelect);
    const levelLabel = el('label', { text: 'Rendition ' }, levelSelect);
    const table = el('table', { class: 'renditions' });
    const status = el('div', { class: 'status' });
    const errors = el('div', { class: 'errors' });
    const box = el(
      'section',
      { class: 'player', id: `player-${kind}` },
      el('h2', {}, el('span', { text: title }), el('small', { text: library || '' })),
      el('div', { class: 'url', text: url }),
      video,
      el('div', { class: 'controls' }, playBtn, seek, time),
      el('div', { class: 'row' }, levelLabel, audioLabel),
      table,
      status,
      errors,
    );
    document.getElementById('players').append(box);

    const p = {
      kind,
      state,
      video,
      onPickLevel: null,
      levelPicker: levelLabel,
      onPickAudio: null,
      error(entry) {
        const e = { time: Number(video.currentTime.toFixed(3)), ...entry };
        state.errors.push(e);
        if (e.fatal) state.fatal = true;
        errors.textContent += `${e.fatal ? 'FATAL ' : ''}${e.source}: ${e.details || ''} ${e.message || ''}\n`;
      },
      setLevels(levels) {
        state.levels = levels;
        renderLevels();
      },
      setAudioTracks(tracks, current) {
        state.audioTracks = tracks;
        state.audioTrack = current;
        audioSelect.replaceChildren(
          ...tracks.map((t, i) =>
            el('option', { value: String(i), text: `${t.name || t.lang || i}${t.lang && t.name && t.lang !== t.name ? ` (${t.lang})` : ''}` }),
          ),
        );
        audioLabel.hidden = tracks.length === 0;
        if (current >= 0) audioSelect.value = String(current);
      },
      setAudioTrack(i) {
        state.audioTrack = i;
        if (i >= 0) audioSelect.value = String(i);
      },
      played(level) {
        addUnique(state.played, level);
        state.currentLevel = level;
        markLevels();
      },
      loaded(level) {
        addUnique(state.loaded, level);
      },
      update,
    };

    function renderLevels() {
      levelSelect.replaceChildren(el('option', { value: '-1', text: 'Auto' }));
      state.levels.forEach((l, i) => {
        levelSelect.append(el('option', { value: String(i), text: `${l.height ? `${l.height}p` : `#${i}`} · ${fmtRate(l.bitrate)}` }));
      });
      levelSelect.value = state.auto ? '-1' : String(state.currentLevel);
      table.replaceChildren(
        el('tr', {}, el('th', { text: '#' }), el('th', { text: 'resolution' }), el('th', { class: 'num', text: 'bandwidth' }), el('th', { text: 'codecs' })),
        ...state.levels.map((l, i) =>
          el(
            'tr',
            { 'data-level': String(i) },
            el('td', { text: String(i) }),
            el('td', { text: l.width && l.height ? `${l.width}×${l.height}` : '?' }),
            el('td', { class: 'num', text: fmtRate(l.bitrate) }),
            el('td', { text: l.codecs || '' }),
          ),
        ),
      );
      markLevels();
    }

    function markLevels() {
      for (const tr of table.querySelectorAll('tr[data-level]')) {
        const i = Number(tr.dataset.level);
        tr.classList.toggle('current', i === state.currentLevel);
        tr.classList.toggle('played', state.played.includes(i));
      }
    }

    function update() {
      state.currentTime = video.currentTime;
      state.duration = Number.isFinite(video.duration) ? video.duration : null;
      if (video.getVideoPlaybackQuality) {
        const q = video.getVideoPlaybackQuality();
        state.decodedFrames = q.totalVideoFrames;
        state.droppedFrames = q.droppedVideoFrames;
      }
      state.playbackRate = video.playbackRate;
      const d = video.duration;
      fill.style.width = Number.isFinite(d) && d > 0 ? `${(100 * video.currentTime) / d}%` : '0';
      if (Number.isFinite(d) && d > 0 && video.buffered.length) {
        buffered.style.width = `${(100 * video.buffered.end(video.buffered.length - 1)) / d}%`;
      }
      time.textContent = `${fmtTime(video.currentTime)} / ${fmtTime(d)}`;
      playBtn.textContent = video.paused ? 'Play' : 'Pause';
      const l = state.levels[state.currentLevel];
      status.textContent =
        `${state.ended ? 'ended' : video.paused ? 'paused' : 'playing'}` +
        (l ? ` · ${l.width}×${l.height}` : '') +
        ` · ${state.decodedFrames} frames decoded, ${state.droppedFrames} dropped` +
        (rate !== 1 ? ` · ${rate}×` : '') +
        (cycle && kind !== 'mp4' ? ' · cycling renditions' : '');
    }

    for (const ev of ['timeupdate', 'durationchange', 'progress', 'pause', 'play', 'seeked', 'loadedmetadata']) {
      video.addEventListener(ev, update);
    }
    video.addEventListener('playing', () => {
      state.started = true;
      if (video.playbackRate !== rate) video.playbackRate = rate;
      update();
    });
    video.addEventListener('ratechange', () => {
      // Players may reset the rate when they attach; keep the asked one.
      if (video.playbackRate !== rate && !video.paused) video.playbackRate = rate;
    });
    video.addEventListener('ended', () => {
      state.ended = true;
      update();
    });
    video.addEventListener('seeking', () => {
      state.ended = false;
    });
    video.addEventListener('error', () => {
      const err = video.error;
      p.error({ source: 'video', fatal: true, code: err ? err.code : null, message: err ? err.message : 'media element error' });
    });
    playBtn.addEventListener('click', () => {
      if (video.paused) video.play().catch((e) => p.error({ source: 'play()', fatal: false, message: describe(e) }));
      else video.pause();
    });
    seek.addEventListener('click', (e) => {
      const r = seek.getBoundingClientRect();
      const d = video.duration;
      if (Number.isFinite(d)) video.currentTime = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) * d;
    });
    seek.addEventListener('mousemove', (e) => {
      const r = seek.getBoundingClientRect();
      const frac = Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
      showPreview(p, frac, r.width);
    });
    seek.addEventListener('mouseleave', () => {
      preview.style.display = 'none';
    });
    levelSelect.addEventListener('change', () => {
      const i = Number(levelSelect.value);
      state.auto = i < 0;
      if (p.onPickLevel) p.onPickLevel(i);
    });
    audioSelect.addEventListener('change', () => {
      if (p.onPickAudio) p.onPickAudio(Number(audioSelect.value));
    });
    p.preview = { box: preview, tile, ptime };
    setInterval(update, 500);
    return p;
  }

  function playWhenReady(p) {
    const v = p.video;
    v.playbackRate = rate;
    const pr = v.play();
    if (pr) pr.catch((e) => p.error({ source: 'play()', fatal: false, message: describe(e) }));
  }

  // ---- hls.js --------------------------------------------------------------

  function startHls(url) {
    const Hls = window.Hls;
    const p = makeBox('hls', 'HLS', url, Hls ? `hls.js ${Hls.version}` : 'hls.js missing');
    if (!Hls) {
      p.error({ source: 'page', fatal: true, message: 'hls.js did not load' });
      return p;
    }
    if (!Hls.isSupported()) {
      p.error({ source: 'page', fatal: true, message: 'hls.js: Media Source Extensions are not supported here' });
      return p;
    }
    const hls = new Hls({ startLevel: cycle ? 0 : -1, debug });
    window.players.hls = hls;
    const E = Hls.Events;
    hls.on(E.ERROR, (_, d) => {
      p.error({
        source: 'hls.js',
        fatal: !!d.fatal,
        type: d.type,
        details: d.details,
        reason: d.reason || null,
        message: d.error ? describe(d.error) : null,
        url: (d.frag && d.frag.url) || (d.context && d.context.url) || d.url || null,
        responseCode: d.response ? d.response.code : null,
        level: d.frag ? d.frag.level : d.level != null ? d.level : null,
      });
    });
    hls.on(E.MANIFEST_PARSED, () => {
      p.setLevels(
        hls.levels.map((l) => ({
          width: l.width,
          height: l.height,
          bitrate: l.bitrate,
          averageBitrate: l.averageBitrate || null,
          codecs: [l.videoCodec, l.audioCodec].filter(Boolean).join(','),
          frameRate: l.frameRate || null,
          url: Array.isArray(l.url) ? l.url[0] : l.url,
        })),
      );
      playWhenReady(p);
    });
    const tracks = () =>
      hls.audioTracks.map((t) => ({ lang: t.lang || null, name: t.name || null, groupId: t.groupId || null, default: !!t.default }));
    hls.on(E.AUDIO_TRACKS_UPDATED, () => p.setAudioTracks(tracks(), hls.audioTrack));
    hls.on(E.AUDIO_TRACK_SWITCHED, (_, d) => p.setAudioTrack(d.id));
    hls.on(E.FRAG_LOADED, (_, d) => {
      if (d.frag.type !== 'main' || d.frag.sn === 'initSegment') return;
      p.loaded(d.frag.level);
      if (cycle && hls.levels.length > 1) {
        // The next segment comes from the next rendition (loadLevel: no
        // flush of what is buffered, unlike nextLevel/currentLevel).
        hls.loadLevel = (d.frag.level + 1) % hls.levels.length;
      }
    });
    hls.on(E.FRAG_CHANGED, (_, d) => p.played(d.frag.level));
    hls.on(E.LEVEL_SWITCHED, (_, d) => p.played(d.level));
    p.onPickLevel = (i) => {
      // -1: back to automatic selection; else switch now (flushes the buffer).
      hls.currentLevel = i;
      if (i < 0) hls.nextLevel = -1;
    };
    p.onPickAudio = (i) => {
      hls.audioTrack = i;
    };
    hls.loadSource(url);
    hls.attachMedia(p.video);
    return p;
  }

  // ---- dash.js -------------------------------------------------------------

  function startDash(url) {
    const dashjs = window.dashjs;
    const p = makeBox('dash', 'DASH', url, dashjs ? 'dash.js' : 'dash.js missing');
    if (!dashjs) {
      p.error({ source: 'page', fatal: true, message: 'dash.js did not load' });
      return p;
    }
    const player = dashjs.MediaPlayer().create();
    if (debug) player.updateSettings({ debug: { logLevel: 5 /* Debug.LOG_LEVEL_DEBUG */ } });
    if (cycle) {
      // The page picks every rendition in turn, one segment each. A switch
      // up with enough buffered is by default a "fast switch", which aborts
      // the segment being loaded and reports it abandoned (seen on a busy
      // machine); the abandon rule does the same on a slow throughput
      // estimate. Neither belongs in a check that each rendition plays.
      player.updateSettings({
        streaming: {
          buffer: { fastSwitchEnabled: false },
          abr: { autoSwitchBitrate: { video: false }, rules: { abandonRequestsRule: { active: false } } },
        },
      });
    }
    window.players.dash = player;
    const version = player.getVersion();
    p.state.library = `dash.js ${version}`;
    report.libraries.dash = version;
    p.video.closest('section').querySelector('h2 small').textContent = `dash.js ${version}`;
    const E = dashjs.MediaPlayer.events;
    // dash.js 5 speaks of representations; 4 of bitrate infos and qualities.
    const v5 = typeof player.getRepresentationsByType === 'function';
    const reps = () => (v5 ? player.getRepresentationsByType('video') : player.getBitrateInfoListFor('video')) || [];
    let repIds = [];
    const indexOfRep = (rep) => {
      if (!rep) return -1;
      if (!v5) return typeof rep === 'number' ? rep : rep.qualityIndex;
      return repIds.indexOf(rep.id);
    };
    const setRep = (i, forceReplace) => {
      if (v5) player.setRepresentationForTypeByIndex('video', i, forceReplace);
      else player.setQualityFor('video', i, forceReplace);
    };
    const autoSwitch = (on) => player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: on } } } });

    // Segments loaded, by start time: the one under the playhead is rendered.
    const segs = [];
    player.on(E.ERROR, (e) => {
      const err = e.error || {};
      p.error({
        source: 'dash.js',
        fatal: true,
        code: err.code != null ? err.code : null,
        message: err.message || describe(err),
        details: err.data && err.data.request ? err.data.request.url : null,
      });
    });
    player.on(E.PLAYBACK_ERROR, (e) => {
      p.error({ source: 'dash.js playback', fatal: true, message: describe(e.error) });
    });
    if (E.FRAGMENT_LOADING_ABANDONED) {
      player.on(E.FRAGMENT_LOADING_ABANDONED, (e) => {
        p.error({ source: 'dash.js', fatal: false, details: 'fragmentLoadingAbandoned', message: describe(e.request && e.request.url) });
      });
    }
    player.on(E.STREAM_INITIALIZED, () => {
      const list = reps();
      repIds = v5 ? list.map((r) => r.id) : [];
      p.setLevels(
        list.map((r) => ({
          width: r.width,
          height: r.height,
          bitrate: v5 ? r.bandwidth : r.bitrate,
          codecs: r.codecs || (r.mediaInfo && r.mediaInfo.codec) || null,
          frameRate: r.frameRate || null,
          id: v5 ? r.id : null,
        })),
      );
      const audio = player.getTracksFor('audio') || [];
      const current = player.getCurrentTrackFor('audio');
      p.setAudioTracks(
        audio.map((t) => ({
          lang: t.lang || null,
          name: (t.labels && t.labels[0] && (t.labels[0].text || t.labels[0])) || null,
          id: t.id != null ? String(t.id) : null,
        })),
        current ? audio.indexOf(current) : -1,
      );
      p.onPickAudio = (i) => {
        if (audio[i]) player.setCurrentTrack(audio[i]);
      };
      if (cycle) {
        autoSwitch(false);
        setRep(0, false);
      }
      playWhenReady(p);
    });
    player.on(E.TRACK_CHANGE_RENDERED, (e) => {
      if (e.mediaType !== 'audio') return;
      const audio = player.getTracksFor('audio') || [];
      p.setAudioTrack(audio.indexOf(e.newMediaInfo));
    });
    player.on(E.FRAGMENT_LOADING_COMPLETED, (e) => {
      const req = e.request || {};
      if (req.mediaType !== 'video' || req.type !== 'MediaSegment') return;
      const i = v5 ? indexOfRep(req.representation) : req.quality;
      p.loaded(i);
      segs.push({ start: req.startTime, end: req.startTime + req.duration, level: i });
      if (cycle && p.state.levels.length > 1) {
        setRep((i + 1) % p.state.levels.length, false);
      }
    });
    player.on(E.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType !== 'video') return;
      p.played(v5 ? indexOfRep(e.newRepresentation) : e.newQuality);
    });
    p.video.addEventListener('timeupdate', () => {
      const t = p.video.currentTime;
      for (let k = segs.length - 1; k >= 0; k--) {
        const s = segs[k];
        if (t >= s.start && t < s.end) {
          if (s.level !== p.state.currentLevel || !p.state.played.includes(s.level)) p.played(s.level);
          break;
        }
      }
    });
    p.onPickLevel = (i) => {
      if (i < 0) {
        autoSwitch(true);
      } else {
        autoSwitch(false);
        setRep(i, true);
      }
    };
    player.initialize(p.video, url, true);
    return p;
  }

  // ---- progressive MP4 -----------------------------------------------------

  function startMp4(url) {
    const p = makeBox('mp4', 'MP4 (progressive)', url, 'native <video>');
    p.levelPicker.hidden = true;
    p.video.addEventListener('loadedmetadata', () => {
      p.setLevels([{ width: p.video.videoWidth, height: p.video.videoHeight, bitrate: null, codecs: null }]);
      p.played(0);
    });
    p.video.src = url;
    playWhenReady(p);
    return p;
  }

  // ---- seek previews from the sprite's WebVTT -----------------------------

  function parseVttTime(s) {
    const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})$/.exec(s.trim());
    if (!m) return NaN;
    return (Number(m[1] || 0) * 3600) + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
  }

  function parseThumbVtt(text, base) {
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    if (!/^WEBVTT/.test(lines[0] || '')) throw new Error('not a WebVTT file (no WEBVTT header)');
    const cues = [];
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].includes('-->')) continue;
      const [a, b] = lines[i].split('-->');
      const start = parseVttTime(a);
      const end = parseVttTime(b.trim().split(/\s+/)[0]);
      const payload = (lines[i + 1] || '').trim();
      const m = /^(.*)#xywh=(?:pixel:)?(\d+),(\d+),(\d+),(\d+)$/.exec(payload);
      if (!Number.isFinite(start) || !Number.isFinite(end) || !m) {
        throw new Error(`bad cue at line ${i + 1}: ${lines[i]} / ${payload}`);
      }
      cues.push({ start, end, url: new URL(m[1], base).href, x: +m[2], y: +m[3], w: +m[4], h: +m[5] });
    }
    return cues;
  }

  let thumbCues = null;

  async function loadThumbs(url) {
    report.thumbs = { url, cues: 0, images: {}, errors: [], shown: null };
    try {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
      const cues = parseThumbVtt(await r.text(), url);
      if (!cues.length) throw new Error('no cues');
      report.thumbs.cues = cues.length;
      report.thumbs.first = cues[0];
      report.thumbs.last = cues[cues.length - 1];
      for (const img of new Set(cues.map((c) => c.url))) {
        report.thumbs.images[img] = { loaded: false };
        const im = new Image();
        im.onload = () => {
          report.thumbs.images[img] = { loaded: true, width: im.naturalWidth, height: im.naturalHeight };
          for (const c of cues) {
            if (c.url === img && (c.x + c.w > im.naturalWidth || c.y + c.h > im.naturalHeight)) {
              report.thumbs.errors.push(`cue ${c.start}s: tile ${c.x},${c.y},${c.w},${c.h} is outside ${img} (${im.naturalWidth}x${im.naturalHeight})`);
            }
          }
        };
        im.onerror = () => {
          report.thumbs.images[img] = { loaded: false, error: true };
          report.thumbs.errors.push(`sprite image did not load: ${img}`);
        };
        im.src = img;
      }
      thumbCues = cues;
    } catch (e) {
      report.thumbs.errors.push(describe(e));
    }
  }

  function showPreview(p, frac, barWidth) {
    const { box, tile, ptime } = p.preview;
    const d = p.video.duration;
    if (!Number.isFinite(d)) return;
    const t = frac * d;
    ptime.textContent = fmtTime(t);
    const cue = thumbCues && (thumbCues.find((c) => t >= c.start && t < c.end) || (t >= thumbCues[thumbCues.length - 1].start ? thumbCues[thumbCues.length - 1] : null));
    if (cue) {
      tile.style.width = `${cue.w}px`;
      tile.style.height = `${cue.h}px`;
      tile.style.backgroundImage = `url("${cue.url}")`;
      tile.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
      tile.style.display = '';
      if (report.thumbs) report.thumbs.shown = { player: p.kind, time: t, x: cue.x, y: cue.y, w: cue.w, h: cue.h, url: cue.url };
    } else {
      tile.style.display = 'none';
    }
    const half = (cue ? cue.w : 40) / 2;
    box.style.left = `${Math.max(half, Math.min(barWidth - half, frac * barWidth))}px`;
    box.style.display = 'block';
  }

  // ---- start ---------------------------------------------------------------

  if (!urls.hls && !urls.dash && !urls.mp4) {
    document.getElementById('usage').hidden = false;
    report.ready = true;
    return;
  }
  if (urls.thumbs) loadThumbs(urls.thumbs);
  for (const [kind, start] of [['hls', startHls], ['dash', startDash], ['mp4', startMp4]]) {
    if (!urls[kind]) continue;
    try {
      start(urls[kind]);
    } catch (e) {
      const state = report[kind];
      if (state) state.errors.push({ source: 'page', fatal: true, message: describe(e) });
      else report.pageErrors.push(`${kind}: ${describe(e)}`);
    }
  }
  report.ready = true;
})();
