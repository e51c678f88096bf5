// The one error type of vidinfer. Every failure reaching a caller is a vidinfer::Error whose what()
// is a single line: "<input>: <what failed>: <cause>" (parts that are empty are left out).
#pragma once

#include <stdexcept>
#include <string>

namespace vidinfer {

class Error : public std::runtime_error {
 public:
  // what_failed: the operation, in words ("cannot open", "model output does not fit task detect").
  // input: the file (and where useful stream/frame) it concerns; cause: the library's own words.
  explicit Error(std::string what_failed, std::string input = {}, std::string cause = {});

  const std::string& what_failed() const noexcept { return what_failed_; }
  const std::string& input() const noexcept { return input_; }
  const std::string& cause() const noexcept { return cause_; }

  // A copy of this error naming `input` (used where the stage that threw did not know the file).
  Error with_input(const std::string& input) const;

 private:
  std::string what_failed_;
  std::string input_;
  std::string cause_;
};

// An input's name as messages show it (errors, warnings, stderr): a URL's password
// (rtsp://user:password@camera/...) is shown as "***", so that logs and journals do not keep camera
// credentials; anything else is unchanged. Results keep the input as given (their "input" fields).
std::string shown_input(const std::string& input);

}  // namespace vidinfer
