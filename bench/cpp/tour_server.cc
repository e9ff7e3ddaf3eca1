// The peer to beat: gRPC C++ serving the tour's six methods on gRPC's callback API (the one
// gRPC recommends for new C++ servers), a reactor for each streaming kind. The plainest
// correct handlers: the same answers as the tour's lesson (src/lesson/), the same features
// file, the same checks of points and names, and nothing around them (no limits, no
// layers). `bench compare` and `bench instructions` run it beside the tour's servers,
// pinned to the same core, and drive it with the same load, checking every answer.
//
//   bench/cpp/build                                             # protoc + g++, into target/release/
//   target/release/grpc-cpp-tour --addr 127.0.0.1:0 --features target/bench/features.json
//
// It prints `listening on ADDR` once it serves, as the other servers of the benchmark do.
// Without --features it knows no feature (every point is unnamed).

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "features.pb.h"
#include "tour.grpc.pb.h"

namespace {

using grpc::CallbackServerContext;
using grpc::Status;
using grpc::StatusCode;

constexpr double kE7 = 1e7;
constexpr double kEarthRadiusMetres = 6371000.0;

// A point's coordinates as one key, for the features and the notes at a point.
uint64_t Key(const tour::Point& point) {
  return (uint64_t{static_cast<uint32_t>(point.latitude())} << 32) |
         static_cast<uint32_t>(point.longitude());
}

// Whether a point is on the globe (the lesson's geo::check_point).
bool OnTheGlobe(const tour::Point& point) {
  return point.latitude() >= -900000000 && point.latitude() <= 900000000 &&
         point.longitude() >= -1800000000 && point.longitude() <= 1800000000;
}

// What is wrong with a point that is not on the globe, its field named (the lesson's words,
// shortened). Only made for a point that is wrong: a valid one costs no string.
std::string OffTheGlobe(const tour::Point& point, const std::string& field) {
  if (point.latitude() < -900000000 || point.latitude() > 900000000) {
    return field + ".latitude must be within -90 and 90 degrees (x 1e7), got " +
           std::to_string(point.latitude());
  }
  return field + ".longitude must be within -180 and 180 degrees (x 1e7), got " +
         std::to_string(point.longitude());
}

// Degrees x 1e7 to radians, rounded as Rust's f64::to_radians rounds.
double Radians(int32_t e7) { return e7 / kE7 * (M_PI / 180.0); }

// The great-circle distance, by the haversine formula, as the lesson's geo::distance_metres.
double DistanceMetres(const tour::Point& from, const tour::Point& to) {
  const double lat1 = Radians(from.latitude()), lat2 = Radians(to.latitude());
  const double half_dlat = (lat2 - lat1) / 2.0;
  const double half_dlon = (Radians(to.longitude()) - Radians(from.longitude())) / 2.0;
  const double h = std::pow(std::sin(half_dlat), 2) +
                   std::cos(lat1) * std::cos(lat2) * std::pow(std::sin(half_dlon), 2);
  return 2.0 * kEarthRadiusMetres * std::asin(std::min(std::sqrt(h), 1.0));
}

// The named features, in the file's order, and where each is. Never changes once loaded.
struct Features {
  std::vector<tour::Feature> named;
  std::unordered_map<uint64_t, size_t> at;

  const std::string* NameAt(const tour::Point& point) const {
    auto found = at.find(Key(point));
    return found == at.end() ? nullptr : &named[found->second].name();
  }
};

bool LoadFeatures(const std::string& path, Features* features) {
  std::ifstream file(path);
  if (!file) {
    std::cerr << "cannot read " << path << std::endl;
    return false;
  }
  std::stringstream text;
  text << "{\"features\": " << file.rdbuf() << "}";
  tour_bench::FeatureList list;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &list);
  if (!parsed.ok()) {
    std::cerr << path << ": " << parsed.ToString() << std::endl;
    return false;
  }
  for (const tour::Feature& feature : list.features()) {
    if (!OnTheGlobe(feature.location())) {
      std::cerr << path << ": " << feature.name() << ": "
                << OffTheGlobe(feature.location(), "location") << std::endl;
      return false;
    }
    if (feature.name().empty()) continue;
    if (!features->at.emplace(Key(feature.location()), features->named.size()).second) {
      std::cerr << path << ": two features at one point" << std::endl;
      return false;
    }
    features->named.push_back(feature);
  }
  return true;
}

