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
  // "file://" excepted: a local file, path()); anything else a file path.
  // paced: a local file read as a live camera sends it (DemuxOptions::pace), for simulating cameras.
  static InputSource of(const std::string& locator, bool paced = false);

  const std::string& locator() const { return locator_; }
  // A local file's path in the file system: a file:// URL's (file:///videos/a%20b.mp4, as GStreamer
  // and DeepStream write them: /videos/a b.mp4), or else the locator itself.
  std::string path() const;
  Kind kind() const { return kind_; }
  // Whether it can be split into segments decoded at once (needs seeking and a keyframe index).
  bool splittable() const { return kind_ == Kind::File && !paced_; }
  // Whether its length is known before it is read (progress, segment planning).
  bool known_length() const { return kind_ == Kind::File && !paced_; }
  // Whether opening it is quick and side-effect free, so that it may be opened ahead of its turn
  // (to make its NVDEC sessions while the model loads): local files only; a network source may take
  // long to answer, and a pipe can be read only once.
  bool open_ahead() const { return kind_ == Kind::File; }
  // Live: read as it comes, in real time. A live input holds a decode worker for as long as it runs,
  // its frames may be dropped when the model falls behind (LiveOptions::drop), and its results carry
  // their receive time and latency. What may_be_recording() says may turn it into a recording once open.
  bool live() const { return kind_ != Kind::File || paced_; }
  // Whether it may carry a recording rather than a live stream, which only opening it tells (the
  // container states its length, length_stated()): HTTP(S) (an MP4 on a web server, a finished HLS
  // playlist), any other URL that ends at its end of data, and pipes (`cat clip.mp4 | vidinfer run -`).
  // A recording is read as a local file is: every frame, however far ahead of the model it arrives.
  bool may_be_recording() const { return kind_ == Kind::Pipe || (kind_ == Kind::Url && ends_at_eof()); }
  // Whether a lost connection can be made again (URLs; a pipe or a file cannot be re-read).
  bool reconnectable() const { return kind_ == Kind::Url; }
  // Whether the end of its data is the input's end. Streams of a camera or an encoder (rtsp, rtmp,
  // udp, srt, tcp) do not end: their end of data is a lost connection, reconnected when allowed.
  // HTTP(S) (a file, or an HLS playlist that says it has ended), pipes and files end there.
  bool ends_at_eof() const;

 private:
  InputSource(std::string locator, Kind kind, bool paced = false)
      : locator_(std::move(locator)), kind_(kind), paced_(paced) {}
  std::string locator_;
  Kind kind_;
  bool paced_ = false;
};

}  // namespace vidinfer
