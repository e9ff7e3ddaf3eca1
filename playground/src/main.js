// The playground's script: every RPC of the tour from a browser, over gRPC-Web, with each
// call's status, reply, error details and frames; and the two kinds a browser cannot send,
// watched through the server's relay. Bundled by esbuild into dist/playground.js (npm run
// build), which the server embeds and serves at /playground.js.
//
// No generated code: the page reads the descriptor sets the server serves
// (/playground/descriptors) and makes its clients from them at run time, so it always
// matches the proto the server was built from.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { createFileRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

// gRPC's names for its status codes, by number.
const CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
  "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
  "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

// ?run=all: each method once, for a check with no driver (see main()).
const RUN_ALL = new URLSearchParams(location.search).get("run") === "all";

const $ = (selector, root = document) => root.querySelector(selector);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
const e7 = (degrees) => Math.round(Number(degrees) * 1e7);
const degrees = (e7) => (e7 / 1e7).toFixed(4);

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

// The registry of every message and service the server describes, and what the page must
// know of the server.
async function loadServer() {
  const fetched = async (path) => {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response;
  };
  const [descriptors, server] = await Promise.all([
    fetched("/playground/descriptors").then((r) => r.arrayBuffer()),
    fetched("/playground/server.json").then((r) => r.json()),
  ]);
  // The server sends several descriptor sets one after the other, which decode as one;
  // a file that two of them share is kept once.
  const set = fromBinary(FileDescriptorSetSchema, new Uint8Array(descriptors));
  const names = new Set();
  set.file = set.file.filter((file) => !names.has(file.name) && names.add(file.name));
  return { registry: createFileRegistry(set), server };
}

