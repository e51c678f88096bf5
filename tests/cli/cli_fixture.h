// The vidinfer command run as a user runs it, for the CLI tests: its exit status, stdout and stderr,
// and the JSON Lines it printed.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.h"

namespace vidinfer::test {

struct Result {
  int rc = -1;
  std::string out, err;
  // Every line, parsed.
  std::vector<nlohmann::json> all_lines() const {
    std::vector<nlohmann::json> v;
    std::istringstream in(out);
    std::string l;
    while (std::getline(in, l)) v.push_back(nlohmann::json::parse(l));
    return v;
  }
  // The frame lines (what probe --json prints, too), without the end-of-input records.
  std::vector<nlohmann::json> lines() const {
    std::vector<nlohmann::json> v;
    for (auto& j : all_lines())
      if (!j.contains("end_of_input")) v.push_back(std::move(j));
    return v;
  }
  std::vector<nlohmann::json> records() const {
    std::vector<nlohmann::json> v;
    for (auto& j : all_lines())
      if (j.contains("end_of_input")) v.push_back(std::move(j));
    return v;
  }
};

class Cli : public ::testing::Test {
 protected:
  TempDir dir;
  // `env`: words put before the command (for example "env VAR=1"), to run it in another environment.
  Result vidinfer(const std::string& args, const std::string& env = "") {
    Result r;
    const std::string o = dir.file("stdout"), e = dir.file("stderr");
    sh(env + (env.empty() ? "" : " ") + std::string(VIDINFER_BIN) + " " + args + " >" + q(o) + " 2>" + q(e) +
           " </dev/null",
       &r.rc);
    r.out = slurp(o);
    r.err = slurp(e);
    return r;
  }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string model() {
    make_channel_mean_classifier(dir.file("m.pt"));
    const std::string side = R"({"input_size": 32, "mean": 0, "std": 1, "classify": {"activation": "none"}})";
    write_bytes(dir.file("m.pt.json"), std::vector<uint8_t>(side.begin(), side.end()));
    write_bytes(dir.file("labels.txt"), {'r', '\n', 'g', '\n', 'b', '\n'});
    return "--model " + q(dir.file("m.pt")) + " --labels " + q(dir.file("labels.txt"));
  }
};

}  // namespace vidinfer::test
