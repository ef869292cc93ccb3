// Templates are untrusted: every limit holds (steps, output size, call and nesting depth,
// parser depth, value depth) with a clean TemplateError and a position, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "template_test_util.h"

namespace ollmlx::tmpl::test {
namespace {

TemplateError render_with(std::string_view source, const RenderOptions& o) {
  try {
    Template::parse(source).render(ordered_json::object(), o);
    ADD_FAILURE() << "expected an error for " << source;
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError(TemplateError::Kind::Runtime, 0, 0, "none");
}

TEST(TemplateLimits, RuntimeErrorsCarryPosition) {
  const TemplateError e =
      render_error("{% for m in messages %}\n  {{ m.content + 1 }}\n{% endfor %}",
                   ordered_json::parse(R"({"messages": [{"content": "x"}]})"));
  EXPECT_EQ(e.kind(), TemplateError::Kind::Type);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 16);
  EXPECT_EQ(std::string(e.what()),
            "[template] line 2, column 16: can only concatenate str (not \"int\") to str");
}

TEST(TemplateLimits, StepBudget) {
  RenderOptions o = test_options();
  o.max_steps = 100000;
  const TemplateError e = render_with(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", o);
  EXPECT_EQ(e.kind(), TemplateError::Kind::Limit);
}

TEST(TemplateLimits, OutputSize) {
  RenderOptions o = test_options();
  o.max_output_bytes = 1000;
  EXPECT_EQ(render_with("{% for i in range(2000) %}x{% endfor %}", o).kind(),
            TemplateError::Kind::Limit);
  EXPECT_EQ(render_with("{{ 'x' * 1000000000000 }}", o).kind(), TemplateError::Kind::Limit);
  EXPECT_EQ(render_with("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s "
                        "~ ns.s %}{% endfor %}",
                        o)
                .kind(),
            TemplateError::Kind::Limit);
  EXPECT_EQ(render_with("{{ 'x'|center(1000000000) }}", o).kind(), TemplateError::Kind::Limit);
  EXPECT_EQ(render_with("{{ '%1000000000s' % 'x' }}", o).kind(), TemplateError::Kind::Limit);
}

TEST(TemplateLimits, MacroRecursion) {
  const TemplateError e = render_error("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}");
  EXPECT_EQ(e.kind(), TemplateError::Kind::Limit);
  EXPECT_GT(e.line(), 0);
  EXPECT_EQ(render_error("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}").kind(),
            TemplateError::Kind::Limit);
}

TEST(TemplateLimits, DeepNestingIsRefusedNotOverflowed) {
  const int n = 5000;
  EXPECT_EQ(parse_error("{{ " + std::string(n, '(') + "1" + std::string(n, ')') + " }}").kind(),
            TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ " + std::string(n, '[') + std::string(n, ']') + " }}").kind(),
            TemplateError::Kind::Syntax);
  std::string nots = "{{ ";
  for (int i = 0; i < n; ++i) nots += "not ";
  EXPECT_EQ(parse_error(nots + "1 }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ " + std::string(n, '-') + "1 }}").kind(), TemplateError::Kind::Syntax);
  std::string ifs;
  for (int i = 0; i < n; ++i) ifs += "{% if true %}";
  EXPECT_EQ(parse_error(ifs).kind(), TemplateError::Kind::Syntax);
  // Left-associative chains build tall trees without parser recursion; their height is capped.
  std::string chain = "{{ x";
  for (int i = 0; i < n; ++i) chain += "|trim";
  EXPECT_EQ(parse_error(chain + " }}").kind(), TemplateError::Kind::Syntax);
  std::string sum = "{{ 1";
  for (int i = 0; i < 200000; ++i) sum += " + 1";
  EXPECT_EQ(parse_error(sum + " }}").kind(), TemplateError::Kind::Syntax);
  std::string attrs = "{{ x";
  for (int i = 0; i < n; ++i) attrs += ".a";
  EXPECT_EQ(parse_error(attrs + " }}").kind(), TemplateError::Kind::Syntax);
  // Moderate nesting still works.
  EXPECT_EQ(render("{{ " + std::string(30, '(') + "1" + std::string(30, ')') + " }}"), "1");
}

TEST(TemplateLimits, DeepValuesAreRefused) {
  // Building ever deeper lists hits the value depth cap instead of recursing without bound.
  const TemplateError e = render_error(
      "{% set ns = namespace(v=[]) %}{% for i in range(10000) %}{% set ns.v = [ns.v] %}{% endfor "
      "%}{{ ns.v }}");
  EXPECT_EQ(e.kind(), TemplateError::Kind::Limit);
  ordered_json deep = ordered_json::array();
  for (int i = 0; i < 2000; ++i) deep = ordered_json::array({deep});
  EXPECT_EQ(render_error("{{ v }}", {{"v", deep}}).kind(), TemplateError::Kind::Limit);
}

TEST(TemplateLimits, ReferenceCyclesAreFreed) {
  // A namespace holding itself and a macro stored in its own scope: LeakSanitizer checks these
  // are released when rendering ends.
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.l = [ns] %}ok"), "ok");
  EXPECT_EQ(render("{% macro m() %}{% endmacro %}{% set ns = namespace(m=m) %}{% for i in [1] %}"
                   "{% set ns.loop = loop %}{% endfor %}ok"),
            "ok");
}

TEST(TemplateLimits, FuzzCorpusReplays) {
  // Seed inputs of fuzz/fuzz_template (and any crashers added there) parse and render or fail
  // cleanly.
  const std::filesystem::path dir(OLLMLX_TEMPLATE_CORPUS_DIR);
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      Template::parse(ss.str()).render(
          ordered_json::parse(
              R"({"messages": [{"role": "user", "content": "hi"}], "bos_token": "<s>"})"),
          test_options());
    } catch (const TemplateError&) {
    }
    ++n;
  }
  EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace ollmlx::tmpl::test
