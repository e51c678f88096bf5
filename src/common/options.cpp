// The typed run options' names: Device and DecoderChoice to and from the words the CLI and the
// Python API take.
#include <string>

#include "vidinfer/error.h"
#include "vidinfer/options.h"

namespace vidinfer {

Device Device::parse(const std::string& name) {
  if (name == "auto") return automatic();
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() <= 8 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos)
    return cuda(std::stoi(name.substr(5)));
  throw Error("invalid device '" + name + "'", "", "expected auto, cpu, cuda or cuda:N");
}

std::string Device::str() const {
  switch (kind) {
    case Kind::Cpu: return "cpu";
    case Kind::Cuda: return "cuda:" + std::to_string(index);
    default: return "auto";
  }
}

DecoderChoice parse_decoder_choice(const std::string& s) {
  if (s == "auto") return DecoderChoice::Auto;
  if (s == "cpu") return DecoderChoice::Cpu;
  if (s == "gpu") return DecoderChoice::Gpu;
  throw Error("invalid decoder '" + s + "'", "", "expected auto, cpu or gpu");
}

std::string to_string(DecoderChoice d) {
  return d == DecoderChoice::Cpu ? "cpu" : d == DecoderChoice::Gpu ? "gpu" : "auto";
}

LiveDrop parse_live_drop(const std::string& s) {
  if (s == "when-full") return LiveDrop::WhenFull;
  if (s == "none") return LiveDrop::None;
  throw Error("invalid --live-drop '" + s + "'", "", "expected when-full or none");
}

std::string to_string(LiveDrop d) { return d == LiveDrop::None ? "none" : "when-full"; }

}  // namespace vidinfer
