// Browser scenarios of the web console tests (tests/web_console.rs), run in the real
// headless Chromium the test binary started once, reached over CDP (OOBGATE_CDP).
//
//   node web/tests/scenario.mjs NAME '{"link": "...", ...}'
//
// Each scenario prints one JSON object of what the browser saw; the Rust test asserts on
// it. Dialogs (alert/confirm) are counted and dismissed; console messages (CSP violations
// among them) are returned. Screenshots go to OOBGATE_SHOTS when it is set.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [name, argJson] = process.argv.slice(2);
const args = JSON.parse(argJson || "{}");
const shots = process.env.OOBGATE_SHOTS;

const browser = await chromium.connectOverCDP(process.env.OOBGATE_CDP);
const seen = { dialogs: [], console: [] };
const contexts = [];

async function newPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  contexts.push(context);
  const page = await context.newPage();
  page.on("dialog", async (d) => { seen.dialogs.push(d.message()); await d.dismiss(); });
  page.on("console", (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => seen.console.push(`pageerror: ${e.message}`));
  return { context, page };
}

async function shot(page, file) {
  if (shots) await page.screenshot({ path: `${shots}/${file}.png`, fullPage: true });
}

async function login(link) {
  const { context, page } = await newPage();
  const res = await page.goto(link);
  return { context, page, status: res.status() };
}

function terminalText(page) {
  return page.evaluate(() => {
    const t = document.querySelector(".ap-term, .ap-terminal");
    return t ? t.textContent : "";
  });
}

async function waitForTerminal(page, needle, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await terminalText(page)).includes(needle)) return true;
    await page.waitForTimeout(25);
  }
  return false;
}

function waitLine(expected) {
  const rl = createInterface({ input: process.stdin });
  return new Promise((resolve) => rl.on("line", (l) => { if (l.trim() === expected) { rl.close(); resolve(); } }));
}

