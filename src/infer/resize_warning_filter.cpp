#include "infer/resize_warning_filter.h"

namespace vidinfer {

#if TORCH_VERSION_MAJOR >= 2
c10::WarningHandler* thread_warning_handler() { return c10::WarningUtils::get_warning_handler(); }
void set_thread_warning_handler(c10::WarningHandler* handler) { c10::WarningUtils::set_warning_handler(handler); }
#else
c10::WarningHandler* thread_warning_handler() { return c10::Warning::get_warning_handler(); }
void set_thread_warning_handler(c10::WarningHandler* handler) { c10::Warning::set_warning_handler(handler); }
#endif

bool is_resize_warning(const std::string& msg) {
  return msg.rfind("An output with one or more elements was resized", 0) == 0;
}

ResizeWarningFilter::ResizeWarningFilter() : previous_(thread_warning_handler()) { set_thread_warning_handler(this); }

ResizeWarningFilter::~ResizeWarningFilter() { set_thread_warning_handler(previous_); }

#if TORCH_VERSION_MAJOR >= 2
void ResizeWarningFilter::process(const c10::Warning& warning) {
  if (!is_resize_warning(warning.msg())) previous_->process(warning);
}
#else
void ResizeWarningFilter::process(const c10::SourceLocation& where, const std::string& msg, bool verbatim) {
  if (!is_resize_warning(msg)) previous_->process(where, msg, verbatim);
}
#endif

}  // namespace vidinfer
