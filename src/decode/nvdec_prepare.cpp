#include "decode/nvdec_prepare.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>

#include "demux/input_source.h"

namespace vidinfer {
namespace {
double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

NvdecSessionPreparer::NvdecSessionPreparer(std::vector<Input> inputs, Takes takes, bool trace) : trace_(trace) {
  if (inputs.empty()) return;
  thread_ = std::jthread([inputs = std::move(inputs), takes = std::move(takes), trace, t0 = seconds_now()](
                             std::stop_token stop) { prepare(inputs, takes, trace, t0, stop); });
}

void NvdecSessionPreparer::wait() {
  if (!thread_.joinable()) return;
  const double t0 = seconds_now();
  thread_.join();
  if (trace_)
    std::fprintf(stderr, "vidinfer trace: nvdec: the run waited %.1f ms for the sessions made before it\n",
                 (seconds_now() - t0) * 1e3);
}

void NvdecSessionPreparer::prepare(const std::vector<Input>& inputs, const Takes& takes, bool trace, double t0,
                                   const std::stop_token& stop) {
  int created = 0, wanted = 0;
  // Held until all are made (see prepare_nvdec_sessions), then their sessions go to the kept ones;
  // the demuxers (whose stream parameters the decoders point to) go after them.
  std::vector<std::unique_ptr<Demuxer>> demuxers;
  std::vector<std::unique_ptr<Decoder>> holding;
  std::vector<std::future<std::unique_ptr<Demuxer>>> opening;
  for (const Input& in : inputs)
    opening.push_back(std::async(std::launch::async, [path = in.path]() -> std::unique_ptr<Demuxer> {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(InputSource::of(path).path(), ec)) return nullptr;
      return std::make_unique<Demuxer>(path);
    }));
  for (size_t i = 0; i < inputs.size() && !stop.stop_requested(); ++i) {
    try {
      std::unique_ptr<Demuxer> opened = opening[i].get();
      if (!opened) continue;
      Demuxer& demux = *demuxers.emplace_back(std::move(opened));
      const auto nvdec = takes(demux.stream());
      if (!nvdec) continue;
      wanted += inputs[i].sessions;
      int made = 0, packets = 0;
      const double t_open = seconds_now();
      auto held = prepare_nvdec_sessions(demux.stream(), inputs[i].path, *nvdec,
                                         [&demux, &packets](AVPacket* p) { return ++packets, demux.read(p); },
                                         inputs[i].sessions, &made);
      created += made;
      if (trace)
        std::fprintf(stderr, "vidinfer trace: nvdec: %s: %d session(s) made from its first %d packet(s) at %.1f ms, in %.1f ms\n",
                     inputs[i].path.c_str(), made, packets, (t_open - t0) * 1e3, (seconds_now() - t_open) * 1e3);
      for (auto& d : held) holding.push_back(std::move(d));
    } catch (const std::exception&) {  // the input's own job reports what is wrong with it
    }
  }
  const double t_release = seconds_now();
  nvdec_reserve_kept(static_cast<int>(holding.size()));  // all of them kept, however many inputs
  holding.clear();
  if (trace) {
    std::fprintf(stderr, "vidinfer trace: nvdec: the decoders that made them closed in %.1f ms\n",
                 (seconds_now() - t_release) * 1e3);
    std::fprintf(stderr, "vidinfer trace: nvdec: %d of %d sessions for the first %zu input(s) made before the run (%.1f ms)\n",
                 created, wanted, inputs.size(), (seconds_now() - t0) * 1e3);
  }
}

}  // namespace vidinfer
