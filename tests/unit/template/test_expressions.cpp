// Expressions with Python semantics: printing (str/repr), arithmetic, comparisons, access rules
// of jinja2's sandbox, undefined values and `is` tests. Expected strings were checked against
// jinja2 3.1.6 through transformers.
#include <gtest/gtest.h>

#include "template_test_util.h"

namespace ollmlx::tmpl::test {
namespace {

const ordered_json& ctx() {
  static const ordered_json c = ordered_json::parse(R"({
    "xs": [1, 2, 3], "d": {"a": 1, "items": 5}, "s": "héllo", "n": null,
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})");
  return c;
}

TEST(TemplateExpr, PrintsLikePythonStr) {
  EXPECT_EQ(render("{{ none }}|{{ true }}|{{ 1.5 }}|{{ -0.0 }}|{{ 3 }}"), "None|True|1.5|-0.0|3");
  EXPECT_EQ(render("{{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }}"),
            "1e+20 1e+16 1000000000000000.0 0.0001 1e-05 0.3333333333333333");
  EXPECT_EQ(render("{{ d }}|{{ msgs[0] }}", ctx()),
            "{'a': 1, 'items': 5}|{'role': 'user', 'content': 'hi'}");
  EXPECT_EQ(render("{{ [\"it's\", 'a\"b', 'both\\'\"'] }}"), R"(["it's", 'a"b', 'both\'"'])");
  EXPECT_EQ(render("{{ ['\\n\\t\\x00é\\u200b'] }}"), R"(['\n\t\x00é\u200b'])");
  EXPECT_EQ(render("{{ [1.0, 1e100, 1.5e-7, 123456789012345678] }}"),
            "[1.0, 1e+100, 1.5e-07, 123456789012345678]");
  EXPECT_EQ(
      render("{{ d.items() }}|{{ d.keys() }}|{{ range(3) }}|{{ range(1, 9, 2) }}", ctx()),
      "dict_items([('a', 1), ('items', 5)])|dict_keys(['a', 'items'])|range(0, 3)|range(1, 9, 2)");
  EXPECT_EQ(render("{{ namespace(a=1) }}"), "<Namespace {'a': 1}>");
  EXPECT_EQ(render("{{ [x] }}|{{ x }}|"), "[Undefined]||");
}

TEST(TemplateExpr, Arithmetic) {
  EXPECT_EQ(
      render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ 10 / 5 }}"),
      "3 -4 -2 0.5 3.0 2.0");
  EXPECT_EQ(render("{{ -10 % 3 }}|{{ 10.5 % 3 }}|{{ -10.5 // 3 }}|{{ 2 ** 10 }}|{{ 2.0 ** 0.5 }}"),
            "2|1.5|-4.0|1024|1.4142135623730951");
  EXPECT_EQ(render("{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ 2 * 'x' }}|{{ True + 1 }}|{{ 'a' * -1 }}|"),
            "ababab|[1, 1]|xx|2||");
  EXPECT_EQ(render("{{ [1] + [2] }}|{{ (1,) + (2,) }}|{{ 'a' + 'b' }}"), "[1, 2]|(1, 2)|ab");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true ~ x }}"), "a1NoneTrue");
  EXPECT_EQ(render("{{ '%s-%d|%05.1f|%x|%r' % ('a', 3, 3.14159, 255, 'q') }}"), "a-3|003.1|ff|'q'");
  EXPECT_EQ(render("{{ '%(a)s=%(b)d' % {'a': 'x', 'b': 2} }}"), "x=2");
  EXPECT_EQ(render_error("{{ 'a' + 1 }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ 1 + 'a' }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ [1] + (2,) }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ 1 / 0 }}").kind(), TemplateError::Kind::Value);
  EXPECT_EQ(render_error("{{ 1 // 0 }}").kind(), TemplateError::Kind::Value);
  EXPECT_EQ(render_error("{{ 'a' * 2.0 }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ 9223372036854775807 + 1 }}").kind(), TemplateError::Kind::Value);
}

TEST(TemplateExpr, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 == 1.0 }}{{ true == 1 }}{{ '1' == 1 }}{{ [1] == [1] }}{{ (1,) == [1] }}"),
            "TrueTrueFalseTrueFalse");
  EXPECT_EQ(render("{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }}{{ x == x }}{{ x == none }}"),
            "TrueTrueFalse");
  EXPECT_EQ(render("{{ 'b' > 'a' }}{{ [1, 2] > [1] }}{{ (1, 'a') < (1, 'b') }}"), "TrueTrueTrue");
  EXPECT_EQ(render("{{ not 1 }}|{{ 1 and 2 }}|{{ 0 or 'x' }}|{{ none or [] }}|{{ '' and 1 }}|"),
            "False|2|x|[]||");
  EXPECT_EQ(
      render("{{ 'a' in 'abc' }}{{ 1 in xs }}{{ 'a' in d }}{{ 4 not in xs }}{{ 1 in x }}", ctx()),
      "TrueTrueTrueTrueFalse");
  EXPECT_EQ(render_error("{{ 1 < 'a' }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ none < 1 }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ 1 in 'abc' }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ 1 in none }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ x < 1 }}").kind(), TemplateError::Kind::Undefined);
}

