// Native response encoding: generate/chat chunks and final objects (field order, omitempty,
// nanosecond metrics), stream:false aggregation, load/unload and debug answers, tags/show/ps.
#include <gtest/gtest.h>

#include <regex>

#include "api/completion_format.h"
#include "api/encode.h"
#include "api/go_json.h"
#include "api/time_format.h"

namespace ollmlx::api {
namespace {

// created_at varies; replace it with a fixed marker after checking its shape.
std::string stable(std::string s) {
  static const std::regex ts(R"re("created_at":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)")re");
  std::smatch m;
  EXPECT_TRUE(std::regex_search(s, m, ts)) << s;
  return std::regex_replace(s, ts, "\"created_at\":\"T\"");
}

CompletionRequest req(CompletionRequest::Kind kind) {
  CompletionRequest r;
  r.kind = kind;
  r.model = "llama3.2";
  return r;
}

CompletionResult result() {
  CompletionResult r;
  r.done_reason = "stop";
  r.prompt_eval_count = 26;
  r.eval_count = 282;
  r.total_duration = std::chrono::nanoseconds(4935886791);
  r.load_duration = std::chrono::nanoseconds(534986708);
  r.prompt_eval_duration = std::chrono::nanoseconds(107345000);
  r.eval_duration = std::chrono::nanoseconds(4289432000);
  return r;
}

TEST(NativeFormat, GenerateChunksAndFinal) {
  auto f = native_format(req(CompletionRequest::Kind::Generate));
  EXPECT_EQ(f->stream_content_type(), "application/x-ndjson");
  CompletionChunk c;
  c.content = "The <sky>";
  EXPECT_EQ(stable(f->chunk(c)),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"The \\u003csky\\u003e\","
            "\"done\":false}\n");
  CompletionChunk t;
  t.thinking = "hmm";
  EXPECT_EQ(stable(f->chunk(t)),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"\",\"thinking\":\"hmm\","
            "\"done\":false}\n");
  CompletionResult r = result();
  r.context = {1, 2};
  EXPECT_EQ(stable(f->finish(r)),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"\",\"done\":true,"
            "\"done_reason\":\"stop\",\"context\":[1,2],\"total_duration\":4935886791,"
            "\"load_duration\":534986708,\"prompt_eval_count\":26,"
            "\"prompt_eval_duration\":107345000,\"eval_count\":282,\"eval_duration\":4289432000}"
            "\n");
}

TEST(NativeFormat, ChatChunksAndFinal) {
  auto f = native_format(req(CompletionRequest::Kind::Chat));
  CompletionChunk c;
  c.content = "Hi";
  EXPECT_EQ(stable(f->chunk(c)),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"message\":{\"role\":\"assistant\","
            "\"content\":\"Hi\"},\"done\":false}\n");
  CompletionChunk tc;
  tc.tool_calls = Json::parse(
      R"([{"id":"call_ab12cd34","function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}])");
  TokenLogprob lp;
  lp.token = "Hi";
  lp.logprob = -0.25;
  lp.bytes = {72, 105};
  lp.top = {{"Hi", -0.25, {72, 105}}, {"Hey", -1.5, {}}};
  tc.logprobs = {lp};
  EXPECT_EQ(stable(f->chunk(tc)),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"message\":{\"role\":\"assistant\","
            "\"content\":\"\",\"tool_calls\":[{\"id\":\"call_ab12cd34\",\"function\":{\"index\":0,"
            "\"name\":\"get_weather\",\"arguments\":{\"city\":\"Tokyo\"}}}]},\"done\":false,"
            "\"logprobs\":[{\"token\":\"Hi\",\"logprob\":-0.25,\"bytes\":[72,105],"
            "\"top_logprobs\":[{\"token\":\"Hi\",\"logprob\":-0.25,\"bytes\":[72,105]},"
            "{\"token\":\"Hey\",\"logprob\":-1.5}]}]}\n");
  EXPECT_EQ(stable(f->finish(result())),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"message\":{\"role\":\"assistant\","
            "\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
            "\"total_duration\":4935886791,"
            "\"load_duration\":534986708,\"prompt_eval_count\":26,"
            "\"prompt_eval_duration\":107345000,\"eval_count\":282,\"eval_duration\":4289432000}"
            "\n");
}

