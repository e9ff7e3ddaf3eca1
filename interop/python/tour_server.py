"""The tour's three services in Python with grpcio: a peer, so that the Rust examples can
prove the contract in the other direction.

    python tour_server.py [--port 0] [--features FILE]   # prints "listening on 127.0.0.1:PORT"

Short on purpose: the same answers as the Rust server, without its production layers.
"""

import argparse
import json
import math
import pathlib
import random
import threading
import time
from concurrent import futures

import grpc

import tour_pb2
import tour_pb2_grpc
from tour_check import distance_metres

FEATURES = pathlib.Path(__file__).parents[2] / "src" / "lesson" / "route_guide" / "features.json"


class Summator(tour_pb2_grpc.SummatorServicer):
    def Sum(self, request, context):
        for name in ("value1", "value2"):
            if not math.isfinite(getattr(request, name)):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name} must be a finite number")
        return tour_pb2.SumResponse(value=request.value1 + request.value2)


class Dune(tour_pb2_grpc.DuneServicer):
    def IsMuadDib(self, request, context):
        name = request.message.strip()
        if not name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "message must name the one you found")
        verdict = random.choice(["YES", "NO"])
        return tour_pb2.DidYouReally(message=f"Hello minion, you ask me if {name} is the Muad'Dib... {verdict}!")


class RouteGuide(tour_pb2_grpc.RouteGuideServicer):
    def __init__(self, features_file):
        named = [f for f in json.loads(features_file.read_text()) if f["name"]]
        self.features = [tour_pb2.Feature(name=f["name"], location=tour_pb2.Point(**f["location"])) for f in named]
        self.names = {(f.location.latitude, f.location.longitude): f.name for f in self.features}
        self.notes = {}  # (latitude, longitude) -> [RouteNote]
        self.lock = threading.Lock()

    def name_at(self, point):
        return self.names.get((point.latitude, point.longitude), "")

    def GetFeature(self, request, context):
        return tour_pb2.Feature(name=self.name_at(request), location=request)

    # ANCHOR: list_features
    def ListFeatures(self, request, context):
        lo, hi = request.lo, request.hi
        south, north = sorted((lo.latitude, hi.latitude))
        west, east = sorted((lo.longitude, hi.longitude))
        for feature in self.features:
            p = feature.location
            if south <= p.latitude <= north and west <= p.longitude <= east:
                yield feature
    # ANCHOR_END: list_features

    def RecordRoute(self, request_iterator, context):
        started, points, features, metres, last = time.monotonic(), 0, 0, 0.0, None
        for point in request_iterator:
            points += 1
            features += bool(self.name_at(point))
            metres += distance_metres(last, point) if last else 0.0
            last = point
        return tour_pb2.RouteSummary(
            point_count=points,
            feature_count=features,
            distance=round(metres),
            elapsed_time=int(time.monotonic() - started),
        )

    # ANCHOR: route_chat
    def RouteChat(self, request_iterator, context):
        for note in request_iterator:
            key = (note.location.latitude, note.location.longitude)
            with self.lock:
                earlier = list(self.notes.setdefault(key, []))
                self.notes[key].append(note)
            yield from earlier
    # ANCHOR_END: route_chat


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--features", type=pathlib.Path, default=FEATURES, help="grpc.io's route_guide_db.json format")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    tour_pb2_grpc.add_SummatorServicer_to_server(Summator(), server)
    tour_pb2_grpc.add_DuneServicer_to_server(Dune(), server)
    tour_pb2_grpc.add_RouteGuideServicer_to_server(RouteGuide(args.features), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
