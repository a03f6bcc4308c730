/* The instructor's drill page (edgelab issue 14).
 *
 * Draws the report embedded in <script id="report"> (contract: edgelab.drill.report/v1); when the page is
 * live (<body data-live="true">, served by `edgelab.drillpage.serve`) it fetches report.json again every
 * 5 seconds and draws it the same way. Report strings only ever become text nodes or attribute values
 * (textContent, setAttribute), never markup.
 */
(function () {
  "use strict";

  // The SVG namespace, derived from the page's own so that the page's source names no URL at all.
  const SVG_NS = document.documentElement.namespaceURI.replace("1999/xhtml", "2000/svg");
  const SCHEMA = "edgelab.drill.report/v1";
  const LIVE = document.body.dataset.live === "true";
  const POLL_MS = 5000;
  const KINDS = ["request", "evidence", "repeat", "hint", "submission", "injected", "recovered"];
  const KIND_WORDS = {
    request: "request", evidence: "evidence (met a rubric step)", repeat: "repeat (added nothing)",
    hint: "hint shown", submission: "findings submitted", injected: "fault injected", recovered: "recovered",
  };
  const LANES = ["evidence", "request", "repeat", "hint", "submission"];  // chart rows, top to bottom
  const CHART = { width: 900, left: 92, right: 24, top: 26, lane: 26, bottom: 34 };

  // --- building nodes: text and attributes only -------------------------------------------------------------

  function fill(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  const h = (tag, attrs, children) => fill(document.createElement(tag), attrs, children);
  const s = (tag, attrs, children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);
  const kindClass = (kind) => (KINDS.includes(kind) ? kind : "other");

  // --- numbers and times --------------------------------------------------------------------------------------

  function mss(seconds) {  // 75.9 -> "1:15", -30 -> "-0:30", null -> "—"
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
    const whole = Math.floor(Math.abs(seconds));
    return (seconds < 0 ? "-" : "") + Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
  }
  function clockText(seconds) {  // the drill clock: m:ss, h:mm:ss past an hour
    if (seconds < 3600) return mss(seconds);
    const whole = Math.floor(seconds);
    return Math.floor(whole / 3600) + ":" + String(Math.floor(whole / 60) % 60).padStart(2, "0") + ":"
      + String(whole % 60).padStart(2, "0");
  }
  function since(iso, startIso) {  // seconds from startIso to iso, or null
    if (!iso || !startIso) return null;
    return (Date.parse(iso) - Date.parse(startIso)) / 1000;
  }
  const num = (x) => (x === null || x === undefined ? "—" : Number.isInteger(x) ? String(x) : x.toFixed(1));

  // --- header and clock ---------------------------------------------------------------------------------------

  let clock = { base: 0, at: 0, ticking: false };

  function showClock() {
    const extra = clock.ticking ? (Date.now() - clock.at) / 1000 : 0;
    document.getElementById("drill-clock").textContent = "elapsed " + clockText(Math.max(0, clock.base + extra));
  }

  function renderHeader(report) {
    const drill = report.drill || {};
    const title = drill.title || drill.name || "Drill";
    document.title = title + " · drill " + (drill.name || "");
    document.getElementById("drill-title").textContent = title;
    const state = document.getElementById("drill-state");
    state.textContent = drill.state || "unknown";
    state.dataset.state = drill.state || "unknown";
    state.className = "state " + (["running", "stopped", "finished"].includes(drill.state) ? drill.state : "");
    const end = drill.ended_at || drill.now;
    clock = { base: since(end, drill.started_at) || 0, at: Date.now(), ticking: LIVE && drill.state === "running" };
    showClock();
  }

  function setLiveStatus(text, failed) {
    const live = document.getElementById("drill-live");
    live.textContent = text;
    live.className = failed ? "live error" : "live";
  }

  // --- incidents ----------------------------------------------------------------------------------------------

  function incidentsSection(report) {
    const start = (report.drill || {}).started_at;
    const rows = (report.incidents || []).map((inc) => h("tr", { class: "incident", "data-incident": inc.id }, [
      h("th", { scope: "row" }, inc.id),
      h("td", {}, inc.store),
      h("td", {}, [h("strong", {}, inc.title), h("p", { class: "ticket" }, inc.ticket)]),
      h("td", {}, inc.lab ? ["lab ", h("code", {}, inc.lab)] : inc.fault ? ["fault ", h("code", {}, inc.fault)] : "—"),
      h("td", {}, inc.target ? h("code", {}, inc.target) : "—"),
      h("td", { class: "num" }, mss(inc.planned_at_s)),
      h("td", { class: "num injected" }, inc.injected_at ? mss(since(inc.injected_at, start)) : "not yet"),
      h("td", { class: "num recovered" }, inc.recovered_at ? mss(since(inc.recovered_at, start)) : "not yet"),
    ]));
    const head = ["Incident", "Store", "Title and ticket", "Lab or fault", "Target", "Planned at",
      "Injected at", "Recovered at"].map((t) => h("th", { scope: "col" }, t));
    return h("section", { id: "incidents" }, [
      h("h2", {}, "Incidents"),
      h("table", { class: "incidents" }, [
        h("caption", { class: "muted" }, "Times are m:ss since the drill started."),
        h("thead", {}, h("tr", {}, head)),
        h("tbody", {}, rows),
      ]),
    ]);
  }

  // --- scoreboard ---------------------------------------------------------------------------------------------

  function resultText(ri) {
    if (!ri.answered) return "not answered";
    return num(ri.score) + "% " + (ri.passed ? "passed" : "not passed");
  }
  function courseCell(order) {
    if (order === true) return h("td", { class: "yes", title: "first evidence in the course's order" }, "✓ yes");
    if (order === false) return h("td", { class: "no", title: "first evidence not in the course's order" }, "✗ no");
    return h("td", { class: "muted", title: "no evidence to judge" }, "—");
  }
  function incidentCells(ri, incidents) {
    const inc = incidents.get(ri.incident) || {};
    return [
      h("td", { "data-incident": ri.incident }, [h("code", {}, ri.incident), " ", h("span", { class: "muted" }, inc.title || "")]),
      h("td", { class: ri.answered ? (ri.passed ? "yes" : "no") : "muted" }, resultText(ri)),
      h("td", { class: "num" }, mss(ri.first_relevant_s)),
      h("td", { class: "num" }, mss(ri.correct_findings_s)),
      h("td", { class: "num" }, mss(ri.recovery_s)),
      h("td", { class: "num" }, ri.requests + " / " + ri.evidence_requests + " / " + ri.repeats),
      courseCell(ri.course_order),
    ];
  }

  function scoreboardSection(report, incidents) {
    const head = ["Rank", "Responder", "Store", "Score", "Passed", "Incident", "Result", "First relevant request",
      "Correct findings", "Recovery", "Requests / evidence / repeats", "Course order", "Why"];
    const rows = [];
    for (const r of report.responders || []) {
      const mine = r.incidents || [];
      const span = Math.max(1, mine.length);
      const count = mine.length;
      rows.push(h("tr", { class: "responder", "data-name": r.name, "data-rank": r.rank, "data-store": r.store }, [
        h("td", { class: "num", rowspan: span }, r.rank),
        h("th", { scope: "row", rowspan: span }, r.name),
        h("td", { rowspan: span }, r.store),
        h("td", { class: "num score", rowspan: span }, num(r.score)),
        h("td", { class: "num", rowspan: span }, r.passed + " of " + count),
        ...(count ? incidentCells(mine[0], incidents) : [h("td", { colspan: 7, class: "muted" }, "no incident")]),
        h("td", { class: "why", rowspan: span }, r.why),
      ]));
      for (const ri of mine.slice(1)) rows.push(h("tr", { class: "responder-more", "data-name": r.name }, incidentCells(ri, incidents)));
    }
    return h("section", { id: "scoreboard" }, [
      h("h2", {}, "Scoreboard"),
      h("table", { class: "scoreboard" }, [
        h("caption", { class: "muted" }, "Best first. Times are m:ss after the fault was injected; — means never."),
        h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      ]),
    ]);
  }

  // --- timelines ----------------------------------------------------------------------------------------------

  // One mark's shape; colour comes from the CSS class of the enclosing g.mark. y1/y2: a vertical line's span.
  function shape(kind, x, y, y1, y2) {
    switch (kind) {
      case "evidence": return s("circle", { cx: x, cy: y, r: 6 });
      case "repeat": return s("path", { d: `M${x - 5} ${y - 5}L${x + 5} ${y + 5}M${x - 5} ${y + 5}L${x + 5} ${y - 5}` });
      case "hint": return s("polygon", { points: `${x},${y - 6} ${x + 6},${y + 5} ${x - 6},${y + 5}` });
      case "submission": return s("polygon", { points: `${x},${y - 7} ${x + 7},${y} ${x},${y + 7} ${x - 7},${y}` });
      case "injected": case "recovered": return s("line", { x1: x, y1: y1, x2: x, y2: y2 });
      default: return s("circle", { cx: x, cy: y, r: 3.5 });
    }
  }

  function legend() {
    return h("ul", { class: "legend", "aria-label": "Marks on the timelines" }, KINDS.map((kind) => h("li", {}, [
      s("svg", { viewBox: "0 0 16 16", "aria-hidden": "true" }, s("g", { class: "mark " + kind }, shape(kind, 8, 8, 1, 15))),
      KIND_WORDS[kind],
    ])));
  }

  function niceStep(minutes) {  // a tick every 1, 2, 5, 10... minutes: at most 12 ticks
    for (const step of [1, 2, 5, 10, 15, 30, 60, 120]) if (minutes / step <= 12) return step;
    return 240;
  }

  let chartIds = 0;

  function chart(name, incident, entries) {
    const c = CHART;
    const times = entries.map((e) => e.t_s);
    const lo = Math.floor(Math.min(0, ...times) / 60) * 60;
    const hi = Math.max(lo + 60, Math.ceil(Math.max(60, ...times) / 60) * 60);
    const height = c.top + c.lane * LANES.length + c.bottom;
    const bottom = c.top + c.lane * LANES.length;
    const x = (t) => c.left + ((t - lo) / (hi - lo)) * (c.width - c.left - c.right);
    const laneY = (kind) => c.top + c.lane * ((LANES.includes(kind) ? LANES.indexOf(kind) : 1) + 0.5);  // other: request row
    const titleId = "chart-title-" + ++chartIds;
    const parts = [s("title", { id: titleId }, `${name}'s timeline for incident ${incident.id || ""}: `
      + `${entries.length} entries; x axis: minutes since the fault was injected`)];

    const step = niceStep((hi - lo) / 60) * 60;
    const axis = s("g", { class: "axis" });
    for (let t = lo; t <= hi; t += step) {
      axis.append(s("line", { class: "grid", x1: x(t), y1: c.top, x2: x(t), y2: bottom }));
      axis.append(s("text", { x: x(t), y: bottom + 14, "text-anchor": "middle" }, String(t / 60)));
    }
    axis.append(s("line", { x1: c.left, y1: bottom, x2: c.width - c.right, y2: bottom }));
    axis.append(s("text", { x: (c.left + c.width - c.right) / 2, y: bottom + 29, "text-anchor": "middle" },
      "minutes since the fault was injected"));
    LANES.forEach((lane, i) => axis.append(s("text", {
      class: "lane-label", x: c.left - 8, y: c.top + c.lane * (i + 0.5) + 4, "text-anchor": "end",
    }, lane)));
    parts.push(axis);

    let evidenceSeen = 0;
    for (const e of entries) {
      const kind = kindClass(e.kind);
      const cx = x(e.t_s);
      const label = `${mss(e.t_s)} ${e.kind}: ${e.text}` + (e.step ? ` (step ${e.step})` : "");
      const mark = s("g", { class: "mark " + kind, "data-kind": e.kind, "data-t": e.t_s, "data-step": e.step },
        s("title", {}, label));
      mark.append(shape(kind, cx, laneY(kind), c.top - 10, bottom));
      if (kind === "evidence" && e.step) {  // labelled with its step, above and below in turn so neighbours do not collide
        const above = evidenceSeen++ % 2 === 0;
        mark.append(s("text", { x: cx, y: laneY(kind) + (above ? -9 : 17), "text-anchor": "middle" }, e.step));
      } else if (kind === "injected" || kind === "recovered") {
        const right = cx > c.width - c.right - 80;  // near the right edge the label goes to the left of its line
        mark.append(s("text", { x: right ? cx - 3 : cx + 3, y: c.top - 13, "text-anchor": right ? "end" : "start" }, kind));
      }
      parts.push(mark);
    }
    return s("svg", { class: "chart", viewBox: `0 0 ${c.width} ${height}`, role: "img", "aria-labelledby": titleId }, parts);
  }

  function entryList(entries) {
    return h("ol", { class: "entries" }, entries.map((e) => h("li", {
      class: "entry " + kindClass(e.kind), "data-kind": e.kind, "data-t": e.t_s, "data-step": e.step,
    }, [
      h("span", { class: "t" }, mss(e.t_s)),
      h("span", { class: "kind" }, e.kind),
      h("span", { class: "text" }, e.text),
      e.step ? h("span", { class: "step" }, "step " + e.step) : null,
    ])));
  }

  function stepsLine(ri) {
    const steps = ri.steps || [];
    if (!steps.length) return null;
    return h("p", { class: "steps muted" }, ["Rubric steps first met: ", steps.map((st) =>
      `${st.title} (${st.id}) ${st.first_s === null || st.first_s === undefined ? "never" : "at " + mss(st.first_s)}`).join("; ")]);
  }

  function timelinesSection(report, incidents) {
    const blocks = (report.responders || []).map((r) => h("div", { class: "responder-timelines", "data-responder": r.name }, [
      h("h3", {}, `${r.rank}. ${r.name} (store ${r.store})`),
      ...(r.incidents || []).map((ri) => {
        const inc = incidents.get(ri.incident) || { id: ri.incident };
        const entries = [...(ri.timeline || [])].sort((a, b) => a.t_s - b.t_s);
        return h("section", { class: "timeline", "data-responder": r.name, "data-incident": ri.incident }, [
          h("h4", {}, `${ri.incident}: ${inc.title || ""} (${resultText(ri)})`),
          stepsLine(ri),
          chart(r.name, inc, entries),
          entryList(entries),
        ]);
      }),
    ]));
    return h("section", { id: "timelines" }, [
      h("h2", {}, "Timelines"),
      h("p", { class: "muted" }, "Per responder and incident, on the incident's clock: m:ss since the fault was injected."),
      legend(),
      ...blocks,
    ]);
  }

  // --- the page -----------------------------------------------------------------------------------------------

  function render(report) {
    renderHeader(report);
    const incidents = new Map((report.incidents || []).map((inc) => [inc.id, inc]));
    chartIds = 0;
    const warning = report.schema === SCHEMA ? null
      : h("p", { class: "live error" }, `This report's schema is ${report.schema}; this page draws ${SCHEMA}.`);
    document.getElementById("app").replaceChildren(...[warning, incidentsSection(report),
      scoreboardSection(report, incidents), timelinesSection(report, incidents)].filter(Boolean));
  }

  async function poll() {
    try {
      const response = await fetch("report.json" + window.location.search, { cache: "no-store" });  // ?key=… of the instructor
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
      render(await response.json());
      setLiveStatus("live, updated " + new Date().toLocaleTimeString(), false);
    } catch (err) {
      setLiveStatus(`live, but report.json failed (${err.message}); showing the last report`, true);
    }
    setTimeout(poll, POLL_MS);
  }

  try {
    render(JSON.parse(document.getElementById("report").textContent));
  } catch (err) {
    setLiveStatus(`could not draw the report: ${err.message}`, true);
  }
  if (LIVE) {
    poll();
    setInterval(showClock, 1000);
  }
})();
