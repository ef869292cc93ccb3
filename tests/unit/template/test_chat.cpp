// Chat templates of a model directory: transformers' loading precedence, template selection
// with tools, and apply_chat_template's message normalization.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "template/chat.h"
#include "template_test_util.h"
#include "util/error.h"

namespace ollmlx::tmpl::test {
namespace {

namespace fs = std::filesystem;

class ChatDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ollmlx_chat_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  std::string dir() const { return dir_.string(); }

  fs::path dir_;
};

const ordered_json kUser = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");

TEST_F(ChatDir, NoTemplate) {
  write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  const ChatTemplates t = load_chat_templates(dir());
  EXPECT_TRUE(t.empty());
  EXPECT_THROW(render_chat(t, kUser, nullptr, false, nullptr), ollmlx::Error);
}

TEST_F(ChatDir, TokenizerConfigString) {
  write("tokenizer_config.json",
        R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"
           })");
  const ChatTemplates t = load_chat_templates(dir());
  ASSERT_EQ(t.sources.size(), 1u);
  EXPECT_EQ(t.special_tokens.dump(), R"({"bos_token":"<s>","eos_token":"</s>"})");
  EXPECT_EQ(render_chat(t, kUser, nullptr, false, nullptr), "<s>hi");
  // Extra kwargs override the special tokens.
  EXPECT_EQ(render_chat(t, kUser, nullptr, false, {{"bos_token", "[B]"}}), "[B]hi");
}

TEST_F(ChatDir, JinjaFileWinsOverConfig) {
  write("tokenizer_config.json", R"({"chat_template": "from config"})");
  write("chat_template.jinja", "from file\n");
  const ChatTemplates t = load_chat_templates(dir());
  EXPECT_EQ(render_chat(t, kUser, nullptr, false, nullptr), "from file");
}

TEST_F(ChatDir, NamedTemplatesAndToolUse) {
  write("tokenizer_config.json",
        R"({"chat_template": [{"name": "default", "template": "plain"},
                              {"name": "tool_use", "template": "tools={{ tools|length }}"}]})");
  const ChatTemplates t = load_chat_templates(dir());
  EXPECT_EQ(t.select(false), "default");
  EXPECT_EQ(t.select(true), "tool_use");
  EXPECT_EQ(render_chat(t, kUser, nullptr, false, nullptr), "plain");
  EXPECT_EQ(render_chat(t, kUser, ordered_json::array({{{"type", "function"}}}), false, nullptr),
            "tools=1");
}

TEST_F(ChatDir, AdditionalTemplateFiles) {
  write("chat_template.jinja", "default");
  write("additional_chat_templates/tool_use.jinja", "with tools");
  write("tokenizer_config.json", R"({"chat_template": "ignored"})");
  const ChatTemplates t = load_chat_templates(dir());
  EXPECT_EQ(t.sources.size(), 2u);
  EXPECT_EQ(render_chat(t, kUser, ordered_json::array(), false, nullptr), "with tools");
  EXPECT_EQ(render_chat(t, kUser, nullptr, false, nullptr), "default");
}

TEST_F(ChatDir, NoDefaultAmongSeveral) {
  write("tokenizer_config.json",
        R"({"chat_template": [{"name": "a", "template": "A"}, {"name": "b", "template": "B"}]})");
  const ChatTemplates t = load_chat_templates(dir());
  EXPECT_THROW(t.select(false), ollmlx::Error);
}

TEST_F(ChatDir, ProcessorChatTemplateJsonIsAFallback) {
  write("chat_template.json", R"({"chat_template": "processor"})");
  EXPECT_EQ(render_chat(load_chat_templates(dir()), kUser, nullptr, false, nullptr), "processor");
}

TEST_F(ChatDir, BrokenTemplateFailsWhenUsed) {
  write("chat_template.jinja", "{% if %}");
  const ChatTemplates t = load_chat_templates(dir());
  try {
    render_chat(t, kUser, nullptr, false, nullptr);
    FAIL() << "expected a syntax error";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.kind(), TemplateError::Kind::Syntax);
  }
}

TEST_F(ChatDir, MalformedConfigIsAnError) {
  write("tokenizer_config.json", "{not json");
  EXPECT_THROW(load_chat_templates(dir()), ollmlx::Error);
}

TEST(ChatRender, NormalizesMessagesLikeTransformers) {
  const Template t = Template::parse(
      "{% for m in messages %}{{ m|tojson }}\n{% endfor %}{{ tools }}|{{ documents }}|{{ "
      "add_generation_prompt }}|{{ enable_thinking }}");
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "user", "content": "q", "tool_calls": null},
    {"role": "assistant", "content": "a", "reasoning_content": "r"},
    {"role": "assistant", "thinking": "t", "content": "b"},
    {"role": "assistant", "content": "c", "reasoning": "x"}])");
  EXPECT_EQ(
      render_chat_source(t, messages, nullptr, true, {{"enable_thinking", false}}, test_options()),
      "{\"role\": \"user\", \"content\": \"q\"}\n"
      "{\"thinking\": \"r\", \"role\": \"assistant\", \"content\": \"a\", \"reasoning_content\": "
      "\"r\"}\n"
      "{\"thinking\": \"t\", \"role\": \"assistant\", \"content\": \"b\", \"reasoning_content\": "
      "\"t\"}\n"
      "{\"thinking\": \"x\", \"role\": \"assistant\", \"content\": \"c\", \"reasoning\": \"x\", "
      "\"reasoning_content\": \"x\"}\n"
      "None|None|True|False");
}

TEST(ChatRender, RealTokenizerConfigFromSharedData) {
  // The Llama 3.1 tokenizer_config.json of the shared test data (template + special tokens).
  const std::string path =
      source_dir() + "/../shared/data/tokenizers/llama3_1/tokenizer_config.json";
  std::string dir = source_dir() + "/../shared/data/tokenizers/llama3_1";
  if (!fs::exists(path)) dir = "/work/shared/data/tokenizers/llama3_1";
  if (!fs::exists(dir + "/tokenizer_config.json")) GTEST_SKIP() << "no shared tokenizer data";
  const ChatTemplates t = load_chat_templates(dir);
  ASSERT_FALSE(t.empty());
  RenderOptions o = test_options();
  EXPECT_EQ(render_chat(t, kUser, nullptr, true, nullptr, o),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

}  // namespace
}  // namespace ollmlx::tmpl::test
