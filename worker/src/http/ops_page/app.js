// The ops page: plain JavaScript over the ops JSON API, no build step.
//
// The bearer token lives in sessionStorage (this tab only) and is sent to
// this origin's /api only. Every value from the API is written with
// textContent or as an SVG attribute, never parsed as HTML.
//
// This file: the helpers, the session, the overview (queue, chart, dead
// jobs, stuck, payouts awaiting action), the reason dialog every action
// goes through, and the router (`#/overview`, `#/jobs`, `#/job/ID`,
// `#/inbox`, `#/workflows`, `#/workflow/ID`). browse.js draws the views
// other than the overview, with the helpers exported here as
// `window.referralWorkerOps`.
'use strict';

(function () {
  const TOKEN_KEY = 'referral-worker.ops.token';
  const RETRIED_KEY = 'referral-worker.ops.retried';
  const REFRESH_EVERY_MS = 15000;
  const WATCH_EVERY_MS = 1000;
  const WATCH_FOR_MS = 120000;
  const FINAL = ['succeeded', 'dead', 'cancelled'];

  let refreshTimer = null;
  let watchTimer = null;
  let watchUntil = 0;
  // Reasons typed but not yet sent, by row, so a refresh keeps them.
  const drafts = new Map();

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- helpers

  function el(tag, opts, children) {
    const node = document.createElement(tag);
    if (opts) {
      if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
      if (opts.cls) node.className = opts.cls;
      if (opts.title) node.title = String(opts.title);
      if (opts.attrs) {
        for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, String(v));
      }
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) node.appendChild(child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function td(text, cls, title) {
    return el('td', { text: text === null || text === undefined ? '—' : text, cls, title });
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function when(value) {
    if (value === null || value === undefined || value === '') return '—';
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function age(ms) {
    if (ms === null || ms === undefined) return '—';
    let s = Math.max(0, Math.round(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + s + 's';
    return s + 's';
  }

  function clip(text, n) {
    const t = text === null || text === undefined ? '' : String(text);
    return t.length > n ? t.slice(0, n - 1) + '…' : t;
  }

  function reasonInput(key, fallback, label) {
    const input = el('input', {
      cls: 'reason',
      attrs: { type: 'text', value: drafts.has(key) ? drafts.get(key) : fallback, 'aria-label': label, maxlength: 500 },
    });
    input.addEventListener('input', () => drafts.set(key, input.value));
    return input;
  }

  function money(minor, currency) {
    const n = Number(minor);
    if (!Number.isFinite(n)) return String(minor);
    return (n / 100).toFixed(2) + ' ' + (currency || '');
  }

  function setStatus(text, bad) {
    const s = $('status');
    s.textContent = text;
    s.className = bad ? 'status bad' : 'status';
    show(s, Boolean(text));
  }

  function setError(id, text) {
    const node = $(id);
    node.textContent = text || '';
    show(node, Boolean(text));
  }

  // ------------------------------------------------------------ the token

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  class ApiFailure extends Error {
    constructor(status, body, path) {
      const detail = body && (body.detail || body.error) ? String(body.detail || body.error) : '';
      let message;
      if (status === 401) {
        message = 'Not signed in: the API answered 401 Unauthorized' + (detail ? ' (' + detail + ')' : '') +
          '. Sign in with a token.';
      } else if (status === 403) {
        message = 'Refused: the API answered 403 Forbidden' + (detail ? ' (' + detail + ')' : '') +
          '. Check the token and its scopes: ops_read to look, ops_admin to retry or approve.';
      } else if (status === 0) {
        message = 'The service did not answer ' + path + (detail ? ': ' + detail : '') + '.';
      } else {
        message = path + ' answered ' + status + (detail ? ': ' + detail : '');
      }
      super(message);
      this.status = status;
      this.auth = status === 401 || status === 403;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + token() };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiFailure(0, { detail: String(e && e.message ? e.message : e) }, path);
    }
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (!res.ok) throw new ApiFailure(res.status, data, path);
    return data;
  }

  // --------------------------------------------------------------- queues

  function renderQueues(data) {
    const body = $('queue-table').querySelector('tbody');
    clear(body);
    const queues = (data && data.queues) || [];
    for (const q of queues) {
      for (const s of q.states || []) {
        const oldest = s.oldest;
        const tr = el('tr', { attrs: { 'data-state': s.state } }, [
          td(s.state, 'state-' + s.state),
          td(s.count, 'num count'),
          td(oldest ? age(oldest.age_ms) : '—', null, oldest ? 'since ' + oldest.since + ' ' + when(oldest.at) : null),
          td(oldest ? oldest.kind + ' ' + oldest.job_id : '—', 'mono'),
        ]);
        body.appendChild(tr);
      }
    }
    $('queue-name').textContent = queues
      .map((q) => 'queue “' + q.queue + '” on ' + q.backend)
      .join('; ');
  }

  // ----------------------------------------------------------- throughput

  function renderThroughput(data) {
    const chart = $('chart');
    clear(chart);
    const buckets = (data && data.buckets) || [];
    const W = 720;
    const H = 200;
    const left = 36;
    const bottom = 22;
    const top = 10;
    const plotH = H - top - bottom;
    const plotW = W - left - 6;
    const slot = buckets.length ? plotW / buckets.length : plotW;
    const bar = Math.max(2, (slot - 4) / 2);
    let max = 1;
    for (const b of buckets) max = Math.max(max, b.succeeded, b.failed + b.dead);
    const y = (v) => top + plotH - (v / max) * plotH;

    const root = svg('svg', {
      id: 'throughput-chart',
      viewBox: '0 0 ' + W + ' ' + H,
      role: 'img',
      'aria-label': 'Jobs per hour over the last ' + (data ? data.hours : 24) + ' hours',
    });
    root.appendChild(svg('title', {}, 'Succeeded, failed and dead jobs per hour (UTC)'));
    root.appendChild(svg('line', { class: 'axis', x1: left, y1: top + plotH, x2: W, y2: top + plotH }));
    root.appendChild(svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: top + plotH }));
    root.appendChild(svg('text', { class: 'label', x: left - 4, y: top + 8, 'text-anchor': 'end' }, max));
    root.appendChild(svg('text', { class: 'label', x: left - 4, y: top + plotH, 'text-anchor': 'end' }, 0));

    buckets.forEach((b, i) => {
      const x = left + i * slot + 2;
      const start = new Date(b.start);
      const hour = String(start.getUTCHours()).padStart(2, '0');
      const g = svg('g', { class: 'hour', 'data-start': b.start });
      g.appendChild(svg('title', {},
        hour + ':00 UTC: ' + b.succeeded + ' succeeded, ' + b.failed + ' failed, ' + b.dead + ' dead'));
      // An invisible full-height target, so the tooltip works on empty hours.
      g.appendChild(svg('rect', { x, y: top, width: slot - 2, height: plotH, fill: 'transparent' }));
      if (b.succeeded > 0) {
        g.appendChild(svg('rect', { class: 'succeeded', x, y: y(b.succeeded), width: bar, height: top + plotH - y(b.succeeded) }));
      }
      if (b.failed > 0) {
        g.appendChild(svg('rect', { class: 'failed', x: x + bar, y: y(b.failed), width: bar, height: top + plotH - y(b.failed) }));
      }
      if (b.dead > 0) {
        const yTop = y(b.failed + b.dead);
        g.appendChild(svg('rect', { class: 'dead', x: x + bar, y: yTop, width: bar, height: y(b.failed) - yTop }));
      }
      if (i % 3 === 0 || i === buckets.length - 1) {
        g.appendChild(svg('text', { class: 'label', x: x + bar, y: H - 6, 'text-anchor': 'middle' }, hour + 'h'));
      }
      root.appendChild(g);
    });
    chart.appendChild(root);

    const t = (data && data.totals) || { succeeded: 0, failed: 0, dead: 0 };
    $('throughput-totals').textContent = 'Over ' + (data ? data.hours : 24) + ' hours: ' + t.succeeded +
      ' succeeded, ' + t.failed + ' failed attempts retried, ' + t.dead + ' dead. Hours are UTC; the last bar is the current hour.';
    const r = data && data.retention;
    let note = '';
    if (r) {
      note = 'Jobs retained for ' + r.succeeded + ' (succeeded) and ' + r.dead +
        ' (dead): the chart is read from the jobs the queue still keeps, so hours older than that show nothing.';
      if (r.succeeded_secs === 0) note += ' Succeeded jobs are not retained at all, so none are counted.';
    }
    if (data && data.truncated) {
      note += ' Only the ' + data.scanned + ' most recent jobs were read: the oldest hours are undercounted.';
    }
    $('retention').textContent = note;
  }

  // ------------------------------------------------------------ dead jobs

  function retried() {
    try {
      const list = JSON.parse(sessionStorage.getItem(RETRIED_KEY) || '[]');
      return Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
    } catch (_) {
      return [];
    }
  }

  function remember(id) {
    const list = retried().filter((x) => x !== id);
    list.unshift(id);
    sessionStorage.setItem(RETRIED_KEY, JSON.stringify(list.slice(0, 20)));
  }

  function renderDead(data) {
    const body = $('dead-table').querySelector('tbody');
    clear(body);
    const jobs = (data && data.jobs) || [];
    $('dead-count').textContent = String(jobs.length) + (data && data.next ? '+' : '');
    show($('dead-empty'), jobs.length === 0);
    show($('dead-table'), jobs.length > 0);
    for (const job of jobs) {
      const reason = reasonInput('job:' + job.id, 'retried from /ops', 'reason for retrying job ' + job.id);
      const button = el('button', { text: 'Retry', cls: 'retry', attrs: { type: 'button' } });
      button.addEventListener('click', () => retry(job.id, reason, button));
      const tr = el('tr', { attrs: { 'data-job-id': job.id } }, [
        td(job.id, 'mono job-id'),
        td(job.kind, 'kind'),
        td(clip(job.last_error, 240), 'error-text', job.last_error),
        td(job.attempts + ' / ' + job.max_attempts, 'num'),
        td(when(job.finished_at)),
        el('td', {}, [el('div', { cls: 'action' }, [reason, button])]),
      ]);
      body.appendChild(tr);
    }
  }

  async function retry(id, input, button) {
    const reason = input.value.trim();
    if (!reason) {
      setStatus('Give a reason to retry job ' + id + ': the audit log records why.', true);
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const out = await api('POST', '/api/ops/jobs/' + encodeURIComponent(id) + '/retry', { reason });
      remember(id);
      drafts.delete('job:' + id);
      setStatus('Job ' + id + ' (' + out.kind + ') retried: ' + out.from + ' → ' + out.to + '.', false);
      watchRetried();
      await refresh();
    } catch (e) {
      setStatus('Retry of job ' + id + ' failed. ' + e.message, true);
      button.disabled = false;
    }
  }

  async function renderRetried() {
    const ids = retried();
    const list = $('retried-list');
    show($('retried'), ids.length > 0);
    let pending = false;
    const items = [];
    for (const id of ids) {
      let state = 'unknown';
      let detail = '';
      try {
        // The job's fields are at the top level, next to its `audit`.
        const j = await api('GET', '/api/ops/jobs/' + encodeURIComponent(id));
        state = String(j.state);
        detail = j.kind + ', ' + j.attempts + ' attempt(s) since the retry' +
          (j.last_error && state !== 'succeeded' ? '; last error: ' + clip(j.last_error, 160) : '');
      } catch (e) {
        if (e.status === 404) {
          state = 'gone';
          detail = 'no longer in the queue (past its retention)';
        } else {
          detail = e.message;
        }
      }
      if (!FINAL.includes(state) && state !== 'gone') pending = true;
      items.push(el('li', { attrs: { 'data-job-id': id, 'data-state': state } }, [
        el('span', { cls: 'mono', text: id }),
        document.createTextNode(' '),
        el('span', { cls: 'state state-' + state, text: state }),
        document.createTextNode(detail ? ' — ' + detail : ''),
      ]));
    }
    clear(list);
    for (const li of items) list.appendChild(li);
    return pending;
  }

  function watchRetried() {
    watchUntil = Date.now() + WATCH_FOR_MS;
    if (watchTimer) return;
    const tick = async () => {
      watchTimer = null;
      if (!token()) return;
      let pending = false;
      try {
        pending = await renderRetried();
      } catch (_) {
        pending = true;
      }
      if (pending && Date.now() < watchUntil) {
        watchTimer = setTimeout(tick, WATCH_EVERY_MS);
      } else {
        refresh();
      }
    };
    watchTimer = setTimeout(tick, WATCH_EVERY_MS);
  }

  // ----------------------------------------------------------------- stuck

  function renderStuck(data) {
    const body = $('stuck-table').querySelector('tbody');
    clear(body);
    const items = (data && data.items) || [];
    $('stuck-count').textContent = String(items.length);
    show($('stuck-empty'), items.length === 0);
    show($('stuck-table'), items.length > 0);
    for (const item of items) {
      const ids = Object.entries(item.ids || {}).map(([k, v]) => k + '=' + v).join(', ');
      body.appendChild(el('tr', { attrs: { 'data-kind': item.kind } }, [
        td(item.kind, 'mono'),
        td(ids, 'mono'),
        td(item.reason),
        td(when(item.since)),
        td(when(item.next_check)),
      ]));
    }
  }

  // --------------------------------------------------------------- payouts

  async function loadPayouts() {
    const [eligible, held, unknown, failed] = await Promise.all([
      api('GET', '/api/ops/payouts?state=eligible&limit=500'),
      api('GET', '/api/ops/payouts?state=held&limit=200'),
      api('GET', '/api/ops/payouts?state=outcome_unknown&limit=200'),
      api('GET', '/api/ops/payouts?state=failed&limit=200'),
    ]);
    const awaiting = (eligible.items || []).filter((p) => p.needs_approval);
    return awaiting.concat(held.items || [], unknown.items || [], failed.items || []);
  }

  function payoutAction(p) {
    if ((p.state === 'eligible' && p.needs_approval) || p.state === 'held') {
      const reason = reasonInput(
        'payout:' + p.id,
        p.state === 'held' ? 'released from /ops' : 'approved from /ops',
        'reason for approving payout ' + p.id,
      );
      const button = el('button', { text: 'Approve', cls: 'approve', attrs: { type: 'button' } });
      button.title = p.state === 'held' ? 'Release the hold; the payout is sent' : 'Approve; the payout is sent';
      button.addEventListener('click', () => approve(p.id, reason, button));
      return el('td', {}, [el('div', { cls: 'action' }, [reason, button])]);
    }
    if (p.state === 'outcome_unknown') {
      return td('resolve: referral-worker ops resolve ' + p.id + ' delivered|resend --reason …', 'small mono');
    }
    return td('failed (the receiver refused it): hold it, or fix and re-send', 'small');
  }

  function renderPayouts(items) {
    const body = $('payouts-table').querySelector('tbody');
    clear(body);
    $('payouts-count').textContent = String(items.length);
    show($('payouts-empty'), items.length === 0);
    show($('payouts-table'), items.length > 0);
    for (const p of items) {
      const label = p.state === 'eligible' && p.needs_approval ? 'awaiting approval' : p.state;
      body.appendChild(el('tr', { attrs: { 'data-payout-id': p.id } }, [
        td(p.id, 'mono'),
        td(p.referral_id, 'mono'),
        td(p.tranche),
        td(money(p.amount_minor, p.currency), 'num'),
        td(label, 'state-' + p.state),
        td(p.reason),
        payoutAction(p),
      ]));
    }
  }

  async function approve(id, input, button) {
    const reason = input.value.trim();
    if (!reason) {
      setStatus('Give a reason to approve payout ' + id + ': the audit log records why.', true);
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const out = await api('POST', '/api/payouts/' + encodeURIComponent(id) + '/approve', { reason });
      drafts.delete('payout:' + id);
      setStatus('Payout ' + id + ' approved: now ' + out.state + '.', false);
      await refresh();
    } catch (e) {
      setStatus('Approving payout ' + id + ' failed. ' + e.message, true);
      button.disabled = false;
    }
  }

  // --------------------------------------------------------------- refresh

  async function section(errorId, load, render) {
    try {
      render(await load());
      setError(errorId, '');
    } catch (e) {
      if (e.auth && e.status === 401) throw e;
      setError(errorId, e.message);
    }
  }

  async function refresh() {
    if (!token()) return;
    clearTimeout(refreshTimer);
    try {
      // The queue call doubles as the token check: a refused token signs out.
      const queues = await api('GET', '/api/ops/queues');
      renderQueues(queues);
      setError('queues-error', '');
    } catch (e) {
      if (e.auth) {
        signOut(e.message);
        return;
      }
      setError('queues-error', e.message);
    }
    try {
      await Promise.all([
        section('throughput-error', () => api('GET', '/api/ops/throughput?hours=24'), renderThroughput),
        section('dead-error', () => api('GET', '/api/ops/jobs?state=dead&limit=100'), renderDead),
        section('stuck-error', () => api('GET', '/api/ops/stuck'), renderStuck),
        section('payouts-error', loadPayouts, renderPayouts),
        renderRetried(),
      ]);
    } catch (e) {
      signOut(e.message);
      return;
    }
    $('updated').textContent = 'updated ' + when(new Date().toISOString());
    refreshTimer = setTimeout(refresh, REFRESH_EVERY_MS);
  }

  // -------------------------------------------------------- reason dialog

  // What the open dialog confirms: an async function of the reason.
  let pendingAction = null;

  // Asks for the reason an action needs (the audit log records it with the
  // caller), then runs `act(reason)`; a failure is shown in the dialog.
  function askReason(title, confirmLabel, act) {
    pendingAction = act;
    $('reason-title').textContent = title;
    $('reason-confirm').textContent = confirmLabel;
    $('reason-text').value = '';
    setError('reason-error', '');
    $('reason-dialog').showModal();
    $('reason-text').focus();
  }

  async function confirmReason(event) {
    event.preventDefault();
    const reason = $('reason-text').value.trim();
    if (!reason) {
      setError('reason-error', 'A reason is required: the audit log records why.');
      $('reason-text').focus();
      return;
    }
    if (!pendingAction) return;
    $('reason-confirm').disabled = true;
    try {
      await pendingAction(reason);
      pendingAction = null;
      $('reason-dialog').close();
    } catch (e) {
      if (e.auth && e.status === 401) {
        $('reason-dialog').close();
        signOut(e.message);
        return;
      }
      setError('reason-error', e.message);
    } finally {
      $('reason-confirm').disabled = false;
    }
  }

  function closeReason() {
    pendingAction = null;
    $('reason-dialog').close();
  }

  // ---------------------------------------------------------------- router

  const views = {};

  // `#/jobs?state=dead` → { view: 'jobs', id: null, params }.
  function here() {
    const hash = window.location.hash.replace(/^#\/?/, '');
    const q = hash.indexOf('?');
    const path = q < 0 ? hash : hash.slice(0, q);
    const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
    return {
      view: parts[0] || 'overview',
      id: parts.length > 1 ? parts[1] : null,
      params: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)),
    };
  }

  function route() {
    if (!token()) return;
    const at = here();
    const known = at.view === 'overview' || Object.prototype.hasOwnProperty.call(views, at.view);
    const view = known ? at.view : 'overview';
    for (const node of document.querySelectorAll('.view')) {
      show(node, node.id === 'view-' + view);
    }
    const tab = view === 'job' ? 'jobs' : view === 'workflow' ? 'workflows' : view;
    for (const a of document.querySelectorAll('#tabs a')) {
      a.classList.toggle('current', a.getAttribute('data-view') === tab);
    }
    if (view === 'overview') {
      refresh();
    } else {
      views[view](at.id, at.params).catch((e) => {
        if (e.auth && e.status === 401) signOut(e.message);
        else setStatus(e.message, true);
      });
    }
  }

  // Goes to `hash`; redraws when it is where the page already is.
  function go(hash) {
    if (window.location.hash === hash) route();
    else window.location.hash = hash;
  }

  window.referralWorkerOps = Object.freeze({
    $, el, td, clear, show, when, age, clip, money, api, setStatus, setError, askReason, go, views,
  });

  // --------------------------------------------------------------- session

  function signedIn() {
    show($('signin'), false);
    show($('dashboard'), true);
    show($('session'), true);
    setError('signin-error', '');
    route();
    if (here().view !== 'overview') refresh();
    if (retried().length) watchRetried();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(RETRIED_KEY);
    drafts.clear();
    clearTimeout(refreshTimer);
    clearTimeout(watchTimer);
    watchTimer = null;
    if ($('reason-dialog').open) $('reason-dialog').close();
    show($('dashboard'), false);
    show($('session'), false);
    show($('signin'), true);
    setStatus('', false);
    setError('signin-error', message || '');
    $('token').value = '';
    $('token').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const value = $('token').value.trim();
    if (!value) {
      setError('signin-error', 'Type an API token first.');
      return;
    }
    $('signin-button').disabled = true;
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api('GET', '/api/ops/queues');
      $('token').value = '';
      signedIn();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      setError('signin-error', e.message);
    } finally {
      $('signin-button').disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', signIn);
    $('reason-form').addEventListener('submit', confirmReason);
    $('reason-cancel').addEventListener('click', closeReason);
    window.addEventListener('hashchange', route);
    $('refresh').addEventListener('click', () => route());
    $('signout').addEventListener('click', () => signOut(''));
    if (token()) signedIn();
  });
})();
