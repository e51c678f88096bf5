// CallableModel: a model given as a function in code rather than a file: a Python callable passed to
// `vidinfer.run(model=...)` (the Python module wraps it, taking the GIL), or a C++ function. The
// pipeline runs it as it runs a loaded model: same batches, heads, checks and errors; it is never
// recorded as a CUDA graph (what it launches is its own business: a torch.compile'd module may use
// graphs of its own).
#pragma once

#include <functional>
#include <string>

#include "infer/model.h"

namespace vidinfer {

class CallableModel : public Model {
 public:
  using Function = std::function<torch::jit::IValue(const torch::Tensor&)>;
  // name: what errors name as the model ("python callable <repr>"). dtype: the batches' dtype (host
  // batches are converted to it and moved to `device` before the call).
  CallableModel(Function fn, std::string name, torch::Device device, DType dtype);

  // Runs under torch::NoGradGuard (not InferenceMode: the tensors stay usable outside it). Any
  // exception becomes vidinfer::Error "model forward failed" with its first line as the cause.
  torch::jit::IValue forward(const torch::Tensor& batch) override;
  bool capture_graphs(const std::vector<int64_t>& shape, std::string* why) override;

 private:
  Function fn_;
  torch::ScalarType dtype_;
};

}  // namespace vidinfer
