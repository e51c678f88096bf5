#include "vidinfer/error.h"

#include <utility>

namespace vidinfer {
namespace {

// Keeps what() to one line: libraries' messages sometimes carry newlines or trailing blanks.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '.')) s.pop_back();
  return s;
}

std::string compose(const std::string& what, const std::string& input, const std::string& cause) {
  std::string out;
  if (!input.empty()) out = input + ": ";
  out += what;
  if (!cause.empty()) out += ": " + cause;
  return one_line(out);
}

}  // namespace

Error::Error(std::string what_failed, std::string input, std::string cause)
    : std::runtime_error(compose(what_failed, input, cause)),
      what_failed_(std::move(what_failed)),
      input_(std::move(input)),
      cause_(std::move(cause)) {}

Error Error::with_input(const std::string& input) const {
  return Error(what_failed_, input, cause_);
}

}  // namespace vidinfer