TEST(NativeFormat, ZeroMetricsAreOmitted) {
  auto f = native_format(req(CompletionRequest::Kind::Generate));
  CompletionResult r;
  r.done_reason = "length";
  r.eval_count = 3;
  EXPECT_EQ(stable(f->finish(r)),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"\",\"done\":true,"
            "\"done_reason\":\"length\",\"eval_count\":3}\n");
}

TEST(NativeFormat, WholeAggregatesEverything) {
  auto f = native_format(req(CompletionRequest::Kind::Generate));
  CompletionChunk a, b;
  a.content = "Hel";
  a.thinking = "t1";
  a.logprobs = {{"Hel", -0.5, {}, {}}};
  b.content = "lo";
  b.thinking = "t2";
  b.logprobs = {{"lo", -0.125, {}, {}}};
  f->add(a);
  f->add(b);
  const Body body = f->whole(result());
  EXPECT_EQ(body.status, 200);
  EXPECT_EQ(body.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(stable(body.data),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"Hello\","
            "\"thinking\":\"t1t2\",\"done\":true,\"done_reason\":\"stop\","
            "\"total_duration\":4935886791,\"load_duration\":534986708,\"prompt_eval_count\":26,"
            "\"prompt_eval_duration\":107345000,\"eval_count\":282,\"eval_duration\":4289432000,"
            "\"logprobs\":[{\"token\":\"Hel\",\"logprob\":-0.5},{\"token\":\"lo\","
            "\"logprob\":-0.125}]}");
}

TEST(NativeFormat, ChatWholeConcatenatesToolCalls) {
  auto f = native_format(req(CompletionRequest::Kind::Chat));
  CompletionChunk a, b;
  a.tool_calls = Json::parse(R"([{"function":{"name":"f","arguments":{}}}])");
  b.tool_calls = Json::parse(R"([{"function":{"name":"g","arguments":{"x":1}}}])");
  f->add(a);
  f->add(b);
  CompletionResult r;
  r.done_reason = "stop";
  EXPECT_EQ(stable(f->whole(r).data),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"message\":{\"role\":\"assistant\","
            "\"content\":\"\",\"tool_calls\":[{\"function\":{\"index\":0,\"name\":\"f\","
            "\"arguments\":{}}},{\"function\":{\"index\":1,\"name\":\"g\",\"arguments\":{\"x\":1}}}"
            "]},\"done\":true,\"done_reason\":\"stop\"}");
}

TEST(NativeFormat, LoadUnloadAndDebugAreSingleObjects) {
  auto g = native_format(req(CompletionRequest::Kind::Generate));
  CompletionResult load;
  load.done_reason = "load";
  auto body = g->immediate(load);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->content_type, "application/json; charset=utf-8");
  EXPECT_EQ(stable(body->data),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"\",\"done\":true,"
            "\"done_reason\":\"load\"}");
  auto c = native_format(req(CompletionRequest::Kind::Chat));
  CompletionResult unload;
  unload.done_reason = "unload";
  EXPECT_EQ(stable(c->immediate(unload)->data),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"message\":{\"role\":\"assistant\","
            "\"content\":\"\"},\"done\":true,\"done_reason\":\"unload\"}");
  EXPECT_FALSE(c->immediate(result()).has_value());
  CompletionResult dbg;
  dbg.rendered = "<|user|>hi";
  dbg.image_count = 1;
  EXPECT_EQ(stable(g->immediate(dbg)->data),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"response\":\"\",\"done\":false,"
            "\"_debug_info\":{\"rendered_template\":\"\\u003c|user|\\u003ehi\","
            "\"image_count\":1}}");
  EXPECT_EQ(stable(c->immediate(dbg)->data),
            "{\"model\":\"llama3.2\",\"created_at\":\"T\",\"message\":{\"role\":\"\","
            "\"content\":\"\"},\"done\":false,\"_debug_info\":{\"rendered_template\":"
            "\"\\u003c|user|\\u003ehi\",\"image_count\":1}}");
}

TEST(NativeFormat, Errors) {
  auto f = native_format(req(CompletionRequest::Kind::Chat));
  const Body e = f->error(404, "model 'x' not found");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(e.data, "{\"error\":\"model 'x' not found\"}");
  EXPECT_EQ(f->stream_error(500, "boom <x>"), "{\"error\":\"boom \\u003cx\\u003e\"}\n");
}

Clock::time_point at(int64_t unix_s) { return Clock::time_point(std::chrono::seconds(unix_s)); }

