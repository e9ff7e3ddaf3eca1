"""The Dune tutorial's Harkonnen soldier, in Python, asking the Rust server's Mentat.

    python examples/python/dune.py [HOST:PORT] [NAME]   # default 127.0.0.1:50051, Paul Atreides
"""

import sys

import grpc

import tour_pb2
import tour_pb2_grpc

server = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
name = sys.argv[2] if len(sys.argv) > 2 else "Paul Atreides"
with grpc.insecure_channel(server) as channel:
    mentat = tour_pb2_grpc.DuneStub(channel)
    print(f"Soldier: we found {name}. Is it the Muad'Dib?")
    answer = mentat.IsMuadDib(tour_pb2.WeFoundHim(message=name), timeout=5)
    print(f"Mentat: {answer.message}")
