// The ops page's Reports view (`#/reports`, `#/reports/RUN_ID`): the
// scheduled KPI reports kept for leadership (`GET /api/reports/scheduled`)
// and the three-way reconciliation runs (`GET /api/reconciliation/runs?
// scope=three_way`), one run's variances with their suggested fixes
// (`GET /api/reconciliation/runs/ID`). app.js routes here and lends its
// helpers. Read-only; values are written with textContent only, never
// parsed as HTML.
'use strict';

(function () {
  const { $, el, td, clear, show, when, clip, api, setError, views } = window.referralWorkerOps;

  let latest = 0;

  function table(tableId, emptyId, items, row) {
    const body = $(tableId).querySelector('tbody');
    clear(body);
    for (const item of items) body.appendChild(row(item));
    show($(emptyId), items.length === 0);
    show($(tableId), items.length > 0);
  }

  async function load(errorId, path) {
    try {
      const data = await api('GET', path);
      setError(errorId, '');
      return data;
    } catch (e) {
      if (e.auth) throw e;
      setError(errorId, e.message);
      return null;
    }
  }

  // `{"hire_not_in_crm": 2, …}` as `hire_not_in_crm: 2, …`.
  function counts(summary) {
    if (!summary || typeof summary !== 'object') return '';
    if (summary.error) return 'failed: ' + summary.error;
    return Object.keys(summary).sort().map((k) => k + ': ' + summary[k]).join(', ');
  }

  function period(p) {
    return p ? when(p.from) + ' – ' + when(p.until) : '';
  }

  function kpiSummary(kpis) {
    const p = (kpis && kpis.programme) || {};
    const parts = [];
    if (p.participation && typeof p.participation.rate === 'number') {
      parts.push('participation ' + Math.round(p.participation.rate * 100) + '%');
    }
    if (p.hires_by_channel) parts.push('referral hires ' + p.hires_by_channel.referral);
    return parts.join(' · ');
  }

  views.reports = async function (id) {
    const t = ++latest;
    const [reports, runs] = await Promise.all([
      load('reports-kpi-error', '/api/reports/scheduled'),
      load('reports-runs-error', '/api/reconciliation/runs?scope=three_way'),
    ]);
    if (t !== latest) return;
    table('reports-kpi-table', 'reports-kpi-empty', reports || [], (r) => el('tr', { attrs: { 'data-report-id': r.report_id } }, [
      td(r.report_id, 'mono'),
      td(r.trigger, 'mono small'),
      td(when(r.period_from) + ' – ' + when(r.period_until)),
      td(when(r.created_at)),
      td(r.sent_to_crm ? 'yes' : 'no'),
      td(kpiSummary(r.kpis)),
    ]));
    table('reports-runs-table', 'reports-runs-empty', runs || [], (r) => el('tr', { attrs: { 'data-run-id': r.id } }, [
      el('td', {}, [el('a', { text: String(r.id), cls: 'mono run-link', attrs: { href: '#/reports/' + encodeURIComponent(r.id) } })]),
      td(r.trigger, 'mono small'),
      td(period(r.period)),
      td(when(r.started_at)),
      td(r.variance_count, 'num'),
      td(clip(counts(r.summary), 200), 'small', counts(r.summary)),
    ]));
    show($('reports-run'), Boolean(id));
    if (!id) return;
    $('reports-run-id').textContent = id;
    const run = await load('reports-run-error', '/api/reconciliation/runs/' + encodeURIComponent(id));
    if (t !== latest) return;
    table('reports-variances-table', 'reports-variances-empty', (run && run.items) || [], (v) => el('tr', { attrs: { 'data-kind': v.kind } }, [
      td(v.kind, 'state'),
      td(v.subject_type),
      td(v.subject_id, 'mono'),
      td(v.suggested_fix || ''),
      td(v.resolved ? 'yes' : 'no'),
    ]));
  };
})();
