// The playground in a real browser: Debian's Chromium, driven by playwright-core (which
// downloads no browser), against the tour's server started here on free loopback ports.
//
//   GRPC_TOUR_BINARY=../target/release/grpc-tour npm test
//   SCREENSHOTS=../docs/playground npm test     # also refreshes the docs' screenshots
//
// Each call is checked as a user sees it (statuses, the map, the frames, the timelines) and
// as the server saw it (its metrics count each as a gRPC-Web call).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const ROOT = join(import.meta.dirname, "..", "..");
const BINARY = process.env.GRPC_TOUR_BINARY ?? join(ROOT, "target", "release", "grpc-tour");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOTS = process.env.SCREENSHOTS;
// The flags that keep Chromium from calling out of a closed network (without the
// background-networking ones it tries, and floods the log with refused connections).
export const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let server;
let browser;
let addr;
let metricsAddr;

// Starts a server with `args` on free ports, and reads them from its start-up lines.
async function start(args = []) {
  const server = spawn(BINARY, ["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--seed", "7", ...args], {
    env: { ...process.env, NO_COLOR: "1", RUST_LOG: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  return await new Promise((resolve, reject) => {
    const read = (chunk) => {
      log += chunk;
      const serving = log.match(/serving Summator[^\n]*addr=(\S+)/);
      const metrics = log.match(/metrics=(\S+)/);
      if (serving && metrics) resolve({ server, addr: serving[1], metrics: metrics[1] });
    };
    server.stdout.on("data", read);
    server.stderr.on("data", read);
    server.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
  });
}

before(async () => {
  ({ server, addr, metrics: metricsAddr } = await start());
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

// A page that records every console error and uncaught exception.
async function open(path, at = addr) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`http://${at}${path}`);
  await page.waitForSelector("body[data-ready]");
  return { page, errors };
}

const card = (page, method) => page.locator(`[data-method="${method}"]`);

async function metrics(at = metricsAddr) {
  const text = await (await fetch(`http://${at}/metrics`)).text();
  return (series) => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    assert.ok(line, `no ${series} in the metrics`);
    return Number(line.split(" ").pop());
  };
}

const web = (service, method, type, code) =>
  `grpc_tour_web_handled_total{grpc_type="${type}",grpc_service="${service}",grpc_method="${method}",grpc_code="${code}"}`;

// The features of the embedded file inside the page's default rectangle.
function featuresInDefaultRectangle() {
  const features = JSON.parse(readFileSync(join(ROOT, "src/lesson/route_guide/features.json"), "utf8"));
  const inside = (v, lo, hi) => v >= lo && v <= hi;
  return features.filter(({ location: { latitude, longitude } }) =>
    inside(latitude, 290000000, 306000000) && inside(longitude, 351000000, 362000000)).length;
}

test("?run=all calls all six methods from the page, each as expected", async () => {
  const { page, errors } = await open("/?run=all");
  await page.waitForSelector("body[data-done]", { timeout: 30000 });
  assert.equal(await page.getAttribute("body", "data-done"), "6");
  assert.equal(await page.getAttribute("body", "data-failed"), "0");
  for (const method of ["Sum", "IsMuadDib", "GetFeature", "ListFeatures", "RecordRoute", "RouteChat"]) {
    assert.equal(await card(page, method).getAttribute("data-code"), "OK", method);
  }
  assert.equal(await card(page, "Sum").locator(".reply").textContent(), '{\n "value": 5\n}');

  // The map: one dot per feature the server streamed, as many as the file has there.
  const expected = featuresInDefaultRectangle();
  assert.equal(await card(page, "ListFeatures").locator(".map circle.feature").count(), expected);
  assert.equal(await card(page, "ListFeatures").getAttribute("data-features"), String(expected));
  assert.equal(await card(page, "ListFeatures").locator(".arrivals div").count(), expected);

  // Sum's frames: the request's headers and message, the response headers, the reply, the
  // trailer frame.
  const frames = await card(page, "Sum").locator(".frames li").allTextContents();
  assert.equal(frames.length, 5, frames.join("\n---\n"));
  assert.match(frames[0], /POST \/tour\.Summator\/Sum.*grpc-timeout: 5000m/s);
  assert.match(frames[1], /SumRequest.*prefix 00 00 00 00 12.*"value1":2/s);
  assert.match(frames[2], /response headers.*HTTP 200/s);
  assert.match(frames[3], /SumResponse.*prefix 00 00 00 00 09.*"value":5/s);
  assert.match(frames[4], /trailer frame.*prefix 80 00 00 00 .*grpc-status:0/s);

  // The relayed kinds, drawn both ways: four points or notes to the server, answers back.
  for (const [method, result] of [["RecordRoute", "4 points, 4 features"], ["RouteChat", "4 notes sent"]]) {
    const timeline = card(page, method).locator(".timeline");
    assert.ok(await timeline.locator(".frame.to-server").count() >= 6, method);
    assert.ok(await timeline.locator(".frame.to-client").count() >= 2, method);
    assert.match(await timeline.locator(".result").textContent(), new RegExp(result));
    assert.match(await timeline.textContent(), /grpc-status: 0/);
  }
  if (SCREENSHOTS) {
    await page.screenshot({ path: join(SCREENSHOTS, "overview.png"), fullPage: true });
    await card(page, "ListFeatures").screenshot({ path: join(SCREENSHOTS, "list-features.png") });
    await card(page, "RouteChat").screenshot({ path: join(SCREENSHOTS, "route-chat.png") });
  }
  assert.deepEqual(errors, []);

  // The server saw each browser call as a gRPC-Web call, with its status.
  const sample = await metrics();
  assert.ok(sample(web("tour.Summator", "Sum", "unary", "OK")) >= 1);
  assert.ok(sample(web("tour.Dune", "IsMuadDib", "unary", "OK")) >= 1);
  assert.ok(sample(web("tour.RouteGuide", "GetFeature", "unary", "OK")) >= 1);
  assert.ok(sample(web("tour.RouteGuide", "ListFeatures", "server_stream", "OK")) >= 1);
  assert.ok(sample(web("playground.Relay", "Watch", "server_stream", "OK")) >= 2);
  await page.close();
});

test("a bad input shows its code, its message and its field violations", async () => {
  const { page, errors } = await open("/");
  const cases = [
    ["Sum", "value1"],
    ["IsMuadDib", "message"],
    ["GetFeature", "latitude"],
    ["ListFeatures", "lo.latitude"],
  ];
  for (const [method, field] of cases) {
    await card(page, method).locator('[data-act="bad"]').click();
    await page.waitForSelector(`[data-method="${method}"][data-code]:not([data-running])`);
    assert.equal(await card(page, method).getAttribute("data-code"), "INVALID_ARGUMENT", method);
    assert.match(await card(page, method).locator(".status").textContent(), new RegExp(`INVALID_ARGUMENT: ${field.replace(".", "\\.")}`));
    const violations = await card(page, method).locator(".violations li").allTextContents();
    assert.equal(violations.length, 1, `${method}: ${violations}`);
    assert.match(violations[0], new RegExp(`^BadRequest: ${field.replace(".", "\\.")}: `));
  }
  if (SCREENSHOTS) await card(page, "Sum").screenshot({ path: join(SCREENSHOTS, "bad-input.png") });
  assert.deepEqual(errors, []);
  const sample = await metrics();
  assert.ok(sample(web("tour.Summator", "Sum", "unary", "InvalidArgument")) >= 1);
  await page.close();
});

test("a relayed hang-up shows the RST_STREAM the server gets", async () => {
  const { page, errors } = await open("/");
  const chat = card(page, "RouteChat");
  await chat.locator('[data-act="hang-up-call"]').click();
  await page.waitForSelector('[data-method="RouteChat"][data-code]:not([data-running])');
  assert.equal(await chat.getAttribute("data-code"), "CANCELLED");
  const reset = chat.locator(".timeline .frame.to-server", { hasText: "RST_STREAM" });
  assert.equal(await reset.count(), 1);
  assert.match(await reset.textContent(), /CANCEL/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("hang up ends the page's call with CANCELLED", async () => {
  const { page, errors } = await open("/");
  // Both clicks in one turn of the page's event loop: the call starts (and enables Hang
  // up) before its first await, so the hang-up comes before any answer can, on any machine.
  // What a server sees of a hang-up is the relayed hang-up's test above.
  await page.evaluate(() => {
    const chat = document.querySelector('[data-method="RouteChat"]');
    chat.querySelector('[data-act="call"]').click();
    chat.querySelector('[data-act="hangup"]').click();
  });
  await page.waitForSelector('[data-method="RouteChat"][data-code]:not([data-running])');
  assert.equal(await card(page, "RouteChat").getAttribute("data-code"), "CANCELLED");
  assert.deepEqual(errors.filter((e) => !/ERR_ABORTED|aborted/i.test(e)), []);
  await page.close();
});