TEST(TemplateExpr, AttributeAndItemAccess) {
  EXPECT_EQ(render("{{ d.a }}{{ d['a'] }}{{ xs.0 }}{{ xs[-1] }}{{ msgs[1].role }}", ctx()),
            "1113assistant");
  // `.` tries the attribute first, `[]` the item first (dict methods shadow keys for `.`).
  EXPECT_EQ(render("{{ d['items'] }}|{{ d.items is callable }}", ctx()), "5|True");
  EXPECT_EQ(render("{{ d.get('a') }}{{ d.get('zz', 7) }}{{ d['get'] is callable }}", ctx()),
            "17True");
  // Missing keys and out-of-range indices are undefined, not errors.
  EXPECT_EQ(render("[{{ d.missing }}{{ xs[10] }}{{ s[99] }}]", ctx()), "[]");
  EXPECT_EQ(render("{{ s[1] }}{{ s|length }}{{ s[1:3] }}{{ s[::-1] }}", ctx()), "é5élolléh");
  EXPECT_EQ(render("{{ xs[1:] }}{{ xs[::-1] }}{{ xs[:-1] }}{{ xs[5:] }}{{ xs[::2] }}", ctx()),
            "[2, 3][3, 2, 1][1, 2][][1, 3]");
  EXPECT_EQ(render("{{ (1, 2, 3)[1:] }}"), "(2, 3)");
  EXPECT_EQ(render_error("{{ xs[::0] }}", ctx()).kind(), TemplateError::Kind::Value);
}

TEST(TemplateExpr, UndefinedSemantics) {
  // Printing, testing, iterating and filtering an undefined value is fine...
  EXPECT_EQ(render("[{{ x }}{{ x|default('d') }}{{ x|length }}{{ x|trim }}{% for i in x %}{{ i "
                   "}}{% endfor %}]"),
            "[d0]");
  EXPECT_EQ(
      render("{{ x is defined }}{{ d.x is defined }}{{ x is undefined }}{% if x %}T{% endif %}",
             ctx()),
      "FalseFalseTrue");
  // ...using it in arithmetic, calling it or looking into it raises UndefinedError.
  TemplateError e = render_error("{{ foo.bar }}");
  EXPECT_EQ(e.kind(), TemplateError::Kind::Undefined);
  EXPECT_EQ(e.message(), "'foo' is undefined");
  e = render_error("{{ d.x.y }}", ctx());
  EXPECT_EQ(e.message(), "'dict object' has no attribute 'x'");
  EXPECT_EQ(render_error("{{ x + 1 }}").kind(), TemplateError::Kind::Undefined);
  EXPECT_EQ(render_error("{{ x() }}").kind(), TemplateError::Kind::Undefined);
  EXPECT_EQ(render_error("{{ x|int }}").kind(), TemplateError::Kind::Undefined);
  EXPECT_EQ(render_error("{{ x|tojson }}").kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render("{{ 'a' if false }}|"), "|");
}

TEST(TemplateExpr, Tests) {
  EXPECT_EQ(render("{{ 5 is divisibleby 5 }}{{ 3 is odd }}{{ 4 is even }}{{ none is none }}{{ 'a' "
                   "is string }}"),
            "TrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ d is mapping }}{{ xs is sequence }}{{ d is sequence }}{{ s is iterable }}{{ "
                   "1 is iterable }}",
                   ctx()),
            "TrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ true is boolean }}{{ 1 is boolean }}{{ 1 is integer }}{{ true is integer "
                   "}}{{ 1.0 is float }}{{ true is number }}"),
            "TrueFalseTrueFalseTrueTrue");
  EXPECT_EQ(render("{{ none is false }}{{ false is false }}{{ true is true }}{{ 'abc' is lower "
                   "}}{{ 'ABC' is upper }}"),
            "FalseTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 1 is eq 1 }}{{ 1 is ne 2 }}{{ 2 is gt 1 }}{{ 2 is ge 2 }}{{ 1 is lt 2 }}{{ "
                   "1 is le 1 }}{{ 2 is in [2] }}{{ 'a' is equalto 'a' }}"),
            "TrueTrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ x is iterable }}{{ x is sequence }}{{ x is callable }}{{ range is callable "
                   "}}{{ d.get is callable }}",
                   ctx()),
            "TrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 'upper' is filter }}{{ 'odd' is test }}{{ none is sameas none }}{{ xs is "
                   "sameas xs }}{{ 'x'|e is escaped }}",
                   ctx()),
            "TrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ x is not defined }}{{ not x is defined }}"), "TrueTrue");
}

}  // namespace
}  // namespace ollmlx::tmpl::test
