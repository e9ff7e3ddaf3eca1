"""The Summator client of the Pip.Services tutorial, in Python, against the Rust server.

    python examples/python/summator.py [HOST:PORT]     # default 127.0.0.1:50051
"""

import sys

import grpc

import tour_pb2
import tour_pb2_grpc

# ANCHOR: client
with grpc.insecure_channel(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051") as channel:
    summator = tour_pb2_grpc.SummatorStub(channel)
    response = summator.Sum(tour_pb2.SumRequest(value1=2, value2=3), timeout=5)
    print(f"2 + 3 = {response.value:g}")
# ANCHOR_END: client
