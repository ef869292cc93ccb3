#include <gtest/gtest.h>

#include "cli/views.h"

namespace ollmlx::cli {
namespace {

const Instant kNow = *parse_rfc3339("2025-06-01T12:00:00Z");

TEST(Views, List) {
  const Json tags = Json::parse(R"({"models":[
    {"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-05-30T05:00:00-07:00",
     "size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
     "details":{}},
    {"name":"mlx-community/SmolLM2-135M-Instruct-4bit:latest","modified_at":"2025-06-01T11:59:30Z",
     "size":75000000,"digest":"0123456789abcdef","details":{}}]})");
  EXPECT_EQ(render_list(tags, "", kNow),
            "NAME                                               ID              SIZE      MODIFIED          \n"
            "llama3.2:latest                                    a80c4f17acd5    2.0 GB    2 days ago        \n"
            "mlx-community/SmolLM2-135M-Instruct-4bit:latest    0123456789ab    75 MB     30 seconds ago    \n");
  // The prefix filter is case-insensitive.
  EXPECT_EQ(render_list(tags, "LLAMA", kNow),
            "NAME               ID              SIZE      MODIFIED      \n"
            "llama3.2:latest    a80c4f17acd5    2.0 GB    2 days ago    \n");
  EXPECT_EQ(render_list(Json::parse(R"({"models":[]})"), "", kNow), "NAME    ID    SIZE    MODIFIED    \n");
}

TEST(Views, Ps) {
  const Json ps = Json::parse(R"({"models":[
    {"name":"tiny:latest","model":"tiny:latest","size":285767,"digest":"bdbd181c33f2aaaa",
     "expires_at":"2025-06-01T12:04:59.5Z","size_vram":0,"context_length":2048},
    {"name":"big:latest","model":"big:latest","size":9600000000,"digest":"0000111122223333",
     "expires_at":"2318-01-01T00:00:00Z","size_vram":9600000000,"context_length":4096},
    {"name":"old:latest","model":"old:latest","size":1000,"digest":"aaaabbbbccccdddd",
     "expires_at":"2025-06-01T11:00:00Z","size_vram":500,"context_length":8}]})");
  EXPECT_EQ(render_ps(ps, "", kNow),
            "NAME           ID              SIZE      PROCESSOR          CONTEXT    UNTIL                 \n"
            "tiny:latest    bdbd181c33f2    285 KB    100% CPU           2048       4 minutes from now    \n"
            "big:latest     000011112222    9.6 GB    100% GPU           4096       Forever               \n"
            "old:latest     aaaabbbbcccc    1 KB      50%/50% CPU/GPU    8          Stopping...           \n");
  EXPECT_EQ(render_ps(ps, "ti", kNow).find("big"), std::string::npos);
}

TEST(Views, PsNamesTheBackend) {
  // /api/ps "backend" (ollmlx extension): shown after the PROCESSOR when it is not the native cpu.
  const Json ps = Json::parse(R"({"models":[
    {"name":"a:latest","model":"a:latest","size":1000,"digest":"aaaabbbbccccdddd",
     "expires_at":"2025-06-01T12:04:59.5Z","size_vram":0,"context_length":8,"backend":"mlx"},
    {"name":"b:latest","model":"b:latest","size":1000,"digest":"aaaabbbbccccdddd",
     "expires_at":"2025-06-01T12:04:59.5Z","size_vram":0,"context_length":8,"backend":"cpu"}]})");
  const std::string out = render_ps(ps, "", kNow);
  EXPECT_NE(out.find("100% CPU (mlx)"), std::string::npos) << out;
  EXPECT_EQ(out.find("(cpu)"), std::string::npos) << out;
}

TEST(Views, ShowInfo) {
  const Json show = Json::parse(R"({
    "parameters":"temperature                    0\nstop                           \"<|im_end|>\"",
    "system":"You are a pirate.\nAlways answer in rhymes.\nNever break character.",
    "license":"MIT",
    "details":{"parent_model":"","format":"safetensors","family":"llama","families":null,
               "parameter_size":"134.52M","quantization_level":"Q4"},
    "model_info":{"general.architecture":"llama","general.parameter_count":134515008,
                  "llama.context_length":8192,"llama.embedding_length":576},
    "capabilities":["completion","tools"]})");
  EXPECT_EQ(render_show_info(show, false),
            "  Model\n"
            "    architecture        llama      \n"
            "    parameters          134.52M    \n"
            "    context length      8192       \n"
            "    embedding length    576        \n"
            "    quantization        Q4         \n"
            "\n"
            "  Capabilities\n"
            "    completion    \n"
            "    tools         \n"
            "\n"
            "  Parameters\n"
            "    temperature    0               \n"
            "    stop           \"<|im_end|>\"    \n"
            "\n"
            "  System\n"
            "    You are a pirate.           \n"
            "    Always answer in rhymes.    \n"
            "    ...                         \n"
            "\n"
            "  License\n"
            "    MIT    \n"
            "\n");
}

TEST(Views, ShowVerboseMetadata) {
  const Json show = Json::parse(R"({
    "details":{"parameter_size":"1B","quantization_level":"BF16"},
    "model_info":{"general.architecture":"qwen2","qwen2.rope.freq_base":1000000,
                  "general.tags":[1,2,3,4,5,6,7],"qwen2.norm_eps":1e-06,"flag":true}})");
  const std::string out = render_show_info(show, true);
  EXPECT_NE(out.find("  Metadata\n"), std::string::npos);
  EXPECT_NE(out.find("    flag                    true"), std::string::npos);
  EXPECT_NE(out.find("    general.tags            [1 2 3 ...+4 more]"), std::string::npos);
  EXPECT_NE(out.find("    qwen2.norm_eps          1e-06"), std::string::npos);
  EXPECT_NE(out.find("    qwen2.rope.freq_base    1e+06"), std::string::npos);
}

TEST(Views, GoG) {
  EXPECT_EQ(go_g(2048), "2048");
  EXPECT_EQ(go_g(131072), "131072");
  EXPECT_EQ(go_g(1e6), "1e+06");
  EXPECT_EQ(go_g(1234567), "1.234567e+06");
  EXPECT_EQ(go_g(1e-5), "1e-05");
  EXPECT_EQ(go_g(0.0001), "0.0001");
  EXPECT_EQ(go_g(0.5), "0.5");
  EXPECT_EQ(go_g(0), "0");
}

}  // namespace
}  // namespace ollmlx::cli
