// The operator console: every view drawn from the JSON API of this origin. Data only ever
// reaches the page as text (createTextNode / textContent, never innerHTML), so an event
// body holding markup is shown, not run; the Content-Security-Policy forbids inline
// scripts besides.
"use strict";

(() => {
  const ROOT = location.pathname.replace(/\/ui\/?$/, "");
  const S = "/api/v1/schedules";
  const M = `${S}/monitoring`;
  let session = { login: false, csrf_token: null, csrf_header: "X-CSRF-Token", cold_tier: true };
  let refresh = null; // the overview's timer

  // --- DOM ------------------------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const kid of kids) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return el;
  }

  const main = () => document.getElementById("main");
  function show(...nodes) {
    main().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  }
  function flash(text, isError) {
    const box = document.getElementById("flash");
    box.replaceChildren(h("div", { class: isError ? "msg error" : "msg" }, text));
  }
  const badge = (word) => h("span", { class: `badge ${word || ""}` }, word ?? "unknown");
  const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  const secs = (s) => (s === null || s === undefined ? "–" : s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(0)} s`);
  const when = (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "–");
  const card = (label, value, ...more) =>
    h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), ...more);

  // --- API ------------------------------------------------------------------------------

  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && session.csrf_token) headers[session.csrf_header] = session.csrf_token;
    let response;
    try {
      response = await fetch(ROOT + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      return { ok: false, status: 0, data: { detail: `the API is unreachable: ${err}` } };
    }
    if (response.status === 401 && session.login) {
      location.assign(`${ROOT}/ui/login`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { ok: response.ok, status: response.status, data };
  }
  const get = (path) => call("GET", path);
  const problem = (r) => (r.data && r.data.detail ? String(r.data.detail) : `HTTP ${r.status}`);

  // --- pages ----------------------------------------------------------------------------

  const PAGES = [
    { path: "/", title: "Overview", render: overview },
    { path: "/schedules", title: "Schedules", render: schedules },
    { path: "/pauses", title: "Pauses and limits", render: pauses },
    { path: "/dead-letters", title: "Dead letters", render: deadLetters },
    { path: "/recurring", title: "Recurring", render: recurringList },
  ];

  const currentPath = () => (location.hash.replace(/^#/, "") || "/").split("?")[0];

  function route() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    clearInterval(refresh);
    refresh = null;
    document.getElementById("flash").replaceChildren();
    const one = path.match(/^\/schedules\/(.+)$/);
    const def = path.match(/^\/recurring\/(.+)$/);
    const byPath = (p) => PAGES.find((x) => x.path === p);
    const page = one ? byPath("/schedules") : def ? byPath("/recurring") : byPath(path) || PAGES[0];
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.path === page.path);
    }
    document.title = `${page.title} · hybrid-scheduler console`;
    if (one) return schedule(decodeURIComponent(one[1]));
    if (def) return recurringOne(decodeURIComponent(def[1]));
    return page.render(params);
  }

  // --- overview -------------------------------------------------------------------------

  async function overview() {
    if (!main().querySelector("[data-page=overview]")) show(h("p", { class: "muted" }, "Loading…"));
    await drawOverview();
    refresh = setInterval(drawOverview, 10000);
  }

  async function drawOverview() {
    const cold = session.cold_tier;
    const [health, stats, summary, timeline, jobRuns] = await Promise.all([
      get(`${M}/health`),
      get(`${M}/stats`),
      cold ? get(`${M}/analytics/summary?hours=1`) : null,
      cold ? get(`${M}/analytics/timeline?minutes=60`) : null,
      get(`${M}/jobs?limit=6`),
    ]);
    if (currentPath() !== "/") return; // the operator went elsewhere meanwhile
    const st = stats.ok ? stats.data : null;
    const paused = st && st.paused ? st.paused : null;
    const fig = summary && summary.ok ? summary.data.figures : null;
    const late = (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(0));
    const lateness = fig ? `${late(fig.p50_delay_seconds)} / ${late(fig.p95_delay_seconds)} / ${late(fig.p99_delay_seconds)} s` : "–";
    const p95 = fig ? fig.p95_delay_seconds : null;
    const lateLevel = p95 === null ? null : p95 > 300 ? "critical" : p95 >= 30 ? "warning" : "normal";

    const cards = h(
      "div",
      { class: "grid", id: "health-cards" },
      card("Redis queue (hot tier)", st ? num(st.redis_pending) : "–", st ? badge(st.levels.redis_pending) : null),
      card("ClickHouse queue (cold tier)", st ? num(st.pending) : "–", st && cold ? badge(st.levels.pending) : h("span", { class: "muted" }, cold ? "" : "cold tier off")),
      card("In flight", st ? num(st.in_flight) : "–"),
      card("Held by pauses", paused ? num(paused.held) : "–"),
      card("Lateness p50 / p95 / p99 (1 h)", h("span", { class: "small" }, lateness), lateLevel ? badge(lateLevel) : null),
      card(
        "Fired / failed / skipped (1 h)",
        fig ? `${num(fig.successful)} / ${num(fig.failed + fig.timeouts)} / ${num(fig.skipped)}` : "–",
      ),
      card("Dead letters (1 h)", fig ? num(fig.failed) : "–", st && st.dead_lettered ? h("div", { class: "muted" }, `${num(st.dead_lettered)} invalid envelopes (this process)`) : null,
        h("a", { href: "#/dead-letters" }, "List and replay")),
      card("Service", health.data && health.data.status ? badge(health.data.status) : badge("down"),
        h("div", { class: "muted" }, health.data && health.data.components ? Object.entries(health.data.components).map(([n, c]) => `${n} ${c.status}`).join(" · ") : problem(health))),
    );

    const limits = st && st.rate_limits ? st.rate_limits.limits : [];
    const pauseList = [
      paused && paused.pauses.length
        ? h("ul", {}, paused.pauses.map((p) => h("li", {}, describePause(p))))
        : h("p", { class: "muted" }, "No pause is active."),
      limits.length
        ? h("ul", { id: "limits-summary" }, limits.map((l) => h("li", {}, `Topic ${l.topic} limited to ${num(l.events_per_second)}/s (${l.source}), ${num(l.throttled)} waiting`)))
        : h("p", { class: "muted" }, "No topic is rate-limited."),
    ];

    const chart = timeline && timeline.ok
      ? drawChart(timeline.data.per_minute)
      : h("p", { class: "muted" }, cold ? problem(timeline) : "The cold tier is off: no execution history.");

    const jobs = h("div", { id: "jobs" }, jobsSummary(jobRuns), jobsLinks());

    show(
      h("div", { "data-page": "overview" },
        h("h1", {}, "Overview"),
        !stats.ok ? h("p", { class: "error" }, problem(stats)) : null,
        cards,
        h("h2", {}, "Fired, failed and skipped per minute (last hour)"),
        h("div", { class: "card chart" }, chart),
        h("div", { class: "two" },
          h("div", {}, h("h2", {}, "Active pauses and rate limits"), h("div", { class: "card", id: "pauses-summary" }, pauseList)),
          h("div", {}, h("h2", {}, "Background jobs"), h("div", { class: "card" }, jobs)),
        ),
        h("p", { class: "muted" }, `Refreshed ${new Date().toLocaleTimeString()}; every 10 s.`),
      ),
    );
  }

  function describePause(p) {
    const what = p.scope === "all" ? "Everything" : p.scope === "topic" ? `Topic ${p.topic}` : `Priorities below ${p.priority_below}`;
    return `${what}, since ${when(p.since)}${p.reason ? ` — ${p.reason}` : ""}`;
  }

  function runLink(run) {
    const ui = session.temporal_ui;
    const label = `${run.job} ${run.status}`;
    if (!ui) return label;
    const href = `${ui.workflows}/${encodeURIComponent(run.workflow_id)}/${encodeURIComponent(run.run_id)}/history`;
    return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label);
  }

  function jobsSummary(r) {
    if (!r.ok) return h("p", { class: "error" }, problem(r));
    const { via, runs, last_sync: sync } = r.data;
    if (via !== "temporal") {
      return h("p", { class: "muted" }, "This API process has no Temporal client: the jobs run in-process (their log lines and metrics tell).");
    }
    const last = sync
      ? h("p", { id: "last-sync" }, "Last sync: ", badge(sync.status), ` started ${when(sync.started_at)}`,
        sync.seconds === null ? ", still running" : `, took ${secs(sync.seconds)}`)
      : h("p", { class: "muted", id: "last-sync" }, "No sync run yet.");
    const table = runs.length
      ? h("table", {}, h("tr", {}, h("th", {}, "run"), h("th", {}, "started"), h("th", {}, "took")),
        runs.map((run) => h("tr", {}, h("td", {}, runLink(run)), h("td", {}, when(run.started_at)), h("td", {}, secs(run.seconds)))))
      : null;
    return [last, table];
  }

  function jobsLinks() {
    const ui = session.temporal_ui;
    if (!ui) return h("p", { class: "muted" }, "Set SCHEDULES_TEMPORAL_UI_URL to link the Temporal UI here.");
    return h("ul", {},
      h("li", {}, h("a", { href: ui.workflows, target: "_blank", rel: "noopener noreferrer" }, "Workflow runs (sync, cleanup, recovery, recurring) in the Temporal UI")),
      h("li", {}, h("a", { href: ui.schedules, target: "_blank", rel: "noopener noreferrer" }, "Temporal Schedules")),
    );
  }

  function drawChart(points) {
    const W = 1000, H = 220, L = 44, B = 22, T = 10;
    const max = Math.max(1, ...points.map((p) => p.fired + p.failed + p.skipped));
    const step = (W - L - 4) / points.length;
    const y = (v) => H - B - ((H - B - T) * v) / max;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "events per minute", preserveAspectRatio: "none" });
    for (const frac of [0, 0.5, 1]) {
      const v = Math.round(max * frac);
      chart.append(svg("line", { class: "gridline", x1: L, x2: W, y1: y(v), y2: y(v) }));
      chart.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, num(v)));
    }
    points.forEach((p, i) => {
      const x = L + i * step + 1;
      let base = 0;
      for (const kind of ["fired", "failed", "skipped"]) {
        const v = p[kind];
        if (!v) continue;
        const rect = svg("rect", { class: kind, x, width: Math.max(1, step - 2), y: y(base + v), height: y(base) - y(base + v) });
        rect.append(svg("title", {}, `${when(p.minute)}: ${v} ${kind}`));
        chart.append(rect);
        base += v;
      }
      if (i % 15 === 0 || i === points.length - 1) {
        const last = i === points.length - 1;
        chart.append(svg("text", { x: last ? W : x, y: H - 6, "text-anchor": last ? "end" : "start" }, new Date(p.minute).toISOString().slice(11, 16)));
      }
    });
    chart.append(svg("line", { class: "axis", x1: L, x2: W, y1: H - B, y2: H - B }));
    const legend = h("div", { class: "legend" },
      ["fired", "failed", "skipped"].map((k) => h("span", {}, h("span", { class: `swatch ${k}` }), k)),
      h("span", {}, "(UTC, per minute)"));
    return h("div", { id: "timeline" }, chart, legend);
  }

  // --- schedules ------------------------------------------------------------------------

  const STATES = ["pending", "processing", "scheduled", "executed", "skipped", "error", "cancelled"];
  const FILTERS = ["status", "tier", "topic", "entity_type", "action", "from", "to"];

  // datetime-local inputs are read as UTC (the page shows every time in UTC).
  const toIso = (local) => (local ? `${local.length === 16 ? `${local}:00` : local}Z` : "");
  const toLocal = (iso) => (iso ? iso.replace(/Z$/, "").slice(0, 16) : "");

  async function schedules(params) {
    const lookup = h("input", { name: "id", required: true, placeholder: "schedule_id", size: 32 });
    const byId = h("form", { class: "inline", id: "lookup" },
      h("label", {}, "Open a schedule by id", lookup),
      h("button", { type: "submit", class: "secondary" }, "Open"));
    byId.addEventListener("submit", (e) => {
      e.preventDefault();
      location.hash = `#/schedules/${encodeURIComponent(lookup.value.trim())}`;
    });

    const select = (name, options) => h("select", { name },
      h("option", { value: "" }, "any"),
      options.map((o) => h("option", { value: o, selected: params.get(name) === o }, o)));
    const text = (name, placeholder) => h("input", { name, placeholder, value: params.get(name) || "", size: 16 });
    const time = (name) => h("input", { name, type: "datetime-local", step: 1, value: toLocal(params.get(name)) });
    const search = h("form", { class: "inline", id: "search" },
      h("label", {}, "status", select("status", STATES)),
      h("label", {}, "tier", select("tier", ["hot", "cold"])),
      h("label", {}, "topic", text("topic", "any")),
      h("label", {}, "entity type", text("entity_type", "any")),
      h("label", {}, "action", text("action", "any")),
      h("label", {}, "scheduled from (UTC)", time("from")),
      h("label", {}, "to (UTC)", time("to")),
      h("button", { type: "submit" }, "Search"));
    search.addEventListener("submit", (e) => {
      e.preventDefault();
      const data = new FormData(search);
      const q = new URLSearchParams();
      for (const name of FILTERS) {
        let v = String(data.get(name) || "").trim();
        if (name === "from" || name === "to") v = toIso(v);
        if (v) q.set(name, v);
      }
      const target = `#/schedules?${q}`;
      if (location.hash === target) route();
      else location.hash = target;
    });

    const query = new URLSearchParams();
    for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
    query.set("limit", "50");
    if (params.get("cursor")) query.set("cursor", params.get("cursor"));
    show(h("h1", {}, "Schedules"), search, byId, h("p", { class: "muted" }, "Searching…"));
    const r = await get(`${S}?${query}`);
    if (currentPath() !== "/schedules") return;
    let results;
    if (!r.ok) {
      results = h("p", { class: "error" }, problem(r));
    } else {
      const page = r.data;
      const counts = page.counts
        ? h("p", { id: "counts" }, page.counts_exact ? "Matching: " : "Matching (about): ",
          STATES.filter((st) => page.counts[st]).map((st) => [badge(st), ` ${num(page.counts[st])}  `]),
          STATES.every((st) => !page.counts[st]) ? "none" : null)
        : null;
      const picked = new Set();
      const bulk = h("button", { class: "danger", id: "cancel-selected", disabled: true }, "Cancel selected…");
      const bulkBar = h("div", { class: "actions", id: "bulk" }, bulk);
      const pick = (it) => (["pending", "processing", "scheduled"].includes(it.status)
        ? h("input", { type: "checkbox", "aria-label": `select ${it.schedule_id}`, onchange: (e) => {
          if (e.target.checked) picked.add(it.schedule_id);
          else picked.delete(it.schedule_id);
          bulk.disabled = picked.size === 0;
          bulk.textContent = picked.size ? `Cancel ${picked.size} selected…` : "Cancel selected…";
        } })
        : null);
      bulk.addEventListener("click", () => {
        const ids = [...picked];
        bulkBar.replaceChildren(
          h("span", {}, `Cancel ${ids.length} schedule${ids.length === 1 ? "" : "s"}? They will not fire.`),
          h("button", { class: "danger", id: "confirm-cancel-selected", onclick: async () => {
            const results = [];
            for (const id of ids) results.push(await call("DELETE", `${S}/${encodeURIComponent(id)}`));
            const failed = results.filter((r) => !r.ok);
            await schedules(params);
            flash(`Cancelled ${results.length - failed.length} of ${ids.length}.${failed.length ? ` Not cancelled: ${failed.map(problem).join("; ")}` : ""}`, failed.length > 0);
          } }, "Yes, cancel them"),
          h("button", { class: "secondary", onclick: () => schedules(params) }, "No"));
      });
      const rows = page.items.map((it) => h("tr", {},
        h("td", {}, pick(it)),
        h("td", { class: "mono" }, h("a", { href: `#/schedules/${encodeURIComponent(it.schedule_id)}` }, it.schedule_id)),
        h("td", {}, badge(it.status), it.hot_state ? [" ", badge(it.hot_state)] : null),
        h("td", {}, it.tier),
        h("td", {}, when(it.scheduled_at)),
        h("td", {}, it.topic),
        h("td", {}, [it.entity_type, it.action].filter(Boolean).join(" / ") || "–"),
        h("td", {}, it.priority),
        h("td", {}, it.attempts)));
      const back = params.get("cursor") ? h("button", { class: "secondary", onclick: () => history.back() }, "← Previous") : null;
      const next = page.next_cursor
        ? h("button", { class: "secondary", id: "next-page", onclick: () => {
          const q = new URLSearchParams(params);
          q.set("cursor", page.next_cursor);
          location.hash = `#/schedules?${q}`;
        } }, "Next page →")
        : null;
      results = [
        counts,
        page.items.length
          ? h("table", { id: "results", "data-query": String(query) },
            h("tr", {}, ["", "schedule_id", "status", "tier", "scheduled_at", "topic", "entity / action", "priority", "attempts"].map((c) => h("th", {}, c))),
            rows)
          : h("p", { class: "muted", id: "results", "data-query": String(query) }, "No schedule matches."),
        page.items.length ? bulkBar : null,
        h("div", { class: "actions" }, back, next, h("span", { class: "muted" }, `${page.items.length} shown, earliest first`)),
      ];
    }
    show(h("h1", {}, "Schedules"), search, byId, results);
  }

  async function schedule(id) {
    const path = `${S}/${encodeURIComponent(id)}`;
    const [status, event, tries, past] = await Promise.all([
      get(path),
      get(`${path}/event`),
      session.cold_tier ? get(`${path}/attempts`) : null,
      get(`${path}/history`),
    ]);
    if (!status.ok) {
      show(h("h1", {}, "Schedule ", h("span", { class: "mono" }, id)), h("p", { class: "error" }, problem(status)),
        h("p", {}, h("a", { href: "#/schedules" }, "Back to schedules")));
      return;
    }
    const s = status.data;
    const rows = [
      ["schedule_id", h("span", { class: "mono", id: "schedule-id" }, s.schedule_id)],
      ["status", h("span", { id: "schedule-status" }, badge(s.status), s.hot_state ? [" ", badge(s.hot_state)] : null)],
      ["tier", s.tier],
      ["scheduled_at", h("span", { id: "scheduled-at" }, when(s.scheduled_at))],
      ["topic", s.topic],
      ["entity_type", s.entity_type || "–"],
      ["action", s.action || "–"],
      ["correlation_id", s.correlation_id || "–"],
      ["priority", s.priority],
      ["attempts", s.attempts],
      ["error", s.error || "–"],
      ["updated_at", when(s.updated_at)],
    ];
    if (event.ok) rows.push(["max_delay_seconds", event.data.max_delay_seconds], ["created_at", when(event.data.created_at)]);
    const fields = h("dl", { class: "fields" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const live = ["pending", "processing", "scheduled"].includes(s.status);
    const actions = h("div", { class: "actions", id: "actions" });
    if (live) {
      const cancel = h("button", { class: "danger", id: "cancel" }, "Cancel…");
      cancel.addEventListener("click", () => {
        actions.replaceChildren(
          h("span", {}, "Cancel this schedule? It will not fire."),
          h("button", { class: "danger", id: "confirm-cancel", onclick: async () => {
            const r = await call("DELETE", path);
            await schedule(id);
            flash(r.ok ? `Cancelled (${r.data.cancelled}).` : problem(r), !r.ok);
          } }, "Yes, cancel"),
          h("button", { class: "secondary", onclick: () => schedule(id) }, "No"),
        );
      });
      const moved = (r) => `Rescheduled to ${when(r.data.scheduled_at)} (${r.data.tier} tier; was ${when(r.data.previous_scheduled_at)}).`;
      const patch = async (body) => {
        const r = await call("PATCH", path, body);
        await schedule(id);
        flash(r.ok ? moved(r) : problem(r), !r.ok);
      };
      const fireNow = h("button", { class: "secondary", id: "fire-now" }, "Fire now…");
      fireNow.addEventListener("click", () => {
        actions.replaceChildren(
          h("span", {}, "Fire it now (reschedule to now)?"),
          h("button", { id: "confirm-fire-now", onclick: () => patch({ delay_seconds: 0 }) }, "Yes, fire now"),
          h("button", { class: "secondary", onclick: () => schedule(id) }, "No"),
        );
      });
      const at = h("input", { name: "at", type: "datetime-local", step: 1, required: true, value: toLocal(s.scheduled_at) });
      const move = h("form", { class: "inline", id: "reschedule" }, h("label", {}, "new time (UTC)", at), h("button", { type: "submit", class: "secondary" }, "Reschedule"));
      move.addEventListener("submit", (e) => {
        e.preventDefault();
        patch({ scheduled_at: toIso(at.value) });
      });
      actions.append(cancel, fireNow, move);
    } else {
      actions.append(h("span", { class: "muted" }, `Finished (${s.status}): nothing to change.`));
    }

    let body;
    if (event.ok) {
      const e = event.data;
      body = [
        h("h2", {}, "Headers"),
        Object.keys(e.headers).length
          ? h("table", { id: "headers" }, h("tr", {}, h("th", {}, "name"), h("th", {}, "value")),
            Object.entries(e.headers).map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, v))))
          : h("p", { class: "muted" }, "No headers."),
        h("h2", {}, `Body (${num(e.body_bytes)} bytes${e.body_utf8 ? "" : ", not UTF-8: invalid bytes shown as �"})`),
        h("pre", { class: "body", id: "body" }, preview_text(e.body)),
      ];
    } else {
      body = [h("h2", {}, "Body"), h("p", { class: "muted" }, problem(event))];
    }
    let attempts = null;
    if (tries && tries.ok) {
      attempts = tries.data.attempts.length
        ? h("table", { id: "attempts" },
          h("tr", {}, ["at", "outcome", "late by", "error", "node", "took"].map((c) => h("th", {}, c))),
          tries.data.attempts.map((a) => h("tr", {},
            h("td", {}, when(a.executed_at)), h("td", {}, badge(a.status === "success" ? "executed" : a.status)),
            h("td", {}, secs(a.delay_seconds)), h("td", {}, a.error || "–"), h("td", {}, a.node_id || "–"),
            h("td", {}, `${num(a.processing_time_ms)} ms`))))
        : h("p", { class: "muted", id: "attempts" }, "No delivery attempt recorded yet.");
    }
    // The status history as a timeline (text nodes only, as everything h() builds).
    let timeline;
    if (past.ok) {
      const d = past.data;
      timeline = [
        h("ol", { class: "timeline", id: "history" },
          d.entries.map((e) => h("li", { class: `history-${e.kind}` },
            h("span", { class: "mono" }, when(e.at)), " ", badge(e.kind), " ", e.detail))),
        d.note ? h("p", { class: "muted", id: "history-note" }, d.note) : null,
      ];
    } else {
      timeline = h("p", { class: "muted", id: "history" }, problem(past));
    }
    show(
      h("p", {}, h("a", { href: "#/schedules" }, "← Schedules")),
      h("h1", {}, "Schedule ", h("span", { class: "mono" }, s.schedule_id)),
      actions,
      h("div", { class: "card" }, fields),
      h("h2", {}, "Status history"),
      timeline,
      attempts ? [h("h2", {}, "Delivery attempts"), attempts] : null,
      body,
    );
  }

  function preview_text(text) {
    const LIMIT = 65536;
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch (_) {
      /* not JSON: as it is */
    }
    return shown.length > LIMIT ? `${shown.slice(0, LIMIT)}\n… (${num(shown.length - LIMIT)} more characters)` : shown;
  }

  // --- pauses and limits ----------------------------------------------------------------

  async function pauses() {
    const stats = await get(`${M}/stats`);
    const state = stats.ok ? stats.data.paused : null;
    const send = async (method, path, body, done) => {
      const r = await call(method, path, body);
      await pauses();
      flash(r.ok ? done : problem(r), !r.ok);
    };
    const act = (path, body, done) => send("POST", path, body, done);
    const limits = await rateLimits(send);
    if (currentPath() !== "/pauses") return;
    const reason = () => h("label", {}, "reason (optional)", h("input", { name: "reason", maxlength: 200 }));
    const form = (id, fields, button, submit) => {
      const f = h("form", { class: "inline", id }, fields, h("button", { type: "submit" }, button));
      f.addEventListener("submit", (e) => {
        e.preventDefault();
        submit(new FormData(f));
      });
      return f;
    };
    const withReason = (data, body) => (data.get("reason") ? { ...body, reason: data.get("reason") } : body);

    const active = state && state.pauses.length
      ? h("table", { id: "active-pauses" },
        h("tr", {}, h("th", {}, "paused"), h("th", {}, "since"), h("th", {}, "reason"), h("th", {}, "")),
        state.pauses.map((p) => {
          const resume = p.scope === "all" ? { all: true } : p.scope === "topic" ? { topic: p.topic } : { priority: true };
          const label = p.scope === "all" ? "Resume everything" : "Resume";
          return h("tr", {},
            h("td", {}, p.scope === "all" ? "Everything" : p.scope === "topic" ? `Topic ${p.topic}` : `Priorities below ${p.priority_below}`),
            h("td", {}, when(p.since)), h("td", {}, p.reason || "–"),
            h("td", {}, h("button", { class: "secondary", onclick: () => act(`${M}/resume`, resume, "Resumed.") }, label)));
        }))
      : h("p", { class: "muted", id: "no-pauses" }, "Nothing is paused.");

    show(
      h("h1", {}, "Pauses and limits"),
      !stats.ok ? h("p", { class: "error" }, problem(stats)) : null,
      h("h2", {}, "Active pauses"),
      state ? h("p", { class: "muted" }, `Due events held back by a topic or priority pause: ${num(state.held)}.`) : null,
      active,
      h("h2", {}, "Pause"),
      h("p", { class: "muted" }, "Paused events stay scheduled and fire after resume (subject to their max_delay_seconds)."),
      form("pause-all", [reason()], "Pause everything", (d) => act(`${M}/pause`, withReason(d, { all: true }), "Everything is paused.")),
      form("pause-topic", [h("label", {}, "topic", h("input", { name: "topic", required: true })), reason()], "Pause topic",
        (d) => act(`${M}/pause`, withReason(d, { topic: d.get("topic") }), `Topic ${d.get("topic")} is paused.`)),
      form("pause-priority", [h("label", {}, "priorities below", h("input", { name: "priority_below", type: "number", required: true, step: 1 })), reason()], "Pause priorities",
        (d) => act(`${M}/pause`, withReason(d, { priority_below: Number(d.get("priority_below")) }), "Priority pause set.")),
      state && state.active ? h("div", { class: "actions" }, h("button", { class: "secondary", id: "resume-all", onclick: () => act(`${M}/resume`, { all: true }, "Every pause ended.") }, "End every pause")) : null,
      limits,
    );
  }

  // --- rate limits (on the pauses page) ---------------------------------------------------

  async function rateLimits(act) {
    const RL = `${M}/rate-limits`;
    const r = await get(RL);
    if (!r.ok) return [h("h2", {}, "Rate limits"), h("p", { class: "error" }, problem(r))];
    const limits = r.data.limits;
    const table = limits.length
      ? h("table", { id: "rate-limits" },
        h("tr", {}, ["topic", "events/s", "burst", "source", "waiting", ""].map((c) => h("th", {}, c))),
        limits.map((l) => h("tr", {},
          h("td", {}, l.topic), h("td", {}, num(l.events_per_second)), h("td", {}, num(l.burst)),
          h("td", {}, l.source, l.overrides ? ` (setting: ${num(l.overrides.events_per_second)}/s)` : ""),
          h("td", {}, num(l.throttled)),
          h("td", {}, l.source === "runtime"
            ? h("button", { class: "secondary", onclick: () => act("DELETE", `${RL}/${encodeURIComponent(l.topic)}`, undefined, `Limit on ${l.topic} cleared.`) }, "Clear")
            : h("span", { class: "muted" }, "from the settings")))))
      : h("p", { class: "muted", id: "no-limits" }, "No topic is rate-limited.");
    const f = h("form", { class: "inline", id: "set-limit" },
      h("label", {}, "topic", h("input", { name: "topic", required: true })),
      h("label", {}, "events per second", h("input", { name: "rate", type: "number", min: "0.001", step: "any", required: true })),
      h("label", {}, "burst (optional)", h("input", { name: "burst", type: "number", min: "1", step: "any" })),
      h("button", { type: "submit" }, "Set limit"));
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      const d = new FormData(f);
      const body = { events_per_second: Number(d.get("rate")) };
      if (d.get("burst")) body.burst = Number(d.get("burst"));
      act("PUT", `${RL}/${encodeURIComponent(String(d.get("topic")).trim())}`, body, `Limit on ${d.get("topic")} set.`);
    });
    return [
      h("h2", {}, "Rate limits"),
      h("p", { class: "muted" }, `Events over a limit wait in Redis and fire as it allows (never dropped, never early). Waiting now: ${num(r.data.throttled)}.`),
      table,
      f,
    ];
  }

  // --- dead letters ---------------------------------------------------------------------

  const D = "/api/v1/dead-letters";
  const REASONS = ["invalid", "beyond_horizon", "internal", "permanent_error", "retries_exhausted", "unreadable_payload", "unknown"];
  const DL_FILTERS = ["reason", "topic", "source", "since", "until"];

  async function deadLetters(params) {
    const select = (name, options, none) => h("select", { name },
      none ? h("option", { value: "" }, none) : null,
      options.map((o) => h("option", { value: o, selected: params.get(name) === o }, o)));
    const filters = h("form", { class: "inline", id: "dl-filters" },
      h("label", {}, "reason", select("reason", REASONS, "any")),
      h("label", {}, "topic", h("input", { name: "topic", value: params.get("topic") || "", placeholder: "any", size: 16 })),
      h("label", {}, "from", select("source", ["all", "topic", "cold"])),
      h("label", {}, "since (UTC)", h("input", { name: "since", type: "datetime-local", step: 1, value: toLocal(params.get("since")) })),
      h("label", {}, "until (UTC)", h("input", { name: "until", type: "datetime-local", step: 1, value: toLocal(params.get("until")) })),
      h("button", { type: "submit" }, "List"));
    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      const data = new FormData(filters);
      const q = new URLSearchParams();
      for (const name of DL_FILTERS) {
        let v = String(data.get(name) || "").trim();
        if (name === "since" || name === "until") v = toIso(v);
        if (v && !(name === "source" && v === "all")) q.set(name, v);
      }
      const target = `#/dead-letters?${q}`;
      if (location.hash === target) route();
      else location.hash = target;
    });
    const query = new URLSearchParams({ limit: "100" });
    for (const name of DL_FILTERS) if (params.get(name)) query.set(name, params.get(name));
    show(h("h1", {}, "Dead letters"), filters, h("p", { class: "muted" }, "Reading the dead-letter topic…"));
    const r = await get(`${D}?${query}`);
    if (currentPath() !== "/dead-letters") return;
    if (!r.ok) {
      show(h("h1", {}, "Dead letters"), filters, h("p", { class: "error" }, problem(r)));
      return;
    }
    const page = r.data;
    const picked = new Set();
    const result = h("div", { id: "replay-result" });
    const mode = h("select", { name: "mode", id: "replay-mode" }, h("option", { value: "same_id" }, "same schedule_id (a new attempt)"), h("option", { value: "new_id" }, "a new event (new id)"));
    const dry = h("button", { class: "secondary", id: "dry-run", disabled: true }, "Dry run");
    const replay = h("button", { id: "replay", disabled: true }, "Replay");
    let checked = null; // the selection and mode the last dry run was for
    const key = () => `${mode.value}|${[...picked].sort().join(",")}`;
    const update = () => {
      dry.disabled = picked.size === 0;
      replay.disabled = picked.size === 0 || checked !== key();
      replay.textContent = `Replay ${picked.size || ""}`.trim();
    };
    mode.addEventListener("change", update);
    const send = async (dryRun) => {
      const body = { ids: [...picked], mode: mode.value, dry_run: dryRun };
      const x = await call("POST", `${D}/replay`, body);
      if (!x.ok) {
        flash(problem(x), true);
        return;
      }
      const res = x.data;
      result.replaceChildren(
        h("p", { id: "replay-counts" }, dryRun ? `Dry run: ${res.would_replay} would be replayed, ${res.skipped} skipped.` : `Replayed ${res.replayed}, skipped ${res.skipped}.`),
        h("table", {}, h("tr", {}, ["dead letter", "outcome", "schedule_id", "scheduled_at", "detail"].map((c) => h("th", {}, c))),
          res.items.map((it) => h("tr", {}, h("td", { class: "mono" }, it.id), h("td", {}, badge(it.outcome)),
            h("td", { class: "mono" }, it.schedule_id ? h("a", { href: `#/schedules/${encodeURIComponent(it.schedule_id)}` }, it.schedule_id) : "–"),
            h("td", {}, when(it.scheduled_at)), h("td", {}, it.detail || "")))));
      if (dryRun) {
        checked = key();
        update();
      } else {
        flash(`Replayed ${res.replayed} of ${res.selected}.`, false);
        checked = null;
        picked.clear();
        for (const box of document.querySelectorAll("#dead-letters input[type=checkbox]")) box.checked = false;
        update();
      }
    };
    dry.addEventListener("click", () => send(true));
    replay.addEventListener("click", () => send(false));

    const row = (d) => {
      const box = d.replayable && !d.replayed_as
        ? h("input", { type: "checkbox", value: d.id, "aria-label": `select ${d.id}`, onchange: (e) => {
          if (e.target.checked) picked.add(d.id);
          else picked.delete(d.id);
          update();
        } })
        : null;
      const fields = Object.entries(d).filter(([, v]) => v !== null && v !== undefined);
      return h("tr", {},
        h("td", {}, box),
        h("td", {}, when(d.dead_lettered_at)),
        h("td", {}, badge(d.reason)),
        h("td", {}, d.topic || "–"),
        h("td", { class: "mono" }, d.schedule_id ? h("a", { href: `#/schedules/${encodeURIComponent(d.schedule_id)}` }, d.schedule_id) : "–"),
        h("td", {}, d.replayed_as ? ["replayed as ", h("span", { class: "mono" }, d.replayed_as)] : d.replayable ? "replayable" : d.not_replayable_reason || "not replayable"),
        h("td", {}, h("details", {}, h("summary", {}, d.error ? d.error.slice(0, 60) : "details"),
          h("dl", { class: "fields" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, Array.isArray(v) ? v.join(", ") : String(v))])))));
    };
    show(
      h("h1", {}, "Dead letters"),
      filters,
      h("p", { class: "muted" }, `${page.count} listed, newest first${page.complete ? "" : ` (the newest ${num(page.scanned)} messages of the dead-letter topic were read)`}${page.cold_tier ? "" : "; cold tier off: the topic only"}.`),
      page.items.length
        ? h("table", { id: "dead-letters" },
          h("tr", {}, ["", "dead-lettered", "reason", "topic", "schedule_id", "replay", "error"].map((c) => h("th", {}, c))),
          page.items.map(row))
        : h("p", { class: "muted", id: "dead-letters" }, "No dead letter matches."),
      h("div", { class: "actions" }, h("label", {}, "replay as ", mode), dry, replay,
        h("span", { class: "muted" }, "A dry run of the selection comes first; a dead letter is replayed once, however often asked.")),
      result,
    );
  }

  // --- recurring ------------------------------------------------------------------------

  const R = "/api/v1/recurring";
  const every = (d) => (d.cron ? `cron ${d.cron} (${d.timezone})` : `every ${num(d.interval_seconds)} s`);

  async function recurringAct(method, path, done, after) {
    const r = await call(method, path);
    await after();
    flash(r.ok ? done : problem(r), !r.ok);
  }

  async function recurringList() {
    const r = await get(R);
    if (currentPath() !== "/recurring") return;
    if (!r.ok) {
      show(h("h1", {}, "Recurring schedules"), h("p", { class: "error" }, problem(r)));
      return;
    }
    const defs = r.data.recurring;
    const next = await Promise.all(defs.slice(0, 100).map((d) =>
      d.paused ? null : get(`${R}/${encodeURIComponent(d.recurring_id)}/preview?count=1`)));
    const rows = defs.map((d, i) => {
      const upcoming = next[i] && next[i].ok && next[i].data.occurrences.length ? when(next[i].data.occurrences[0].scheduled_at) : "–";
      const path = `${R}/${encodeURIComponent(d.recurring_id)}`;
      return h("tr", {},
        h("td", { class: "mono" }, h("a", { href: `#/recurring/${encodeURIComponent(d.recurring_id)}` }, d.recurring_id)),
        h("td", {}, every(d)),
        h("td", {}, d.event.topic),
        h("td", {}, d.paused ? badge("paused") : badge("active")),
        h("td", {}, upcoming),
        h("td", {}, d.paused
          ? h("button", { class: "secondary", onclick: () => recurringAct("POST", `${path}/resume`, `${d.recurring_id} resumed.`, recurringList) }, "Resume")
          : h("button", { class: "secondary", onclick: () => recurringAct("POST", `${path}/pause`, `${d.recurring_id} paused.`, recurringList) }, "Pause")));
    });
    show(
      h("h1", {}, "Recurring schedules"),
      defs.length
        ? h("table", { id: "recurring" }, h("tr", {}, ["recurring_id", "when", "topic", "state", "next occurrence", ""].map((c) => h("th", {}, c))), rows)
        : h("p", { class: "muted", id: "recurring" }, "No recurring schedule is defined (POST /api/v1/recurring, or the Python API)."),
    );
  }

  async function recurringOne(id) {
    const path = `${R}/${encodeURIComponent(id)}`;
    const r = await get(path);
    if (!r.ok) {
      show(h("p", {}, h("a", { href: "#/recurring" }, "← Recurring")), h("h1", {}, "Recurring ", h("span", { class: "mono" }, id)), h("p", { class: "error" }, problem(r)));
      return;
    }
    const d = r.data;
    const preview = d.paused ? null : await get(`${path}/preview?count=10`);
    const again = () => recurringOne(id);
    const actions = h("div", { class: "actions", id: "actions" },
      d.paused
        ? h("button", { id: "resume", onclick: () => recurringAct("POST", `${path}/resume`, "Resumed.", again) }, "Resume")
        : h("button", { class: "secondary", id: "pause", onclick: () => recurringAct("POST", `${path}/pause`, "Paused: pending occurrences cancelled.", again) }, "Pause"),
      h("button", { class: "danger", id: "delete", onclick: () => {
        actions.replaceChildren(
          h("span", {}, "Delete this definition and cancel its pending occurrences?"),
          h("button", { class: "danger", id: "confirm-delete", onclick: async () => {
            const x = await call("DELETE", path);
            if (x.ok) location.hash = "#/recurring";
            flash(x.ok ? `${id} deleted.` : problem(x), !x.ok);
          } }, "Yes, delete"),
          h("button", { class: "secondary", onclick: again }, "No"));
      } }, "Delete…"));
    const fields = [
      ["recurring_id", h("span", { class: "mono", id: "recurring-id" }, d.recurring_id)],
      ["state", h("span", { id: "recurring-state" }, d.paused ? badge("paused") : badge("active"))],
      ["when", every(d)],
      ["start_at / end_at", `${when(d.start_at)} / ${when(d.end_at)}`],
      ["jitter_seconds", d.jitter_seconds],
      ["catch_up", `${d.catch_up} (limit ${d.catch_up_limit})`],
      ["topic", d.event.topic],
      ["entity_type / action", [d.event.entity_type, d.event.action].filter(Boolean).join(" / ") || "–"],
      ["priority", d.event.priority],
      ["version", d.version],
      ["updated_at", when(d.updated_at)],
    ];
    const occurrences = d.paused
      ? h("p", { class: "muted" }, "Paused: nothing is materialised.")
      : preview && preview.ok
        ? h("table", { id: "occurrences" }, h("tr", {}, h("th", {}, "scheduled_at"), h("th", {}, "schedule_id")),
          preview.data.occurrences.map((o) => h("tr", {}, h("td", {}, when(o.scheduled_at)),
            h("td", { class: "mono" }, h("a", { href: `#/schedules/${encodeURIComponent(o.schedule_id)}` }, o.schedule_id)))))
        : h("p", { class: "error" }, preview ? problem(preview) : "");
    const body = typeof d.event.body === "string" ? d.event.body : JSON.stringify(d.event.body);
    show(
      h("p", {}, h("a", { href: "#/recurring" }, "← Recurring")),
      h("h1", {}, "Recurring ", h("span", { class: "mono" }, d.recurring_id)),
      actions,
      h("div", { class: "card" }, h("dl", { class: "fields" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("h2", {}, "Next occurrences"),
      occurrences,
      h("h2", {}, "Event body"),
      h("pre", { class: "body", id: "body" }, preview_text(body)),
    );
  }

  // --- start ----------------------------------------------------------------------------

  async function start() {
    const r = await fetch(`${ROOT}/ui/session`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) {
      location.assign(`${ROOT}/ui/login`);
      return;
    }
    session = await r.json();
    document.getElementById("logout").hidden = !session.login;
    const nav = document.getElementById("nav");
    nav.replaceChildren(...PAGES.map((p) => h("a", { href: `#${p.path}`, "data-path": p.path }, p.title)));
    window.addEventListener("hashchange", route);
    route();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
