// The command line as a user meets it: exit codes, error text, JSON Lines on stdout or a file.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_fixture.h"
#include "infer/model_format.h"
#include "support.h"

namespace vidinfer {
namespace {

using test::Cli;
using test::Result;

TEST_F(Cli, HelpForEveryCommand) {
  auto r = vidinfer("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("run"), std::string::npos);
  EXPECT_NE(r.out.find("probe"), std::string::npos);
  r = vidinfer("run --help");
  EXPECT_EQ(r.rc, 0);
  for (const char* flag : {"--model", "--task", "--labels", "--out", "--summary", "--every", "--start", "--end",
                           "--max-frames", "--inputs-from", "--resize", "--dtype", "--batch", "--iou-threshold",
                           "--device", "--nvdec-resize"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  EXPECT_EQ(vidinfer("probe --help").rc, 0);
  r = vidinfer("bench --help");
  EXPECT_EQ(r.rc, 0);
  for (const char* flag : {"--modes", "--frames", "--copies", "--json", "--chart", "--model", "--batch", "--dtype",
                           "--streams", "--nvdec-resize"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

TEST_F(Cli, UsageErrorsExitTwo) {
  auto r = vidinfer("run --no-such-flag x.mp4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind("vidinfer: error: ", 0), 0u) << r.err;
  EXPECT_EQ(vidinfer("").rc, 2);
  r = vidinfer("run --every 0 x.mp4");
  EXPECT_EQ(r.rc, 2);
  r = vidinfer("run --model " + test::q(dir.file("none.pt")) + " x.mp4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: " + dir.file("none.pt") + ": cannot load model: file not found\n");
  r = vidinfer("run --apply-rotation --annotate " + test::q(dir.file("a.mp4")) + " x.mp4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: --annotate draws on frames as decoded: not with --apply-rotation\n");
  r = vidinfer("run " + model() + " --resize squash x.mp4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: unknown resize mode 'squash': expected one of: stretch, letterbox, center-crop, "
                   "centre-crop\n");
}

// An AOTInductor package (here a fake one) that cannot take the batch or dtype asked for is a usage
// error, before any input is opened; so is one on a build whose LibTorch has no AOTInductor.
TEST_F(Cli, PackageErrorsExitTwoBeforeAnyInputIsOpened) {
  const std::string m = dir.file("det.pt2");
  test::write_fake_aoti_package(m, R"({"AOTI_DEVICE_KEY": "cpu", "vidinfer.dtype": "float32", "vidinfer.batch_range": "[1, 4]"})");
  auto r = vidinfer("run --model " + test::q(m) + " --device cpu --batch 8 none.mp4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: " + m + ": model does not take batches of 8 frames: it takes batches of 1 to 4 "
                   "frames (batch_range); give a batch in that range (--batch)\n");
  r = vidinfer("run --model " + test::q(m) + " --device cpu --dtype bf16 none.mp4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: " + m + ": model does not run in bfloat16: it was compiled for float32; use "
                   "--dtype float32, or export it again in that dtype\n");
  r = vidinfer("run --model " + test::q(m) + " --device cpu none.mp4");
  EXPECT_EQ(r.rc, 2);
  if (!aoti_supported())
    EXPECT_EQ(r.err, "vidinfer: error: " + m + ": cannot load model: an AOTInductor package (.pt2) needs LibTorch 2.6 "
                     "or newer with AOTInductor; this build's LibTorch is " + torch_version() + "\n");
  else
    EXPECT_EQ(r.err.rfind("vidinfer: error: " + m + ": cannot load model: ", 0), 0u) << r.err;
}

// --nvdec-resize is about NVDEC only: asking for the CPU decoder with it is a usage error (run and
// bench); where libavcodec decodes anyway (no GPU here), it changes nothing.
TEST_F(Cli, NvdecResizeNeedsTheGpuDecoder) {
  for (const char* cmd : {"run", "bench"}) {
    auto r = vidinfer(std::string(cmd) + " " + model() + " --nvdec-resize --decoder cpu x.mp4");
    EXPECT_EQ(r.rc, 2) << cmd;
    EXPECT_EQ(r.err, "vidinfer: error: --nvdec-resize needs the GPU decoder: not with --decoder cpu\n") << cmd;
    r = vidinfer(std::string(cmd) + " " + model() + " --device cpu --nvdec-resize x.mp4");
    EXPECT_EQ(r.rc, 2) << cmd;
    EXPECT_EQ(r.err, "vidinfer: error: --nvdec-resize needs the GPU decoder: not with --device cpu\n") << cmd;
  }
  const std::string clip = test::media::h264_mp4();
  const auto plain = vidinfer("run " + model() + " -q " + test::q(clip));
  const auto resized = vidinfer("run " + model() + " -q --nvdec-resize " + test::q(clip));
  ASSERT_EQ(plain.rc, 0) << plain.err;
  ASSERT_EQ(resized.rc, 0) << resized.err;
  const auto a = plain.lines(), b = resized.lines();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["frame"], b[i]["frame"]);
    EXPECT_EQ(a[i]["pts"], b[i]["pts"]);
    EXPECT_EQ(a[i]["width"], b[i]["width"]);
    EXPECT_EQ(a[i]["height"], b[i]["height"]);
  }
}

// vidinfer bench: a table on stdout, JSON and chart files, usage errors exit 2, a failed input 1.
TEST_F(Cli, BenchPrintsATableAndWritesJsonAndChart) {
  const std::string clip = test::media::h264_mp4();
  auto r = vidinfer("bench " + model() + " --device cpu --copies 2 --frames 40,70 --json " + test::q(dir.file("b.json")) +
                    " --chart " + test::q(dir.file("b.png")) + " " + test::q(clip));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* mode : {"baseline", "vidinfer", "preprocess", "decode", "model"})
    EXPECT_NE(r.out.find(mode), std::string::npos) << mode;
  const auto j = nlohmann::json::parse(slurp(dir.file("b.json")));
  ASSERT_EQ(j["rows"].size(), 10u);
  EXPECT_EQ(j["rows"][0]["frames"], 80);
  EXPECT_EQ(j["rows"][9]["frames"], 140);
  EXPECT_NE(j["command"].get<std::string>().find("--frames 40,70"), std::string::npos);
  const auto png = test::read_bytes(dir.file("b.png"));
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(std::string(png.begin() + 1, png.begin() + 4), "PNG");

  r = vidinfer("bench " + model() + " --frames 40,x " + test::q(clip));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: invalid --frames '40,x': expected frame counts >= 1, comma-separated\n");
  r = vidinfer("bench " + model() + " --modes baseline,fast " + test::q(clip));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown bench mode 'fast'"), std::string::npos) << r.err;
  const std::string missing = dir.file("missing.mp4");
  r = vidinfer("bench " + model() + " --device cpu --modes baseline,vidinfer " + test::q(clip) + " " + test::q(missing));
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.out.find(missing), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 60 "), std::string::npos) << r.out;  // the good input's frames went through
}

TEST_F(Cli, RunWritesOneLinePerFrameAndExitsZero) {
  const std::string clip = test::media::h264_mp4();
  auto r = vidinfer("run " + model() + " --topk 2 --every 2 --summary " + test::q(dir.file("s.json")) + " " + test::q(clip));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto lines = r.lines();
  ASSERT_EQ(lines.size(), 30u);
  const auto ref = test::ffprobe_frames(clip);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    EXPECT_EQ(l.at("input"), clip);
    EXPECT_EQ(l.at("frame"), 2 * i);
    EXPECT_NEAR(l.at("pts").get<double>(), ref[2 * i].pts, 1e-6);
    EXPECT_EQ(l.at("width"), 160);
    EXPECT_EQ(l.at("height"), 120);
    ASSERT_EQ(l.at("classes").size(), 2u);
    EXPECT_TRUE(l.at("classes")[0].at("label").is_string());
    EXPECT_GE(l.at("classes")[0].at("score").get<double>(), l.at("classes")[1].at("score").get<double>());
  }
  std::ifstream s(dir.file("s.json"));
  const auto summary = nlohmann::json::parse(s);
  EXPECT_EQ(summary.at("frames"), 30);
  EXPECT_EQ(summary.at("inputs").at(0).at("status"), "ok");
  EXPECT_EQ(summary.at("inputs").at(0).at("frames_decoded"), 60);
  EXPECT_NE(r.err.find("30 frames"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("\r"), std::string::npos) << "no progress bar when stderr is not a terminal";
  // After the input's frame lines, its end-of-input record.
  const auto all = r.all_lines();
  ASSERT_EQ(all.size(), 31u);
  EXPECT_EQ(all.back(), nlohmann::json::parse(R"({"input":)" + nlohmann::json(clip).dump() +
                                              R"(,"end_of_input":true,"status":"ok","frames_decoded":60,)"
                                              R"("frames_processed":30,"packets_corrupt":0})"));
}

// The lines and records of inputs decoded at once interleave (several streams: the GPU path's
// default); one input's lines still come in frame order. The tests below hold for any stream count
// and run once with the default and once with 4 streams, so this machine checks both orders.
const char* const kStreamCounts[] = {"", "--streams 4 "};

// Each input's frame lines, in the order they came.
std::map<std::string, std::vector<nlohmann::json>> lines_by_input(const std::vector<nlohmann::json>& lines) {
  std::map<std::string, std::vector<nlohmann::json>> by;
  for (const auto& l : lines) by[l.at("input").get<std::string>()].push_back(l);
  return by;
}
std::map<std::string, nlohmann::json> records_by_input(const std::vector<nlohmann::json>& records) {
  std::map<std::string, nlohmann::json> by;
  for (const auto& r : records) by[r.at("input").get<std::string>()] = r;
  return by;
}

// Local files named with a ':' (a recording named by its time: libavformat took "2026-12-08T03" for a
// protocol's name, "Protocol not found") and file:// URLs (as GStreamer and DeepStream write them,
// %-escaped) are local files: the plain path's results, each line naming the input as given; a file://
// URL of no file fails alone, as a missing path does. --annotate writes to such a name too.
TEST_F(Cli, FileNamesWithAColonAndFileUrlsAreLocalFiles) {
  const std::string clip = test::media::h264_mp4();
  const std::string timed = "2026-12-08T03:00:00.mp4";
  std::filesystem::copy_file(clip, dir.file(timed));
  std::filesystem::copy_file(clip, dir.file("a b.mp4"));
  const std::string args = "run -q --no-progress " + model() + " --topk 2 --every 10 ";
  const Result want = vidinfer(args + test::q(clip));
  ASSERT_EQ(want.rc, 0) << want.err;
  ASSERT_EQ(want.lines().size(), 6u);
  const std::string url = "file://" + dir.path() + "/a%20b.mp4", missing = "file://" + dir.path() + "/none.mp4";
  Result r;
  test::sh("cd " + test::q(dir.path()) + " && " + VIDINFER_BIN + " " + args + timed + " " + test::q(url) + " " +
               test::q(missing) + " >out.jsonl 2>err.txt </dev/null",
           &r.rc);
  r.out = slurp(dir.file("out.jsonl"));
  r.err = slurp(dir.file("err.txt"));
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err, "vidinfer: error: " + missing + ": cannot open input: file not found\n");
  const auto by = lines_by_input(r.lines());
  for (const std::string& input : {timed, url}) {
    ASSERT_EQ(by.count(input), 1u) << input << "\n" << r.out;
    const auto& got = by.at(input);
    ASSERT_EQ(got.size(), want.lines().size()) << input;
    for (size_t i = 0; i < got.size(); ++i) {
      auto g = got[i], w = want.lines()[i];
      g.erase("input");
      w.erase("input");
      EXPECT_EQ(g, w) << input;
    }
  }
  // The bundled detector draws into a file whose name has a ':'.
  test::sh("cd " + test::q(dir.path()) + " && " + VIDINFER_BIN + " run -q --no-progress --every 30 --annotate 'boxes:1.mp4' " +
               timed + " >/dev/null 2>err.txt </dev/null",
           &r.rc);
  EXPECT_EQ(r.rc, 0) << slurp(dir.file("err.txt"));
  EXPECT_EQ(test::ffprobe_frames(dir.file("boxes:1.mp4")).size(), 60u);
}

TEST_F(Cli, SomeInputsFailExitOneAndTheRestAreWritten) {
  const std::string list = dir.file("list.txt");
  const std::string text = "# inputs\n" + test::media::h264_ts() + "\n" + dir.file("missing.mp4") + "\n\n" +
                           test::media::audio_only() + "\n";
  test::write_bytes(list, std::vector<uint8_t>(text.begin(), text.end()));
  for (const std::string streams : kStreamCounts) {
    SCOPED_TRACE(streams);
    auto r = vidinfer("run " + model() + " --max-frames 5 " + streams + "-o " + test::q(dir.file("out.jsonl")) +
                      " --summary " + test::q(dir.file("s.json")) + " --inputs-from " + test::q(list) + " " +
                      test::q(test::media::vp9_webm()));
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("vidinfer: error: " + dir.file("missing.mp4") + ": cannot open input: file not found\n"),
              std::string::npos) << r.err;
    EXPECT_NE(r.err.find("vidinfer: error: " + test::media::audio_only() + ": no video stream: the file has audio only\n"),
              std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
    Result f;
    f.out = slurp(dir.file("out.jsonl"));
    const auto lines = lines_by_input(f.lines());
    ASSERT_EQ(lines.size(), 2u);
    for (const auto& in : {test::media::vp9_webm(), test::media::h264_ts()}) {
      ASSERT_EQ(lines.at(in).size(), 5u) << in;
      for (int i = 0; i < 5; ++i) EXPECT_EQ(lines.at(in)[i].at("frame"), i) << in;
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.jsonl.tmp")));
    const auto records = records_by_input(f.records());  // one per input, failed ones too
    ASSERT_EQ(records.size(), 4u);
    EXPECT_EQ(records.at(test::media::vp9_webm()).at("status"), "ok");
    EXPECT_EQ(records.at(test::media::vp9_webm()).at("frames_processed"), 5);
    EXPECT_EQ(records.at(dir.file("missing.mp4")).at("status"), "failed");
    EXPECT_EQ(records.at(dir.file("missing.mp4")).at("error"), dir.file("missing.mp4") + ": cannot open input: file not found");
    EXPECT_EQ(records.at(test::media::audio_only()).at("status"), "failed");
    // The summary lists the inputs as given: positional ones first, then the list's.
    std::ifstream sf(dir.file("s.json"));
    const auto summary = nlohmann::json::parse(sf);
    ASSERT_EQ(summary.at("inputs").size(), 4u);
    EXPECT_EQ(summary.at("inputs")[0].at("input"), test::media::vp9_webm());
    EXPECT_EQ(summary.at("inputs")[1].at("input"), test::media::h264_ts());
    EXPECT_EQ(summary.at("inputs")[2].at("input"), dir.file("missing.mp4"));
    EXPECT_EQ(summary.at("inputs")[3].at("input"), test::media::audio_only());
  }
}

// --- --resume ---

TEST_F(Cli, ResumeRunsOnlyTheInputsNotCompleteInTheOutput) {
  const std::string a = test::media::h264_mp4(), b = test::media::vp9_webm(), c = test::media::h264_ts();
  for (const std::string streams : kStreamCounts) {
    SCOPED_TRACE(streams);
    const std::string m = model() + " --max-frames 5 " + streams;
    const std::string out = dir.file("out.jsonl"), ref = dir.file("ref.jsonl");
    std::filesystem::remove(out);
    ASSERT_EQ(vidinfer("run " + m + "-o " + test::q(ref) + " " + test::q(a) + " " + test::q(b) + " " + test::q(c)).rc, 0);
    auto r = vidinfer("run " + m + "-o " + test::q(out) + " " + test::q(a) + " " + test::q(b));
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::string first = slurp(out);
    r = vidinfer("run " + m + "--resume -o " + test::q(out) + " --summary " + test::q(dir.file("s.json")) + " " +
                 test::q(a) + " " + test::q(b) + " " + test::q(c));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("vidinfer: resuming " + out + ": 2 of 3 input(s) complete there already, 1 to run\n"),
              std::string::npos) << r.err;
    EXPECT_NE(r.err.find("vidinfer: 3 input(s), 1 ok, 0 failed, 2 skipped (--resume); 5 frames"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("  skip   " + a + ": complete in the output already\n"), std::string::npos) << r.err;
    std::ifstream sf(dir.file("s.json"));
    const auto summary = nlohmann::json::parse(sf);
    EXPECT_EQ(summary.at("frames"), 5);
    ASSERT_EQ(summary.at("inputs").size(), 3u);
    EXPECT_EQ(summary.at("inputs")[0].at("status"), "skipped");
    EXPECT_EQ(summary.at("inputs")[1].at("status"), "skipped");
    EXPECT_EQ(summary.at("inputs")[2].at("status"), "ok");
    EXPECT_EQ(summary.at("inputs")[2].at("input"), c);
    const std::string resumed = slurp(out);
    EXPECT_EQ(resumed.substr(0, first.size()), first) << "the earlier lines are kept as they were";
    // The same as one run over the three inputs, input by input (with several streams, one run
    // interleaves the inputs' lines, while here c's come after a's and b's).
    Result got, want;
    got.out = resumed;
    want.out = slurp(ref);
    EXPECT_EQ(lines_by_input(got.lines()), lines_by_input(want.lines()));
    EXPECT_EQ(records_by_input(got.records()), records_by_input(want.records()));
    EXPECT_EQ(got.all_lines().size(), want.all_lines().size());
    // Everything complete: nothing runs, the file stays the same.
    r = vidinfer("run " + m + "--resume -o " + test::q(out) + " " + test::q(a) + " " + test::q(c));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("2 of 2 input(s) complete there already, 0 to run"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(out), resumed);
  }
}

TEST_F(Cli, ResumeRunsFailedInputsAgainAndNeedsAnOutputFile) {
  const std::string a = test::media::h264_mp4(), missing = dir.file("later.mp4");
  const std::string m = model() + " --max-frames 3 ";
  const std::string out = dir.file("out.jsonl");
  auto r = vidinfer("run " + m + "-o " + test::q(out) + " " + test::q(a) + " " + test::q(missing));
  EXPECT_EQ(r.rc, 1);
  std::filesystem::copy_file(test::media::h264_ts(), missing);  // the missing input is there now
  r = vidinfer("run " + m + "--resume -o " + test::q(out) + " " + test::q(a) + " " + test::q(missing));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("1 of 2 input(s) complete there already, 1 to run"), std::string::npos) << r.err;
  Result f;
  f.out = slurp(out);
  const auto records = f.records();
  ASSERT_EQ(records.size(), 2u);  // the failed record is gone, replaced by the new run's
  EXPECT_EQ(records[0].at("input"), a);
  EXPECT_EQ(records[1].at("input"), missing);
  EXPECT_EQ(records[1].at("status"), "ok");
  EXPECT_EQ(f.lines().size(), 6u);

  r = vidinfer("run " + m + "--resume " + test::q(a));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "vidinfer: error: --resume needs -o FILE: it resumes the results already in that file\n");
  EXPECT_EQ(vidinfer("run " + m + "--resume -o - " + test::q(a)).rc, 2);
}

TEST_F(Cli, ResumeFromATruncatedOrDamagedOutput) {
  const std::string a = test::media::h264_mp4(), b = test::media::vp9_webm();
  const std::string m = model() + " --max-frames 4 ";
  const std::string out = dir.file("out.jsonl"), ref = dir.file("ref.jsonl");
  ASSERT_EQ(vidinfer("run " + m + "-o " + test::q(ref) + " " + test::q(a) + " " + test::q(b)).rc, 0);
  const std::string whole = slurp(ref);
  // Cut in the middle of b's third line: a is complete (its record is there), b is not.
  size_t cut = 0;
  for (int i = 0; i < 5 + 2; ++i) cut = whole.find('\n', cut) + 1;
  cut += 20;
  test::write_bytes(out, std::vector<uint8_t>(whole.begin(), whole.begin() + cut));
  auto r = vidinfer("run " + m + "--resume -o " + test::q(out) + " " + test::q(a) + " " + test::q(b));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("vidinfer: warning: the last line of " + out + " (line 8) is cut off and was dropped; its "
                       "input is run again\n"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 of 2 input(s) complete there already, 1 to run"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out), whole);

  // A damaged line in the middle: nothing runs and the file is left alone.
  std::string damaged = whole;
  damaged.replace(damaged.find('\n') + 1, 10, "\x01garbage\x02");
  test::write_bytes(out, std::vector<uint8_t>(damaged.begin(), damaged.end()));
  r = vidinfer("run " + m + "--resume -o " + test::q(out) + " " + test::q(a) + " " + test::q(b));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("vidinfer: error: " + out + ": cannot resume: line 2 is not valid JSON (the file is damaged; "
                       "remove it to start over)\n"),
            std::string::npos) << r.err;
  EXPECT_EQ(slurp(out), damaged);

  // Only a half-written OUT.tmp from a run that never finished: nothing to skip.
  std::filesystem::remove(out);
  test::write_bytes(out + ".tmp", std::vector<uint8_t>(whole.begin(), whole.begin() + cut));
  r = vidinfer("run " + m + "--resume -o " + test::q(out) + " " + test::q(a) + " " + test::q(b));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("0 of 2 input(s) complete there already, 2 to run"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out), whole);
}

TEST_F(Cli, OnErrorFailStopsAtTheFirstFailedInput) {
  const std::string good = test::media::h264_ts(), missing = dir.file("missing.mp4"), later = test::media::vp9_webm();
  const std::string stopped = "stopped after an earlier failure (--on-error fail)";
  for (const std::string streams : {"--streams 1 ", "", "--streams 4 "}) {
    SCOPED_TRACE(streams);
    auto r = vidinfer("run " + model() + " " + streams + "--on-error fail " + test::q(good) + " " + test::q(missing) +
                      " " + test::q(later));
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("vidinfer: error: " + missing + ": cannot open input: file not found\n"), std::string::npos)
        << r.err;
    // With one stream, the input before the failure is complete and the one after is not started.
    // With several, all three start together: the failure stops the others wherever they are, and
    // only results that came before it are written (of `good`, from its first frame on, in order).
    const auto lines = lines_by_input(r.lines());
    const auto records = records_by_input(r.records());
    for (const auto& [in, ls] : lines) {
      for (size_t i = 0; i < ls.size(); ++i) EXPECT_EQ(ls[i].at("frame"), i) << in;
      EXPECT_NE(in, missing);
    }
    for (const auto& in : {good, later}) {
      const bool ok = records.contains(in) && records.at(in).at("status") == "ok";
      const bool reported = r.err.find("vidinfer: error: " + in + ": " + stopped + ": ") != std::string::npos ||
                            r.err.find("vidinfer: error: " + in + ": not processed: " + stopped) != std::string::npos;
      EXPECT_TRUE(ok || reported) << in << "\n" << r.err;
    }
    if (streams == "--streams 1 ") {
      ASSERT_EQ(lines.size(), 1u);
      ASSERT_EQ(lines.at(good).size(), 60u);
      EXPECT_EQ(records.at(good).at("status"), "ok");
      EXPECT_NE(r.err.find("vidinfer: error: " + later + ": not processed: " + stopped), std::string::npos) << r.err;
    }
    EXPECT_EQ(records.at(missing).at("status"), "failed");
  }
  EXPECT_EQ(vidinfer("run " + model() + " --on-error maybe " + test::q(good)).rc, 2);
}

TEST_F(Cli, InterruptFinishesCleanlyWithTheResultsSoFar) {
  // 20 copies of the bundled sample (6400 frames), one frame per batch. SIGINT is sent once results
  // have started to reach the output (model loading may take a while on a GPU machine).
  std::string list;
  for (int i = 0; i < 20; ++i) list += std::string(VIDINFER_SAMPLE) + "\n";
  test::write_bytes(dir.file("list.txt"), std::vector<uint8_t>(list.begin(), list.end()));
  const std::string out = dir.file("out.jsonl");
  const std::string script = std::string(VIDINFER_BIN) + " run " + model() + " --batch 1 --inputs-from " +
                             test::q(dir.file("list.txt")) + " -o " + test::q(out) + " --summary " +
                             test::q(dir.file("s.json")) + " 2>" + test::q(dir.file("err")) + " & pid=$!; " +
                             "for i in $(seq 600); do [ -s " + test::q(out + ".tmp") + " ] && break; sleep 0.1; done; " +
                             "kill -INT $pid; wait $pid; echo rc=$?";
  const std::string status = test::sh(script);
  EXPECT_NE(status.find("rc=130"), std::string::npos) << status << slurp(dir.file("err"));
  Result f;
  f.out = slurp(out);
  const auto lines = f.lines();  // every line is whole JSON
  EXPECT_GT(lines.size(), 0u);
  EXPECT_LT(lines.size(), 6400u);
  std::ifstream s(dir.file("s.json"));
  const auto summary = nlohmann::json::parse(s);
  EXPECT_EQ(summary.at("interrupted"), true);
  EXPECT_EQ(summary.at("frames"), lines.size());
  EXPECT_NE(slurp(dir.file("err")).find("vidinfer: interrupted"), std::string::npos);
  EXPECT_NE(summary.at("inputs").back().at("error").get<std::string>().find("not processed: interrupted"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

// The same with several inputs decoded at once (--streams 3), then --resume: each input's lines are
// a gap-free prefix in frame order after the interrupt, and resuming gives every input's lines as one
// uninterrupted run does.
TEST_F(Cli, InterruptWithInputsAtOnceThenResumeCompletesThem) {
  std::vector<std::string> inputs;
  const auto sample = test::read_bytes(VIDINFER_SAMPLE);
  for (int i = 0; i < 6; ++i) {
    inputs.push_back(dir.file("in" + std::to_string(i) + ".mp4"));
    test::write_bytes(inputs.back(), sample);
  }
  std::string args;
  for (const auto& in : inputs) args += " " + test::q(in);
  const std::string m = "run " + model() + " --batch 1 --streams 3 ";
  const std::string out = dir.file("out.jsonl"), ref = dir.file("ref.jsonl");
  ASSERT_EQ(vidinfer(m + "-o " + test::q(ref) + args).rc, 0);
  const std::string script = std::string(VIDINFER_BIN) + " " + m + "-o " + test::q(out) + args + " 2>" +
                             test::q(dir.file("err")) + " & pid=$!; " + "for i in $(seq 600); do [ -s " +
                             test::q(out + ".tmp") + " ] && break; sleep 0.1; done; " +
                             "kill -INT $pid; wait $pid; echo rc=$?";
  const std::string status = test::sh(script);
  EXPECT_NE(status.find("rc=130"), std::string::npos) << status << slurp(dir.file("err"));
  // Lines per input, in file order.
  auto per_input = [&](const std::string& path) {
    Result f;
    f.out = slurp(path);
    std::map<std::string, std::vector<nlohmann::json>> by;
    for (auto& l : f.lines()) by[l.at("input").get<std::string>()].push_back(l);
    return by;
  };
  const auto cut = per_input(out);
  size_t total = 0;
  for (const auto& [in, lines] : cut) {
    for (size_t k = 0; k < lines.size(); ++k) EXPECT_EQ(lines[k].at("frame"), static_cast<int64_t>(k)) << in;
    total += lines.size();
  }
  EXPECT_LT(total, 6u * 320);
  auto r = vidinfer(m + "--resume -o " + test::q(out) + args);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto done = per_input(out), want = per_input(ref);
  ASSERT_EQ(done.size(), 6u);
  for (const auto& in : inputs) {
    ASSERT_EQ(done.at(in).size(), 320u) << in;
    EXPECT_EQ(done.at(in), want.at(in)) << in;
  }
}

TEST_F(Cli, ModelOutputThatDoesNotFitExitsOne) {
  test::make_identity_model(dir.file("id.pt"));
  auto r = vidinfer("run --model " + test::q(dir.file("id.pt")) + " --input-size 16 --batch 2 " +
                    test::q(test::media::h264_mp4()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(dir.file("id.pt") + ": model output does not fit task classify: expected a [2, classes] "
                                           "tensor, got Tensor[2, 3, 16, 16] Float"),
            std::string::npos) << r.err;
}

// No model, no input: the bundled COCO detector on the bundled sample (real photos: a bicycle, a
// giraffe, horses, people with kites, ...). `--task classify` picks the bundled colour classifier.
TEST_F(Cli, DefaultModelOnTheBundledSample) {
  auto r = vidinfer("run --every 40");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto lines = r.lines();
  ASSERT_EQ(lines.size(), 8u);  // 320 frames
  EXPECT_NE(lines[0].at("input").get<std::string>().find("sample.mp4"), std::string::npos);
  EXPECT_NE(r.err.find("CenterNet (MobileNetV3) COCO detector"), std::string::npos) << r.err;
  std::set<std::string> seen;
  for (const auto& l : lines)
    for (const auto& d : l.at("detections")) {
      EXPECT_GE(d.at("score").get<double>(), 0.3);
      seen.insert(d.at("label").get<std::string>());
    }
  for (const char* want : {"bicycle", "giraffe", "horse", "person", "dog"})
    EXPECT_TRUE(seen.count(want)) << "no " << want << " found in the sample";
  r = vidinfer("run --task classify --every 40 --topk 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("colour-naming classifier"), std::string::npos) << r.err;
  EXPECT_EQ(r.lines().at(0).at("classes").size(), 1u);
}

TEST_F(Cli, AnnotateUsageErrorsExitTwo) {
  const std::string clip = test::q(test::media::h264_mp4());
  auto r = vidinfer("run --annotate " + test::q(dir.file("a.mp4")) + " " + clip + " " + clip);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("2 inputs need one video each: put {name} in the path"), std::string::npos) << r.err;
  r = vidinfer("run --task classify --annotate " + test::q(dir.file("a.mp4")) + " " + clip);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--annotate needs --task detect"), std::string::npos) << r.err;
  r = vidinfer("run --annotate-frames " + test::q(dir.file("nope")) + " " + clip);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(dir.file("nope") + ": invalid --annotate-frames: not a directory"), std::string::npos) << r.err;
}

// import-tfjs end to end: the bundled TF.js detector converts; a broken file fails with one clear line.
TEST_F(Cli, ImportTfjs) {
  const std::string tfjs = VIDINFER_SOURCE_DIR "/models/centernet/tfjs/centernet.json";
  auto r = vidinfer("import-tfjs " + test::q(tfjs) + " " + test::q(dir.file("c.pt")) +
                    " --output tower_0/keypoints --output tower_0/wh");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_GT(test::read_bytes(dir.file("c.pt")).size(), 1000000u);
  test::write_bytes(dir.file("broken.json"), {'{', '}'});
  r = vidinfer("import-tfjs " + test::q(dir.file("broken.json")) + " " + test::q(dir.file("d.pt")));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("vidinfer: error: " + dir.file("broken.json") + ": cannot import TF.js model: no modelTopology"),
            std::string::npos) << r.err;
}

TEST_F(Cli, ProgressBarOnlyOnATerminal) {
  // util-linux `script` gives the command a pseudo-terminal.
  int rc = 0;
  test::sh("command -v script", &rc);
  if (rc != 0) GTEST_SKIP() << "util-linux 'script' is not installed";
  const std::string cmd = std::string(VIDINFER_BIN) + " run " + model() + " --batch 1 -o " +
                          test::q(dir.file("o.jsonl")) + " " + test::q(test::media::h264_mp4());
  const std::string tty = test::sh("script -qec " + test::q(cmd) + " /dev/null", &rc);
  EXPECT_EQ(rc, 0) << tty;
  EXPECT_NE(tty.find("\r\033[K["), std::string::npos) << "a progress bar is drawn on a terminal";
  EXPECT_NE(tty.find("60 frames"), std::string::npos) << tty;
  const auto plain = vidinfer("run " + model() + " --batch 1 -o " + test::q(dir.file("o.jsonl")) + " " +
                              test::q(test::media::h264_mp4()));
  EXPECT_EQ(plain.err.find('\r'), std::string::npos) << "none when stderr is not a terminal";
  const auto off = test::sh("script -qec " + test::q(cmd + " --no-progress") + " /dev/null", &rc);
  EXPECT_EQ(off.find("\033[K["), std::string::npos);
}

TEST_F(Cli, ProbeJsonMatchesFfprobe) {
  const std::string clip = test::media::hevc10_mkv();
  auto r = vidinfer("probe --json " + test::q(clip) + " " + test::q(dir.file("missing.mkv")));
  EXPECT_EQ(r.rc, 1);
  const auto lines = r.lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto ref = test::ffprobe_stream(clip);
  const auto& p = lines[0];
  EXPECT_EQ(p.at("codec"), ref.at("codec_name"));
  EXPECT_EQ(p.at("width"), ref.at("width"));
  EXPECT_EQ(p.at("pixel_format"), "yuv420p10le");
  EXPECT_EQ(p.at("bit_depth"), 10);
  EXPECT_EQ(p.at("frame_count"), 60);
  EXPECT_TRUE(p.at("gpu_decode").is_boolean());
  for (const char* k : {"container", "profile", "frame_rate", "duration", "color_matrix", "color_range",
                        "color_primaries", "rotation", "gpu_decode_reason"})
    EXPECT_TRUE(p.contains(k)) << k;
  EXPECT_EQ(r.err, "vidinfer: error: " + dir.file("missing.mkv") + ": cannot open input: file not found\n");
  r = vidinfer("probe " + test::q(clip));
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("gpu decode"), std::string::npos);
}

}  // namespace
}  // namespace vidinfer
