// Which CUDA work the GPU's block scheduler serves first when both kinds are queued: the
// preprocessing on the decoders' streams, or the model's forwards (and heads). Set with
// VIDINFER_STREAM_PRIORITY=preprocess|model|equal (for measuring; the default is below).
#pragma once

#include <cstdlib>
#include <string>

namespace vidinfer {

enum class StreamPriority { preprocess, model, equal };

inline StreamPriority stream_priority() {
  const char* v = std::getenv("VIDINFER_STREAM_PRIORITY");
  const std::string s = v ? v : "";
  if (s == "model") return StreamPriority::model;
  if (s == "equal") return StreamPriority::equal;
  return StreamPriority::preprocess;
}

}  // namespace vidinfer
