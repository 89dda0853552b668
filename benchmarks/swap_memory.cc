// A version swap done by a plain TensorFlow C++ process, for its memory as /proc shows it.
//
// benchmarks/swap_memory.py builds this against the installed wheel (headers in
// tensorflow/include, libtensorflow_cc.so.2 and libtensorflow_framework.so.2) and
// compares its resident memory with what tfx-warmup's own swap child reports. The
// steps are those of swap/run.py, with TensorFlow's C++ API and no Python:
//   1. baseline RSS; tensorflow::LoadSavedModel(old); run the old version's warmup
//      calls, then every request twice (it has been serving);
//   2. reset VmHWM (write '5' to /proc/self/clear_refs), open-loop traffic on the old
//      version for `steady` seconds;
//   3. RSS, LoadSavedModel(new), RSS, run the new version's warmup calls, RSS;
//   4. move the traffic to the new version, wait `first` s, delete the old bundle once
//      its last request is answered, go on for `after` s; RSS and VmHWM.
// The calls (feeds as TensorProtos, fetch names) are written by the Python side: the
// Session::Run calls TF Serving makes for each warmup record and live request.
//
//   swap_memory OLD NEW OLD_WARMUP NEW_WARMUP REQUESTS QPS CLIENTS STEADY FIRST AFTER
//
// Prints one JSON object: bytes at each boundary, 'peak' (VmHWM since the reset),
// 'peak_whole' (the process's VmHWM over its whole life), 'peak_reset' (whether the
// kernel took the reset), request counts.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/protobuf/config.pb.h"
#include "tensorflow/core/public/session.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
  std::vector<std::pair<std::string, tensorflow::Tensor>> feeds;
  std::vector<std::string> fetches;
};

// VmRSS and VmHWM from /proc/self/status, in bytes.
struct Status {
  int64_t rss = -1;
  int64_t peak = -1;
};

Status ReadStatus() {
  Status status;
  std::ifstream file("/proc/self/status");
  std::string line;
  while (std::getline(file, line)) {
    int64_t kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kib) == 1) status.rss = kib * 1024;
    if (std::sscanf(line.c_str(), "VmHWM: %ld kB", &kib) == 1) status.peak = kib * 1024;
  }
  return status;
}

bool ResetPeak() {
  std::ofstream file("/proc/self/clear_refs");
  file << "5";
  file.flush();
  return static_cast<bool>(file);
}

uint32_t ReadU32(std::istream& in) {
  unsigned char bytes[4];
  in.read(reinterpret_cast<char*>(bytes), 4);
  return bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

std::string ReadString(std::istream& in) {
  std::string text(ReadU32(in), '\0');
  in.read(&text[0], text.size());
  return text;
}

// The calls file: u32 count, then per call u32 feeds, (name, TensorProto bytes) each,
// u32 fetches, name each; every string a u32 length then its bytes (little-endian).
std::vector<Call> ReadCalls(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    std::exit(2);
  }
  std::vector<Call> calls(ReadU32(in));
  for (Call& call : calls) {
    for (uint32_t n = ReadU32(in); n > 0; --n) {
      std::string name = ReadString(in);
      tensorflow::TensorProto proto;
      tensorflow::Tensor tensor;
      if (!proto.ParseFromString(ReadString(in)) || !tensor.FromProto(proto)) {
        std::cerr << "bad tensor for " << name << " in " << path << "\n";
        std::exit(2);
      }
      call.feeds.emplace_back(name, tensor);
    }
    for (uint32_t n = ReadU32(in); n > 0; --n) call.fetches.push_back(ReadString(in));
  }
  if (!in) {
    std::cerr << "truncated calls file " << path << "\n";
    std::exit(2);
  }
  return calls;
}

std::unique_ptr<tensorflow::SavedModelBundle> Load(const std::string& dir) {
  auto bundle = std::make_unique<tensorflow::SavedModelBundle>();
  tensorflow::Status status = tensorflow::LoadSavedModel(
      tensorflow::SessionOptions(), tensorflow::RunOptions(), dir, {"serve"}, bundle.get());
  if (!status.ok()) {
    std::cerr << "LoadSavedModel(" << dir << "): " << status.ToString() << "\n";
    std::exit(1);
  }
  return bundle;
}

bool Run(tensorflow::Session* session, const Call& call) {
  std::vector<tensorflow::Tensor> outputs;
  return session->Run(call.feeds, call.fetches, {}, &outputs).ok();
}

