"""Calls every RPC of the three tour services from Python, and checks every answer.

The contract test from the other side: stubs generated from protos/tour.proto by
grpcio-tools (at test time, never committed), a client written the way the Python gRPC
tutorials write one, and answers checked against the same feature file the server loads.

    python tour_check.py --server 127.0.0.1:50051 [--token T] [--ca CA --cert C --key K]
"""

import argparse
import json
import math
import pathlib
import random
import re
import struct
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import tour_pb2
import tour_pb2_grpc

FEATURES = pathlib.Path(__file__).parents[2] / "src" / "lesson" / "route_guide" / "features.json"
DEADLINE = 10  # seconds, for every call
ARRAKEEN = tour_pb2.Point(latitude=303215000, longitude=354421000)
OPEN_DESERT = tour_pb2.Point(latitude=300000000, longitude=360000000)


def check(what, condition, detail=""):
    if not condition:
        sys.exit(f"FAILED: {what} {detail}")
    print(f"ok: {what}")


def refused(call, code):
    """Runs `call`, which must fail with `code`; returns the error."""
    try:
        call()
    except grpc.RpcError as error:
        check(f"refused with {code.name}", error.code() == code, error.details())
        return error
    sys.exit(f"FAILED: expected {code.name}, but the call succeeded")


def field_violations(error):
    """The (field, description) pairs of the google.rpc.BadRequest detail of an error."""
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found += [(v.field, v.description) for v in bad_request.field_violations]
    return found


