// The devices of a run: the CLI's --devices list, and the engines' devices a run resolves to.
#include "pipeline/devices.h"

#include <torch/torch.h>

#include "infer/model.h"
#include "vidinfer/error.h"

namespace vidinfer {

std::vector<Device> parse_devices(const std::string& list) {
  std::vector<Device> v;
  if (list == "all") {
    const int n = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    if (n == 0)
      throw Error("invalid devices 'all'", "", "no CUDA GPU is visible to this LibTorch (use --device cpu)");
    for (int i = 0; i < n; ++i) v.push_back(Device::cuda(i));
    return v;
  }
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string name = list.substr(at, comma - at);
    if (name.empty())
      throw Error("invalid devices '" + list + "'", "", "expected cuda:0,cuda:1,... or all");
    if (name == "auto") throw Error("invalid devices '" + list + "'", "", "name each device (cpu, cuda:N) or say all");
    v.push_back(Device::parse(name));
    at = comma + 1;
  }
  return v;
}

std::vector<torch::Device> run_devices(const RunOptions& opt) {
  if (opt.devices.empty()) return {resolve_device(opt.device)};
  std::vector<torch::Device> v;
  for (const Device& d : opt.devices) {
    if (d.kind == Device::Kind::Auto) throw Error("invalid devices", "", "name each device (cpu, cuda:N)");
    v.push_back(resolve_device(d));
    if (v.back().is_cuda() != v.front().is_cuda())
      throw Error("invalid devices", "", "a run's devices are all GPUs or all the CPU, not both");
  }
  return v;
}

std::string devices_name(const std::vector<torch::Device>& devices) {
  std::string s;
  for (const auto& d : devices) s += (s.empty() ? "" : ",") + d.str();
  return s;
}

}  // namespace vidinfer