// A loaded version and its in-flight count (unloaded once it is zero).
struct Version {
  std::unique_ptr<tensorflow::SavedModelBundle> bundle;
  int in_flight = 0;
};

// Open-loop clients: client i of n sends request k at t0 + (k * n + i) / qps to the version
// the target holds when it is due, as swap/traffic.py does.
class Traffic {
 public:
  Traffic(const std::vector<Call>* calls, double qps, int clients, Version* version)
      : calls_(calls), qps_(qps), clients_(clients), version_(version) {}

  void Start() {
    start_ = Clock::now();
    for (int i = 0; i < clients_; ++i) threads_.emplace_back([this, i] { Client(i); });
  }

  void Switch(Version* version) {
    std::lock_guard<std::mutex> lock(mutex_);
    version_ = version;
  }

  void WaitIdle(Version* version) {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [version] { return version->in_flight == 0; });
  }

  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
  }

  int64_t sent() const { return sent_; }
  int64_t failed() const { return failed_; }

 private:
  void Client(int i) {
    for (int64_t k = 0; !stop_; ++k) {
      auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>((k * clients_ + i) / qps_));
      std::this_thread::sleep_until(due);
      if (stop_) break;
      Version* version;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        version = version_;
        ++version->in_flight;
      }
      const Call& call = (*calls_)[(k * clients_ + i) % calls_->size()];
      if (!Run(version->bundle->session.get(), call)) ++failed_;
      ++sent_;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--version->in_flight == 0) idle_.notify_all();
      }
    }
  }

  const std::vector<Call>* calls_;
  double qps_;
  int clients_;
  Version* version_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> failed_{0};
  Clock::time_point start_;
};

void Sleep(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

int Replay(tensorflow::Session* session, const std::vector<Call>& calls) {
  int failed = 0;
  for (const Call& call : calls) failed += !Run(session, call);
  return failed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 11) {
    std::cerr << "usage: " << argv[0] << " OLD NEW OLD_WARMUP NEW_WARMUP REQUESTS QPS "
              << "CLIENTS STEADY FIRST AFTER\n";
    return 2;
  }
  const std::string old_dir = argv[1], new_dir = argv[2];
  const std::vector<Call> old_warmup = ReadCalls(argv[3]);
  const std::vector<Call> new_warmup = ReadCalls(argv[4]);
  const std::vector<Call> requests = ReadCalls(argv[5]);
  const double qps = std::stod(argv[6]);
  const int clients = std::stoi(argv[7]);
  const double steady = std::stod(argv[8]), first = std::stod(argv[9]),
               after = std::stod(argv[10]);

  const Status baseline = ReadStatus();
  Version old_version{Load(old_dir)};
  int warmup_failed = Replay(old_version.bundle->session.get(), old_warmup);
  for (size_t i = 0; i < 2 * requests.size(); ++i) {
    Run(old_version.bundle->session.get(), requests[i % requests.size()]);
  }
  const Status before_reset = ReadStatus();
  bool reset = ResetPeak();
  if (reset) {  // A kernel that ignores the write leaves VmHWM above VmRSS.
    const Status now = ReadStatus();
    reset = now.peak - now.rss <= (4 << 20);
  }

  Traffic traffic(&requests, qps, clients, &old_version);
  traffic.Start();
  Sleep(steady);
  const Status at_steady = ReadStatus();
  Version new_version{Load(new_dir)};
  const Status at_loaded = ReadStatus();
  warmup_failed += Replay(new_version.bundle->session.get(), new_warmup);
  const Status at_warmed = ReadStatus();
  traffic.Switch(&new_version);
  Sleep(first);
  traffic.WaitIdle(&old_version);
  old_version.bundle.reset();  // The unload: session closed and deleted, graph freed.
  Sleep(after);
  const Status at_end = ReadStatus();
  traffic.Stop();

  std::ostringstream out;
  out << "{\"baseline\": " << baseline.rss << ", \"steady\": " << at_steady.rss
      << ", \"loaded\": " << at_loaded.rss << ", \"warmed\": " << at_warmed.rss
      << ", \"unloaded\": " << at_end.rss << ", \"peak\": " << at_end.peak
      << ", \"peak_whole\": " << std::max(before_reset.peak, at_end.peak)
      << ", \"peak_reset\": " << (reset ? "true" : "false")
      << ", \"requests\": " << traffic.sent() << ", \"failed\": " << traffic.failed()
      << ", \"warmup_failed\": " << warmup_failed << "}";
  std::cout << out.str() << std::endl;
  return 0;
}
