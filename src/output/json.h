// The JSON objects behind include/vidinfer/json_lines.h, for code inside the library and its tests
// that works on them before they become text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vidinfer/json_lines.h"

namespace vidinfer {

nlohmann::ordered_json to_json(const FrameResult& r, Task task);
nlohmann::ordered_json to_json(const RunSummary& s);
nlohmann::ordered_json to_json(const ProbeInfo& p);
nlohmann::ordered_json end_of_input_record(const InputSummary& s);
// One line of JSON text, as JsonlWriter writes it (invalid UTF-8 replaced).
std::string json_line(const nlohmann::ordered_json& j);

}  // namespace vidinfer