class Summator final : public tour::Summator::CallbackService {
  grpc::ServerUnaryReactor* Sum(CallbackServerContext* context, const tour::SumRequest* request,
                                tour::SumResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const double total = request->value1() + request->value2();
    if (!std::isfinite(request->value1()) || !std::isfinite(request->value2())) {
      reactor->Finish(Status(StatusCode::INVALID_ARGUMENT, "both values must be finite numbers"));
    } else if (!std::isfinite(total)) {
      reactor->Finish(Status(StatusCode::OUT_OF_RANGE, "the sum overflows a double"));
    } else {
      response->set_value(total);
      reactor->Finish(Status::OK);
    }
    return reactor;
  }
};

class Dune final : public tour::Dune::CallbackService {
  grpc::ServerUnaryReactor* IsMuadDib(CallbackServerContext* context,
                                      const tour::WeFoundHim* request,
                                      tour::DidYouReally* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const std::string& message = request->message();
    const size_t first = message.find_first_not_of(" \t\n\r");
    if (first == std::string::npos) {
      reactor->Finish(Status(StatusCode::INVALID_ARGUMENT,
                             "message must name the one you found, but it is blank"));
      return reactor;
    }
    const size_t last = message.find_last_not_of(" \t\n\r");
    bool yes;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      yes = std::bernoulli_distribution(0.5)(rng_);
    }
    response->set_message("Hello minion, you ask me if " + message.substr(first, last - first + 1) +
                          " is the Muad'Dib... " + (yes ? "YES!" : "NO!"));
    reactor->Finish(Status::OK);
    return reactor;
  }

  std::mutex mutex_;
  std::mt19937_64 rng_{std::random_device{}()};
};

// ListFeatures: writes each feature in the rectangle, one at a time, as the client takes them.
class Lister final : public grpc::ServerWriteReactor<tour::Feature> {
 public:
  Lister(const Features& features, const tour::Rectangle& rectangle) : features_(features) {
    lo_lat_ = std::min(rectangle.lo().latitude(), rectangle.hi().latitude());
    hi_lat_ = std::max(rectangle.lo().latitude(), rectangle.hi().latitude());
    lo_lon_ = std::min(rectangle.lo().longitude(), rectangle.hi().longitude());
    hi_lon_ = std::max(rectangle.lo().longitude(), rectangle.hi().longitude());
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(Status(StatusCode::CANCELLED, "the client went away"));
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    while (next_ < features_.named.size()) {
      const tour::Feature& feature = features_.named[next_++];
      const tour::Point& at = feature.location();
      if (at.latitude() >= lo_lat_ && at.latitude() <= hi_lat_ && at.longitude() >= lo_lon_ &&
          at.longitude() <= hi_lon_) {
        StartWrite(&feature);
        return;
      }
    }
    Finish(Status::OK);
  }

  const Features& features_;
  int32_t lo_lat_, hi_lat_, lo_lon_, hi_lon_;
  size_t next_ = 0;
};

// RecordRoute: reads the points as they come, keeping running totals only.
class Recorder final : public grpc::ServerReadReactor<tour::Point> {
 public:
  Recorder(const Features& features, tour::RouteSummary* summary)
      : features_(features), summary_(summary) {
    StartRead(&point_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {  // the client's stream ended (or the client went away: Finish is then moot)
      const double metres = std::round(metres_);
      if (metres > INT32_MAX || points_ > INT32_MAX) {
        Finish(Status(StatusCode::OUT_OF_RANGE, "the route is too long for an int32 summary"));
        return;
      }
      summary_->set_point_count(static_cast<int32_t>(points_));
      summary_->set_feature_count(static_cast<int32_t>(features_seen_));
      summary_->set_distance(static_cast<int32_t>(metres));
      if (points_ > 0) {
        summary_->set_elapsed_time(static_cast<int32_t>(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                             started_)
                .count()));
      }
      Finish(Status::OK);
      return;
    }
    if (!OnTheGlobe(point_)) {
      Finish(Status(StatusCode::INVALID_ARGUMENT,
                    OffTheGlobe(point_, "route[" + std::to_string(points_) + "]")));
      return;
    }
    if (points_ == 0) {
      started_ = std::chrono::steady_clock::now();
    } else {
      metres_ += DistanceMetres(last_, point_);
    }
    ++points_;
    if (features_.NameAt(point_) != nullptr) ++features_seen_;
    last_ = point_;
    StartRead(&point_);
  }
  void OnDone() override { delete this; }

 private:
  const Features& features_;
  tour::RouteSummary* summary_;
  tour::Point point_, last_;
  uint64_t points_ = 0, features_seen_ = 0;
  double metres_ = 0;
  std::chrono::steady_clock::time_point started_;
};

