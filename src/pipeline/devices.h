// The devices of a run (RunOptions::device, or RunOptions::devices for one engine per device).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "vidinfer/options.h"

namespace vidinfer {

// The present devices the run's engines use, in order (one per engine): opt.devices, else opt.device.
// Throws vidinfer::Error for a device that is not present, or a list that mixes the CPU and GPUs.
std::vector<torch::Device> run_devices(const RunOptions& opt);
// "cuda:0,cuda:1".
std::string devices_name(const std::vector<torch::Device>& devices);

}  // namespace vidinfer
