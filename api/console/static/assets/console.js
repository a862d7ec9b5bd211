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
    main().replaceChildren(...nodes.flat());
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
    const page = one ? PAGES[1] : PAGES.find((p) => p.path === path) || PAGES[0];
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.path === page.path);
    }
    document.title = `${page.title} · hybrid-scheduler console`;
    if (one) return schedule(decodeURIComponent(one[1]));
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
      card("Dead letters (1 h)", fig ? num(fig.failed) : "–", st && st.dead_lettered ? h("div", { class: "muted" }, `${num(st.dead_lettered)} invalid envelopes (this process)`) : null),
      card("Service", health.data && health.data.status ? badge(health.data.status) : badge("down"),
        h("div", { class: "muted" }, health.data && health.data.components ? Object.entries(health.data.components).map(([n, c]) => `${n} ${c.status}`).join(" · ") : problem(health))),
    );

    const pauseList = paused && paused.pauses.length
      ? h("ul", {}, paused.pauses.map((p) => h("li", {}, describePause(p))))
      : h("p", { class: "muted" }, "No pause is active.");

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
          h("div", {}, h("h2", {}, "Active pauses"), h("div", { class: "card", id: "pauses-summary" }, pauseList)),
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
      h("li", {}, h("a", { href: ui.workflows, target: "_blank", rel: "noopener noreferrer" }, "Workflow runs (sync, cleanup, recovery) in the Temporal UI")),
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

  function schedules(params) {
    const input = h("input", { name: "id", required: true, placeholder: "schedule_id", value: params.get("id") || "", size: 40 });
    const form = h("form", { class: "inline", id: "lookup" },
      h("label", {}, "Look up a schedule by id", input),
      h("button", { type: "submit" }, "Open"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      location.hash = `#/schedules/${encodeURIComponent(input.value.trim())}`;
    });
    show(h("h1", {}, "Schedules"), form);
  }

  async function schedule(id) {
    const path = `${S}/${encodeURIComponent(id)}`;
    const [status, event] = await Promise.all([get(path), get(`${path}/event`)]);
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
      actions.append(cancel);
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
        h("pre", { class: "body", id: "body" }, preview(e.body)),
      ];
    } else {
      body = [h("h2", {}, "Body"), h("p", { class: "muted" }, problem(event))];
    }
    show(
      h("p", {}, h("a", { href: "#/schedules" }, "← Schedules")),
      h("h1", {}, "Schedule ", h("span", { class: "mono" }, s.schedule_id)),
      actions,
      h("div", { class: "card" }, fields),
      body,
    );
  }

  function preview(text) {
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
    const act = async (path, body, done) => {
      const r = await call("POST", path, body);
      await pauses();
      flash(r.ok ? done : problem(r), !r.ok);
    };
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
