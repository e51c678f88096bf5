#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "output/json.h"
#include "support.h"

namespace vidinfer {
namespace {

TEST(Json, ClassificationFrameSchema) {
  FrameResult r;
  r.input = "a.mp4";
  r.frame_index = 7;
  r.pts = 0.1 + 0.2;  // not exactly 0.3 in binary
  r.width = 640;
  r.height = 360;
  r.classes = {{3, "cat", 0.91234567f}, {1, "", 0.05f}};
  const auto j = to_json(r, Task::Classify);
  EXPECT_EQ(j.dump(), R"({"input":"a.mp4","frame":7,"pts":0.3,"width":640,"height":360,"classes":[)"
                      R"({"class_id":3,"label":"cat","score":0.912346},{"class_id":1,"label":null,"score":0.05}]})");
}

TEST(Json, DetectionFrameSchema) {
  FrameResult r;
  r.input = "b.ts";
  r.detections = {{1.234f, 2.f, 30.5f, 40.f, 0.5f, 0, "person"}};
  const auto j = to_json(r, Task::Detect);
  EXPECT_EQ(j.at("detections").dump(), R"([{"box":[1.23,2.0,30.5,40.0],"score":0.5,"class_id":0,"label":"person"}])");
  FrameResult empty;
  EXPECT_EQ(to_json(empty, Task::Detect).at("detections").dump(), "[]");
}

TEST(Json, SummarySchema) {
  RunSummary s;
  s.frames = 10;
  s.seconds = 2;
  s.fps = 5;
  s.device = "cpu";
  s.inputs.push_back({"a.mp4", InputStatus::Ok, "", "", "cpu", 10, 10, 0, 2});
  s.inputs.push_back({"b.mp4", InputStatus::Failed, "b.mp4: cannot open input: file not found", "", "", 0, 0, 0, 0});
  const auto j = to_json(s);
  EXPECT_EQ(j.at("inputs_failed"), 1);
  EXPECT_EQ(j.at("inputs").at(1).at("status"), "failed");
  EXPECT_EQ(j.at("inputs").at(1).at("error"), "b.mp4: cannot open input: file not found");
  EXPECT_FALSE(j.at("inputs").at(0).contains("error"));
  for (const char* k : {"demux", "decode", "preprocess", "infer", "postprocess"})
    EXPECT_TRUE(j.at("stages_seconds").contains(k)) << k;
}

TEST(Json, EndOfInputRecordSchema) {
  const InputSummary ok{"a.mp4", InputStatus::Ok, "", "", "cpu (libavcodec h264, 2 threads)", 60, 30, 1, 0.5};
  EXPECT_EQ(end_of_input_record(ok).dump(), R"({"input":"a.mp4","end_of_input":true,"status":"ok",)"
                                            R"("frames_decoded":60,"frames_processed":30,"packets_corrupt":1})");
  const InputSummary bad{"b.mp4", InputStatus::Failed, "b.mp4: decoding failed: no frame could be decoded",
                         "read error after frame 0: End of file", "", 0, 0, 0, 0};
  EXPECT_EQ(end_of_input_record(bad).dump(),
            R"({"input":"b.mp4","end_of_input":true,"status":"failed","frames_decoded":0,"frames_processed":0,)"
            R"("packets_corrupt":0,"error":"b.mp4: decoding failed: no frame could be decoded",)"
            R"("warning":"read error after frame 0: End of file"})");
  RunSummary s;
  s.inputs.push_back({"c.mp4", InputStatus::Skipped, "", "", "", 0, 0, 0, 0});
  EXPECT_EQ(to_json(s).at("inputs").at(0).at("status"), "skipped");
  EXPECT_EQ(to_json(s).at("inputs_failed"), 0);
}

TEST(JsonlWriter, WritesLinesAsGiven) {
  test::TempDir dir;
  const std::string path = dir.file("out.jsonl");
  JsonlWriter w(path);
  w.write_line(R"({"input":"a.mp4", "kept": 1.50})");
  w.write_line(json_line({{"b", 2}}));
  w.close();
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "{\"input\":\"a.mp4\", \"kept\": 1.50}\n{\"b\":2}\n");
}

TEST(JsonlWriter, AppearsUnderItsNameOnlyWhenClosed) {
  test::TempDir dir;
  const std::string path = dir.file("out.jsonl");
  {
    JsonlWriter w(path);
    w.write_line(json_line({{"a", 1}}));
    EXPECT_FALSE(std::filesystem::exists(path));
    w.close();
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, R"({"a":1})");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  {
    JsonlWriter w(dir.file("abandoned.jsonl"));
    w.write_line(json_line({{"a", 1}}));
  }  // not closed: nothing is left behind
  EXPECT_FALSE(std::filesystem::exists(dir.file("abandoned.jsonl")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("abandoned.jsonl.tmp")));
}

}  // namespace
}  // namespace vidinfer
