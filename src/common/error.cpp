#include "vidinfer/error.h"

#include <algorithm>
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
  if (!input.empty()) out = shown_input(input) + ": ";
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

std::string shown_input(const std::string& input) {
  const size_t scheme = input.find("://");
  if (scheme == std::string::npos) return input;
  const size_t start = scheme + 3;
  const size_t end = std::min(input.find_first_of("/?#", start), input.size());
  // The user information ends at the authority's last '@'; the password follows its first ':'.
  const size_t at = input.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < start) return input;
  const size_t colon = input.find(':', start);
  if (colon == std::string::npos || colon > at) return input;  // a user name without a password
  return input.substr(0, colon + 1) + "***" + input.substr(at);
}

}  // namespace vidinfer
