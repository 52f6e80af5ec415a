/* matters.js — the screen's board of matters (议题): the 提议定办评 loop by
   stage, and the next meetings of the four levels with their agendas
   (GET /api/matters, docs/report-api.md). Matters move slowly: the board
   is read every few seconds, and at once when the ticker shows a step. */
"use strict";
(function () {
  var STAGES = { PROPOSE: "提 · 提出", DELIBERATE: "议 · 议事", DECIDE: "定 · 决策",
                 CARRY_OUT: "办 · 实施", EVALUATE: "评 · 评议", DONE: "已公布结果" };
  var TEMPLATES = { renovation: "老旧小区改造", owners_committee: "业委会选举",
                    property_selection: "物业选聘" };
  var REFRESH_MS = 5000;
  function $(id) { return document.getElementById(id); }
  function token(url) {
    var t = new URLSearchParams(window.location.search).get("token");
    return t ? url + (url.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(t) : url;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function list(x) { return Array.isArray(x) ? x : []; }     /* an empty list arrives as {} */

  function renderBoard(d) {
    var board = $("matters-board");
    board.textContent = "";
    list(d.stages).forEach(function (stage) {
      var items = list(d.board[stage]);
      var col = el("div", "stage s-" + stage.toLowerCase());
      col.appendChild(el("h3", null, (STAGES[stage] || stage) + " (" + items.length + ")"));
      items.slice(0, 2).forEach(function (m) {
        var card = el("div", "matter");
        card.appendChild(el("b", null, m.title));
        var meta = (TEMPLATES[m.template] || m.template) + " · " + m.grid;
        if (m.tasks_n) meta += " · 任务 " + m.tasks_done + "/" + m.tasks_n;
        var line = el("small", null, meta + " · ");
        line.appendChild(el("span", "next", m.result || (m.next_step ? "下一步：" + m.next_step : "")));
        card.appendChild(line);
        card.title = m.matter_id;
        col.appendChild(card);
      });
      board.appendChild(col);
    });
    $("matters-count").textContent = d.count;
  }

  function renderMeetings(d) {
    var body = $("meetings").tBodies[0];
    body.textContent = "";
    var meetings = list(d.meetings);
    meetings.slice(0, 3).forEach(function (m) {
      var tr = body.insertRow();
      tr.insertCell().textContent = new Date(m.at).toLocaleString("zh-CN", { hour12: false,
        month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
      tr.insertCell().textContent = m.level_name + (m.held ? " · 已召开" : "");
      tr.insertCell().textContent = m.venue;
      tr.insertCell().textContent = list(m.agenda).map(function (a) { return a.title; }).join("；") || "–";
    });
    if (!meetings.length) body.insertRow().insertCell().textContent = "近期暂无会议";
  }

  function refresh() {
    fetch(token("/api/matters"), { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { renderBoard(d); renderMeetings(d); } })
      .catch(function () {});
  }
  window.gridcallMatters = { refresh: refresh };
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
