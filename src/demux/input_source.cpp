#include "demux/input_source.h"

#include <cctype>

namespace vidinfer {

InputSource InputSource::of(const std::string& locator, bool paced) {
  if (locator == "-" || locator.rfind("pipe:", 0) == 0) return {locator, Kind::Pipe};
  const auto scheme_end = locator.find("://");
  if (scheme_end != std::string::npos && scheme_end > 0 && locator.rfind("file://", 0) != 0) {
    bool scheme = true;  // letters, digits, '+', '-', '.' (RFC 3986), starting with a letter
    for (size_t i = 0; i < scheme_end; ++i) {
      const char c = locator[i];
      const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      scheme = scheme && (alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')));
    }
    if (scheme) return {locator, Kind::Url};
  }
  return {locator, Kind::File, paced};
}

std::string InputSource::path() const {
  if (kind_ != Kind::File || locator_.rfind("file://", 0) != 0) return locator_;
  std::string rest = locator_.substr(7);
  if (rest.rfind("localhost/", 0) == 0) rest.erase(0, 9);  // (the one host a file URL may name here)
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && hex(rest[i + 1]) && hex(rest[i + 2])) {
      out += static_cast<char>(std::stoi(rest.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += rest[i];
    }
  }
  return out;
}

bool InputSource::ends_at_eof() const {
  if (kind_ != Kind::Url) return true;
  for (const char* s : {"rtsp://", "rtsps://", "rtmp://", "rtmps://", "udp://", "rtp://", "srt://", "tcp://"})
    if (locator_.rfind(s, 0) == 0) return false;
  return true;
}

}  // namespace vidinfer
