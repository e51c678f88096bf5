// vidinfer run --shard: N shards of one list, each run on its own as a job array's tasks run, write
// together what one run over the whole list writes; `--shard auto` reads Slurm's and Kubernetes'
// indexes from the environment; --resume into a shard's output redoes only what is missing there.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "cli_fixture.h"
#include "support.h"

namespace vidinfer {
namespace {

// The child's environment without any job array variables of the one running the tests (a CI job
// may itself run in a Slurm array), then `vars`.
std::string clean_env(const std::string& vars = "") {
  return "env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT -u SLURM_ARRAY_TASK_MIN -u SLURM_ARRAY_TASK_MAX "
         "-u JOB_COMPLETION_INDEX " + vars;
}

std::multiset<std::string> line_set(const std::string& text) {
  std::multiset<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) out.insert(l);
  return out;
}

class CliShard : public test::Cli {
 protected:
  // `n` inputs: three clips and copies of them under other names (each a separate input).
  std::vector<std::string> make_inputs(size_t n) {
    const std::vector<std::string> clips{test::media::h264_mp4(), test::media::vp9_webm(), test::media::h264_ts()};
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) {
      if (i < clips.size()) {
        out.push_back(clips[i]);
        continue;
      }
      const std::string& from = clips[i % clips.size()];
      out.push_back(dir.file("copy-" + std::to_string(i) + std::filesystem::path(from).extension().string()));
      std::filesystem::copy_file(from, out.back(), std::filesystem::copy_options::overwrite_existing);
    }
    return out;
  }
  // The first input on the command line, the others from a list file (the shard is taken after both).
  std::string input_args(const std::vector<std::string>& inputs) {
    std::string list = "# videos\n";
    for (size_t i = 1; i < inputs.size(); ++i) list += inputs[i] + "\n";
    test::write_bytes(dir.file("list.txt"), std::vector<uint8_t>(list.begin(), list.end()));
    return "--inputs-from " + test::q(dir.file("list.txt")) + " " + test::q(inputs[0]);
  }
  nlohmann::json summary(const std::string& path) { return nlohmann::json::parse(slurp(path)); }
  // The bundled colour classifier, a few frames of each input.
  const std::string run = "run --task classify --max-frames 3 ";
};

TEST_F(CliShard, ShardsAreDisjointAndTogetherWriteTheWholeRunsLines) {
  const auto inputs = make_inputs(7);
  const std::string args = input_args(inputs);
  auto whole = vidinfer(run + "-q -o " + test::q(dir.file("all.jsonl")) + " --summary " + test::q(dir.file("all.json")) +
                        " " + args);
  ASSERT_EQ(whole.rc, 0) << whole.err;
  EXPECT_FALSE(summary(dir.file("all.json")).contains("shard")) << "no --shard, no shard in the summary";
  const auto want = line_set(slurp(dir.file("all.jsonl")));
  ASSERT_EQ(want.size(), 7u * 4u);  // 3 frames and the end-of-input record of each input

  for (const size_t count : {2, 3}) {
    SCOPED_TRACE("count " + std::to_string(count));
    std::multiset<std::string> got;
    std::map<std::string, size_t> shard_of;
    for (size_t index = 0; index < count; ++index) {
      const std::string shard = std::to_string(index) + "/" + std::to_string(count);
      const std::string out = dir.file("shard-" + std::to_string(index) + ".jsonl");
      const std::string sum = dir.file("shard-" + std::to_string(index) + ".json");
      auto r = vidinfer(run + "--shard " + shard + " -o " + test::q(out) + " --summary " + test::q(sum) + " " + args);
      ASSERT_EQ(r.rc, 0) << r.err;
      std::vector<std::string> expected;  // round-robin: positions index, index + count, ...
      for (size_t i = index; i < inputs.size(); i += count) expected.push_back(inputs[i]);
      EXPECT_NE(r.err.find("vidinfer: shard " + shard + ": " + std::to_string(expected.size()) + " of 7 input(s)\n"),
                std::string::npos) << r.err;
      const auto s = summary(sum);
      EXPECT_EQ(s.at("shard"), nlohmann::json::parse(R"({"index":)" + std::to_string(index) + R"(,"count":)" +
                                                     std::to_string(count) + R"(,"inputs":)" +
                                                     std::to_string(expected.size()) + R"(,"of":7})"));
      ASSERT_EQ(s.at("inputs").size(), expected.size());
      for (size_t k = 0; k < expected.size(); ++k) {
        EXPECT_EQ(s.at("inputs")[k].at("input"), expected[k]);
        EXPECT_EQ(s.at("inputs")[k].at("status"), "ok");
      }
      test::Result f;
      f.out = slurp(out);
      for (const auto& l : f.all_lines()) {
        const std::string in = l.at("input").get<std::string>();
        const auto [it, fresh] = shard_of.emplace(in, index);
        EXPECT_EQ(it->second, index) << in << " is in two shards";
      }
      const auto lines = line_set(f.out);
      got.insert(lines.begin(), lines.end());
    }
    EXPECT_EQ(shard_of.size(), inputs.size()) << "every input is in a shard";
    EXPECT_EQ(got, want) << "the shards' lines together are the whole run's";
  }
}