def distance_metres(a, b):
    """Haversine on a sphere of radius 6371 km, as the server computes it."""
    lat1, lat2 = math.radians(a.latitude / 1e7), math.radians(b.latitude / 1e7)
    half_dlat = (lat2 - lat1) / 2
    half_dlon = (math.radians(b.longitude / 1e7) - math.radians(a.longitude / 1e7)) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(half_dlon) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def check_summator(channel):
    summator = tour_pb2_grpc.SummatorStub(channel)
    answer = summator.Sum(tour_pb2.SumRequest(value1=2, value2=3), timeout=DEADLINE)
    check("Sum(2, 3) is 5", answer.value == 5, answer)
    error = refused(
        lambda: summator.Sum(tour_pb2.SumRequest(value1=math.nan, value2=1), timeout=DEADLINE),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    violations = field_violations(error)
    check("the BadRequest detail names value1", [f for f, _ in violations] == ["value1"], violations)


def check_wire_types():
    """How Python's protobuf reads a field sent with another wire type than its own: it
    skips it as unknown, where prost (the Rust server) refuses the whole message
    (tests/tour/contract.rs). Field 1 of SumRequest is a double; here it comes as a varint,
    as a client whose proto made it an int64 would send it."""
    retyped = bytes([0x08, 0x02, 0x11]) + struct.pack("<d", 3.0)
    request = tour_pb2.SumRequest.FromString(retyped)
    check(
        "Python's protobuf skips a field of another wire type and keeps the rest",
        (request.value1, request.value2) == (0.0, 3.0),
        request,
    )


def check_dune(channel):
    mentat = tour_pb2_grpc.DuneStub(channel)
    answer = mentat.IsMuadDib(tour_pb2.WeFoundHim(message="Paul Atreides"), timeout=DEADLINE)
    verdict = r"Hello minion, you ask me if Paul Atreides is the Muad'Dib\.\.\. (YES|NO)!"
    check("IsMuadDib answers in the tutorial's words", re.fullmatch(verdict, answer.message), answer)
    refused(
        lambda: mentat.IsMuadDib(tour_pb2.WeFoundHim(message="  "), timeout=DEADLINE),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def check_route_guide(channel, features):
    guide = tour_pb2_grpc.RouteGuideStub(channel)

    # Unary.
    found = guide.GetFeature(ARRAKEEN, timeout=DEADLINE)
    check("GetFeature finds Arrakeen", found.name == "Arrakeen", found)
    empty = guide.GetFeature(OPEN_DESERT, timeout=DEADLINE)
    check("GetFeature in open desert is unnamed", empty.name == "" and empty.location == OPEN_DESERT)

    # Server streaming.
    lo = tour_pb2.Point(latitude=295000000, longitude=352000000)
    hi = tour_pb2.Point(latitude=299000000, longitude=355000000)
    listed = [f.name for f in guide.ListFeatures(tour_pb2.Rectangle(lo=lo, hi=hi), timeout=DEADLINE)]
    expected = [
        name
        for name, p in features
        if lo.latitude <= p.latitude <= hi.latitude and lo.longitude <= p.longitude <= hi.longitude
    ]
    check(f"ListFeatures streams the {len(expected)} features in the rectangle", listed == expected, listed)
    stream = guide.ListFeatures(tour_pb2.Rectangle(lo=lo, hi=hi), timeout=DEADLINE)
    next(stream)
    stream.cancel()
    check("a ListFeatures stream can be cancelled", stream.code() == grpc.StatusCode.CANCELLED)

    # Client streaming.
    route = [p for _, p in features[:5]] + [OPEN_DESERT]
    summary = guide.RecordRoute(iter(route), timeout=DEADLINE)
    metres = round(sum(distance_metres(a, b) for a, b in zip(route, route[1:])))
    check(
        "RecordRoute counts and measures the route",
        (summary.point_count, summary.feature_count) == (6, 5) and abs(summary.distance - metres) <= 1,
        f"{summary} against {metres} m",
    )

    # Bidirectional streaming, at a point no earlier run has used.
    here = tour_pb2.Point(latitude=random.randrange(-900000000, 900000000), longitude=1)
    there = tour_pb2.Point(latitude=here.latitude, longitude=2)
    notes = [
        tour_pb2.RouteNote(location=here, message="first"),
        tour_pb2.RouteNote(location=there, message="elsewhere"),
        tour_pb2.RouteNote(location=here, message="second"),
        tour_pb2.RouteNote(location=here, message="third"),
    ]
    heard = [n.message for n in guide.RouteChat(iter(notes), timeout=DEADLINE)]
    check("RouteChat replays the earlier notes at the same point", heard == ["first", "first", "second"], heard)


class BearerToken(grpc.AuthMetadataPlugin):
    def __init__(self, token):
        self.token = token

    def __call__(self, context, callback):
        callback((("authorization", f"Bearer {self.token}"),), None)


def open_channel(args, token):
    """A channel to the server, over TLS when a CA is given, sending `token` if not None."""
    if not args.ca:
        channel = grpc.insecure_channel(args.server)
        # grpcio sends call credentials only over TLS; in plaintext, add the header by hand.
        return grpc.intercept_channel(channel, TokenInterceptor(token)) if token else channel
    read = lambda path: pathlib.Path(path).read_bytes() if path else None
    credentials = grpc.ssl_channel_credentials(read(args.ca), read(args.key), read(args.cert))
    if token:
        bearer = grpc.metadata_call_credentials(BearerToken(token))
        credentials = grpc.composite_channel_credentials(credentials, bearer)
    return grpc.secure_channel(args.server, credentials)


class TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                       grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, token):
        self.header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        return details._replace(metadata=list(details.metadata or []) + [self.header])

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    intercept_unary_stream = intercept_unary_unary
    intercept_stream_unary = intercept_unary_unary
    intercept_stream_stream = intercept_unary_unary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--token")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    features = [
        (f["name"], tour_pb2.Point(**f["location"]))
        for f in json.loads(FEATURES.read_text())
        if f["name"]
    ]
    with open_channel(args, args.token) as channel:
        check_summator(channel)
        check_dune(channel)
        check_route_guide(channel, features)
    check_wire_types()
    if args.token:
        with open_channel(args, None) as without_token:
            summator = tour_pb2_grpc.SummatorStub(without_token)
            call = lambda: summator.Sum(tour_pb2.SumRequest(), timeout=DEADLINE)
            refused(call, grpc.StatusCode.UNAUTHENTICATED)
    print("all Python checks passed")


if __name__ == "__main__":
    main()
