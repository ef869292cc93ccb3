// Lexing and parsing: whitespace control as transformers configures jinja2 (trim_blocks,
// lstrip_blocks), comments, raw blocks, literals, and syntax errors with line and column.
// Expected strings were checked against jinja2 3.1.6 through transformers.
#include <gtest/gtest.h>

#include "template_test_util.h"

namespace ollmlx::tmpl::test {
namespace {

TEST(TemplateLexer, PlainTextAndTrailingNewline) {
  EXPECT_EQ(render("hello"), "hello");
  EXPECT_EQ(render(""), "");
  // keep_trailing_newline=False drops exactly one trailing newline.
  EXPECT_EQ(render("a\n"), "a");
  EXPECT_EQ(render("a\n\n"), "a\n");
  // \r\n and \r become \n.
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
}

TEST(TemplateLexer, TrimBlocksAndLstripBlocks) {
  EXPECT_EQ(render("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(render("{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\n"), "  1\n  2\n");
  // lstrip_blocks does not apply to {{ }}.
  EXPECT_EQ(render("   {{ 'a' }}\n   {{ 'b' }}"), "   a\n   b");
  // Only whitespace before a tag on its line is stripped.
  EXPECT_EQ(render("x {% if true %}y{% endif %}"), "x y");
  EXPECT_EQ(render("\t{% if true %}x{% endif %}\t\n"), "x\t");
  // Comments are trimmed and lstripped like blocks.
  EXPECT_EQ(render("  {# c #}\nx"), "x");
}

TEST(TemplateLexer, MinusAndPlusModifiers) {
  EXPECT_EQ(render("a\n  {%- if true %}\n  b\n  {%- endif %}\nc"), "a  bc");
  EXPECT_EQ(render("a\n  {% if true -%}\n  b\n  {% endif -%}\nc"), "a\nb\nc");
  EXPECT_EQ(render("a {%- if true %} b {% endif -%} c"), "a b c");
  EXPECT_EQ(render("{{- 'a' -}}   {{- 'b' }}"), "ab");
  EXPECT_EQ(render("x\n  {#- c -#}\n  y"), "xy");
  // `+` keeps the whitespace lstrip_blocks / trim_blocks would remove.
  EXPECT_EQ(render("x\n    {%+ if true %}y{% endif %}"), "x\n    y");
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");
}

TEST(TemplateLexer, RawBlocks) {
  EXPECT_EQ(render("{% raw %}{{ not }}{% endraw %}"), "{{ not }}");
  EXPECT_EQ(render("{% raw %}\n  {{ a }}\n{% endraw %}\nx"), "\n  {{ a }}\nx");
  EXPECT_EQ(render("  {% raw -%}  a  {%- endraw %}  b"), "a  b");
}

TEST(TemplateLexer, Literals) {
  EXPECT_EQ(render("{{ 'a' 'b' \"c\" }}"), "abc");
  EXPECT_EQ(render("{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1_000 }}|{{ 1.5e3 }}|{{ 1e-3 }}"),
            "31|15|5|1000|1500.0|0.001");
  EXPECT_EQ(render(R"({{ 'a\tb' }}|{{ "\x41\u00e9" }}|{{ '\q' }}|{{ '\\' }}|{{ 'it\'s' }})"),
            "a\tb|Aé|\\q|\\|it's");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.0, (1,), {'k': false}] }}"),
            "[1, 'a', None, True, 1.0, (1,), {'k': False}]");
  EXPECT_EQ(render("{{ (1, 2) }}|{{ () }}|{{ [] }}|{{ {} }}"), "(1, 2)|()|[]|{}");
  EXPECT_EQ(render("{{ True }}{{ False }}{{ None }}"), "TrueFalseNone");
}

TEST(TemplateParser, Precedence) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }}"), "7");
  EXPECT_EQ(render("{{ -2 ** 2 }}"), "4");       // jinja2: unary minus binds tighter than **
  EXPECT_EQ(render("{{ 2 ** 3 ** 2 }}"), "64");  // and ** is left-associative
  EXPECT_EQ(render("{{ 'a' ~ 2 * 3 }}|{{ (1 + 2) ~ 3 }}"), "a6|33");
  EXPECT_EQ(render_error("{{ 1 + 2 ~ 3 }}").kind(), TemplateError::Kind::Type);  // ~ binds tighter
  EXPECT_EQ(render("{{ -3|abs }}"), "3");
  EXPECT_EQ(render("{{ not 1 == 2 }}"), "True");
  EXPECT_EQ(render("{{ 1 if false else 2 if false else 3 }}"), "3");
  EXPECT_EQ(render("{{ [1, 2, 3]|length is odd }}"), "True");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}"), "TrueFalse");
}

TEST(TemplateParser, SyntaxErrorsHaveLineAndColumn) {
  TemplateError e = parse_error("line one\n{{ 1 + }}");
  EXPECT_EQ(e.kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 8);
  EXPECT_NE(std::string(e.what()).find("[template] line 2, column 8:"), std::string::npos);

  e = parse_error("{% if true %}\n{% for x in y %}\n{% endif %}");
  EXPECT_EQ(e.line(), 3);
  EXPECT_NE(e.message().find("Encountered unknown tag 'endif'"), std::string::npos);
  EXPECT_NE(e.message().find("'for'"), std::string::npos);

  e = parse_error("{% if true %}never closed");
  EXPECT_NE(e.message().find("Unexpected end of template"), std::string::npos);
  EXPECT_NE(e.message().find("'endif'"), std::string::npos);

  EXPECT_EQ(parse_error("ab\n  {% unknown %}").column(), 6);
  EXPECT_EQ(parse_error("{{ (1 }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ [1, 2 }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ \"unterminated }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{# unterminated").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{% raw %} unterminated").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ x is defined is defined }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{% set 1 = 2 %}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{% macro m(a=1, b) %}{% endmacro %}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ f(1, x=2, 3) }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{% do x %}").kind(), TemplateError::Kind::Syntax);  // no `do` extension
  EXPECT_EQ(parse_error("{{ }}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(parse_error("{{ 'a' }").kind(), TemplateError::Kind::Syntax);
}

TEST(TemplateParser, CompileTimeChecks) {
  // Unknown filters and tests fail the whole template, as jinja2's compiler does...
  EXPECT_NE(parse_error("{{ x|nofilter }}").message().find("No filter named 'nofilter'"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ x is notatest }}").message().find("No test named 'notatest'"),
            std::string::npos);
  // ...except inside `if` statements and conditional expressions, where they fail when run.
  EXPECT_EQ(render("{% if false %}{{ x|nofilter }}{% endif %}ok"), "ok");
  EXPECT_EQ(render("{{ x|nofilter if false else 'ok' }}"), "ok");
  EXPECT_EQ(render_error("{% if true %}{{ x|nofilter }}{% endif %}").kind(),
            TemplateError::Kind::Runtime);
  // break/continue outside a loop (jinja2's generated Python fails to compile).
  EXPECT_EQ(parse_error("{% break %}").kind(), TemplateError::Kind::Syntax);
  EXPECT_EQ(
      parse_error("{% for x in y %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}").kind(),
      TemplateError::Kind::Syntax);
}

TEST(TemplateParser, InvalidUtf8IsRejected) {
  const TemplateError e = parse_error("ab\n c\xff");
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 3);
}

}  // namespace
}  // namespace ollmlx::tmpl::test
