#include "infer/callable_model.h"

#include <utility>

#include "vidinfer/error.h"

namespace vidinfer {

CallableModel::CallableModel(Function fn, std::string name, torch::Device device, DType dtype)
    : Model(std::move(name), device), fn_(std::move(fn)), dtype_(to_scalar_type(dtype)) {
  if (!fn_) throw Error("invalid model", path_, "no function given");
}

torch::jit::IValue CallableModel::forward(const torch::Tensor& batch) {
  torch::NoGradGuard no_grad;
  try {
    return fn_(batch.to(device_, dtype_, /*non_blocking=*/true));
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what()));
  }
}

bool CallableModel::capture_graphs(const std::vector<int64_t>& shape, std::string* why) {
  (void)shape;
  *why = "a model given as a function is run as it is, not recorded";
  return false;
}

}  // namespace vidinfer
