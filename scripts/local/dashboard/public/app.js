// The local dashboard page: polls /api/snapshot and renders it. Plain browser JavaScript, no build
// step; uPlot is served by the dashboard itself from node_modules (no CDN, works offline).
// Every value from the server is written with textContent, never as HTML: raw CSV lines are data.
(() => {
  const COUNT_KEYS = [
    'generatedEvents',
    'generatedObjects',
    'objectsIngested',
    'rowsInserted',
    'rowsDuplicate',
    'rowsRejected',
    'objectsFailed',
    'objectsBudgetFailed',
    'objectsInProgress',
    'objectsMissing',
    'objectsReconciled',
    'queueDepth',
    'inFlight',
    'dlqDepth',
  ];
  const fmt = new Intl.NumberFormat('en-US');
  const $ = (id) => document.getElementById(id);
  const charts = {};
  let pollMs = 1000;

  function setCount(key, value) {
    const el = $(`c-${key}`);
    if (!el) return;
    // data-value carries the exact number for tests and scripts; the text is for people.
    el.dataset.value = String(value);
    el.textContent = fmt.format(value);
  }

  function ms(v) {
    if (v === null || v === undefined) return '–';
    return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${fmt.format(v)} ms`;
  }

  function cell(tr, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function fillTable(id, rows, render) {
    const body = $(id).querySelector('tbody');
    const trs = rows.map((r) => {
      const tr = document.createElement('tr');
      render(tr, r);
      return tr;
    });
    body.replaceChildren(...trs);
  }

  function latencyRow(id, p) {
    const cells = $(id).querySelectorAll('td');
    const values = p
      ? [fmt.format(p.n), ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max)]
      : ['–', '–', '–', '–', '–'];
    values.forEach((v, i) => {
      if (cells[i]) cells[i].textContent = v;
    });
  }

  function chart(id, series) {
    const el = $(id);
    const width = Math.max(300, el.clientWidth);
    const opts = {
      width,
      height: 200,
      scales: { x: { time: true } },
      legend: { live: false },
      series: [
        {},
        ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5, points: { show: false } })),
      ],
      axes: [{}, { size: 60 }],
    };
    const data = [[], ...series.map(() => [])];
    return new window.uPlot(opts, data, el);
  }

  function updateCharts(s) {
    if (!window.uPlot) return;
    if (!charts.rates) {
      charts.rates = chart('chart-rates', [
        ['generated/s', '#6b6b70'],
        ['inserted/s', '#1a7f37'],
        ['duplicates/s', '#1f6feb'],
        ['rejected/s', '#b26b00'],
      ]);
      charts.queue = chart('chart-queue', [
        ['queue', '#1f6feb'],
        ['in flight', '#8250df'],
        ['DLQ', '#c62828'],
      ]);
      window.addEventListener('resize', () => {
        for (const [id, c] of [
          ['chart-rates', charts.rates],
          ['chart-queue', charts.queue],
        ])
          c.setSize({ width: Math.max(300, $(id).clientWidth), height: 200 });
      });
    }
    charts.rates.setData([s.t, s.generated, s.inserted, s.duplicate, s.rejected]);
    charts.queue.setData([s.t, s.queue, s.inFlight, s.dlq]);
  }

  function render(snap) {
    pollMs = snap.sampleMs || pollMs;
    const live = $('live');
    if (snap.error) {
      live.className = 'live error';
      live.dataset.state = 'error';
      live.textContent = `error: ${snap.error}`;
    } else if (snap.counts) {
      live.className = 'live';
      live.dataset.state = 'live';
      live.textContent = `live · updated ${new Date(snap.at).toLocaleTimeString()}`;
    }
    if (snap.counts) for (const key of COUNT_KEYS) setCount(key, snap.counts[key]);
    // The sample the counts come from, so a reader can tell which moment the page shows.
    document.body.dataset.sampleAt = String(snap.at);
    updateCharts(snap.series);

    if (snap.latency) {
      $('latency-window').textContent = `last ${snap.latency.windowMinutes} min`;
      latencyRow('lat-object', snap.latency.objectToCommit);
      latencyRow('lat-event', snap.latency.eventToCommit);
      latencyRow('lat-processing', snap.latency.processing);
    }
    $('summary-window').textContent = `last ${snap.summaryHours} h, by event type`;
    fillTable('summary', snap.summary, (tr, r) => {
      tr.dataset.eventType = r.eventType;
      cell(tr, r.eventType);
      cell(tr, fmt.format(r.events), 'num').dataset.value = String(r.events);
      cell(tr, fmt.format(r.units), 'num');
      cell(tr, r.revenue, 'num');
    });
    fillTable('reasons', snap.reasons, (tr, r) => {
      cell(tr, r.reason);
      cell(tr, fmt.format(r.rows), 'num').dataset.value = String(r.rows);
    });
    fillTable('objects', snap.objects, (tr, o) => {
      const key = cell(tr, o.key, 'key');
      key.title = o.error ? `${o.key}\n${o.error}` : o.key;
      cell(tr, o.status, `status-${o.status}`).title = o.error || '';
      cell(tr, fmt.format(o.rowsTotal), 'num');
      cell(tr, fmt.format(o.rowsInserted), 'num');
      cell(tr, fmt.format(o.rowsDuplicate), 'num');
      cell(tr, fmt.format(o.rowsRejected), 'num');
      cell(tr, ms(o.latencyMs), 'num');
      cell(tr, new Date(o.ingestedAt).toLocaleTimeString());
    });
    fillTable('reconciled', snap.reconciled || [], (tr, r) => {
      cell(tr, r.key, 'key').title = r.key;
      cell(tr, r.reason);
      cell(tr, r.status || 'not in the ledger yet', `status-${r.status || 'none'}`);
      cell(tr, new Date(r.reconciledAt).toLocaleTimeString());
    });
    fillTable('rejects', snap.rejects, (tr, r) => {
      cell(tr, `${r.key.split('/').pop()}:${r.line}`, 'key').title = r.key;
      cell(tr, r.reason);
      cell(tr, r.raw, 'raw').title = r.raw;
    });
  }

  async function poll() {
    try {
      const res = await fetch('/api/snapshot', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      render(await res.json());
    } catch (e) {
      const live = $('live');
      live.className = 'live error';
      live.dataset.state = 'unreachable';
      live.textContent = `dashboard unreachable: ${e.message} (is npm start still running?)`;
    }
    setTimeout(poll, pollMs);
  }
  poll();
})();
