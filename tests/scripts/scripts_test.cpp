// The project's scripts as a user meets them: scripts/demo's standard output is JSON Lines and
// nothing else, even on a fresh machine where scripts/install-deps installs packages first (apt's
// progress goes to stderr). A fresh machine is imitated with an apt-get and a dpkg-query of our own
// first in PATH: dpkg-query reports every package missing, apt-get prints progress to its stdout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "support.h"

namespace vidinfer {
namespace {

class Scripts : public ::testing::Test {
 protected:
  test::TempDir dir;
  void SetUp() override {
    if (::getuid() != 0 && test::sh("command -v sudo").empty())
      GTEST_SKIP() << "not root and no sudo: install-deps could not run its install step here";
    const std::string bin = dir.file("bin");
    test::sh("mkdir -p " + test::q(bin));
    write_script(bin + "/dpkg-query", "exit 1\n");  // nothing installed
    write_script(bin + "/apt-get",
                 "echo \"apt-get $*\" >>" + test::q(dir.file("apt.log")) +
                     "\necho 'Reading package lists... Done'\necho 'Setting up fake-package (1.0) ...'\n");
    // Root needs no sudo; a user's sudo would find the real apt-get, so a fake sudo runs the fake one.
    write_script(bin + "/sudo", "exec \"$@\"\n");
    path_ = "PATH=" + test::q(bin) + ":\"$PATH\" ";
  }
  static void write_script(const std::string& path, const std::string& body) {
    std::ofstream(path) << "#!/bin/sh\n" << body;
    test::sh("chmod +x " + test::q(path));
  }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Runs `cmd` with the fake PATH; stdout and stderr apart.
  int run(const std::string& cmd, std::string* out, std::string* err) {
    int rc = -1;
    test::sh(path_ + cmd + " >" + test::q(dir.file("out")) + " 2>" + test::q(dir.file("err")) + " </dev/null", &rc);
    *out = slurp(dir.file("out"));
    *err = slurp(dir.file("err"));
    return rc;
  }
  std::string path_;
};

TEST_F(Scripts, InstallDepsWritesNothingToStdout) {
  std::string out, err;
  ASSERT_EQ(run(std::string(VIDINFER_SOURCE_DIR) + "/scripts/install-deps", &out, &err), 0) << err;
  EXPECT_EQ(out, "");
  EXPECT_NE(err.find("Setting up fake-package"), std::string::npos) << err;  // apt's progress went to stderr
  EXPECT_NE(slurp(dir.file("apt.log")).find("apt-get install"), std::string::npos);
}

TEST_F(Scripts, DemoStdoutIsJsonLinesOnly) {
  std::string out, err;
  const int rc = run("BUILD_DIR=" + test::q(VIDINFER_BUILD_DIR) + " " + std::string(VIDINFER_SOURCE_DIR) +
                         "/scripts/demo --max-frames 2 --device cpu",
                     &out, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(slurp(dir.file("apt.log")).find("apt-get install"), std::string::npos);  // the install step ran
  std::istringstream in(out);
  std::string line;
  int frames = 0;
  while (std::getline(in, line)) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << "not JSON: " << line;
    if (j.contains("frame")) ++frames;
  }
  EXPECT_EQ(frames, 2);  // --every 10, at most 2 processed: frames 0 and 10
}

}  // namespace
}  // namespace vidinfer