// A job array with more tasks than inputs: the extra shards run nothing, say so, and succeed.
TEST_F(CliShard, AShardWithNoInputsWritesAnEmptyOutputAndExitsZero) {
  const auto inputs = make_inputs(3);
  const std::string out = dir.file("out.jsonl");
  auto r = vidinfer(run + "-q --shard 5/8 -o " + test::q(out) + " --summary " + test::q(dir.file("s.json")) + " " +
                    input_args(inputs));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "vidinfer: shard 5/8 has no inputs: the list has 3, and shard I of N takes inputs I, I+N, I+2N, "
                   "... (counting from 0); nothing to run\n");
  ASSERT_TRUE(std::filesystem::exists(out));
  EXPECT_EQ(slurp(out), "");
  const auto s = summary(dir.file("s.json"));
  EXPECT_EQ(s.at("shard"), nlohmann::json::parse(R"({"index":5,"count":8,"inputs":0,"of":3})"));
  EXPECT_EQ(s.at("inputs").size(), 0u);
  EXPECT_EQ(s.at("frames"), 0);
}

TEST_F(CliShard, BadShardIsAUsageError) {
  const std::string clip = test::q(test::media::h264_mp4());
  const std::string syntax = ": expected I/N, shard I of N with I counting from 0 (for example 0/4 to 3/4), or auto "
                             "or auto/N\n";
  for (const std::string bad : {"3", "1/x", "1/2/3", "1.5/4"}) {
    auto r = vidinfer(run + "--shard " + test::q(bad) + " " + clip);
    EXPECT_EQ(r.rc, 2) << bad;
    EXPECT_EQ(r.err, "vidinfer: error: invalid --shard '" + bad + "'" + syntax) << bad;
  }
  auto r = vidinfer(run + "--shard 4/4 " + clip);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: invalid --shard '4/4': the index must be below the count (0 to 3 for 4 shards)\n");
  r = vidinfer(run + "--shard 0/0 " + clip);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: invalid --shard '0/0': the count must be at least 1\n");
  for (const std::string bad : {"auto/0", "auto/x", "autox", "auto/"}) {
    r = vidinfer(run + "--shard " + test::q(bad) + " " + clip, clean_env("JOB_COMPLETION_INDEX=0"));
    EXPECT_EQ(r.rc, 2) << bad;
    EXPECT_EQ(r.err, "vidinfer: error: invalid --shard '" + bad + "': expected I/N, auto or auto/N, with N >= 1 the "
                     "shard count (for example auto/8)\n") << bad;
  }
}