// RouteChat's notes, shared by every chat: each stored once; a reply shares it. The lock is
// held to copy out the pointers and to store, never while writing to a client.
class NoteStore {
 public:
  using Note = std::shared_ptr<const tour::RouteNote>;
  std::vector<Note> Leave(const tour::RouteNote& note) {
    auto stored = std::make_shared<const tour::RouteNote>(note);
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Note>& here = by_location_[Key(note.location())];
    std::vector<Note> earlier = here;
    here.push_back(std::move(stored));
    return earlier;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, std::vector<Note>> by_location_;
};

// RouteChat: reads a note, stores it, writes the notes left at its point before it, then
// reads the next; the chat ends when the client's stream does.
class Chat final : public grpc::ServerBidiReactor<tour::RouteNote, tour::RouteNote> {
 public:
  explicit Chat(NoteStore& notes) : notes_(notes) { StartRead(&note_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(Status::OK);
      return;
    }
    if (!note_.has_location()) {
      Finish(Status(StatusCode::INVALID_ARGUMENT, "location is required"));
      return;
    }
    if (!OnTheGlobe(note_.location())) {
      Finish(Status(StatusCode::INVALID_ARGUMENT, OffTheGlobe(note_.location(), "location")));
      return;
    }
    earlier_ = notes_.Leave(note_);
    next_ = 0;
    WriteOrRead();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(Status(StatusCode::CANCELLED, "the client went away"));
      return;
    }
    WriteOrRead();
  }
  void OnDone() override { delete this; }

 private:
  void WriteOrRead() {
    if (next_ < earlier_.size()) {
      StartWrite(earlier_[next_++].get());
    } else {
      StartRead(&note_);
    }
  }

  NoteStore& notes_;
  tour::RouteNote note_;
  std::vector<NoteStore::Note> earlier_;
  size_t next_ = 0;
};

class RouteGuide final : public tour::RouteGuide::CallbackService {
 public:
  explicit RouteGuide(const Features& features) : features_(features) {}

 private:
  grpc::ServerUnaryReactor* GetFeature(CallbackServerContext* context, const tour::Point* point,
                                       tour::Feature* feature) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (!OnTheGlobe(*point)) {
      reactor->Finish(Status(StatusCode::INVALID_ARGUMENT, OffTheGlobe(*point, "point")));
      return reactor;
    }
    *feature->mutable_location() = *point;
    if (const std::string* name = features_.NameAt(*point)) feature->set_name(*name);
    reactor->Finish(Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<tour::Feature>* ListFeatures(
      CallbackServerContext*, const tour::Rectangle* rectangle) override {
    std::string wrong;
    if (!rectangle->has_lo()) {
      wrong = "lo is required";
    } else if (!OnTheGlobe(rectangle->lo())) {
      wrong = OffTheGlobe(rectangle->lo(), "lo");
    } else if (!rectangle->has_hi()) {
      wrong = "hi is required";
    } else if (!OnTheGlobe(rectangle->hi())) {
      wrong = OffTheGlobe(rectangle->hi(), "hi");
    }
    if (!wrong.empty()) {
      // A reactor that finishes at once, with the reason.
      class Refused final : public grpc::ServerWriteReactor<tour::Feature> {
       public:
        explicit Refused(const std::string& why) {
          Finish(Status(StatusCode::INVALID_ARGUMENT, why));
        }
        void OnDone() override { delete this; }
      };
      return new Refused(wrong);
    }
    return new Lister(features_, *rectangle);
  }

  grpc::ServerReadReactor<tour::Point>* RecordRoute(CallbackServerContext*,
                                                    tour::RouteSummary* summary) override {
    return new Recorder(features_, summary);
  }

  grpc::ServerBidiReactor<tour::RouteNote, tour::RouteNote>* RouteChat(
      CallbackServerContext*) override {
    return new Chat(notes_);
  }

  const Features& features_;
  NoteStore notes_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:0", features_file;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc) {
      std::cerr << argv[i] << " needs a value" << std::endl;
      return 2;
    } else if (std::strcmp(argv[i], "--addr") == 0) {
      addr = argv[i + 1];
    } else if (std::strcmp(argv[i], "--features") == 0) {
      features_file = argv[i + 1];
    } else {
      std::cerr << "usage: grpc-cpp-tour [--addr HOST:PORT] [--features FILE]" << std::endl;
      return 2;
    }
  }
  Features features;
  if (!features_file.empty() && !LoadFeatures(features_file, &features)) return 1;
  Summator summator;
  Dune dune;
  RouteGuide route_guide(features);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&summator);
  builder.RegisterService(&dune);
  builder.RegisterService(&route_guide);
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
