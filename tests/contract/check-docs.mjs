// The /docs page in a headless Chromium: it loads, lists every route group of the contract,
// and logs no console error, page error or failed request. Usage: node check-docs.mjs <base-url>
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.argv[2];
const contract = await (await fetch(`${base}/v1/openapi.json`)).json();
const groups = contract.tags.map((t) => t.name);

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "chief-docs-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
const page = await context.newPage();
page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on("response", (r) => { if (r.status() >= 400) problems.push(`answer ${r.status()}: ${r.url()}`); });

const answer = await page.goto(`${base}/docs`, { waitUntil: "networkidle" });
if (answer.status() !== 200) problems.push(`/docs answered ${answer.status()}`);
try {
  await page.waitForSelector(".opblock-tag", { timeout: 30000 });
} catch (e) {
  problems.push(`no route group appeared: ${e.message.split("\n")[0]}`);
  const text = await page.evaluate(() => document.body.innerText.slice(0, 500));
  console.error(`/docs: ${problems.join("\n  ")}\npage text: ${text}`);
  process.exit(1);
}
const shown = await page.$$eval(".opblock-tag", (tags) => tags.map((t) => t.getAttribute("data-tag")));
const missing = groups.filter((g) => !shown.includes(g));
if (missing.length) problems.push(`route groups not listed: ${missing.join(", ")}`);
const operations = await page.$$eval(".opblock", (ops) => ops.length);
const title = await page.$eval(".info .title", (t) => t.textContent);
await context.close();

if (problems.length) {
  console.error(`/docs: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`/docs: "${title.trim()}" lists ${shown.length} route groups (${shown.join(", ")}) and ${operations} operations, with no console error`);
