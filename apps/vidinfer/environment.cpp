#include "environment.h"

#include <cstdlib>
#include <string>

namespace vidinfer {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void read_switch(const char* name, bool& field) {
  if (env(name) == "0") field = false;
}

}  // namespace

Tuning tuning_from_environment() {
  Tuning t;
  read_switch("VIDINFER_NVDEC_PREPARE", t.nvdec_prepare);
  read_switch("VIDINFER_NVDEC_REUSE", t.nvdec_reuse);
  read_switch("VIDINFER_NVDEC_SERIAL_CREATE", t.nvdec_serial_create);
  read_switch("VIDINFER_CUDA_GRAPH", t.cuda_graph);
  read_switch("VIDINFER_OVERLAP_HEAD", t.overlap_head);
  if (const std::string p = env("VIDINFER_STREAM_PRIORITY"); p == "model") t.stream_priority = StreamPriority::Model;
  else if (p == "equal") t.stream_priority = StreamPriority::Equal;
  if (env("VIDINFER_PREPROCESS_KERNEL") == "direct") t.preprocess_kernel = PreprocessKernel::Direct;
  if (const std::string v = env("VIDINFER_TRACE"); !v.empty()) {
    const int n = std::atoi(v.c_str());
    t.trace = n > 0 ? n : (v[0] == '0' ? 0 : 1);
  }
  return t;
}

}  // namespace vidinfer
