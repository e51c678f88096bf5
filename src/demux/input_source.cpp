#include "demux/input_source.h"

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

bool InputSource::ends_at_eof() const {
  if (kind_ != Kind::Url) return true;
  for (const char* s : {"rtsp://", "rtsps://", "rtmp://", "rtmps://", "udp://", "rtp://", "srt://", "tcp://"})
    if (locator_.rfind(s, 0) == 0) return false;
  return true;
}

}  // namespace vidinfer