TEST(Encode, VersionAndErrors) {
  EXPECT_EQ(encode_version("0.12.6"), "{\"version\":\"0.12.6\"}");
  EXPECT_EQ(encode_error("a \"b\""), "{\"error\":\"a \\\"b\\\"\"}");
}

TEST(Encode, TagsNewestFirstNeverNull) {
  EXPECT_EQ(encode_tags({}), "{\"models\":[]}");
  setenv("TZ", "UTC", 1);
  tzset();
  ModelEntry a, b;
  a.name = "old:latest";
  a.modified_at = at(1000);
  a.size = 5;
  a.digest = std::string(64, 'a');
  a.details.family = "llama";
  a.details.families = {"llama"};
  a.details.parameter_size = "1B";
  a.details.quantization_level = "4bit";
  b.name = "mlx-community/new:latest";
  b.modified_at = at(2000);
  b.capabilities = {"completion", "tools"};
  EXPECT_EQ(encode_tags({a, b}),
            "{\"models\":[{\"name\":\"mlx-community/new:latest\",\"model\":"
            "\"mlx-community/new:latest\",\"modified_at\":\"1970-01-01T00:33:20Z\",\"size\":0,"
            "\"digest\":\"\",\"details\":{\"parent_model\":\"\",\"format\":\"safetensors\","
            "\"family\":\"\",\"families\":null,\"parameter_size\":\"\","
            "\"quantization_level\":\"\"},"
            "\"capabilities\":[\"completion\",\"tools\"]},{\"name\":\"old:latest\",\"model\":"
            "\"old:latest\",\"modified_at\":\"1970-01-01T00:16:40Z\",\"size\":5,\"digest\":\"" +
                std::string(64, 'a') +
                "\",\"details\":{\"parent_model\":\"\",\"format\":\"safetensors\",\"family\":"
                "\"llama\",\"families\":[\"llama\"],\"parameter_size\":\"1B\","
                "\"quantization_level\":\"4bit\"}}]}");
}

TEST(Encode, ShowModelInfoSortedAndNeverNull) {
  setenv("TZ", "UTC", 1);
  tzset();
  ModelShow s;
  s.template_text = "{{ .Prompt }}";
  s.parameters = "stop                           \"<|eot_id|>\"";
  s.model_info = Json::parse(R"({"llama.context_length":131072,"general.architecture":"llama"})");
  s.capabilities = {"completion"};
  s.modified_at = at(0);
  EXPECT_EQ(encode_show(s),
            "{\"parameters\":\"stop                           \\\"\\u003c|eot_id|\\u003e\\\"\","
            "\"template\":\"{{ .Prompt }}\",\"details\":{\"parent_model\":\"\",\"format\":"
            "\"safetensors\",\"family\":\"\",\"families\":null,\"parameter_size\":\"\","
            "\"quantization_level\":\"\"},\"model_info\":{\"general.architecture\":\"llama\","
            "\"llama.context_length\":131072},\"capabilities\":[\"completion\"],"
            "\"modified_at\":\"1970-01-01T00:00:00Z\"}");
  ModelShow empty;
  empty.model_info = Json();
  empty.modified_at = at(0);
  const std::string e = encode_show(empty, "custom system");
  EXPECT_NE(e.find("\"model_info\":{}"), std::string::npos);
  EXPECT_NE(e.find("\"system\":\"custom system\""), std::string::npos);
}

TEST(Encode, PsLatestExpiryFirst) {
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(encode_ps({}), "{\"models\":[]}");
  RunningModel a, b;
  a.name = "a:latest";
  a.expires_at = at(10);
  a.size = a.size_vram = 100;
  a.context_length = 4096;
  a.backend = "cpu";
  b.name = "b:latest";
  b.expires_at = at(20);
  const std::string out = encode_ps({a, b});
  EXPECT_LT(out.find("b:latest"), out.find("a:latest"));
  EXPECT_NE(out.find("{\"name\":\"a:latest\",\"model\":\"a:latest\",\"size\":100,\"digest\":\"\","
                     "\"details\":{"),
            std::string::npos);
  EXPECT_NE(out.find("\"expires_at\":\"1970-01-01T00:00:10Z\",\"size_vram\":100,"
                     "\"context_length\":4096,\"backend\":\"cpu\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace ollmlx::api
