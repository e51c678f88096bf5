#pragma once

#include <c10/util/Exception.h>
#include <torch/version.h>

#include <string>

namespace vidinfer {

// c10's warning handler of this thread, and setting it: the calls differ between LibTorch 1.x
// (c10::Warning::) and 2.x (c10::WarningUtils::).
c10::WarningHandler* thread_warning_handler();
void set_thread_warning_handler(c10::WarningHandler* handler);

// True for LibTorch's "An output with one or more elements was resized ..." deprecation warning.
bool is_resize_warning(const std::string& msg);

// While it lives, drops LibTorch's resize warning raised on this thread (c10's warning handler is
// per thread) and hands every other warning to the handler that was current before, unchanged.
//
// Why: Debian's LibTorch 1.13 runs the bundled CenterNet, frozen and optimised for inference on the
// CPU (torchscript_model.cpp), with an aten::mean whose output buffer has the shape of another layer's
// ([80] where [72] is needed, times the batch). LibTorch resizes it, and the outputs stay the loaded
// module's (ModelCpu.FrozenCenterNetGivesTheLoadedModulesOutputs), but it printed this warning, through
// glog, once per batch: hundreds of lines on stderr for one clip of `vidinfer run`, about nothing the
// user did or can change.
class ResizeWarningFilter final : public c10::WarningHandler {
 public:
  ResizeWarningFilter();
  ~ResizeWarningFilter() override;
  ResizeWarningFilter(const ResizeWarningFilter&) = delete;
  ResizeWarningFilter& operator=(const ResizeWarningFilter&) = delete;

#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning& warning) override;
#else
  void process(const c10::SourceLocation& where, const std::string& msg, bool verbatim) override;
#endif

 private:
  c10::WarningHandler* previous_;
};

}  // namespace vidinfer
