// Calls one RPC of each kind on the grpc-tour server from Node, and checks the answers.
// The proto is loaded at run time by @grpc/proto-loader: no generated code, no build step.
//
//     node tour_check.js [HOST:PORT]      # default 127.0.0.1:50051

"use strict";

const path = require("node:path");
const assert = require("node:assert/strict");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const server = process.argv[2] || "127.0.0.1:50051";
const definition = protoLoader.loadSync(path.join(__dirname, "../../protos/tour.proto"), {
  keepCase: true,
  defaults: true,
});
const tour = grpc.loadPackageDefinition(definition).tour;
const credentials = grpc.credentials.createInsecure();
const deadline = () => ({ deadline: Date.now() + 10_000 });

const ARRAKEEN = { latitude: 303215000, longitude: 354421000 };
const SIETCH_TABR = { latitude: 296618000, longitude: 354207000 };

// Haversine on a sphere of radius 6371 km, as the server measures a route.
function metres(a, b) {
  const rad = (e7) => ((e7 / 1e7) * Math.PI) / 180;
  const [lat1, lat2] = [rad(a.latitude), rad(b.latitude)];
  const halfDlat = (lat2 - lat1) / 2;
  const halfDlon = (rad(b.longitude) - rad(a.longitude)) / 2;
  const h = Math.sin(halfDlat) ** 2 + Math.cos(lat1) * Math.cos(lat2) * Math.sin(halfDlon) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function ok(what) {
  console.log(`ok: ${what}`);
}

// Unary.
function sum(summator) {
  return new Promise((resolve, reject) => {
    summator.Sum({ value1: 2, value2: 3 }, deadline(), (error, answer) => {
      if (error) return reject(error);
      assert.equal(answer.value, 5);
      ok("Sum(2, 3) is 5 (unary)");
      resolve();
    });
  });
}

// Server streaming.
function listFeatures(guide) {
  return new Promise((resolve, reject) => {
    const names = [];
    const rectangle = { lo: { latitude: 303000000, longitude: 354000000 }, hi: { latitude: 304000000, longitude: 355000000 } };
    const call = guide.ListFeatures(rectangle, deadline());
    call.on("data", (feature) => names.push(feature.name));
    call.on("error", reject);
    call.on("end", () => {
      assert.ok(names.includes("Arrakeen"), `Arrakeen in ${names}`);
      ok(`ListFeatures streams ${names.length} features around Arrakeen (server streaming)`);
      resolve();
    });
  });
}

// Client streaming.
function recordRoute(guide) {
  return new Promise((resolve, reject) => {
    const route = [ARRAKEEN, SIETCH_TABR, ARRAKEEN];
    const expected = Math.round(metres(route[0], route[1]) + metres(route[1], route[2]));
    const call = guide.RecordRoute(deadline(), (error, summary) => {
      if (error) return reject(error);
      assert.equal(summary.point_count, 3);
      assert.equal(summary.feature_count, 3);
      assert.ok(Math.abs(summary.distance - expected) <= 1, `${summary.distance} m, not ${expected}`);
      ok(`RecordRoute: 3 points, 3 features, ${summary.distance} m (client streaming)`);
      resolve();
    });
    route.forEach((point) => call.write(point));
    call.end();
  });
}

// Bidirectional streaming, at a point no earlier run has used.
function routeChat(guide) {
  return new Promise((resolve, reject) => {
    const here = { latitude: Math.floor(Math.random() * 1e9) - 5e8, longitude: 7 };
    const heard = [];
    const call = guide.RouteChat(deadline());
    call.on("data", (note) => heard.push(note.message));
    call.on("error", reject);
    call.on("end", () => {
      assert.deepEqual(heard, ["first", "first", "second"]);
      ok("RouteChat replays the earlier notes at the same point (bidirectional)");
      resolve();
    });
    for (const message of ["first", "second", "third"]) call.write({ location: here, message });
    call.end();
  });
}

async function main() {
  await sum(new tour.Summator(server, credentials));
  const guide = new tour.RouteGuide(server, credentials);
  await listFeatures(guide);
  await recordRoute(guide);
  await routeChat(guide);
  console.log("all Node checks passed");
}

main().catch((error) => {
  console.error(`FAILED: ${error.stack || error}`);
  process.exit(1);
});
