// `options` coercion (§2): Ollama's FromMap rules and its status-500 type errors.
#include <gtest/gtest.h>

#include "api/go_json.h"
#include "api/options.h"
#include "api_test_util.h"

namespace ollmlx::api {
namespace {

Options opts(const char* json) { return decode_options(parse_go_json(json), "GenerateRequest"); }

TEST(Options, IntegersAcceptAnyNumberTruncated) {
  const Options o = opts(R"({"num_ctx": 4096, "num_predict": 10.9, "seed": -3.7, "top_k": 1e2})");
  EXPECT_EQ(o.num_ctx, 4096);
  EXPECT_EQ(o.num_predict, 10);
  EXPECT_EQ(o.seed, -3);
  EXPECT_EQ(o.top_k, 100);
  EXPECT_FALSE(o.num_batch.has_value());
  EXPECT_EQ(opts(R"({"num_ctx": 1e30})").num_ctx, INT64_MAX);
}

TEST(Options, FloatsBoolsAndStop) {
  const Options o = opts(
      R"({"temperature": 0, "top_p": 0.9, "min_p": 1, "repeat_penalty": 1.1,
          "use_mmap": false, "stop": ["\n", "User:"]})");
  EXPECT_EQ(o.temperature, 0.0);
  EXPECT_EQ(o.top_p, 0.9);
  EXPECT_EQ(o.min_p, 1.0);
  EXPECT_EQ(o.repeat_penalty, 1.1);
  EXPECT_EQ(o.use_mmap, false);
  ASSERT_TRUE(o.stop.has_value());
  EXPECT_EQ(*o.stop, (std::vector<std::string>{"\n", "User:"}));
}

TEST(Options, NullSkippedUnknownCollected) {
  const Options o = opts(R"({"num_ctx": null, "mirostat": 2, "f16_kv": true, "stop": null,
                             "draft_num_predict": 4, "num_gpu": 0})");
  EXPECT_FALSE(o.num_ctx.has_value());
  EXPECT_FALSE(o.stop.has_value());
  EXPECT_EQ(o.draft_num_predict, 4);
  EXPECT_EQ(o.num_gpu, 0);
  EXPECT_EQ(o.ignored, (std::vector<std::string>{"mirostat", "f16_kv"}));
  EXPECT_TRUE(opts("null").ignored.empty());
  EXPECT_TRUE(opts("{}").ignored.empty());
}

TEST(Options, WrongTypesAreStatus500) {
  EXPECT_API_ERROR(opts(R"({"num_ctx": "4096"})"), 500,
                   "option \"num_ctx\" must be of type integer");
  EXPECT_API_ERROR(opts(R"({"temperature": "hot"})"), 500,
                   "option \"temperature\" must be of type float32");
  EXPECT_API_ERROR(opts(R"({"use_mmap": 1})"), 500, "option \"use_mmap\" must be of type boolean");
  EXPECT_API_ERROR(opts(R"({"stop": "x"})"), 500, "option \"stop\" must be of type array");
  EXPECT_API_ERROR(opts(R"({"stop": ["a", 1]})"), 500,
                   "option \"stop\" must be of an array of strings");
  EXPECT_API_ERROR(opts(R"({"seed": true})"), 500, "option \"seed\" must be of type integer");
}

TEST(Options, NonObjectIsADecodeError) {
  EXPECT_API_ERROR(opts("[1]"), 400,
                   "json: cannot unmarshal array into Go struct field GenerateRequest.options of "
                   "type map[string]interface {}");
}

}  // namespace
}  // namespace ollmlx::api
