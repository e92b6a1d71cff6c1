"""The demo's product-detail page: the item from ``item:{id}``, "Recommended for you", and a live panel.

Rendered on the server (item details) and kept live by a small script that polls the API: the list
refreshes every second, so a person sees it change as the worker reacts to their clicks. Clicking a
recommendation POSTs a click event (list id, position, variant, the items shown) and navigates; the
new page POSTs a view event. A new list on screen POSTs one impression (the items shown), which feeds per-variant CTR.

Until the worker has written anything a page could show (it joins Kafka and recovers its tables first,
up to a minute on a first start), the index and an empty list say so, with the events it has processed.

The markup carries ``data-*`` attributes (source, context item, list id) for the browser test.
"""

from __future__ import annotations

from html import escape

import orjson


def warming_text(events: float | None) -> str:
    """What the worker is doing while there is nothing to show; ``events`` is its processed-event count."""
    if events is None:
        return ("Waiting for the worker: it is joining Kafka and recovering its state "
                "(up to a minute on a first start).")
    return (f"The worker is warming up: {int(events):,} events processed so far. Recommendations appear "
            "as soon as it has written its first lists.")


# The same wording in the pages' scripts, which keep it current from /stats.
_WARMING_JS = r"""
  const warmingText = (events) => (events === null || events === undefined)
    ? 'Waiting for the worker: it is joining Kafka and recovering its state (up to a minute on a first start).'
    : `The worker is warming up: ${Math.trunc(events).toLocaleString('en-US')} events processed so far. ` +
      'Recommendations appear as soon as it has written its first lists.';
"""


def render_warming(events: float | None) -> str:
    """The index while nothing is trending: the worker's progress, and the first product page once there is one."""
    return _WARMING.format(status=escape(warming_text(events)), script=_WARMING_SCRIPT)


def render_page(item_id: str, item: dict | None, user: str | None, k: int) -> str:
    title = str(item.get("title", item_id)) if item else f"Unknown item {item_id}"
    category = item.get("category") if item else None
    category = " › ".join(map(str, category)) if isinstance(category, list) else str(category or "-")
    brand = str(item.get("brand") or "-") if item else "-"
    price = item.get("price") if item else None
    price_text = f"{float(price):,.2f}" if isinstance(price, (int, float)) else "-"
    stock = "" if not item or item.get("in_stock", True) else '<span class="oos">out of stock</span>'
    config = orjson.dumps({"item": item_id, "user": user, "k": k}).decode().replace("</", "<\\/")
    return _TEMPLATE.format(
        title=escape(title), item_id=escape(item_id), category=escape(category), brand=escape(brand),
        price=escape(price_text), stock=stock, known="true" if item else "false", config=config, script=_SCRIPT)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · Freshrec demo shop</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}}
