// layout.mjs — what a person at the screen would call unreadable, measured
// in the page (screen.mjs runs layoutProblems there at each window size):
// a grid tile, a list cell or a chart label cut or clipped, two chart
// labels on top of each other, the funnel's labels reaching the tier bars.
// Returns a list of problems (empty: readable) and what was measured.

export function layoutProblems() {
  const problems = [];
  const measured = { tiles: 0, rows: 0, texts: 0 };
  const box = (el) => el.getBoundingClientRect();
  const cut = (el) => el.scrollWidth > el.clientWidth + 1;
  const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 &&
                           a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;

  // the map: every grid tile shows its whole name, inside the map's area
  const map = document.getElementById("map");
  for (const tile of map.querySelectorAll(".tile")) {
    measured.tiles++;
    const name = tile.querySelector(".name").textContent;
    if (cut(tile)) problems.push(`map: tile ${tile.dataset.grid} "${name}" is cut`);
    if (!inside(box(tile), box(map))) problems.push(`map: tile ${tile.dataset.grid} "${name}" is hidden`);
  }
  // ... or, drawn from the directory's polygons, every grid inside the map
  for (const poly of map.querySelectorAll("polygon.grid")) {
    measured.tiles++;
    if (!inside(box(poly), box(map))) problems.push(`map: grid ${poly.dataset.grid} is hidden`);
  }
  if (!measured.tiles) problems.push("map: no grid tiles");

  // the red and yellow lists: ledger number, grid, category, tier and time
  // left whole; the table within its panel
  for (const id of ["red", "yellow"]) {
    const table = document.getElementById(id);
    const panel = table.closest(".panel");
    if (box(table).right > box(panel).right + 0.5) problems.push(`${id}: the list is wider than its panel`);
    const list = box(table.parentElement);
    for (const tr of table.tBodies[0].rows) {
      if (!inside(box(tr), list)) problems.push(`${id}: a row is cut off at the bottom`);
      if (tr.cells.length < 6) continue;
      if (id === "red") measured.rows++;
      for (const k of [0, 1, 2, 3, 5]) {
        const td = tr.cells[k];
        if (cut(td)) problems.push(`${id}: "${td.textContent}" is cut`);
      }
    }
  }

  // tables and figures of text: no cell or KPI cut
  for (const el of document.querySelectorAll("#tiers td, #tiers th, .kpi b, .kpi span, .kpi small, h1")) {
    if (cut(el)) problems.push(`"${el.textContent}" is cut`);
  }

  // the charts: every label inside its canvas, whole (no "…"), none on
  // top of another
  for (const [id, chart] of Object.entries(window.gridcall.charts)) {
    const zr = chart.getZr();
    const width = zr.getWidth(), height = zr.getHeight();
    const texts = [];
    for (const el of zr.storage.getDisplayList(true)) {
      // ECharts draws a label as a text whose lines are "tspan" elements
      if (el.type !== "tspan" || el.ignore || el.invisible || !el.style || !el.style.text) continue;
      const r = el.getBoundingRect().clone();
      const m = el.getComputedTransform();
      if (m) r.applyTransform(m);
      if (r.width <= 0 || r.height <= 0) continue;
      texts.push({ text: String(el.style.text), x: r.x, y: r.y, w: r.width, h: r.height });
    }
    measured.texts += texts.length;
    for (const t of texts) {
      if (t.x < -0.5 || t.y < -0.5 || t.x + t.w > width + 0.5 || t.y + t.h > height + 0.5)
        problems.push(`${id}: label "${t.text}" is clipped at the canvas edge`);
      if (t.text.includes("…")) problems.push(`${id}: label "${t.text}" is cut short`);
    }
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const a = texts[i], b = texts[j];
        const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
        const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
        if (w > 1 && h > 1) problems.push(`${id}: labels "${a.text}" and "${b.text}" overlap`);
      }
    }
  }

  // the funnel and the tier bars beside it do not share any space
  const funnel = box(document.getElementById("funnel"));
  const bars = box(document.getElementById("tierbars"));
  if (funnel.right > bars.left + 0.5) problems.push("funnel: it reaches into the tier bars");
  const more = document.getElementById("red-more").textContent.match(/\d+/);
  measured.red_more = more ? Number(more[0]) : 0;
  // a wall screen shows everything at once; a laptop may scroll
  if (window.innerWidth >= 1920 && document.documentElement.scrollHeight > window.innerHeight)
    problems.push(`the page is ${document.documentElement.scrollHeight} px tall: it does not fit the screen`);
  return { problems, measured };
}
