/* The findings of authcheck.html, rendered from the JSON document in #ac-data (see html_data.py).
 *
 * The document and the chunks of HTTP exchanges (#ac-x0, #ac-x1, ...) are gzip-compressed base64: the
 * document is decompressed on opening, a chunk the first time one of its exchanges is opened (all of
 * them at once, while the page is idle, when the run is small, so that a print holds them too; in a
 * larger run, an exchange that was never opened may still be decompressing when the print is laid out).
 *
 * Built for runs of any size: results are grouped by target, targets with failures first, one page of
 * targets at a time; passed results of a target are one "show" row until asked for, and a result's
 * evidence (and each HTTP exchange inside it) is built only when it is opened. Filters and search work
 * on the data, not on the page. Every string goes into the page through textContent; the only markup
 * taken from the data is the privilege diff, which html_data.py escaped when it rendered it.
 * Printing renders every result that matches the filters, with its evidence open (the current page of
 * targets only when more than PRINT_LIMIT results match, saying so: a print of all of a large run would
 * stall the browser and fill thousands of pages).
 */
(function () {
  'use strict';
  var SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  var PRINT_LIMIT = 1000;
  var D = null, groups = [], shown = [], matched = 0, page = 0, perPage = 25, expanded = {}, text = '';
  var printing = false, printAll = false;
  var PASSED = 4;
  // Runs with at most this many chunks of exchanges (about 0.5 MB of JSON each) get them all decompressed at once.
  var PRELOAD_CHUNKS = 4;
  var chunks = [], loaded = [];  // per chunk: the promise of its exchanges, and the exchanges once there

  function el(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (content !== undefined && content !== null) { node.textContent = String(content); }
    return node;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) { continue; }
      parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return parent;
  }
  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function pretty(value) { return typeof value === 'string' ? value : JSON.stringify(value, null, 1); }
  function value(index) { return D.values[index]; }
  function checkOf(r) { return D.checks[r.c]; }  // [id, title, severity, area, level, refs, remediation]
  function statusOf(r) { return D.statuses[r.s]; }
  function targetOf(r) { return r.t === undefined ? D.notApplicable : D.targets[r.t]; }
  function badge(severity) { return el('span', 'ac-sev ac-' + severity, severity); }

  // The text of an element that holds gzip-compressed base64 (see html_data.py).
  function inflate(id) {
    var packed = atob(document.getElementById(id).textContent), bytes = new Uint8Array(packed.length);
    for (var i = 0; i < packed.length; i++) { bytes[i] = packed.charCodeAt(i); }
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  }

  function chunkOf(position) {
    var k = 0;
    while (k + 1 < D.chunks.length && D.chunks[k + 1] <= position) { k++; }
    return k;
  }
  function load(k) {
    if (!chunks[k]) {
      chunks[k] = inflate('ac-x' + k).then(function (text) {
        loaded[k] = JSON.parse(text);
        // how many chunks are decompressed (what a reader, or a test, can check the page costs)
        document.documentElement.dataset.acChunks = String(loaded.filter(Boolean).length) + ' of ' + D.chunks.length;
        return loaded[k];
      });
    }
    return chunks[k];
  }

  function build(text) {
    D = JSON.parse(text);
    PASSED = D.statuses.indexOf('passed');
    var byTarget = new Map();
    D.results.forEach(function (r, i) {
      r.i = i;
      var key = r.t === undefined ? -1 : r.t;
      var group = byTarget.get(key);
      if (!group) {
        group = {key: key, name: key < 0 ? D.notApplicable : D.targets[key], results: [], worst: D.statuses.length, counts: {}};
        byTarget.set(key, group);
      }
      group.results.push(r);
      group.worst = Math.min(group.worst, r.s);
      group.counts[r.s] = (group.counts[r.s] || 0) + 1;
    });
    groups = Array.from(byTarget.values());
    groups.forEach(function (g) {
      g.results.sort(function (a, b) {
        var x = checkOf(a), y = checkOf(b);
        return a.s - b.s || SEVERITIES.indexOf(x[2]) - SEVERITIES.indexOf(y[2]) || cmp(x[3], y[3]) || cmp(x[0], y[0]);
      });
    });
    // What failed comes first: targets by their worst status, the checks without any target last.
    groups.sort(function (a, b) { return (a.key < 0) - (b.key < 0) || a.worst - b.worst || cmp(a.name, b.name); });
  }

  var valueTexts = [];
  function valueText(index) {  // values are shared by many results: each is stringified once
    var known = valueTexts[index];
    if (known === undefined) { known = valueTexts[index] = JSON.stringify(D.values[index]); }
    return known;
  }

  function haystack(r) {
    if (r.h === undefined) {
      var c = checkOf(r), parts = [c[0], c[1], c[2], c[3], statusOf(r), targetOf(r), r.m || '', r.b || ''];
      if (r.e !== undefined) { parts.push(valueText(r.e), valueText(r.o)); }
      if (r.w !== undefined) { parts.push(valueText(r.w)); }
      (r.f || []).forEach(function (f) { parts.push(f[0], valueText(f[1])); });
      (r.j || []).forEach(function (j) { parts.push('JWT ' + j[0]); });
      (r.x || []).forEach(function (at) { var x = D.exchanges[at]; parts.push(x[0] + ' ' + x[1]); });
      r.h = parts.join('\n').toLowerCase();
    }
    return r.h;
  }

  function selected(kind) {
    var set = {};
    document.querySelectorAll('input[data-ac-filter="' + kind + '"]').forEach(function (box) {
      if (box.checked) { set[box.value] = true; }
    });
    return set;
  }

  function filter() {
    var severity = selected('severity'), status = selected('status'), total = 0;
    var search = document.getElementById('ac-search');
    text = search ? search.value.trim().toLowerCase() : '';
    shown = [];
    groups.forEach(function (g) {
      var matching = g.results.filter(function (r) {
        return severity[checkOf(r)[2]] && status[statusOf(r)] && (!text || haystack(r).indexOf(text) >= 0);
      });
      if (matching.length) { shown.push({group: g, results: matching}); total += matching.length; }
    });
    matched = total;
    document.getElementById('ac-shown').textContent = String(total);
  }

  function render() {
    var box = document.getElementById('ac-findings');
    box.textContent = '';
    var pages = Math.max(1, Math.ceil(shown.length / perPage));
    page = Math.max(0, Math.min(page, pages - 1));
    var from = printAll ? 0 : page * perPage, to = printAll ? shown.length : Math.min(shown.length, from + perPage);
    var fragment = document.createDocumentFragment();
    if (printing && !printAll) {
      fragment.appendChild(el('p', 'ac-note ac-print-note', matched + ' results match the filters, more than ' + PRINT_LIMIT +
                              ' can be printed at once: this print holds the targets ' + (from + 1) + '\u2013' + to +
                              ' of ' + shown.length + '. Narrow the filters to print the rest.'));
    }
    for (var i = from; i < to; i++) { fragment.appendChild(section(shown[i])); }
    if (!shown.length) { fragment.appendChild(el('p', 'ac-note', D.results.length ? 'No result matches the filters.' : 'The run has no results.')); }
    box.appendChild(fragment);
    var info = shown.length ? 'Targets ' + (from + 1) + '\u2013' + to + ' of ' + shown.length : 'No target';
    document.querySelectorAll('.ac-page-info').forEach(function (node) { node.textContent = info + ' (page ' + (page + 1) + ' of ' + pages + ')'; });
    document.querySelectorAll('.ac-pager button[data-ac-page]').forEach(function (button) {
      var to_ = button.dataset.acPage;
      button.disabled = (to_ === 'first' || to_ === 'prev') ? page === 0 : page >= pages - 1;
    });
  }

  function countsText(g) {
    return D.statuses.map(function (s, i) { return g.counts[i] ? g.counts[i] + ' ' + s : ''; })
      .filter(Boolean).join(', ');
  }

  function section(entry) {
    var g = entry.group, node = el('section', 'ac-target'), details = el('details'), summary = el('summary');
    node.dataset.target = g.name;
    add(summary, el('h4', null, g.name), ' ', el('small', null, '(' + countsText(g) + ')'));
    details.appendChild(summary);
    var needsLook = entry.results.some(function (r) { return r.s < PASSED && D.statuses[r.s] !== 'skipped'; });
    details.open = printing || needsLook || Boolean(text) || Boolean(expanded[g.key]);
    var filled = false;
    function fill() {
      if (filled) { return; }
      filled = true;
      details.appendChild(table(entry));
    }
    if (details.open) { fill(); }
    details.addEventListener('toggle', function () { if (details.open) { fill(); } });
    node.appendChild(details);
    return node;
  }

  function table(entry) {
    var t = el('table'), head = el('thead'), tr = el('tr'), body = el('tbody');
    ['Area', 'Severity', 'Status', 'Check'].forEach(function (name) {
      var th = el('th', null, name);
      th.setAttribute('data-ac-sort', '');
      th.addEventListener('click', function () { sortBy(th); });
      tr.appendChild(th);
    });
    tr.appendChild(el('th', null, 'Finding, evidence and remediation'));
    add(t, add(head, tr), body);
    var passed = entry.results.filter(function (r) { return r.s === PASSED; });
    entry.results.forEach(function (r) { if (r.s !== PASSED) { body.appendChild(row(r)); } });
    if (passed.length && (printing || text || expanded[entry.group.key])) {
      passed.forEach(function (r) { body.appendChild(row(r)); });
    } else if (passed.length) {
      var more = el('tr', 'ac-more'), cell = el('td'), button = el('button', null, 'Show ' + passed.length + ' passed');
      cell.colSpan = 5;
      add(cell, el('span', 'ac-passed', passed.length + ' passed'), ' ', button);
      button.type = 'button';
      button.addEventListener('click', function () {
        expanded[entry.group.key] = true;
        passed.forEach(function (r) { body.insertBefore(row(r), more); });
        more.remove();
      });
      body.appendChild(add(more, cell));
    }
    return t;
  }

  function row(r) {
    var c = checkOf(r), status = statusOf(r), tr = el('tr', 'ac-finding');
    tr.id = 'ac-r' + r.i;
    tr.dataset.severity = c[2];
    tr.dataset.status = status;
    var sev = add(el('td'), badge(c[2])), state = add(el('td'), el('span', 'ac-' + status, status));
    sev.dataset.key = String(SEVERITIES.indexOf(c[2]));
    state.dataset.key = String(r.s);
    if (r.b) { add(state, ' ', el('span', 'ac-new', r.b)); }
    if (r.w !== undefined && value(r.w).expired) { add(state, ' ', el('span', 'ac-failed', 'waiver expired')); }
    var finding = el('td', 'ac-msg');
    finding.appendChild(lazy(el('summary', null, r.m || c[1]), function () { return detail(r); },
                             status === 'failed' || status === 'error'));
    add(tr, el('td', null, c[3]), sev, state, add(el('td'), el('code', null, c[0]), el('br'), c[1]), finding);
    return tr;
  }

  // A <details> whose content is made the first time it opens (at once when open or printing).
  function lazy(summary, make, open) {
    var details = el('details'), filled = false;
    details.appendChild(summary);
    function fill() {
      if (!filled) { filled = true; details.appendChild(make()); }
    }
    details.open = Boolean(open) || printing;
    if (details.open) { fill(); }
    details.addEventListener('toggle', function () { if (details.open) { fill(); } });
    return details;
  }

  function detail(r) {
    var c = checkOf(r), status = statusOf(r), block = el('div', 'ac-block');
    add(block, el('b', null, c[0]), ' ', badge(c[2]), ' ', el('span', 'ac-' + status, status), ' \u2014 ' + c[1]);
    if (r.t !== undefined) { add(block, el('br'), 'Target: ' + D.targets[r.t]); }
    if (r.m) { block.appendChild(el('pre', null, r.m)); }
    if (r.k !== undefined) {
      var cause = D.causes[r.k], why = el('p', 'ac-cause');
      add(why, 'One finding with others: ' + cause[0] + '.');
      if (cause[1] >= 0) {
        var to = el('a', null, ' Show the cause');
        to.href = '#ac-r' + cause[1];
        add(why, to);
      }
      block.appendChild(why);
    }
    if (r.e !== undefined) {
      var t = el('table');
      add(t, add(el('tr'), el('th', null, 'Expected'), add(el('td'), el('pre', null, pretty(value(r.e))))),
          add(el('tr'), el('th', null, 'Observed'), add(el('td'), el('pre', null, pretty(value(r.o))))));
      block.appendChild(t);
    }
    if (status === 'failed' || status === 'error' || status === 'waived') { add(block, el('br'), 'Remediation: ' + c[6]); }
    if (r.w !== undefined) { waiverNote(block, value(r.w)); }
    if (c[5].length) { add(block, el('br'), 'Spec: ' + c[5].join('; ') + ' (' + c[4] + ')'); }
    if (r.p) {
      var holder = el('div');
      holder.innerHTML = r.p;  // rendered and escaped by html_data.py (privilege_diff.render)
      block.appendChild(holder);
    }
    (r.f || []).forEach(function (f) {
      block.appendChild(lazy(el('summary', null, f[0]), function () { return el('pre', null, pretty(value(f[1]))); }));
    });
    (r.j || []).forEach(function (j) {
      block.appendChild(lazy(el('summary', null, 'JWT ' + j[0] + ' ' + j[1]),
                             function () { return el('pre', null, pretty(value(j[2]))); }));
    });
    (r.x || []).forEach(function (at) { block.appendChild(exchange(at)); });
    return block;
  }

  function waiverNote(block, w) {
    var expired = Boolean(w.expired), who = ['ticket', 'owner'].filter(function (k) { return w[k]; }).map(function (k) { return w[k]; });
    add(block, el('br'), el('span', expired ? 'ac-failed' : 'ac-waived', expired ? 'expired' : 'waived'),
        ' until ' + w.expires + ' ' + who.join(' ') + ': ' + w.reason);
  }

  // An exchange's summary line from the document; the exchange itself from its chunk, when opened.
  function exchange(at) {
    var x = D.exchanges[at];  // [method, url, status, error]
    var status = x[2] !== null && x[2] !== undefined ? x[2] : (x[3] || 'no answer');
    var summary = el('summary', null, 'HTTP ' + x[0] + ' ' + x[1] + ' \u2192 ' + status);
    return lazy(summary, function () {
      var k = chunkOf(at), holder = el('div', 'ac-exchange');
      if (loaded[k]) {
        holder.appendChild(exchangeText(loaded[k][at - D.chunks[k]]));
      } else {
        holder.appendChild(el('small', 'ac-loading', 'decompressing the exchange\u2026 (printing again shows it)'));
        load(k).then(function (list) {
          holder.textContent = '';
          holder.appendChild(exchangeText(list[at - D.chunks[k]]));
        }, function (error) { holder.textContent = 'The exchange could not be read: ' + error; });
      }
      return holder;
    });
  }

  function exchangeText(x) {
    var request = x.method + ' ' + x.url + '\n' + (x.request_headers || []).map(function (h) { return h[0] + ': ' + h[1] + '\n'; }).join('');
    if (x.request_body) { request += '\n' + x.request_body; }
    var response = [x.http_version || '', x.status || '', x.reason || ''].join(' ').trim() + '\n';
    response += (x.response_headers || []).map(function (h) { return h[0] + ': ' + h[1] + '\n'; }).join('');
    if (x.response_body) { response += '\n' + x.response_body + (x.body_truncated ? '\n[truncated]' : ''); }
    if (x.error) { response += '\nerror: ' + x.error; }
    var meta = x.elapsed_ms + ' ms, ' + (x.attempts || 1) + ' attempt(s), ' + (x.tls_version || 'no TLS') + ', at ' + x.started;
    return add(document.createDocumentFragment(), el('pre', null, request), el('pre', null, response), el('small', null, meta));
  }

  function sortBy(th) {
    var table = th.closest('table'), body = table.tBodies[0], index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.dataset.acDir !== 'asc';
    th.dataset.acDir = asc ? 'asc' : 'desc';
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.classList.contains('ac-finding'); });
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.key || a.cells[index].textContent, y = b.cells[index].dataset.key || b.cells[index].textContent;
      return cmp(x, y) * (asc ? 1 : -1);
    });
    var more = body.querySelector('tr.ac-more');
    rows.forEach(function (r) { body.insertBefore(r, more); });
  }

  function update() { filter(); page = 0; render(); }

  function reveal() {
    var match = /^#ac-r(\d+)$/.exec(location.hash);
    var r = match && D.results[Number(match[1])];
    if (!r) { return; }
    var at = -1;
    for (var tries = 0; tries < 2 && at < 0; tries++) {
      shown.forEach(function (entry, i) { if (entry.results.indexOf(r) >= 0) { at = i; } });
      if (at < 0) {  // hidden by the filters: show everything
        document.querySelectorAll('input[data-ac-filter]').forEach(function (box) { box.checked = true; });
        document.getElementById('ac-search').value = '';
        filter();
      }
    }
    if (at < 0) { return; }
    expanded[shown[at].group.key] = true;
    page = Math.floor(at / perPage);
    render();
    var node = document.getElementById('ac-r' + r.i);
    if (node) {
      node.closest('section').querySelector('details').open = true;
      var details = node.querySelector('details');
      details.open = true;
      node.scrollIntoView();
    }
  }

  function start() {
    var box = document.getElementById('ac-findings');
    if (typeof DecompressionStream === 'undefined') {
      box.textContent = 'The findings are compressed: they need a browser with DecompressionStream (Chrome or Edge 80, ' +
        'Firefox 113, Safari 16.4 or later). Every result is in authcheck.json too.';
      document.documentElement.dataset.acFailed = 'DecompressionStream';
      return;
    }
    inflate('ac-data').then(function (text) {
      build(text);
      return true;
    }).then(draw, function (error) {
      box.textContent = 'The findings could not be read: ' + error;
      document.documentElement.dataset.acFailed = String(error);
    });
  }

  function draw() {
    document.querySelectorAll('input[data-ac-filter]').forEach(function (box) { box.addEventListener('change', update); });
    var timer = null, search = document.getElementById('ac-search');
    search.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(update, 120); });
    search.addEventListener('keydown', function (event) { if (event.key === 'Enter') { clearTimeout(timer); update(); } });
    document.querySelectorAll('.ac-pager button[data-ac-page]').forEach(function (button) {
      button.addEventListener('click', function () {
        var pages = Math.max(1, Math.ceil(shown.length / perPage)), to = button.dataset.acPage;
        page = to === 'first' ? 0 : to === 'prev' ? page - 1 : to === 'next' ? page + 1 : pages - 1;
        render();
      });
    });
    document.querySelectorAll('.ac-pager select').forEach(function (select) {
      select.addEventListener('change', function () {
        perPage = Number(select.value);
        document.querySelectorAll('.ac-pager select').forEach(function (other) { other.value = select.value; });
        page = 0;
        render();
      });
    });
    filter();
    render();
    reveal();
    window.addEventListener('hashchange', reveal);
    document.documentElement.dataset.acReady = String(Math.round(performance.now()));
    warm(0);
    if (D.chunks.length <= PRELOAD_CHUNKS) {
      (window.requestIdleCallback || setTimeout)(function () { D.chunks.forEach(function (_, k) { load(k); }); });
    }
  }

  // Prepare the search text of every result in small slices while the page is idle, so that the first
  // search over a large run does not wait for it.
  function warm(from) {
    var later = window.requestIdleCallback || function (task) { return setTimeout(task, 0); };
    later(function () {
      var to = Math.min(D.results.length, from + 5000);
      for (var i = from; i < to; i++) { haystack(D.results[i]); }
      if (to < D.results.length) { warm(to); }
    });
  }

  var reopen = [];
  window.addEventListener('beforeprint', function () {
    printing = true;
    printAll = matched <= PRINT_LIMIT;
    if (D) { render(); }
    reopen = [];
    document.querySelectorAll('details:not([open])').forEach(function (d) { d.open = true; reopen.push(d); });
  });
  window.addEventListener('afterprint', function () {
    printing = printAll = false;
    reopen.forEach(function (d) { d.open = false; });
    reopen = [];
    if (D) { render(); }
  });
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