TEST_F(CliShard, AutoReadsTheSlurmOrKubernetesIndex) {
  const auto inputs = make_inputs(5);
  const std::string args = input_args(inputs);
  const auto explicit_shard = [&](const std::string& shard) {
    const std::string out = dir.file("explicit-" + shard.substr(0, 1) + ".jsonl");
    auto r = vidinfer(run + "-q --shard " + shard + " -o " + test::q(out) + " " + args, clean_env());
    EXPECT_EQ(r.rc, 0) << r.err;
    return slurp(out);
  };
  // Slurm, --array=1-3: task id 2 is the second task, so shard 1 of 3.
  const std::string out = dir.file("out.jsonl"), sum = dir.file("s.json");
  auto r = vidinfer(run + "--shard auto -o " + test::q(out) + " --summary " + test::q(sum) + " " + args,
                    clean_env("SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 "
                              "SLURM_ARRAY_TASK_COUNT=3"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("vidinfer: shard 1/3 (SLURM_ARRAY_TASK_ID 2 - SLURM_ARRAY_TASK_MIN 1): 2 of 5 input(s)\n"),
            std::string::npos) << r.err;
  EXPECT_EQ(summary(sum).at("shard"), nlohmann::json::parse(R"({"index":1,"count":3,"inputs":2,"of":5})"));
  EXPECT_EQ(line_set(slurp(out)), line_set(explicit_shard("1/3")));  // (inputs decoded at once interleave)
  // A Kubernetes Indexed Job of 3 completions: JOB_COMPLETION_INDEX with the count given.
  r = vidinfer(run + "--shard auto/3 -o " + test::q(out) + " --summary " + test::q(sum) + " " + args,
               clean_env("JOB_COMPLETION_INDEX=2"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("vidinfer: shard 2/3 (JOB_COMPLETION_INDEX 2): 1 of 5 input(s)\n"), std::string::npos) << r.err;
  EXPECT_EQ(summary(sum).at("shard"), nlohmann::json::parse(R"({"index":2,"count":3,"inputs":1,"of":5})"));
  EXPECT_EQ(line_set(slurp(out)), line_set(explicit_shard("2/3")));  // (inputs decoded at once interleave)

  // What is missing or wrong, in one line; nothing runs (exit 2).
  const std::string clip = test::q(inputs[0]);
  const auto error = [&](const std::string& shard, const std::string& vars) {
    auto e = vidinfer(run + "--shard " + shard + " " + clip, clean_env(vars));
    EXPECT_EQ(e.rc, 2) << shard << " " << vars;
    return e.err;
  };
  EXPECT_EQ(error("auto", ""),
            "vidinfer: error: --shard auto: no job array index in the environment: neither SLURM_ARRAY_TASK_ID (a Slurm "
            "job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give the shard as --shard I/N\n");
  EXPECT_EQ(error("auto/4", ""),
            "vidinfer: error: --shard auto/4: no job array index in the environment: neither SLURM_ARRAY_TASK_ID (a "
            "Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give the shard as --shard "
            "I/N\n");
  EXPECT_EQ(error("auto", "JOB_COMPLETION_INDEX=1"),
            "vidinfer: error: --shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the shard count "
            "is not in the environment: give it as --shard auto/N, N being the Job's completions\n");
  EXPECT_EQ(error("auto/3", "JOB_COMPLETION_INDEX=3"),
            "vidinfer: error: --shard auto/3: JOB_COMPLETION_INDEX is 3, not below the shard count 3 (set the Job's "
            "completions to the count)\n");
  EXPECT_EQ(error("auto", "SLURM_ARRAY_TASK_ID=1"),
            "vidinfer: error: --shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give the shard "
            "count as --shard auto/N\n");
  EXPECT_EQ(error("auto", "SLURM_ARRAY_TASK_ID=x1 SLURM_ARRAY_TASK_COUNT=2"),
            "vidinfer: error: --shard auto: SLURM_ARRAY_TASK_ID is 'x1', not a whole number\n");
  // Tasks submitted again on their own (--array=3,17): not one range, so plain auto cannot tell the
  // shard; with the count given, the task id is the shard index.
  EXPECT_EQ(error("auto", "SLURM_ARRAY_TASK_ID=17 SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_MAX=17 "
                          "SLURM_ARRAY_TASK_COUNT=2"),
            "vidinfer: error: --shard auto: the Slurm array is not one range of task ids (SLURM_ARRAY_TASK_ID 17, "
            "SLURM_ARRAY_TASK_MIN 3, SLURM_ARRAY_TASK_MAX 17, SLURM_ARRAY_TASK_COUNT 2): give the shard count as "
            "--shard auto/N, and each task id is then its shard index\n");
  EXPECT_EQ(error("auto/8", "SLURM_ARRAY_TASK_ID=8 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=8 "
                            "SLURM_ARRAY_TASK_COUNT=8"),
            "vidinfer: error: --shard auto/8: SLURM_ARRAY_TASK_ID is 8, and with the count given the task id is the "
            "shard index, which must be below 8 (submit --array=0-7)\n");
  r = vidinfer(run + "-q --shard auto/5 -o " + test::q(out) + " --summary " + test::q(sum) + " " + args,
               clean_env("SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_MAX=17 SLURM_ARRAY_TASK_COUNT=2"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(summary(sum).at("shard"), nlohmann::json::parse(R"({"index":3,"count":5,"inputs":1,"of":5})"));
}

// A shard's task requeued after it was cut short: --resume into the shard's own output keeps the
// inputs complete there and runs only the others of the shard.
TEST_F(CliShard, ResumeOnAShardRedoesOnlyWhatIsMissing) {
  const auto inputs = make_inputs(5);
  const std::string args = input_args(inputs);
  const std::string ref = dir.file("ref.jsonl"), out = dir.file("out.jsonl"), sum = dir.file("s.json");
  ASSERT_EQ(vidinfer(run + "-q --shard 0/2 -o " + test::q(ref) + " " + args).rc, 0);  // inputs 0, 2 and 4
  // The task stopped after input 0's record and one frame line of input 2. Taken input by input: with
  // several decoders (the GPU default) the inputs' lines interleave in the file.
  const std::string whole = slurp(ref);
  std::istringstream in(whole);
  std::string kept, line, first_of_2;
  while (std::getline(in, line)) {
    const auto input = nlohmann::json::parse(line).value("input", "");
    if (input == inputs[0]) kept += line + "\n";
    else if (input == inputs[2] && first_of_2.empty() && line.find("\"end_of_input\"") == std::string::npos)
      first_of_2 = line;
  }
  ASSERT_NE(kept.find("\"end_of_input\""), std::string::npos) << kept;
  ASSERT_FALSE(first_of_2.empty()) << whole;
  line = first_of_2;
  const std::string cut = kept + line + "\n";
  test::write_bytes(out, std::vector<uint8_t>(cut.begin(), cut.end()));

  auto r = vidinfer(run + "--shard 0/2 --resume -o " + test::q(out) + " --summary " + test::q(sum) + " " + args);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("vidinfer: shard 0/2: 3 of 5 input(s)\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vidinfer: resuming " + out + ": 1 of 3 input(s) complete there already, 2 to run\n"),
            std::string::npos) << r.err;
  const auto s = summary(sum);
  EXPECT_EQ(s.at("shard"), nlohmann::json::parse(R"({"index":0,"count":2,"inputs":3,"of":5})"));
  ASSERT_EQ(s.at("inputs").size(), 3u);
  EXPECT_EQ(s.at("inputs")[0].at("status"), "skipped");
  EXPECT_EQ(s.at("inputs")[1].at("status"), "ok");
  EXPECT_EQ(s.at("inputs")[1].at("input"), inputs[2]);
  EXPECT_EQ(s.at("inputs")[2].at("status"), "ok");
  EXPECT_EQ(s.at("inputs")[2].at("input"), inputs[4]);
  EXPECT_EQ(s.at("frames"), 6) << "only the two missing inputs ran";
  const std::string resumed = slurp(out);
  EXPECT_EQ(resumed.substr(0, kept.size()), kept) << "input 0's lines are kept as they were";
  EXPECT_EQ(line_set(resumed), line_set(whole)) << "the same lines as the shard run whole";
  // Requeued once more: everything of the shard is there, nothing runs, the file stays.
  r = vidinfer(run + "--shard 0/2 --resume -o " + test::q(out) + " " + args);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("3 of 3 input(s) complete there already, 0 to run"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out), resumed);
}

}  // namespace
}  // namespace vidinfer
