/* screen.js — the command-center screen. Everything arrives over one
   server-sent-event stream (/api/stream): a "snapshot" event with every
   figure (first on connect, then after changes and every few seconds) and
   a "case" event per case event for the ticker. No polling loop: a
   reconnecting EventSource gets a fresh snapshot first. */

/* A production screen is opened as /?token=READ_ONLY_TOKEN (the report's
   screen_token); every request the page makes carries it on. */
var SCREEN_TOKEN = new URLSearchParams(window.location.search).get("token");
function withToken(url) {
    if (!SCREEN_TOKEN) return url;
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(SCREEN_TOKEN);
}

"use strict";
(function () {
  var RED = "#ff4d4f";
  /* Labels of tiers and states come with every snapshot (report_screen.c
     holds them, beside the wire contract's names); a timeline entry
     carries its own Chinese word (what_label). The page keeps no list. */
  function tierLabel(t) { var s = screen.snapshot; return (s && s.labels.tier[t]) || t || ""; }
  var screen = { snapshot: null, charts: {}, events: 0, late: {}, flash: {}, colors: {} };
  window.gridcall = screen;

  function $(id) { return document.getElementById(id); }
  function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }
  function dur(ms) {
    if (ms === null || ms === undefined) return "–";
    var neg = ms < 0, m = Math.round(Math.abs(ms) / 60000), s = "";
    if (m < 60) s = m + "分";
    else if (m < 1440) s = Math.floor(m / 60) + "时" + (m % 60) + "分";
    else s = Math.floor(m / 1440) + "天" + Math.floor((m % 1440) / 60) + "时";
    return (neg ? "超" : "") + s;
  }
  function hhmmss(ms) { var d = new Date(ms); return d.toLocaleTimeString("zh-CN", { hour12: false }); }
  function chart(id) {
    if (!screen.charts[id]) screen.charts[id] = echarts.init($(id), null, { renderer: "canvas" });
    return screen.charts[id];
  }
  var AXIS = { axisLabel: { color: "#9cc8ff" }, axisLine: { lineStyle: { color: "#1f4a85" } },
               splitLine: { lineStyle: { color: "#16335f" } } };
  function cell(tr, text, title) {
    var td = tr.insertCell(); td.textContent = text; if (title) td.title = title; return td;
  }

  function status(text, down) { var s = $("status"); s.textContent = text; s.className = down ? "down" : ""; }

  function gridColor(g) {
    if (g.late > 0 || screen.late[g.id]) return RED;
    if (g.open === 0) return "#1b3b6f";
    var t = Math.min(g.open / 8, 1);
    var c0 = [38, 110, 190], c1 = [250, 140, 22];
    return "rgb(" + c0.map(function (v, i) { return Math.round(v + (c1[i] - v) * t); }).join(",") + ")";
  }
  /* The colour the map shows for a grid, or null before it is drawn. */
  screen.gridColor = function (id) { return screen.colors[id] || null; };

  /* The map drawn from the directory's grid polygons, when every grid has
     one: an SVG in an equirectangular projection (a street is small), each
     grid filled with its colour, each community named at its middle. */
  var SVG = "http://www.w3.org/2000/svg";
  function renderOutlines(s, map) {
    var grids = [];
    s.communities.forEach(function (c) { c.grids.forEach(function (g) { grids.push([c, g]); }); });
    if (!grids.length || grids.some(function (x) { return !x[1].polygon; })) return false;
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    grids.forEach(function (x) { x[1].polygon.forEach(function (p) {
      x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }); });
    var k = Math.cos((y0 + y1) / 2 * Math.PI / 180), W = 1000;
    var scale = W / ((x1 - x0) * k || 1), H = Math.max(1, Math.round((y1 - y0) * scale));
    function xy(p) { return ((p[0] - x0) * k * scale).toFixed(1) + "," + ((y1 - p[1]) * scale).toFixed(1); }
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "-4 -4 " + (W + 8) + " " + (H + 8));
    svg.setAttribute("class", "outlines"); svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    var labels = {};
    grids.forEach(function (x) {
      var c = x[0], g = x[1];
      var late = g.late > 0 || screen.late[g.id];
      var color = gridColor(g); screen.colors[g.id] = color;
      var poly = document.createElementNS(SVG, "polygon");
      poly.setAttribute("points", g.polygon.map(xy).join(" "));
      poly.setAttribute("fill", color);
      poly.setAttribute("class", "grid" + (late ? " late" : ""));
      poly.dataset.grid = g.id;
      var t = document.createElementNS(SVG, "title");
      t.textContent = g.name + " · 在办 " + g.open + (g.late ? " · 超期 " + g.late : "");
      poly.appendChild(t);
      poly.addEventListener("click", function () { openGrid(g.id, g.name); });
      svg.appendChild(poly);
      var l = labels[c.id] || (labels[c.id] = { c: c, x: 0, y: 0, n: 0 });
      g.polygon.slice(0, -1).forEach(function (p) { l.x += p[0]; l.y += p[1]; l.n++; });
    });
    Object.keys(labels).forEach(function (id) {
      var l = labels[id], at = xy([l.x / l.n, l.y / l.n]).split(",");
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("x", at[0]); text.setAttribute("y", at[1]);
      text.setAttribute("class", "community-label");
      text.textContent = l.c.name + " " + l.c.open;
      svg.appendChild(text);
    });
    map.classList.add("drawn");
    map.appendChild(svg);
    $("grid-count").textContent = grids.length;
    return true;
  }

  /* The map: one box per community, one tile per grid. A tile is as wide
     as its name needs (CSS), so narrow screens wrap tiles, never cut them.
     A directory with grid polygons is drawn as a map instead. */
  function renderMap(s) {
    var map = $("map"); map.textContent = "";
    var count = 0;
    screen.colors = {};
    map.classList.remove("drawn");
    if (renderOutlines(s, map)) return;
    s.communities.forEach(function (c) {
      var box = document.createElement("div"); box.className = "community";
      var h = document.createElement("h3"); h.textContent = c.name + " ";
      var b = document.createElement("b"); b.textContent = c.open; h.appendChild(b);
      box.appendChild(h);
      var tiles = document.createElement("div"); tiles.className = "tiles";
      c.grids.forEach(function (g) {
        var late = g.late > 0 || screen.late[g.id];
        var color = gridColor(g);
        var t = document.createElement("button"); t.type = "button";
        t.className = "tile" + (late ? " late" : ""); t.dataset.grid = g.id;
        t.style.background = color; screen.colors[g.id] = color;
        t.title = g.name + " · 在办 " + g.open + (g.late ? " · 超期 " + g.late : "");
        var name = document.createElement("span"); name.className = "name";
        name.textContent = g.name.indexOf(c.name) === 0 && g.name.length > c.name.length
          ? g.name.slice(c.name.length) : g.name;
        var n = document.createElement("span"); n.className = "n"; n.textContent = g.open + (late ? "⚠" : "");
        t.appendChild(name); t.appendChild(n);
        t.onclick = function () { openGrid(g.id, g.name); };
        tiles.appendChild(t); count++;
      });
      box.appendChild(tiles); map.appendChild(box);
    });
    $("grid-count").textContent = count;
  }

  /* The chain's funnel and, on its own canvas beside it, open cases by
     tier: labels sit inside the funnel, so they never reach the bars. */
  function renderFunnel(s) {
    var tiers = Object.keys(s.labels.tier);
    chart("funnel").setOption({
      tooltip: { trigger: "item" },
      series: [
        { type: "funnel", left: 2, right: 2, top: 4, bottom: 4, sort: "none", minSize: "48%", gap: 1,
          label: { position: "inside", color: "#fff", fontSize: 12, formatter: "{b} {c}" },
          data: s.funnel.map(function (f, i) { return { name: f.label, value: f.count,
            itemStyle: { color: ["#1677ff", "#2f8cff", "#40a9ff", "#36cfc9", "#73d13d", "#95de64", "#52c41a"][i] } }; }) } ]
    });
    chart("tierbars").setOption({
      tooltip: { trigger: "axis" },
      title: { text: "在办·按层级", left: 0, top: 0, textStyle: { color: "#8fb0db", fontSize: 12 } },
      grid: { left: 4, right: 28, top: 24, bottom: 4, containLabel: true },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", data: tiers.map(tierLabel), inverse: true }, AXIS),
      series: [
        { type: "bar", data: tiers.map(function (t) { return s.stats.open_by_tier[t] || 0; }),
          itemStyle: { color: function (p) { return ["#40a9ff", "#faad14", "#fa541c", RED][p.dataIndex]; } },
          label: { show: true, position: "right", color: "#fff" } } ]
    });
  }

  function renderDemand(s) {
    var cats = s.demand.categories.filter(function (c) { return c.week || c.last_week; }).slice(0, 12);
    if (!cats.length) cats = s.demand.categories.slice(0, 8);
    chart("demand").setOption({
      tooltip: { trigger: "axis" }, legend: { data: ["本周", "上周"], textStyle: { color: "#9cc8ff" }, top: 0 },
      grid: { left: 4, right: 16, top: 26, bottom: 4, containLabel: true },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", inverse: true, data: cats.map(function (c) { return c.name; }) }, AXIS),
      series: [ { name: "本周", type: "bar", data: cats.map(function (c) { return c.week; }), itemStyle: { color: "#40a9ff" } },
                { name: "上周", type: "bar", data: cats.map(function (c) { return c.last_week; }), itemStyle: { color: "#2b4c7e" } } ]
    });
  }

  function renderUnits(s) {
    var r = s.resources;
    $("resources-summary").innerHTML = "";
    [["单位", r.units], ["在岗", r.on_duty], ["在办", r.open], ["容量", r.capacity]].forEach(function (p) {
      var span = document.createElement("span"); span.textContent = p[0] + " ";
      var b = document.createElement("b"); b.textContent = p[1]; span.appendChild(b);
      span.appendChild(document.createTextNode("　")); $("resources-summary").appendChild(span);
    });
    var units = s.units.filter(function (u) { return u.on_duty; }).slice(0, 8);
    chart("units").setOption({
      tooltip: { trigger: "axis" },
      /* the grid makes room for the longest name: none is cut at the edge */
      grid: { left: 4, right: 44, top: 8, bottom: 4, containLabel: true },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", inverse: true, data: units.map(function (u) { return u.name; }) }, AXIS),
      series: [ { name: "在办", type: "bar", stack: "c", data: units.map(function (u) { return u.open; }),
                  itemStyle: { color: function (p) { var u = units[p.dataIndex]; return u.load_pct >= 90 ? RED : u.load_pct >= 60 ? "#faad14" : "#52c41a"; } },
                },
                /* open/capacity right of the whole bar, clear of the names */
                { name: "空闲容量", type: "bar", stack: "c", data: units.map(function (u) { return Math.max(u.capacity - u.open, 0); }),
                  itemStyle: { color: "#1f3b66" },
                  label: { show: true, position: "right", color: "#fff",
                           formatter: function (p) { return units[p.dataIndex].open + "/" + units[p.dataIndex].capacity; } } } ]
    });
  }

  /* 项目清单: per service category one bar of its orders — delivered
     (placed, handled and closed), in hand, waiting for the community to
     place them — and delivered/ordered beside it. Names read across. */
  function renderServices(s) {
    var svc = s.services.slice(0, 9);
    var part = function (name, key, color) {
      return { name: name, type: "bar", stack: "o", barMaxWidth: 14, itemStyle: { color: color },
               data: svc.map(function (c) { return c[key]; }) };
    };
    var waiting = part("待下单", "waiting", "#faad14");
    waiting.label = { show: true, position: "right", color: "#fff",
                      formatter: function (p) { return svc[p.dataIndex].delivered + "/" + svc[p.dataIndex].ordered; } };
    chart("services").setOption({
      tooltip: { trigger: "axis" },
      legend: { data: ["已办结", "办理中", "待下单"], textStyle: { color: "#9cc8ff" }, top: 0 },
      grid: { left: 4, right: 44, top: 26, bottom: 4, containLabel: true },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", inverse: true, data: svc.map(function (c) { return c.name; }) }, AXIS),
      series: [ part("已办结", "delivered", "#52c41a"), part("办理中", "open", "#2f8cff"), waiting ]
    });
  }

  function renderList(id, rows) {
    var body = $(id).tBodies[0]; body.textContent = "";
    rows.forEach(function (r) {
      var tr = body.insertRow(); tr.dataset.case = r.case_id;
      cell(tr, r.ledger_no); cell(tr, r.grid_name, r.grid); cell(tr, r.category_name, r.category);
      cell(tr, tierLabel(r.tier)); cell(tr, r.unit_name || "待派遣", r.unit_name || r.unit).className = "unit";
      cell(tr, dur(r.left_ms));
    });
    if (!rows.length) { var tr = body.insertRow(); cell(tr, "暂无"); }
    /* whole rows only: those past the panel's height are counted, not cut */
    var box = $(id).parentElement.getBoundingClientRect(), hidden = 0;
    while (body.rows.length > 1 && body.rows[body.rows.length - 1].getBoundingClientRect().bottom > box.bottom + 0.5) {
      body.deleteRow(body.rows.length - 1); hidden++;
    }
    $(id + "-more").textContent = hidden ? "· 另有" + hidden + "条" : "";
  }

  function renderTiers(s) {
    var body = $("tiers").tBodies[0]; body.textContent = "";
    s.perf.by_tier.forEach(function (t) {
      var tr = body.insertRow();
      cell(tr, tierLabel(t.tier)); cell(tr, t.closed); cell(tr, pct(t.on_time_rate)); cell(tr, pct(t.on_time_rate_now));
      cell(tr, dur(t.avg_handling_ms));
      cell(tr, t.satisfaction === null ? "–" : t.satisfaction.toFixed(2)); cell(tr, t.escalations);
    });
  }

  function renderKpis(s) {
    $("street").textContent = s.street.name || "街道";
    $("kpi-open").textContent = s.stats.open;
    $("kpi-reported").textContent = s.stats.totals.reported;
    /* on time: within the deadline a case started with; beside it, within
       the deadline it ended with (after climbs and extensions) */
    $("kpi-ontime").textContent = pct(s.perf.on_time_rate);
    $("kpi-ontime-now").textContent = "按现时限 " + pct(s.perf.on_time_rate_now);
    $("kpi-handling").textContent = dur(s.perf.sample.avg_handling_ms);
    $("kpi-satisfaction").textContent = s.perf.satisfaction === null ? "–" : s.perf.satisfaction.toFixed(2) + "/5";
    $("kpi-escalations").textContent = s.perf.escalations;
  }

  /* A case's photo: report's own (/media/…, fetched with the screen's
     token) as a thumbnail linking to the whole photo; one elsewhere as a
     plain link (the page loads nothing from other hosts). */
  function photo(url, cls) {
    var a = document.createElement("a");
    a.target = "_blank"; a.rel = "noopener noreferrer";
    if (url.indexOf("/media/") === 0) {
      a.href = withToken(url);
      var img = document.createElement("img");
      img.className = cls; img.src = a.href; img.alt = "现场照片"; img.loading = "lazy";
      a.appendChild(img);
    } else {
      a.href = url; a.textContent = "照片链接"; a.className = "photo-link";
    }
    return a;
  }

  function tickerLine(e, fresh) {
    var li = document.createElement("li");
    li.dataset.case = e.case_id;
    li.className = "w-" + e.what + (fresh ? " new" : "");
    var t = document.createElement("span"); t.className = "t"; t.textContent = hhmmss(e.at_ms);
    li.appendChild(t);
    li.appendChild(document.createTextNode(e.case_id + " · " + e.grid_name + " · " + e.category_name + " · " +
      e.what_label + (e.tier ? "（" + tierLabel(e.tier) + "）" : "") + (e.note && !e.photo ? " " + e.note : "")));
    if (e.photo) { li.appendChild(document.createTextNode(" ")); li.appendChild(photo(e.photo, "thumb")); }
    return li;
  }

  function renderTicker(s) {
    var ul = $("ticker"); ul.textContent = "";
    s.ticker.forEach(function (e) { ul.appendChild(tickerLine(e, false)); });
  }

  function render(s) {
    screen.snapshot = s;
    screen.late = {};
    renderKpis(s); renderMap(s); renderFunnel(s); renderDemand(s); renderUnits(s); renderServices(s);
    renderList("red", s.red); renderList("yellow", s.yellow); renderTiers(s); renderTicker(s);
    status("实时 · 更新于 " + hhmmss(s.at_ms), false);
  }

  function onCase(e) {
    screen.events++;
    var ul = $("ticker");
    ul.insertBefore(tickerLine(e, true), ul.firstChild);
    while (ul.children.length > 40) ul.removeChild(ul.lastChild);
    if ((e.what === "escalated" || e.what === "overdue") && screen.snapshot) {
      screen.late[e.grid] = true;     // red at once; the next snapshot confirms it
      renderMap(screen.snapshot);
    }
  }

  function openGrid(id, name) {
    $("drawer-title").textContent = name + "（" + id + "）在办案件";
    var body = $("drawer-cases").tBodies[0]; body.textContent = "";
    $("drawer").hidden = false;
    fetch(withToken("/api/cases?state=open&limit=100&grid=" + encodeURIComponent(id)), { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        (d.items || []).forEach(function (c) {
          var tr = body.insertRow();
          cell(tr, c.ledger_no); cell(tr, c.category_name); cell(tr, c.state_label);
          cell(tr, tierLabel(c.tier)); cell(tr, c.unit_name || "待派遣"); cell(tr, hhmmss(c.created_ms));
          cell(tr, c.text, c.text);
          var td = tr.insertCell(); td.className = "photos";
          (c.media || []).forEach(function (u) { td.appendChild(photo(u, "thumb big")); });
        });
        if (!(d.items || []).length) cell(body.insertRow(), "暂无在办案件");
      })
      .catch(function () { cell(body.insertRow(), "无法读取"); });
  }

  /* 三张清单 as lists: needs by status, projects' claims against their
     places, agreements' delivery against their promise this quarter
     (/api/community/lists and /agreements, read every 30 s). */
  var STATUS = { open: "待认领", covered: "已立项", met: "已满足", active: "进行中", done: "已完成",
                 cancelled: "已取消", survey: "问卷", visit: "走访", reports: "上报聚集" };
  function bar(tr, x) {
    var td = tr.insertCell(), b = document.createElement("div");
    b.className = "progress"; b.style.width = Math.min(100, Math.round((x || 0) * 100)) + "%";
    td.appendChild(b); td.title = pct(x);
  }
  /* a list the API sent; Redis's JSON writes an empty list as {} */
  function list(x) { return Array.isArray(x) ? x : []; }
  function renderCommunity(lists, agr) {
    var c = lists.need_counts || {};
    $("cm-needs-count").textContent = (c.open || 0) + "待认领/" + (c.covered || 0) + "已立项/" + (c.met || 0) + "已满足";
    var body = $("cm-needs").tBodies[0]; body.textContent = "";
    list(lists.needs).filter(function (n) { return n.status !== "met"; }).slice(0, 3).forEach(function (n) {
      var tr = body.insertRow();
      cell(tr, n.category_name, n.text); cell(tr, n.grid); cell(tr, STATUS[n.source] || n.source);
      cell(tr, STATUS[n.status] || n.status);
    });
    body = $("cm-projects").tBodies[0]; body.textContent = "";
    list(lists.projects).slice(0, 2).forEach(function (p) {
      var tr = body.insertRow();
      cell(tr, p.name, p.goal); cell(tr, list(p.people).length + "/" + p.volunteers + (p.refused_full ? " 扎堆" : ""));
      bar(tr, p.progress); cell(tr, STATUS[p.status] || p.status);
    });
    $("cm-quarter").textContent = agr.quarter || "";
    body = $("cm-agreements").tBodies[0]; body.textContent = "";
    list(agr.agreements).filter(function (a) { return a.promised > 0; })
      .sort(function (x, y) { return (y.progress || 0) - (x.progress || 0); }).slice(0, 2).forEach(function (a) {
        var tr = body.insertRow();
        cell(tr, a.name, a.promise); cell(tr, a.delivered + "/" + a.promised); bar(tr, a.progress);
      });
  }
  function pollCommunity() {
    var get = function (path) { return fetch(withToken(path), { cache: "no-store" }).then(function (r) { return r.json(); }); };
    Promise.all([get("/api/community/lists"), get("/api/community/agreements")])
      .then(function (d) { renderCommunity(d[0], d[1]); })
      .catch(function () { $("cm-needs-count").textContent = "无法读取"; });
  }

  function connect() {
    var es = new EventSource(withToken("/api/stream"));
    es.addEventListener("snapshot", function (m) { render(JSON.parse(m.data)); });
    es.addEventListener("case", function (m) { onCase(JSON.parse(m.data)); });
    es.addEventListener("status", function (m) { var d = JSON.parse(m.data); if (!d.ok) status("数据源中断 · 重试中", true); });
    es.onerror = function () { status("连接中断 · 自动重连…", true); };
    screen.stream = es;
  }

  function start() {
    $("drawer-close").onclick = function () { $("drawer").hidden = true; };
    window.addEventListener("resize", function () {
      Object.keys(screen.charts).forEach(function (k) { screen.charts[k].resize(); });
      if (screen.snapshot) { renderList("red", screen.snapshot.red); renderList("yellow", screen.snapshot.yellow); }
    });
    setInterval(function () { $("now").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false }); }, 1000);
    connect();
    pollCommunity();
    setInterval(pollCommunity, 30000);
  }
  start();
})();