// The page's fetch. With ?run=all it reads each answer whole before the call sees it:
// headless Chromium's virtual time (--virtual-time-budget) waits for a fetch that is still
// loading, but not for a body read as a stream, and a check must not end mid-call.
async function load(input, init) {
  const response = await fetch(input, init);
  if (!RUN_ALL) return response;
  const body = await response.arrayBuffer();
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

// One call's frames, listed as they arrive: each gRPC-Web frame is a 5-byte prefix (a flag
// byte and a 4-byte big-endian length) and then a message, or, flagged 0x80, the trailers.
class Frames {
  constructor(list, method) {
    this.list = list;
    this.method = method;
    this.started = performance.now();
    // What a chunk left of a frame, for each direction.
    this.pending = { true: new Uint8Array(0), false: new Uint8Array(0) };
    list.replaceChildren();
  }

  add(toServer, what, lines) {
    const item = element("li", toServer ? "to-server" : "to-client");
    const at = (performance.now() - this.started).toFixed(1);
    item.append(element("span", "what", `${toServer ? "→" : "←"} ${at} ms  ${what}`));
    for (const line of lines) item.append(element("div", line.startsWith("prefix") ? "hex mono" : "mono", line));
    this.list.append(item);
  }

  request(body, headers) {
    const sent = new Headers(headers);
    this.add(true, `POST /${this.method.parent.typeName}/${this.method.name}`, [
      `content-type: ${sent.get("content-type")}`,
      ...(sent.has("grpc-timeout") ? [`grpc-timeout: ${sent.get("grpc-timeout")}`] : []),
    ]);
    this.parse(true, body instanceof Uint8Array ? body : new Uint8Array(0));
  }

  response(response) {
    const lines = [`HTTP ${response.status}`, `content-type: ${response.headers.get("content-type")}`];
    for (const name of ["grpc-status", "grpc-message", "x-served-by"]) {
      if (response.headers.has(name)) lines.push(`${name}: ${response.headers.get(name)}`);
    }
    this.add(false, "response headers", lines);
  }

  // Reads whole frames out of `bytes` (and what an earlier chunk left), and lists each.
  parse(toServer, bytes) {
    const pending = this.pending[toServer];
    const joined = new Uint8Array(pending.length + bytes.length);
    joined.set(pending);
    joined.set(bytes, pending.length);
    let at = 0;
    while (joined.length - at >= 5) {
      const flag = joined[at];
      const length = new DataView(joined.buffer, joined.byteOffset + at + 1, 4).getUint32(0);
      if (joined.length - at - 5 < length) break;
      const payload = joined.subarray(at + 5, at + 5 + length);
      const prefix = `prefix ${hex(joined.subarray(at, at + 5))}`;
      if (flag & 0x80) {
        const trailers = new TextDecoder().decode(payload).trim().split(/\r\n/);
        this.add(toServer, `trailer frame, ${length} bytes`, [prefix, ...trailers]);
      } else {
        const schema = toServer ? this.method.input : this.method.output;
        let decoded;
        try {
          decoded = JSON.stringify(toJson(schema, fromBinary(schema, payload)));
        } catch (error) {
          decoded = `(not a ${schema.typeName}: ${error.message})`;
        }
        this.add(toServer, `message, ${length} bytes: ${schema.name}`, [prefix, decoded]);
      }
      at += 5 + length;
    }
    this.pending[toServer] = joined.slice(at);
  }

  // A fetch for the transport that lists the request, then each response frame as it comes.
  fetch() {
    return async (input, init) => {
      this.request(init.body, init.headers);
      const response = await load(input, init);
      this.response(response);
      if (!response.body) return response;
      const frames = this;
      const tapped = response.body.pipeThrough(new TransformStream({
        transform(chunk, controller) {
          frames.parse(false, chunk);
          controller.enqueue(chunk);
        },
      }));
      return new Response(tapped, { status: response.status, statusText: response.statusText, headers: response.headers });
    };
  }
}

// A card's status line, with the code as an attribute the tests read.
function showStatus(card, code, message) {
  const status = $(".status", card);
  const name = CODES[code] ?? String(code);
  status.textContent = message ? `${name}: ${message}` : name;
  status.className = `status ${code === 0 ? "ok" : "failed"}`;
  card.dataset.code = name;
}

// An error as gRPC has it: the code, the message, and the BadRequest details decoded from
// grpc-status-details-bin.
function showError(card, error, registry) {
  const failure = ConnectError.from(error);
  showStatus(card, failure.code, failure.rawMessage);
  const violations = $(".violations", card);
  if (!violations) return failure.code;
  violations.replaceChildren();
  const badRequest = registry.getMessage("google.rpc.BadRequest");
  for (const detail of failure.findDetails(badRequest)) {
    for (const violation of detail.fieldViolations) {
      violations.append(element("li", "", `BadRequest: ${violation.field}: ${violation.description}`));
    }
  }
  return failure.code;
}

// The call's metadata and its hang-up signal. The deadline travels as gRPC's grpc-timeout
// header and the server keeps it, so what the page shows past it is the server's
// DEADLINE_EXCEEDED. (connect's own timeoutMs would also end the call in the browser, with
// a timer, which headless Chromium's virtual time fires early.)
function options(signal) {
  const headers = {};
  const token = $("#token").value;
  if (token) headers.authorization = `Bearer ${token}`;
  const deadline = Math.round(Number($("#deadline").value));
  if (deadline > 0) headers["grpc-timeout"] = `${Math.min(deadline, 99999999)}m`;
  return { headers, signal };
}

function fields(card) {
  return Object.fromEntries(Array.from(card.querySelectorAll("input"), (input) => [input.name, input.value]));
}

// The unary calls: the request each makes from its card's inputs, and the bad input to try.
const UNARY = {
  Sum: {
    service: "tour.Summator",
    request: (f) => ({ value1: Number(f.value1), value2: Number(f.value2) }),
    bad: { value1: "Infinity" },
  },
  IsMuadDib: {
    service: "tour.Dune",
    request: (f) => ({ message: f.message }),
    bad: { message: "   " },
  },
  GetFeature: {
    service: "tour.RouteGuide",
    request: (f) => ({ latitude: e7(f.latitude), longitude: e7(f.longitude) }),
    bad: { latitude: "95" },
  },
};

function serviceOf(registry, name) {
  const service = registry.getService(name);
  if (!service) throw new Error(`the server describes no ${name}`);
  return service;
}

async function callUnary(card, context) {
  const name = card.dataset.method;
  const { service, request } = UNARY[name];
  $(".reply", card).textContent = "";
  $(".violations", card).replaceChildren();
  try {
    const desc = serviceOf(context.registry, service);
    const method = desc.methods.find((m) => m.name === name);
    const frames = new Frames($(".frames", card), method);
    const client = createClient(desc, createGrpcWebTransport({ baseUrl: location.origin, fetch: frames.fetch() }));
    const reply = await client[method.localName](request(fields(card)), options());
    $(".reply", card).textContent = JSON.stringify(toJson(method.output, reply), null, 1);
    showStatus(card, 0);
    return 0;
  } catch (error) {
    return showError(card, error, context.registry);
  }
}

// The map: the rectangle asked for, and each feature drawn as it arrives.
function mapOf(card, f) {
  const svg = $(".map", card);
  svg.replaceChildren();
  const [width, height, margin] = [520, 360, 20];
  const lo = { lat: Number(f.lo_lat), lon: Number(f.lo_lon) };
  const hi = { lat: Number(f.hi_lat), lon: Number(f.hi_lon) };
  const spanLon = Math.max(hi.lon - lo.lon, 1e-6);
  const spanLat = Math.max(hi.lat - lo.lat, 1e-6);
  const x = (lon) => margin + ((lon - lo.lon) / spanLon) * (width - 2 * margin);
  const y = (lat) => height - margin - ((lat - lo.lat) / spanLat) * (height - 2 * margin);
  const ns = "http://www.w3.org/2000/svg";
  const rect = document.createElementNS(ns, "rect");
  Object.entries({ class: "rect", x: margin, y: margin, width: width - 2 * margin, height: height - 2 * margin })
    .forEach(([k, v]) => rect.setAttribute(k, v));
  svg.append(rect);
  return (feature, count) => {
    // proto3 message fields are optional: a feature may come without its location.
    if (!feature.location) return;
    const lat = feature.location.latitude / 1e7;
    const lon = feature.location.longitude / 1e7;
    const dot = document.createElementNS(ns, "circle");
    Object.entries({ class: "feature", cx: x(lon), cy: y(lat), r: 4 }).forEach(([k, v]) => dot.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${count}. ${feature.name}`;
    dot.append(title);
    const label = document.createElementNS(ns, "text");
    Object.entries({ x: x(lon) + 5, y: y(lat) - 4 }).forEach(([k, v]) => label.setAttribute(k, v));
    label.textContent = String(count);
    svg.append(dot, label);
  };
}

async function callListFeatures(card, context, signal) {
  const f = fields(card);
  const draw = mapOf(card, f);
  const arrivals = $(".arrivals", card);
  arrivals.replaceChildren();
  $(".violations", card).replaceChildren();
  const started = performance.now();
  let count = 0;
  const request = {
    lo: { latitude: e7(f.lo_lat), longitude: e7(f.lo_lon) },
    hi: { latitude: e7(f.hi_lat), longitude: e7(f.hi_lon) },
  };
  try {
    const desc = serviceOf(context.registry, "tour.RouteGuide");
    const method = desc.methods.find((m) => m.name === "ListFeatures");
    const frames = new Frames($(".frames", card), method);
    const client = createClient(desc, createGrpcWebTransport({ baseUrl: location.origin, fetch: frames.fetch() }));
    for await (const feature of client.listFeatures(request, options(signal))) {
      count += 1;
      draw(feature, count);
      const at = (performance.now() - started).toFixed(1);
      const where = feature.location
        ? `(${degrees(feature.location.latitude)}, ${degrees(feature.location.longitude)})`
        : "(no location)";
      arrivals.prepend(element("div", "", `#${count}  +${at} ms  ${feature.name} ${where}`));
      showStatus(card, 0, `${count} features so far`);
    }
    showStatus(card, 0, `${count} features`);
    card.dataset.features = String(count);
    return 0;
  } catch (error) {
    card.dataset.features = String(count);
    return showError(card, error, context.registry);
  }
}

// The relayed calls, as playground.proto numbers them.
const RELAYED = { RecordRoute: 1, RouteChat: 2, RouteChatHangUp: 3 };

// A relayed call's frames as a timeline: client on the left, server on the right.
async function watchRelayed(card, context, signal, call) {
  const timeline = $(".timeline", card);
  timeline.replaceChildren(element("div", "head", "ms"), element("div", "head", "client → server"), element("div", "head", "server → client"));
  let result = "";
  let code = Code.Unknown;
  try {
    const desc = serviceOf(context.registry, "playground.Relay");
    const client = createClient(desc, createGrpcWebTransport({ baseUrl: location.origin, fetch: load }));
    for await (const event of client.watch({ call }, options(signal))) {
      if (event.result) {
        result = event.result;
        code = event.code;
        timeline.append(element("div", "at", ""), element("div", "result", `the client got: ${result}`));
        continue;
      }
      const frame = element("div", `frame ${event.toServer ? "to-server" : "to-client"}`);
      frame.append(element("div", "mono", `${event.toServer ? "→" : "←"} ${event.summary}`));
      for (const line of event.details) frame.append(element("div", "line mono", line));
      timeline.append(element("div", "at mono", event.atMs.toFixed(1)));
      if (!event.toServer) timeline.append(element("div"));
      timeline.append(frame);
      if (event.toServer) timeline.append(element("div"));
    }
    showStatus(card, code, result || "the relay ended with no result");
    return code;
  } catch (error) {
    return showError(card, error, context.registry);
  }
}

// Wires a card's buttons; returns a function that runs its call with its current inputs.
function card(card, context) {
  const name = card.dataset.method;
  const hangup = $('[data-act="hangup"]', card);
  const starters = card.querySelectorAll('[data-act="call"], [data-act="bad"], [data-act="hang-up-call"]');
  const run = async (relayed = RELAYED[name]) => {
    const abort = new AbortController();
    // One call per card at a time: its output is the card's.
    for (const button of starters) button.disabled = true;
    card.dataset.running = "yes";
    if (hangup) {
      hangup.disabled = false;
      hangup.onclick = () => abort.abort();
    }
    try {
      if (name in UNARY) return await callUnary(card, context);
      if (name === "ListFeatures") return await callListFeatures(card, context, abort.signal);
      return await watchRelayed(card, context, abort.signal, relayed);
    } finally {
      if (hangup) hangup.disabled = true;
      for (const button of starters) button.disabled = false;
      delete card.dataset.running;
    }
  };
  $('[data-act="call"]', card).onclick = () => run();
  const hangUpCall = $('[data-act="hang-up-call"]', card);
  if (hangUpCall) hangUpCall.onclick = () => run(RELAYED.RouteChatHangUp);
  const bad = $('[data-act="bad"]', card);
  if (bad) {
    bad.onclick = () => {
      const input = name === "ListFeatures" ? { lo_lat: "95" } : UNARY[name].bad;
      for (const [field, value] of Object.entries(input)) card.querySelector(`input[name="${field}"]`).value = value;
      return run();
    };
  }
  return run;
}

async function main() {
  const context = await loadServer();
  $("#token-label").hidden = !context.server.token;
  $("#server-note").textContent = context.server.relay
    ? "all six methods, the last two through the server's relay"
    : "the relay is off (the server serves TLS): the last two cannot be shown";
  const runs = Array.from(document.querySelectorAll("[data-method]"), (section) => [section, card(section, context)]);
  document.body.dataset.ready = "yes";
  // ?run=all: each method once, with its defaults, one after the other; then the body says
  // how many ended as expected (OK), for `chromium --headless --dump-dom` to read.
  if (RUN_ALL) {
    let done = 0;
    let failed = 0;
    for (const [, run] of runs) {
      const code = await run().catch(() => Code.Unknown);
      if (code === 0) done += 1;
      else failed += 1;
    }
    document.body.dataset.failed = String(failed);
    document.body.dataset.done = String(done);
  }
}

main().catch((error) => {
  document.body.dataset.failed = "load";
  document.body.prepend(element("p", "status failed", `the playground could not start: ${error.message}`));
});
