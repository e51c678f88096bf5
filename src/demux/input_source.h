// What an input is, as the scheduler needs to know it before opening it: a local file (seekable,
// with an index: it can be split into keyframe-aligned segments and has a known length), a URL
// (rtsp://, http://, ...: read in order, possibly live and endless), or standard input ("-",
// "pipe:"). The scheduler asks the properties, not the kind, so that a new kind of input only says
// what it allows. Plain value type.
#pragma once

#include <string>

namespace vidinfer {

class InputSource {
 public:
  enum class Kind { File, Url, Pipe };

  // "-" and "pipe:..." are standard input / a pipe; "scheme://..." a URL (libavformat's protocols,
  // "file://" excepted); anything else a file path.
  static InputSource of(const std::string& locator);

  const std::string& locator() const { return locator_; }
  Kind kind() const { return kind_; }
  // Whether it can be split into segments decoded at once (needs seeking and a keyframe index).
  bool splittable() const { return kind_ == Kind::File; }
  // Whether its length is known before it is read (progress, segment planning).
  bool known_length() const { return kind_ == Kind::File; }
  // Whether opening it is quick and side-effect free, so that it may be opened ahead of its turn
  // (to make its NVDEC sessions while the model loads): local files only; a network source may take
  // long to answer, and a pipe can be read only once.
  bool open_ahead() const { return kind_ == Kind::File; }

 private:
  InputSource(std::string locator, Kind kind) : locator_(std::move(locator)), kind_(kind) {}
  std::string locator_;
  Kind kind_;
};

}  // namespace vidinfer
