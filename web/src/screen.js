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
  var RED = "#ff4d4f", YELLOW = "#fadb14";
  var TIER = { GRID: "网格", COMMUNITY: "社区", STREET: "街道", DISTRICT: "区" };
  var WHAT = { registered: "立案", offered: "派遣", offer_expired: "派遣超时", waiting: "等待派遣",
    accepted: "接单", declined: "退回", progress: "进展", resolved: "办结反馈", verified: "核查通过",
    closed: "结案", reopened: "重办", evaluated: "评价", escalated: "升级", overdue: "超期" };
  var STATE = { REPORTED: "上报", REGISTERED: "立案", DISPATCHED: "派遣", ACCEPTED: "处置中",
    RESOLVED: "已反馈", VERIFIED: "已核查", CLOSED: "结案", REOPENED: "重办", ESCALATED: "已升级",
    REJECTED: "不予受理", DUPLICATE: "重复" };
  var screen = { snapshot: null, charts: {}, events: 0, late: {}, flash: {} };
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
  screen.gridColor = function (id) {
    var opt = screen.charts.map && screen.charts.map.getOption();
    if (!opt) return null;
    var found = null;
    opt.series[0].data.forEach(function (c) { (c.children || []).forEach(function (g) { if (g.id === id) found = g.itemStyle.color; }); });
    return found;
  };

  function renderMap(s) {
    var data = s.communities.map(function (c) {
      return { name: c.name + "（" + c.open + "）", id: c.id, value: c.grids.length,
        children: c.grids.map(function (g) {
          var short = g.name.replace(c.name, "");
          return { name: short, id: g.id, value: 1, open: g.open, late: g.late, full: g.name,
            itemStyle: { color: gridColor(g), borderColor: g.late ? "#ffd6d6" : "#07142b",
                         borderWidth: g.late ? 3 : 1 },
            label: { formatter: short + "\n" + g.open + (g.late ? " ⚠" : "") } };
        }) };
    });
    chart("map").setOption({
      tooltip: { formatter: function (p) { var d = p.data; return d.full ? d.full + "<br>在办 " + d.open + (d.late ? "<br><b style='color:#ff4d4f'>超期 " + d.late + "</b>" : "") : p.name; } },
      series: [{ type: "treemap", id: "grids", roam: false, nodeClick: false, breadcrumb: { show: false },
        width: "100%", height: "100%", top: 0, left: 0, animation: false, data: data,
        label: { show: true, color: "#fff", fontSize: 12, lineHeight: 15 },
        upperLabel: { show: true, height: 20, color: "#cfe3ff", fontSize: 13 },
        levels: [ { itemStyle: { borderColor: "#07142b", borderWidth: 3, gapWidth: 3 } },
                  { itemStyle: { borderColor: "#0d2144", borderWidth: 4, gapWidth: 2 }, upperLabel: { show: true } },
                  { itemStyle: { gapWidth: 1 } } ] }]
    });
  }

  function renderFunnel(s) {
    var tiers = ["GRID", "COMMUNITY", "STREET", "DISTRICT"];
    chart("funnel").setOption({
      tooltip: { trigger: "item" },
      grid: { left: "58%", right: 10, top: 18, bottom: 20 },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", data: tiers.map(function (t) { return TIER[t]; }), inverse: true }, AXIS),
      title: { text: "在办·按层级", right: 10, top: 0, textStyle: { color: "#8fb0db", fontSize: 12 } },
      series: [
        { type: "funnel", left: 0, width: "54%", top: 5, bottom: 5, sort: "none", minSize: "20%", gap: 1,
          label: { color: "#fff", formatter: "{b} {c}" },
          data: s.funnel.map(function (f, i) { return { name: f.label, value: f.count,
            itemStyle: { color: ["#1677ff", "#2f8cff", "#40a9ff", "#36cfc9", "#73d13d", "#95de64", "#52c41a"][i] } }; }) },
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
      grid: { left: 90, right: 16, top: 26, bottom: 20 },
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
      grid: { left: 120, right: 30, top: 8, bottom: 20 },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", inverse: true, data: units.map(function (u) { return u.name; }),
        axisLabel: { color: "#9cc8ff", width: 110, overflow: "truncate" } }, AXIS),
      series: [ { name: "在办", type: "bar", stack: "c", data: units.map(function (u) { return u.open; }),
                  itemStyle: { color: function (p) { var u = units[p.dataIndex]; return u.load_pct >= 90 ? RED : u.load_pct >= 60 ? "#faad14" : "#52c41a"; } },
                  label: { show: true, color: "#fff", formatter: function (p) { return units[p.dataIndex].open + "/" + units[p.dataIndex].capacity; } } },
                { name: "空闲容量", type: "bar", stack: "c", data: units.map(function (u) { return Math.max(u.capacity - u.open, 0); }),
                  itemStyle: { color: "#1f3b66" } } ]
    });
  }

  function renderServices(s) {
    var svc = s.services.slice(0, 9);
    chart("services").setOption({
      tooltip: { trigger: "axis" }, legend: { data: ["点单", "已办结"], textStyle: { color: "#9cc8ff" }, top: 0 },
      grid: { left: 40, right: 10, top: 26, bottom: 44 },
      xAxis: Object.assign({ type: "category", data: svc.map(function (c) { return c.name; }) }, AXIS, { axisLabel: { color: "#9cc8ff", rotate: 30, fontSize: 11 } }),
      yAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      series: [ { name: "点单", type: "bar", data: svc.map(function (c) { return c.ordered; }), itemStyle: { color: "#2f8cff" } },
                { name: "已办结", type: "bar", data: svc.map(function (c) { return c.delivered; }), itemStyle: { color: "#52c41a" } } ]
    });
  }

  function renderList(id, rows) {
    var body = $(id).tBodies[0]; body.textContent = "";
    rows.forEach(function (r) {
      var tr = body.insertRow(); tr.dataset.case = r.case_id;
      cell(tr, r.ledger_no); cell(tr, r.grid_name, r.grid); cell(tr, r.category_name, r.category);
      cell(tr, TIER[r.tier] || r.tier); cell(tr, r.unit_name || "待派遣", r.unit); cell(tr, dur(r.left_ms));
    });
    if (!rows.length) { var tr = body.insertRow(); cell(tr, "暂无"); }
  }

  function renderTiers(s) {
    var body = $("tiers").tBodies[0]; body.textContent = "";
    s.perf.by_tier.forEach(function (t) {
      var tr = body.insertRow();
      cell(tr, TIER[t.tier]); cell(tr, t.closed); cell(tr, pct(t.on_time_rate)); cell(tr, dur(t.avg_handling_ms));
      cell(tr, t.satisfaction === null ? "–" : t.satisfaction.toFixed(2)); cell(tr, t.escalations);
    });
  }

  function renderKpis(s) {
    $("street").textContent = s.street.name || "街道";
    $("kpi-open").textContent = s.stats.open;
    $("kpi-reported").textContent = s.stats.totals.reported;
    $("kpi-ontime").textContent = pct(s.perf.on_time_rate);
    $("kpi-handling").textContent = dur(s.perf.sample.avg_handling_ms);
    $("kpi-satisfaction").textContent = s.perf.satisfaction === null ? "–" : s.perf.satisfaction.toFixed(2) + "/5";
    $("kpi-escalations").textContent = s.perf.escalations;
  }

  function tickerLine(e, fresh) {
    var li = document.createElement("li");
    li.dataset.case = e.case_id;
    li.className = "w-" + e.what + (fresh ? " new" : "");
    var t = document.createElement("span"); t.className = "t"; t.textContent = hhmmss(e.at_ms);
    li.appendChild(t);
    li.appendChild(document.createTextNode(e.case_id + " · " + e.grid_name + " · " + e.category_name + " · " +
      (WHAT[e.what] || e.what) + (e.tier ? "（" + (TIER[e.tier] || e.tier) + "）" : "") + (e.note ? " " + e.note : "")));
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
          cell(tr, c.ledger_no); cell(tr, c.category_name); cell(tr, STATE[c.state] || c.state);
          cell(tr, TIER[c.tier] || c.tier); cell(tr, c.unit_name || "待派遣"); cell(tr, hhmmss(c.created_ms));
          cell(tr, c.text, c.text);
        });
        if (!(d.items || []).length) cell(body.insertRow(), "暂无在办案件");
      })
      .catch(function () { cell(body.insertRow(), "无法读取"); });
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
    chart("map").on("click", function (p) { if (p.data && p.data.full) openGrid(p.data.id, p.data.full); });
    $("drawer-close").onclick = function () { $("drawer").hidden = true; };
    window.addEventListener("resize", function () { Object.keys(screen.charts).forEach(function (k) { screen.charts[k].resize(); }); });
    setInterval(function () { $("now").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false }); }, 1000);
    connect();
  }
  start();
})();
