// What a run writes: JSON text of frame results, end-of-input records, run summaries and probe facts
// (the schema is in docs/cli.md), and a JSON Lines writer that never leaves a half-written file under
// the final name. Strings in, strings out: no JSON library type in this header.
// (Files are renamed and removed with <cstdio>, not std::filesystem: PyTorch's libtorch.so exports
// std::filesystem symbols of its own that crash (remove_all, seen with PyTorch 2.11) and win at
// dynamic link time.)
#pragma once

#include <cstdio>
#include <string>

#include "vidinfer/options.h"
#include "vidinfer/probe.h"
#include "vidinfer/results.h"

namespace vidinfer {

// One JSON object, on one line (no newline): a processed frame's result ("classes" or "detections"
// after the frame's facts, by task).
std::string frame_json(const FrameResult& r, Task task);
// The end-of-input record written to the JSON Lines after an input's frame lines:
// {"input":..., "end_of_input":true, "status":"ok"|"failed", "frames_decoded", "frames_processed",
//  "packets_corrupt"[, "live"][, "error"][, "warning"]}. `vidinfer run --resume` trusts an input's lines only
// when this record says "ok".
std::string end_of_input_json(const InputSummary& s);
// The run summary; indent < 0: one line.
std::string summary_json(const RunSummary& s, int indent = 2);
// probe's facts about one input, on one line.
std::string probe_json(const ProbeInfo& p);
std::string to_string(InputStatus s);

// Writes one line of JSON at a time to a file (through PATH.tmp, renamed on close()) or to stdout
// when the path is "" or "-". Not thread-safe.
class JsonlWriter {
 public:
  explicit JsonlWriter(const std::string& path);
  ~JsonlWriter();  // an unclosed file is removed: a partial result is never taken for a whole one
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  void write_line(const std::string& line);  // one line of JSON, as is (without its newline)
  // Each line reaches the file (its .tmp until close()) or stdout as it is written, not when a buffer
  // fills: for live inputs, whose readers follow the output.
  void flush_each_line(bool on) { flush_each_line_ = on; }
  void close();  // flushes and renames into place; throws vidinfer::Error on failure

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  bool to_stdout_ = false;
  bool flush_each_line_ = false;
};

// Writes `text` to `path` through a temporary file and rename. Throws vidinfer::Error.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace vidinfer