const scenarios = {
  // The link logs in once: cookie flags, the page, then the same link in a fresh browser.
  async login({ link }) {
    const first = await login(link);
    const cookies = await first.context.cookies();
    const out = {
      status: first.status,
      url: first.page.url(),
      h1: await first.page.textContent("h1"),
      who: await first.page.textContent("nav .who"),
      cookies: cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite })),
      scriptSeesCookie: await first.page.evaluate(() => document.cookie),
    };
    await shot(first.page, "login");
    const again = await login(link);
    out.second = { status: again.status, h1: await again.page.textContent("h1") };
    const api = await again.page.evaluate(async () => (await fetch("/api/sessions")).status);
    out.second.api = api;
    return out;
  },

  // Logged in; after GO (the test has revoked the certificate) the next call.
  async revoked({ link }) {
    const { page } = await login(link);
    const status = () => page.evaluate(async () => (await fetch("/api/sessions")).status);
    const before = await status();
    console.log("READY");
    await waitLine("GO");
    return { before, after: await status() };
  },

  // GETs of `paths` as the link's user: status and body of each.
  async get({ link, paths }) {
    const { page } = await login(link);
    const out = [];
    for (const p of paths) {
      out.push(await page.evaluate(async (p) => {
        const r = await fetch(p);
        return { status: r.status, body: await r.text() };
      }, p));
    }
    return { answers: out };
  },

  // Search, then open the first hit: the player starts at the hit's time and shows it.
  async search({ link, q, needle }) {
    const { page } = await login(link);
    await shot(page, "session-browser");
    await page.goto(new URL(`/?q=${encodeURIComponent(q)}`, link).href);
    await shot(page, "search");
    const hits = await page.$$eval("table.hits tbody tr", (rows) => rows.map((r) => r.textContent));
    const href = await page.getAttribute("table.hits a.hit", "href");
    await page.click("table.hits a.hit");
    await page.waitForSelector(".ap-player, .ap-wrapper", { timeout: 10000 });
    const shows = await waitForTerminal(page, needle, 10000);
    const start = await page.getAttribute("#player", "data-start");
    await page.evaluate(() => window.oobgatePlayer.play());
    await page.waitForTimeout(300);
    const current = await page.evaluate(() => window.oobgatePlayer.getCurrentTime());
    const badge = await page.textContent(".badge");
    const timeline = await page.$$eval("ol.timeline li", (li) => li.map((l) => l.textContent));
    await shot(page, "session-page");
    return { hits, href, shows, start, current, badge, timeline, terminal: await terminalText(page) };
  },

  // The live view shows what the device prints next (the test types it after READY).
  // `table` picks the list: running sessions (table.live) or consoles (table.consoles).
  async live({ link, needle, table = "table.live" }) {
    const { page } = await login(link);
    await page.goto(new URL("/live", link).href);
    const rows = await page.$$eval(`${table} tbody tr`, (r) => r.map((x) => x.textContent));
    await page.click(`${table} a`);
    await page.waitForSelector(".ap-player, .ap-wrapper", { timeout: 10000 });
    const before = await waitForTerminal(page, args.first, 10000);
    console.log("READY");
    await waitLine("GO");
    const go = Date.now();
    const shown = await waitForTerminal(page, needle, 10000);
    const after_ms = Date.now() - go;
    await shot(page, "live-view");
    return { rows, before, shown, after_ms, terminal: await terminalText(page) };
  },

  // An approver approves a pending request with the page's button.
  async approve({ link, request }) {
    const { page } = await login(link);
    await page.goto(new URL("/requests", link).href);
    await shot(page, "requests");
    const row = `tr[data-request="${request}"]`;
    const buttons = await page.$$eval(`${row} button.approve`, (b) => b.length);
    await page.click(`${row} button.approve`);
    await page.waitForLoadState();
    const state = await page.textContent(row);
    return { buttons, state, url: page.url() };
  },

  // Someone without `approve`: no button anywhere, and the API answers 403 even with the
  // login's own CSRF token.
  async refused({ link, request }) {
    const { page } = await login(link);
    await page.goto(new URL("/requests", link).href);
    const buttons = await page.$$eval("button.approve", (b) => b.length);
    const api = await page.evaluate(async (n) => {
      const csrf = document.querySelector("input[name=csrf]").value;
      const r = await fetch(`/api/requests/${n}/approve`, { method: "POST", headers: { "X-CSRF-Token": csrf } });
      return { status: r.status, body: await r.text() };
    }, request);
    const noCsrf = await page.evaluate(async (n) => (await fetch(`/api/requests/${n}/approve`, { method: "POST" })).status, request);
    return { buttons, api, noCsrf };
  },

  // A recording full of markup and terminal tricks: shown as text, nothing runs.
  async hostile({ link, q }) {
    const { page } = await login(link);
    await page.goto(new URL(`/?q=${encodeURIComponent(q)}`, link).href);
    const lines = await page.$$eval("table.hits td.line", (c) => c.map((x) => x.textContent));
    await page.click("table.hits a.hit");
    await page.waitForSelector(".ap-player, .ap-wrapper", { timeout: 10000 });
    const shown = await waitForTerminal(page, "hostile-done", 10000);
    const terminal = await terminalText(page);
    // Played to its end too: nothing in it may raise a dialog either.
    await page.evaluate(() => window.oobgatePlayer.play());
    await page.waitForTimeout(1500);
    const inlineScripts = await page.evaluate(() => document.querySelectorAll("script:not([src])").length);
    const injected = await page.evaluate(() => document.querySelectorAll("main img, main iframe, a[href^='javascript']").length);
    await shot(page, "hostile");
    return { lines, shown, inlineScripts, injected, terminal };
  },
};

let result;
try {
  result = await scenarios[name](args);
} catch (e) {
  result = { error: String(e && e.stack || e) };
}
result.dialogs = seen.dialogs;
result.console = seen.console;
console.log("RESULT " + JSON.stringify(result));
// Only this scenario's contexts close: the browser stays up for the other tests.
for (const c of contexts) await c.close().catch(() => {});
process.exit(0);