header{{background:#1f3b57;color:#fff;padding:.6rem 1.2rem;display:flex;justify-content:space-between}}
header a{{color:#fff;text-decoration:none;font-weight:600}}
main{{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:1.2rem;padding:1.2rem;max-width:1100px}}
.card{{background:#fff;border-radius:8px;padding:1rem 1.2rem;box-shadow:0 1px 3px #0002}}
h1{{font-size:1.5rem;margin:.2rem 0 .6rem}} .price{{font-size:1.4rem;font-weight:700;color:#0a6}}
dl{{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}} dt{{color:#666}} .oos{{color:#c00}}
#recs{{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.6rem}}
#recs li{{border:1px solid #ddd;border-radius:6px;padding:.5rem .6rem;background:#fafafa}}
#recs a{{font-weight:600;color:#1f3b57;text-decoration:none}} #recs a:hover{{text-decoration:underline}}
.reason{{display:block;color:#666;font-size:.8rem;margin-top:.2rem}} .meta{{color:#777;font-size:.8rem}}
#panel table{{width:100%;border-collapse:collapse;font-size:.9rem}} #panel td{{padding:.15rem 0}}
#panel td:last-child{{text-align:right;font-variant-numeric:tabular-nums}}
</style></head>
<body>
<header><a href="/">Freshrec demo shop</a><span id="who"></span></header>
<main>
<div>
<section class="card" id="product" data-item="{item_id}" data-known="{known}">
<h1 id="title">{title}</h1>
<div class="price" id="price">{price}</div>{stock}
<dl><dt>Category</dt><dd id="category">{category}</dd><dt>Brand</dt><dd id="brand">{brand}</dd>
<dt>Item id</dt><dd>{item_id}</dd></dl>
</section>
<section class="card">
<h2>Recommended for you</h2>
<ol id="recs" data-source="" data-context-item="" data-list-id=""></ol>
<div class="meta" id="recs-meta">loading…</div>
</section>
</div>
<aside class="card" id="panel"><h2>Live</h2><table>
<tr><td>events/s</td><td id="p-rate">-</td></tr>
<tr><td>events processed</td><td id="p-events">-</td></tr>
<tr><td>freshness p50</td><td id="p-fresh">-</td></tr>
<tr><td>this list's age</td><td id="p-age">-</td></tr>
<tr><td>model version</td><td id="p-model">-</td></tr>
</table><h3>CTR by variant</h3><table id="p-ctr"><tr><td>-</td><td>-</td></tr></table></aside>
</main>
<script>const FR = {config};</script>
<script>{script}</script>
</body></html>
"""

_SCRIPT = r"""
(function () {
  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), b => b.toString(16).padStart(2, '0')).join('');
  let user = FR.user || localStorage.getItem('freshrec-user');
  if (!user) { user = 'web-' + hex(6); }
  localStorage.setItem('freshrec-user', user);
  let session = sessionStorage.getItem('freshrec-session');
  if (!session) { session = 's-' + hex(8); sessionStorage.setItem('freshrec-session', session); }
  document.getElementById('who').textContent = 'user ' + user;
  const fmt = (v, unit, digits) => (v === null || v === undefined) ? '-' : Number(v).toFixed(digits) + unit;
  /*WARMING*/
  let events = null, shown = null;  // shown: items in the last list rendered (null: none yet)
  const post = (ev) => fetch('/events', {method: 'POST', keepalive: true, headers: {'content-type': 'application/json'},
    body: JSON.stringify(Object.assign({event_id: 'w' + hex(12), ts: Date.now(), user_id: user, session_id: session,
                                        page: 'detail'}, ev))}).catch(() => null);
  let current = null, impressed = new Set();

  function render(recs) {
    const ol = document.getElementById('recs');
    ol.dataset.source = recs.source; ol.dataset.contextItem = recs.context_item || '';
    ol.dataset.listId = recs.list_id || ''; ol.dataset.eventTs = recs.event_ts || '';
    ol.replaceChildren(...recs.items.map((r, i) => {
      const li = document.createElement('li'), a = document.createElement('a'), why = document.createElement('span');
      a.href = '/p/' + encodeURIComponent(r.item) + '?user=' + encodeURIComponent(user);
      a.textContent = r.title || r.item; a.dataset.item = r.item; a.dataset.position = i;
      a.addEventListener('click', (e) => {
        e.preventDefault();
        // The whole list goes with the click: the online ranker takes the items not picked as negatives.
        const ev = {type: 'click', item_id: r.item, shown: recs.items.map(x => x.item)};
        if (recs.list_id) { ev.list_id = recs.list_id; ev.position = i; }
        if (recs.variant) { ev.variant = recs.variant; }
        post(ev).finally(() => { location.href = a.href; });
      });
      why.className = 'reason'; why.textContent = r.reason_text || r.reason;
      li.append(a, why); return li;
    }));
    shown = recs.items.length;
    document.getElementById('recs-meta').textContent = recs.items.length
      ? `source: ${recs.source}${recs.context_item ? ' · based on ' + recs.context_item : ''}${recs.degraded ? ' · degraded' : ''}`
      : 'No recommendations yet. ' + warmingText(events);
    document.getElementById('p-age').textContent = fmt(recs.freshness_ms === null ? null : recs.freshness_ms / 1000, ' s', 1);
    if (recs.model_version) { document.getElementById('p-model').textContent = recs.model_version; }
    if (recs.list_id && recs.items.length && !impressed.has(recs.list_id)) {
      impressed.add(recs.list_id);
      const ev = {type: 'impression', item_id: FR.item, list_id: recs.list_id, shown: recs.items.map(r => r.item)};
      if (recs.variant) { ev.variant = recs.variant; }
      post(ev);
    }
  }

  async function refresh() {
    try {
      const q = new URLSearchParams({user: user, item: FR.item, k: FR.k, details: 1});
      const res = await fetch('/recommendations?' + q);
      if (res.ok) {
        const recs = await res.json();
        const sig = JSON.stringify([recs.source, recs.list_id, recs.event_ts, recs.items.map(r => r.item)]);
        if (sig !== current) { current = sig; render(recs); }
        else { document.getElementById('p-age').textContent = fmt(recs.freshness_ms / 1000, ' s', 1); }
      }
    } catch (e) { /* the next poll retries */ }
  }

  async function panel() {
    try {
      const res = await fetch('/stats');
      if (!res.ok) return;
      const s = await res.json();
      document.getElementById('p-rate').textContent = fmt(s.events_per_s, '', 0);
      events = s.events_total;
      document.getElementById('p-events').textContent =
        events === null || events === undefined ? '-' : Math.trunc(events).toLocaleString('en-US');
      if (shown === 0) { document.getElementById('recs-meta').textContent = 'No recommendations yet. ' + warmingText(events); }
      document.getElementById('p-fresh').textContent = fmt(s.freshness_p50_ms, ' ms', 1);
      if (s.model_version) { document.getElementById('p-model').textContent = s.model_version; }
      const rows = Object.entries(s.variants || {}).map(([name, v]) => {
        const tr = document.createElement('tr'), a = document.createElement('td'), b = document.createElement('td');
        a.textContent = name; b.textContent = v.ctr === null ? '-' : (100 * v.ctr).toFixed(1) + ' %';
        tr.append(a, b); return tr;
      });
      if (rows.length) { document.getElementById('p-ctr').replaceChildren(...rows); }
    } catch (e) { /* the next poll retries */ }
  }

  post({type: 'view', item_id: FR.item});
  refresh(); panel();
  setInterval(refresh, 1000); setInterval(panel, 2000);
})();
"""

_SCRIPT = _SCRIPT.replace("  /*WARMING*/\n", _WARMING_JS)

_WARMING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Freshrec demo shop</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem"><h1>Freshrec demo shop</h1>
<p>Nothing is trending yet, so there is no product to show.</p>
<p id="warm-status" style="font-weight:600">{status}</p>
<p style="color:#666">This page follows the worker and opens a product page by itself once there is one
(<code>make demo</code> starts the worker and the simulated shop). You can also open <code>/p/&lt;item id&gt;</code>.</p>
<script>{script}</script></body></html>
"""

_WARMING_SCRIPT = "(function () {" + _WARMING_JS + r"""
  async function poll() {
    try {
      // the index redirects to a product page as soon as something is trending
      const probe = await fetch(location.href, {redirect: 'manual', cache: 'no-store'});
      if (probe.type === 'opaqueredirect') { location.reload(); return; }
      const s = await (await fetch('/stats', {cache: 'no-store'})).json();
      document.getElementById('warm-status').textContent = warmingText(s.events_total);
    } catch (e) { /* the next poll retries */ }
  }
  setInterval(poll, 1000);
})();
"""
