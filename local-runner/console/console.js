// The local runner's console: executions (polled from /api/executions), one
// execution's timeline (/api/executions/<name>), a call's log
// (/api/logs/<request id>), the outputs in the preview page's players
// (/player/index.html in a frame), and uploads by a signed PostObject form
// (/api/upload-form, then a POST of the form and the file to the bucket).
//
// For tests the page keeps window.consoleState: uploads [{name, key, state,
// error}], selected (the execution shown), pageErrors.
// Its own query's rate= and cycle= are handed to the players.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const state = { uploads: [], selected: null, pageErrors: [] };
  window.consoleState = state;
  window.addEventListener('error', (e) => state.pageErrors.push(String(e.message || e)));
  window.addEventListener('unhandledrejection', (e) => state.pageErrors.push(String(e.reason)));

  let system = null;
  let selected = null; // execution name
  let shownPlayers = null; // the frame's URL, set once per execution

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
    return e;
  }

  async function getJson(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
    return r.json();
  }

  const secs = (s) => (s == null ? '—' : `${s.toFixed(s < 10 ? 2 : 1)} s`);
  const when = (t) => (t ? new Date(t).toLocaleTimeString() : '—');
  const cost = (c) => (c ? `${c.amount.toFixed(8)} ${c.currency}` : '—');

  // ---- upload ---------------------------------------------------------------

  function setUploadStatus(text, isError) {
    const s = $('upload-status');
    s.textContent = text;
    s.className = isError ? 'error' : 'muted';
  }

  function postForm(form, file, onProgress) {
    const body = new FormData();
    for (const [k, v] of Object.entries(form.fields)) body.append(k, v);
    body.append('file', file, file.name); // last: OSS ignores fields after the file
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('POST', form.url);
      x.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      x.onload = () => (x.status < 300 ? resolve() : reject(new Error(`OSS answered ${x.status}: ${x.responseText}`)));
      x.onerror = () => reject(new Error('the upload failed (network or CORS)'));
      x.send(body);
    });
  }

  async function upload(file) {
    const u = { name: file.name, key: null, state: 'signing', error: null, at: Date.now() };
    state.uploads.push(u);
    try {
      setUploadStatus(`${file.name}: asking for a signed form…`);
      const r = await fetch('/api/upload-form', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileName: file.name, size: file.size }),
      });
      if (!r.ok) throw new Error(await r.text());
      const form = await r.json();
      u.key = form.key;
      u.state = 'uploading';
      await postForm(form, file, (f) => setUploadStatus(`${file.name}: uploading to oss://${system.bucket}/${form.key} (${Math.round(f * 100)}%)`));
      u.state = 'uploaded';
      setUploadStatus(`uploaded oss://${system.bucket}/${form.key}; waiting for its execution…`);
    } catch (e) {
      u.state = 'failed';
      u.error = String(e.message || e);
      setUploadStatus(`${file.name}: ${u.error}`, true);
    }
  }

  function setUpUpload() {
    const drop = $('drop');
    const take = (files) => { for (const f of files) upload(f); };
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      take(e.dataTransfer.files);
    });
    $('file').addEventListener('change', (e) => take(e.target.files));
  }

  // ---- executions -------------------------------------------------------------

  async function refreshList() {
    const list = await getJson('/api/executions');
    const body = $('executions').querySelector('tbody');
    body.replaceChildren();
    $('no-executions').hidden = list.length > 0;
    for (const x of list) {
      const tr = el('tr', { 'data-name': x.name, 'data-status': x.status },
        el('td', {}, el('span', { class: `badge ${x.status}` }, x.status)),
        el('td', { title: x.name }, x.source ? x.source.key : x.name),
        el('td', {}, when(x.startedTime)),
        el('td', { class: 'num' }, secs(x.durationSeconds)),
        el('td', { class: 'num' }, cost(x.cost)),
        el('td', { class: 'error' }, x.error ? `${x.error.error}: ${x.error.cause}` : ''));
      if (x.name === selected) tr.classList.add('selected');
      tr.addEventListener('click', () => select(x.name));
      body.append(tr);
    }
    // An upload from this page opens its execution once it appears.
    for (const u of state.uploads) {
      if (u.state !== 'uploaded') continue;
      const x = list.find((e) => e.source && e.source.key === u.key && Date.parse(e.startedTime) >= u.at - 1000);
      if (x) {
        u.state = 'started';
        u.execution = x.name;
        setUploadStatus(`uploaded oss://${system.bucket}/${u.key}: execution ${x.name}`);
        select(x.name);
      }
    }
  }

  function select(name) {
    if (selected !== name) {
      selected = name;
      shownPlayers = null;
      $('step-info').hidden = true;
    }
    refreshDetail().catch((e) => state.pageErrors.push(String(e)));
  }

  // ---- one execution ------------------------------------------------------------

  function drawTimeline(d) {
    const tl = $('timeline');
    tl.replaceChildren();
    const total = Math.max(d.summary.durationSeconds, ...d.steps.map((s) => s.startSeconds + s.seconds), 0.001);
    const pieces = d.steps.filter((s) => s.item && s.item.startsWith('piece') && s.status === 'Succeeded');
    const slowest = pieces.reduce((a, s) => (!a || s.seconds > a.seconds ? s : a), null);
    tl.append(el('div', { class: 'axis' }, el('span', {}, '0 s'), el('span', {}, secs(total / 2)), el('span', {}, secs(total))));
    d.steps.forEach((s, i) => {
      const label = `${s.name}${s.item ? ` ${s.item}` : ''}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}`;
      const bar = el('div', {
        class: `bar ${s.status}`,
        title: `${label}: ${secs(s.seconds)} on ${s.instanceId ?? 'no instance'}${s.error ? ` — ${s.error}` : ''}`,
      }, `${s.instanceId ?? ''} ${secs(s.seconds)}`);
      bar.style.left = `${(100 * s.startSeconds) / total}%`;
      bar.style.width = `${(100 * s.seconds) / total}%`;
      const row = el('div', {
        class: `step${s === slowest && pieces.length > 1 ? ' slowest' : ''}`,
        'data-index': i,
        'data-name': s.name,
        'data-item': s.item ?? '',
        'data-function': s.function,
        'data-instance': s.instanceId ?? '',
        'data-status': s.status,
        'data-attempt': s.attempt,
      }, el('span', { class: 'label', title: s.state }, label), el('div', { class: 'lane' }, bar));
      row.addEventListener('click', () => showStep(s, row));
      tl.append(row);
    });
  }

  async function showStep(s, row) {
    for (const r of document.querySelectorAll('.step.selected')) r.classList.remove('selected');
    row.classList.add('selected');
    $('step-info').hidden = false;
    $('step-title').textContent = `${s.state} — attempt ${s.attempt}, ${s.function} on ${s.instanceId ?? 'no instance'}, request ${s.requestId ?? '—'}`;
    $('step-input').textContent = JSON.stringify(s.input, null, 2);
    $('step-output').textContent = s.output == null ? '—' : JSON.stringify(s.output, null, 2);
    $('step-error').textContent = s.error ? `${s.error}: ${s.cause ?? ''}` : '';
    $('step-log').textContent = '…';
    if (!s.requestId) {
      $('step-log').textContent = '(no FC call recorded)';
      return;
    }
    try {
      const log = await getJson(`/api/logs/${encodeURIComponent(s.requestId)}`);
      $('step-log').textContent = log.lines.join('\n') + (log.truncated ? '\n…' : '');
    } catch (e) {
      $('step-log').textContent = String(e.message || e);
    }
  }

  function drawOutputs(d) {
    const m = d.media;
    $('outputs').hidden = !d.manifest;
    if (!d.manifest) return;
    const off = system.playersUnavailable;
    $('players-off').hidden = !off;
    $('players-off').textContent = off ? `The players are off: ${off}` : '';
    const q = new URLSearchParams();
    // Absolute: the players resolve the playlists' and the sprite's
    // relative URLs against them.
    for (const k of ['mp4', 'hls', 'dash', 'thumbs']) if (m[k]) q.set(k, new URL(m[k], location.href).href);
    for (const k of ['rate', 'cycle']) if (params.get(k)) q.set(k, params.get(k));
    const url = `/player/index.html?${q}`;
    const frame = $('player-frame');
    frame.hidden = !!off || !(m.mp4 || m.hls || m.dash);
    if (!frame.hidden && shownPlayers !== url) {
      shownPlayers = url;
      frame.src = url;
    }
    for (const k of ['gif', 'jpg']) {
      $(`${k}-box`).hidden = !m[k];
      if (m[k] && $(k).getAttribute('src') !== m[k]) $(k).src = m[k];
    }
    $('output-list').replaceChildren(...m.all.map((o) =>
      el('li', {}, el('a', { href: o.url, target: '_blank' }, o.key), ` ${o.format}, ${o.bytes} bytes`)));
    $('manifest').textContent = JSON.stringify(d.manifest, null, 2);
  }

  async function refreshDetail() {
    if (!selected) return;
    const name = selected;
    const d = await getJson(`/api/executions/${encodeURIComponent(name)}`);
    if (name !== selected) return;
    state.selected = d;
    $('detail').hidden = false;
    $('detail-title').textContent = `${d.summary.source ? d.summary.source.key : ''} — ${d.summary.name}`;
    $('detail-summary').replaceChildren(
      el('span', { class: `badge ${d.summary.status}` }, d.summary.status),
      ` ${secs(d.summary.durationSeconds)}, ${d.pieces ?? '?'} pieces, ${d.steps.length} calls, cost ${cost(d.summary.cost)}`,
      d.summary.error ? el('div', { class: 'error' }, `${d.summary.error.error}: ${d.summary.error.cause}`) : '');
    drawTimeline(d);
    drawOutputs(d);
  }

  // ---- start ------------------------------------------------------------------------

  async function tick() {
    try {
      await refreshList();
      if (selected && (!state.selected || state.selected.summary.status === 'Running' || state.selected.summary.name !== selected || !state.selected.manifest)) {
        await refreshDetail();
      }
    } catch (e) {
      state.pageErrors.push(String(e.message || e));
    }
    setTimeout(tick, 1000);
  }

  (async () => {
    system = await getJson('/api/system');
    $('system').textContent = `bucket ${system.bucket} · uploads under ${system.triggerPrefix} start a job (${system.inputExtensions.join(', ')}) · outputs under ${system.outputPrefix}`;
    setUpUpload();
    tick();
  })().catch((e) => state.pageErrors.push(String(e.message || e)));
})();
