// screen.mjs — drives the command-center screen in Debian's chromium
// (headless) with playwright-core, as tests/integration/test_report_screen.py
// asks over stdin/stdout, one JSON object a line:
//   out {"ready": true}                         page loaded, first snapshot shown
//   in  {"case": ID, "grid": G}                 a report was just filed
//   out {"seen_ms": N, "ticker": true, "map": true}   it reached ticker and map
//   in  {"photo": ID, "grid": G}                a photo was added to case ID
//   out {"ticker": [src], "drawer": [src]}      shown (loaded) in its ticker entry
//                                               and in the grid's drawer
//   in  {"await_red": G}                        wait for the grid to turn red
//   out {"red_ms": N}
//   in  {"screenshot": PATH}                    save a screenshot
//   out {"saved": PATH}
//   in  {"layout": {"width": W, "height": H, "shot": PATH}}
//   out {"problems": [...], "measured": {...}, "saved": PATH}
//                                               the window at W x H: what is
//                                               unreadable (layout.mjs), and a
//                                               full-page screenshot
// Usage: node screen.mjs URL
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import readline from "node:readline";
import { layoutProblems } from "./layout.mjs";

const url = process.argv[2];
const RED = "#ff4d4f";
const profile = mkdtempSync(join(tmpdir(), "gc-chromium-"));
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

// a fresh profile folder: playwright passes it as --user-data-dir
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1920, height: 1080 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
let code = 0;
try {
  const page = browser.pages()[0] || await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  // the page may carry ?token=: compare origins, not the whole URL
  const origin = new URL(url).origin;
  page.on("request", (r) => { if (new URL(r.url()).origin !== origin) problems.push("outside request " + r.url()); });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.gridcall && window.gridcall.snapshot, null, { timeout: 10000 });
  say({ ready: true, title: await page.title() });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const cmd = JSON.parse(line);
    if (cmd.case) {
      const t0 = Date.now();
      await page.waitForFunction(({ id, grid }) => {
        const inTicker = [...document.querySelectorAll("#ticker li")].some((li) => li.dataset.case === id);
        const s = window.gridcall.snapshot;
        const g = s && s.communities.flatMap((c) => c.grids).find((x) => x.id === grid);
        return inTicker && g && g.open > 0 && window.gridcall.gridColor(grid) !== null;
      }, { id: cmd.case, grid: cmd.grid }, { timeout: 5000, polling: 50 });
      say({ seen_ms: Date.now() - t0, ticker: true, map: true });
    } else if (cmd.photo) {
      // a photo added to case cmd.photo: its ticker entry shows it, loaded
      // from report's /media/ with the screen's token; so does the grid's
      // drawer (a click on the grid) in the case's row
      const t0 = Date.now();
      const loaded = (sel) => page.evaluate((s) => [...document.querySelectorAll(s)]
        .filter((img) => img.complete && img.naturalWidth > 0).map((img) => img.getAttribute("src")), sel);
      const wait = async (sel) => {
        await page.waitForFunction((s) => [...document.querySelectorAll(s)]
          .some((img) => img.complete && img.naturalWidth > 0), sel, { timeout: 5000, polling: 50 });
        return loaded(sel);
      };
      const ticker = await wait(`#ticker li[data-case="${cmd.photo}"] img.thumb`);
      await page.dispatchEvent(`[data-grid="${cmd.grid}"]`, "click");
      const drawer = await wait("#drawer-cases td.photos img");
      say({ photo_ms: Date.now() - t0, ticker, drawer, problems });
    } else if (cmd.await_red) {
      const t0 = Date.now();
      await page.waitForFunction((g) => window.gridcall.gridColor(g) === "#ff4d4f", cmd.await_red,
                                 { timeout: 20000, polling: 50 });
      const row = await page.$$eval("#red tbody tr", (rows) => rows.map((r) => r.dataset.case || ""));
      say({ red_ms: Date.now() - t0, red_rows: row, color: RED });
    } else if (cmd.screenshot) {
      await page.waitForTimeout(300);    // let ECharts finish its frame
      await page.screenshot({ path: cmd.screenshot });
      say({ saved: cmd.screenshot, problems });
    } else if (cmd.layout) {
      const { width, height, shot } = cmd.layout;
      await page.setViewportSize({ width, height });
      // the charts resize on the window's resize event and animate for 1 s
      await page.waitForTimeout(1500);
      const found = await page.evaluate(layoutProblems);
      await page.screenshot({ path: shot, fullPage: true });
      say({ ...found, saved: shot });
    } else if (cmd.quit) {
      break;
    }
  }
} catch (e) {
  say({ error: String(e && e.message || e) });
  code = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
