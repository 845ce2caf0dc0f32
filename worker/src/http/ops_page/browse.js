// The ops page's views other than the overview, over the ops JSON API:
// jobs by state with paging and search (kind, job id, referral id), one
// job (attempts, errors, timeline, the audit of ops actions, retry and
// cancel), the inbox with replay, and referral workflows (referral →
// application → milestones → payouts → messages). app.js routes here and
// lends its helpers; every action asks for a reason (app.js's dialog),
// which the API records in the audit log. Values are written with
// textContent only, never parsed as HTML.
'use strict';

(function () {
  const ops = window.referralWorkerOps;
  const { $, el, td, clear, show, when, clip, money, api, setStatus, setError, askReason, go, views } = ops;

  // The queue's job states, in lifecycle order (queue::JobState).
  const JOB_STATES = ['scheduled', 'ready', 'running', 'retrying', 'succeeded', 'dead', 'cancelled'];
  const FINAL = ['succeeded', 'dead', 'cancelled'];
  // entities::inbox::{InboxSource, InboxStatus}.
  const INBOX_SOURCES = ['careers_site', 'greenhouse', 'lever', 'ashby', 'generic'];
  const INBOX_STATUSES = ['received', 'enqueued', 'processed', 'ignored', 'rejected', 'failed'];
  const PAGE = 25;
  const FOLLOW_EVERY_MS = 1000;
  const FOLLOW_FOR_MS = 60000;

  // ---------------------------------------------------------------- helpers

  // Each drawing takes a ticket; one that a later drawing overtook (the
  // operator clicked on before its answers came) draws nothing.
  let latest = 0;
  const ticket = () => ++latest;
  const overtaken = (t) => t !== latest;

  // `#/view?k=v…` from `params` (empty values left out).
  function hashOf(view, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && String(v) !== '') q.set(k, String(v));
    }
    const text = q.toString();
    return '#/' + view + (text ? '?' + text : '');
  }

  function link(text, hash, cls) {
    return el('a', { text, cls, attrs: { href: hash } });
  }

  function jobLink(id) {
    if (!id) return document.createTextNode('—');
    return link(id, '#/job/' + encodeURIComponent(id), 'mono job-link');
  }

  // A cell with a link to the job a row records, and its state.
  function jobCell(j) {
    if (!j || !j.job_id) return td(null);
    return el('td', { cls: 'small' }, [
      jobLink(j.job_id),
      document.createTextNode(' '),
      el('span', { cls: 'state-' + (j.state || 'gone'), text: j.state || 'gone from the queue' }),
    ]);
  }

  function fields(tableId, rows) {
    const body = $(tableId).querySelector('tbody');
    clear(body);
    for (const [label, value, cls] of rows) {
      const cell = value instanceof Node ? el('td', { cls }, [value]) : td(value, cls);
      body.appendChild(el('tr', { attrs: { 'data-field': label } }, [el('th', { text: label }), cell]));
    }
  }

  function rows(tableId, emptyId, items, row) {
    const body = $(tableId).querySelector('tbody');
    clear(body);
    for (const item of items) body.appendChild(row(item));
    show($(emptyId), items.length === 0);
    show($(tableId), items.length > 0);
  }

  function pager(prefix, view, params, next) {
    const first = $(prefix + '-first');
    const nextButton = $(prefix + '-next');
    first.disabled = !params.cursor;
    nextButton.disabled = next === null || next === undefined;
    first.onclick = () => go(hashOf(view, Object.assign({}, params, { cursor: null })));
    nextButton.onclick = () => go(hashOf(view, Object.assign({}, params, { cursor: next })));
  }

  function options(selectId, values, current) {
    const select = $(selectId);
    while (select.options.length > 1) select.remove(1);
    for (const v of values) select.appendChild(el('option', { text: v, attrs: { value: v } }));
    select.value = values.includes(current) ? current : '';
  }

  function paramsOf(search, names) {
    const out = {};
    for (const n of names) out[n] = search.get(n) || '';
    return out;
  }

  // ------------------------------------------------------------------ jobs

  views.jobs = async function (_id, search) {
    const t = ticket();
    $('jobs-table').removeAttribute('data-query');
    const p = paramsOf(search, ['state', 'kind', 'referral_id', 'cursor']);
    $('job-search-by').value = p.referral_id ? 'referral_id' : 'kind';
    $('job-search-text').value = p.referral_id || p.kind;
    const described = [
      p.state ? 'state ' + p.state : 'every state',
      p.kind ? 'kind ' + p.kind : null,
      p.referral_id ? 'referral ' + p.referral_id : null,
    ].filter(Boolean).join(' · ');
    $('jobs-filter').textContent = 'Showing ' + described + (p.cursor ? ' (a later page)' : '') + '.';
    const counts = {};
    try {
      const q = await api('GET', '/api/ops/queues');
      for (const queue of q.queues || []) {
        for (const s of queue.states || []) counts[s.state] = (counts[s.state] || 0) + s.count;
      }
    } catch (e) {
      if (e.auth) throw e;
    }
    if (overtaken(t)) return;
    const states = $('job-states');
    clear(states);
    for (const state of [''].concat(JOB_STATES)) {
      const label = (state || 'all') + (state && counts[state] !== undefined ? ' ' + counts[state] : '');
      const a = link(label, hashOf('jobs', { state, kind: p.kind, referral_id: p.referral_id }),
        'filter state-' + (state || 'all'));
      a.setAttribute('data-state', state || 'all');
      if (state === p.state) a.classList.add('current');
      states.appendChild(a);
    }
    const query = new URLSearchParams({ limit: String(PAGE) });
    for (const k of ['state', 'kind', 'referral_id', 'cursor']) if (p[k]) query.set(k, p[k]);
    let listing;
    try {
      listing = await api('GET', '/api/ops/jobs?' + query.toString());
      setError('jobs-error', '');
    } catch (e) {
      if (e.auth) throw e;
      setError('jobs-error', e.message);
      listing = { jobs: [], next: null };
    }
    if (overtaken(t)) return;
    rows('jobs-table', 'jobs-empty', listing.jobs || [], (job) => el('tr', { attrs: { 'data-job-id': job.id } }, [
      el('td', {}, [jobLink(job.id)]),
      td(job.kind, 'kind'),
      td(job.state, 'state state-' + job.state),
      td(job.attempts + ' / ' + job.max_attempts, 'num'),
      td(when(job.created_at)),
      td(when(job.finished_at || job.run_at)),
      td(clip(job.last_error, 160), 'error-text', job.last_error),
    ]));
    pager('jobs', 'jobs', p, listing.next);
    // What the rows answer, for a reader (and a test) to tell pages apart.
    $('jobs-table').setAttribute('data-query', query.toString());
  };

  function searchJobs(event) {
    event.preventDefault();
    const by = $('job-search-by').value;
    const text = $('job-search-text').value.trim();
    const state = new URLSearchParams(window.location.hash.split('?')[1] || '').get('state') || '';
    if (by === 'id' && text) {
      go('#/job/' + encodeURIComponent(text));
    } else if (by === 'referral_id') {
      go(hashOf('jobs', { state, referral_id: text }));
    } else {
      go(hashOf('jobs', { state, kind: text }));
    }
  }

  // --------------------------------------------------------------- one job

  let followTimer = null;

  views.job = async function (id) {
    const t = ticket();
    clearTimeout(followTimer);
    $('job-id').textContent = id || '';
    let job;
    try {
      job = await api('GET', '/api/ops/jobs/' + encodeURIComponent(id || ''));
      if (overtaken(t)) return null;
      setError('job-error', '');
    } catch (e) {
      if (e.auth) throw e;
      if (overtaken(t)) return null;
      setError('job-error', e.status === 404 ? 'No job ' + id + ' in the queue (never was, or past its retention).' : e.message);
      $('job-state').textContent = '';
      for (const t of ['job-fields', 'job-errors', 'job-timeline', 'job-audit']) clear($(t).querySelector('tbody'));
      $('job-payload').textContent = '';
      $('job-retry').disabled = true;
      $('job-cancel').disabled = true;
      return null;
    }
    renderJob(job);
    return job;
  };

  function renderJob(job) {
    $('job-state').textContent = job.state;
    $('job-state').className = 'badge state-' + job.state;
    fields('job-fields', [
      ['kind', job.kind, 'kind'],
      ['state', job.state, 'state-' + job.state],
      ['attempts', job.attempts + ' of ' + job.max_attempts],
      ['queue', job.queue],
      ['enqueued', when(job.created_at)],
      ['runs at', when(job.run_at)],
      ['updated', when(job.updated_at)],
      ['finished', when(job.finished_at)],
      ['leased by', job.lease_owner ? job.lease_owner + ' until ' + when(job.lease_expires_at) : null],
      ['redeliveries', job.redeliveries],
      ['idempotency key', job.idempotency_key, 'mono'],
      ['last error', job.last_error, 'error-text'],
    ]);
    rows('job-errors', 'job-errors-empty', job.errors || [], (e) => el('tr', { attrs: { 'data-attempt': e.attempt } }, [
      td(e.attempt, 'num'), td(when(e.at)), td(e.worker, 'mono small'), td(e.error, 'error-text'),
    ]));
    const timeline = $('job-timeline').querySelector('tbody');
    clear(timeline);
    for (const t of job.timeline || []) {
      timeline.appendChild(el('tr', { attrs: { 'data-event': t.event } }, [
        td(when(t.at)), td(t.event), td(t.attempt, 'num'), td(t.worker, 'mono small'), td(t.detail, 'error-text'),
      ]));
    }
    rows('job-audit', 'job-audit-empty', job.audit || [], (a) => el('tr', { attrs: { 'data-action': a.action } }, [
      td(when(a.occurred_at)), td(a.actor, 'mono'), td(a.action),
      td(a.data && a.data.reason !== undefined ? a.data.reason : null, 'reason-text'),
    ]));
    $('job-payload').textContent = JSON.stringify(job.payload, null, 2);
    show($('job-payload-masked'), Boolean(job.payload_masked));
    const retry = $('job-retry');
    const cancel = $('job-cancel');
    retry.disabled = !['dead', 'retrying', 'cancelled'].includes(job.state);
    cancel.disabled = !['scheduled', 'ready', 'retrying'].includes(job.state);
    retry.onclick = () => act(job, 'retry', 'Retry');
    cancel.onclick = () => act(job, 'cancel', 'Cancel');
  }

  function act(job, action, label) {
    askReason(label + ' job ' + job.id + ' (' + job.kind + ', ' + job.state + ')?', label, async (reason) => {
      const out = await api('POST', '/api/ops/jobs/' + encodeURIComponent(job.id) + '/' + action, { reason });
      setStatus('Job ' + out.job_id + ' (' + out.kind + ') ' + (action === 'retry' ? 'retried' : 'cancelled') +
        ': ' + out.from + ' → ' + out.to + '. Reason recorded: “' + reason + '”.', false);
      follow(job.id, Date.now() + FOLLOW_FOR_MS);
    });
  }

  // Redraws the job until it is final (or the time is up, or the page
  // moved elsewhere), so the operator sees what the action led to.
  async function follow(id, until) {
    clearTimeout(followTimer);
    const current = window.location.hash === '#/job/' + encodeURIComponent(id);
    if (!current) return;
    const job = await views.job(id).catch(() => null);
    if (job && !FINAL.includes(job.state) && Date.now() < until) {
      followTimer = setTimeout(() => follow(id, until), FOLLOW_EVERY_MS);
    }
  }

  // ----------------------------------------------------------------- inbox

  views.inbox = async function (_id, search) {
    const t = ticket();
    const p = paramsOf(search, ['source', 'status', 'cursor']);
    options('inbox-source', INBOX_SOURCES, p.source);
    options('inbox-status', INBOX_STATUSES, p.status);
    const query = new URLSearchParams({ limit: String(PAGE) });
    for (const k of ['source', 'status', 'cursor']) if (p[k]) query.set(k, p[k]);
    let page;
    try {
      page = await api('GET', '/api/ops/inbox?' + query.toString());
      setError('inbox-error', '');
    } catch (e) {
      if (e.auth) throw e;
      setError('inbox-error', e.message);
      page = { items: [], next: null };
    }
    if (overtaken(t)) return;
    rows('inbox-table', 'inbox-empty', page.items || [], (row) => el('tr', { attrs: { 'data-inbox-id': row.id } }, [
      td(row.id, 'mono'),
      td(row.source),
      td(row.delivery_id, 'mono delivery-id'),
      td(row.event, 'event'),
      td(when(row.received_at)),
      td(row.verification),
      td(row.status, 'state-' + row.status),
      td(row.http_status, 'num'),
      el('td', {}, [jobLink(row.job_id)]),
      td(clip(row.error, 160), 'error-text', row.error),
      replayCell(row, p),
    ]));
    pager('inbox', 'inbox', p, page.next);
  };

  function replayCell(row, p) {
    if (row.body_bytes === null || row.body_bytes === undefined) {
      return td('no body kept', 'muted small');
    }
    const button = el('button', { text: 'Replay…', cls: 'replay', attrs: { type: 'button' } });
    button.addEventListener('click', () => askReason(
      'Replay inbox row ' + row.id + ' (' + row.source + ', delivery ' + row.delivery_id + ')? Its body is stored again as a new delivery and enqueued.',
      'Replay',
      async (reason) => {
        const out = await api('POST', '/api/ops/inbox/' + encodeURIComponent(row.id) + '/replay', { reason });
        setStatus('Inbox row ' + out.inbox_id + ' replayed as row ' + out.replay_inbox_id +
          (out.job_id ? ', job ' + out.job_id + ' enqueued' : '') + ' (audit event ' + out.audit_event_id +
          '). Reason recorded: “' + reason + '”.', false);
        await views.inbox(null, new URLSearchParams({ source: p.source, status: p.status }));
      },
    ));
    return el('td', {}, [button]);
  }

  function filterInbox(event) {
    event.preventDefault();
    go(hashOf('inbox', { source: $('inbox-source').value, status: $('inbox-status').value }));
  }

  // ------------------------------------------------------------- workflows

  views.workflows = async function (_id, search) {
    const t = ticket();
    const p = paramsOf(search, ['cursor']);
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (p.cursor) query.set('cursor', p.cursor);
    let page;
    try {
      page = await api('GET', '/api/ops/workflows?' + query.toString());
      setError('workflows-error', '');
    } catch (e) {
      if (e.auth) throw e;
      setError('workflows-error', e.message);
      page = { items: [], next: null };
    }
    if (overtaken(t)) return;
    rows('workflows-table', 'workflows-empty', page.items || [], (r) => el('tr', { attrs: { 'data-referral-id': r.id } }, [
      el('td', {}, [link(String(r.id), '#/workflow/' + encodeURIComponent(r.id), 'mono workflow-link')]),
      td(r.employee_id, 'mono employee'),
      td(r.source),
      td(r.state, 'state-' + r.state),
      td(when(r.referred_at)),
      td(when(r.decided_at)),
      td(r.reason, 'error-text'),
    ]));
    pager('workflows', 'workflows', p, page.next);
  };

  function openWorkflow(event) {
    event.preventDefault();
    const id = $('workflow-id').value.trim();
    if (id) go('#/workflow/' + encodeURIComponent(id));
  }

  views.workflow = async function (id) {
    const t = ticket();
    $('wf-id').textContent = id || '';
    $('wf-jobs').setAttribute('href', hashOf('jobs', { referral_id: id }));
    let wf;
    try {
      wf = await api('GET', '/api/ops/workflows/' + encodeURIComponent(id || ''));
      if (overtaken(t)) return;
      setError('wf-error', '');
    } catch (e) {
      if (e.auth) throw e;
      if (overtaken(t)) return;
      setError('wf-error', e.status === 404 ? 'No referral ' + id + '.' : e.message);
      return;
    }
    const r = wf.referral;
    $('wf-state').textContent = r.state;
    $('wf-state').className = 'badge state-' + r.state;
    fields('wf-referral', [
      ['referrer', r.employee_id, 'mono employee'],
      ['source', r.source],
      ['state', r.state, 'state-' + r.state],
      ['reason', r.reason],
      ['referred', when(r.referred_at)],
      ['decided', when(r.decided_at)],
      ['candidate', r.candidate_id, 'mono'],
      ['test data', r.is_test ? 'yes' : 'no'],
    ]);
    const a = wf.application;
    show($('wf-application-empty'), !a);
    show($('wf-application'), Boolean(a));
    fields('wf-application', a ? [
      ['application', a.id, 'mono'],
      ['ATS', a.ats],
      ['ATS application id', a.ats_application_id, 'mono'],
      ['ATS candidate ids', (a.ats_candidate_ids || []).join(', '), 'mono'],
      ['job', a.job_id, 'mono'],
      ['status', a.status, 'state-' + a.status],
      ['stage', a.stage],
      ['applied', when(a.applied_at)],
      ['hired', when(a.hired_at)],
      ['starts', when(a.start_date)],
      ['rejected', when(a.rejected_at)],
    ] : []);
    rows('wf-milestones', 'wf-milestones-empty', wf.milestones || [], (m) => el('tr', { attrs: { 'data-milestone-id': m.id, 'data-kind': m.kind } }, [
      td(m.id, 'mono'), td(m.kind), td(m.state, 'state state-' + m.state), td(when(m.occurred_at)),
      td(when(m.due_at)), jobCell(m.timer_job), td(m.cancel_reason),
    ]));
    rows('wf-payouts', 'wf-payouts-empty', wf.payouts || [], (p) => el('tr', { attrs: { 'data-payout-id': p.id } }, [
      td(p.id, 'mono'), td(p.tranche), td(money(p.amount_minor, p.currency), 'num'),
      td(p.awaiting_approval ? 'awaiting approval' : p.state, 'state state-' + p.state),
      td(p.attempts, 'num'), td(p.last_status_code), td(when(p.delivered_at)),
      jobCell(p.send_job || { job_id: p.send_job_id }), td(p.reason), payoutActions(p, id),
    ]));
    rows('wf-messages', 'wf-messages-empty', wf.messages || [], (m) => el('tr', { attrs: { 'data-message-id': m.id } }, [
      td(m.id, 'mono'), td(m.channel), td(m.event_type), td(m.state, 'state state-' + m.state),
      td(m.attempts, 'num'), td(m.last_status_code), td(when(m.delivered_at)), jobCell(m.job),
      td(clip(m.last_error, 160), 'error-text', m.last_error),
    ]));
  };

  function payoutActions(p, referralId) {
    const buttons = [];
    const action = (label, verb, path) => {
      const b = el('button', { text: label + '…', cls: verb, attrs: { type: 'button' } });
      b.addEventListener('click', () => askReason(label + ' payout ' + p.id + ' (' + p.tranche + ', ' +
        money(p.amount_minor, p.currency) + ')?', label, async (reason) => {
        const out = await api('POST', '/api/payouts/' + encodeURIComponent(p.id) + '/' + path, { reason });
        setStatus('Payout ' + p.id + ' ' + verb + ': now ' + out.state + '. Reason recorded: “' + reason + '”.', false);
        await views.workflow(referralId);
      }));
      buttons.push(b);
    };
    if (p.awaiting_approval || p.state === 'held') action('Approve', 'approved', 'approve');
    if (['eligible', 'approved', 'failed'].includes(p.state)) action('Hold', 'held', 'hold');
    return el('td', {}, [el('div', { cls: 'action' }, buttons)]);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('job-search').addEventListener('submit', searchJobs);
    $('job-search-clear').addEventListener('click', () => go('#/jobs'));
    $('inbox-filter').addEventListener('submit', filterInbox);
    $('workflow-search').addEventListener('submit', openWorkflow);
  });
})();
