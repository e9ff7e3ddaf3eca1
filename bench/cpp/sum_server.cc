// The peer to beat: gRPC C++ serving Summator.Sum, and nothing else, on gRPC's callback API
// (the one gRPC recommends for new C++ servers). `bench compare` runs it beside the tour's
// servers, pinned to the same core, and drives it with the same load.
//
//   bench/cpp/build                              # protoc + g++, into target/release/
//   target/release/grpc-cpp-sum --addr 127.0.0.1:0
//
// It prints `listening on ADDR` once it serves, as the other servers of the benchmark do.

#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "tour.grpc.pb.h"

namespace {

class Summator final : public tour::Summator::CallbackService {
  grpc::ServerUnaryReactor* Sum(grpc::CallbackServerContext* context,
                                const tour::SumRequest* request,
                                tour::SumResponse* response) override {
    response->set_value(request->value1() + request->value2());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:0";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--addr") == 0) addr = argv[i + 1];
  }
  Summator summator;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&summator);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "cannot listen on " << addr << std::endl;
    return 1;
  }
  const std::string host = addr.substr(0, addr.rfind(':'));
  std::cout << "listening on " << host << ":" << port << std::endl;
  server->Wait();
  return 0;
}
