// shot.mjs — a screenshot of a running screen (for the README):
//   node tests/browser/shot.mjs URL PATH [WAIT_MS]
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, path, wait] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "gc-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1920, height: 1080 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: "load" });
  await page.waitForTimeout(Number(wait || 5000));
  await page.screenshot({ path });
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
