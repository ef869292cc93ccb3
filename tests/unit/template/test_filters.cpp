// Filters, Python methods and globals, including transformers' tojson and strftime_now.
// Expected strings were checked against jinja2 3.1.6 through transformers.
#include <gtest/gtest.h>

#include "template_test_util.h"

namespace ollmlx::tmpl::test {
namespace {

const ordered_json& ctx() {
  static const ordered_json c = ordered_json::parse(R"({
    "xs": [1, 2, 3], "d": {"a": 1, "b": "two"}, "s": "héllo",
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
             {"role": "user", "content": "ok"}]})");
  return c;
}

TEST(TemplateFilters, ToJsonIsTransformers) {
  EXPECT_EQ(render("{{ xs|tojson }}|{{ d|tojson }}|{{ 'é<>&\\'\"'|tojson }}", ctx()),
            R"([1, 2, 3]|{"a": 1, "b": "two"}|"é<>&'\"")");
  EXPECT_EQ(render("{{ d|tojson(indent=2) }}", ctx()), "{\n  \"a\": 1,\n  \"b\": \"two\"\n}");
  EXPECT_EQ(render("{{ {'a': {'b': [1, 2]}, 'c': []}|tojson(indent=1) }}"),
            "{\n \"a\": {\n  \"b\": [\n   1,\n   2\n  ]\n },\n \"c\": []\n}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}"), R"({"a": 2, "b": 1})");
  EXPECT_EQ(render("{{ {'a': 1, 'b': [1]}|tojson(separators=(',', ':')) }}"), R"({"a":1,"b":[1]})");
  EXPECT_EQ(render("{{ 'é'|tojson(ensure_ascii=true) }}|{{ [none, true, 1.5, 1e20]|tojson }}"),
            R"("\u00e9"|[null, true, 1.5, 1e+20])");
  EXPECT_EQ(render("{{ '\\n\\t\\x01'|tojson }}"), R"("\n\t\u0001")");
  EXPECT_EQ(render("{{ (1, 2)|tojson }}|{{ {1: 'a', none: 'b'}|tojson }}"),
            R"([1, 2]|{"1": "a", "null": "b"})");
  EXPECT_EQ(render_error("{{ d.items()|tojson }}", ctx()).kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render_error("{{ namespace()|tojson }}").kind(), TemplateError::Kind::Type);
}

TEST(TemplateFilters, Strings) {
  EXPECT_EQ(render("{{ s|upper }}|{{ 'ABC'|lower }}|{{ 'hello world'|capitalize }}|{{ 'hello-world "
                   "(x) [y]'|title }}",
                   ctx()),
            "HÉLLO|abc|Hello world|Hello-World (X) [Y]");
  EXPECT_EQ(render("[{{ '  a b  '|trim }}]|{{ 'xxaxx'|trim('x') }}|[{{ 'a'|center(4) }}]|[{{ "
                   "'ab'|center(5) }}]"),
            "[a b]|a|[ a  ]|[  ab ]");
  EXPECT_EQ(render("{{ 'a,b'|replace(',', ';') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ "
                   "'abc'|replace('', '-') }}"),
            "a;b|bba|-a-b-c-");
  EXPECT_EQ(render("{{ 'hello world foo'|truncate(9) }}|{{ 'hello world foo'|truncate(9, true) "
                   "}}|{{ 'hello'|truncate(10) }}"),
            "hello...|hello ...|hello");
  EXPECT_EQ(render("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> "
                   "', blank=true) }}"),
            "a\n  b\n\n  c|  a\n  b|a\n> \n> b");
  EXPECT_EQ(render("{{ 'aaa bbb, ccc'|wordcount }}|{{ 'hello'|reverse }}|{{ '<a>'|e }}|{{ "
                   "'<b>x</b> y'|striptags }}"),
            "3|olleh|&lt;a&gt;|x y");
  EXPECT_EQ(
      render("{{ ('<a>'|safe) + '<b>' }}|{{ '%s, %s'|format('a', 'b') }}|{{ 'a b&c'|urlencode }}"),
      "<a>&lt;b&gt;|a, b|a%20b%26c");
  EXPECT_EQ(render("{{ 'ßa'|upper }}|{{ 'ΑΣ'|lower }}|{{ 'Привет'|upper }}"), "SSA|ας|ПРИВЕТ");
  EXPECT_EQ(render("{{ 'x y z'|wordwrap(3) }}"), "x y\nz");
  EXPECT_EQ(render("{{ ' x '|wordwrap(5) }}|{{ 'hello-world foo'|wordwrap(7) }}|{{ 'aaaaaaa "
                   "b'|wordwrap(5) }}"),
            " x|hello-\nworld\nfoo|aaaaa\naa b");
  EXPECT_EQ(render("{{ {'b': 1, 'a': [{'d': 1, 'c': 2}]}|pprint }}"),
            "{'a': [{'c': 2, 'd': 1}], 'b': 1}");
  EXPECT_EQ(render("{{ {'a': 'b', 'c': none}|xmlattr }}"), R"( a="b")");
}

TEST(TemplateFilters, Numbers) {
  EXPECT_EQ(render("{{ 3.7|int }}|{{ -3.7|int }}|{{ '12'|float }}|{{ 'x'|float }}|{{ '1e3'|float "
                   "}}|{{ true|int }}|{{ none|int }}"),
            "3|-3|12.0|0.0|1000.0|1|0");
  EXPECT_EQ(render("{{ '3.7'|int }}|{{ 'x'|int(5) }}|{{ '0x1A'|int(base=16) }}|{{ ' 12 '|int }}|{{ "
                   "'1_0'|int }}"),
            "3|5|26|12|10");
  EXPECT_EQ(render("{{ 2.5|round }}|{{ 3.14159|round(2) }}|{{ 3|round }}|{{ 2.675|round(2) }}|{{ "
                   "-0.5|round }}"),
            "2.0|3.14|3|2.67|-0.0");
  EXPECT_EQ(
      render("{{ 2.5|round(0, 'floor') }}|{{ 2.1|round(0, 'ceil') }}|{{ -5|abs }}|{{ -2.5|abs }}"),
      "2.0|3.0|5|2.5");
  EXPECT_EQ(render("{{ [1, 2, 3]|sum }}|{{ msgs|sum(attribute='role', start='') }}|{{ [1, 5, "
                   "2]|max }}|{{ ['b', 'A', 'a']|min }}",
                   ctx()),
            "6|userassistantuser|5|A");
  EXPECT_EQ(
      render("{{ 1234567|filesizeformat }}|{{ 1|filesizeformat }}|{{ 2048|filesizeformat(true) }}"),
      "1.2 MB|1 Byte|2.0 KiB");
}

TEST(TemplateFilters, Sequences) {
  EXPECT_EQ(render("{{ xs|first }}{{ xs|last }}{{ 'abc'|first }}{{ d|first }}{{ []|first }}|{{ "
                   "xs|length }}{{ d|count }}{{ s|length }}",
                   ctx()),
            "13aa|325");
  EXPECT_EQ(
      render("{{ xs|join }}|{{ xs|join(', ') }}|{{ msgs|join('/', attribute='role') }}", ctx()),
      "123|1, 2, 3|user/assistant/user");
  EXPECT_EQ(render("{{ [3, 1, 2]|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}|{{ ['b', 'A', "
                   "'a']|sort }}|{{ ['b', 'A', 'a']|sort(case_sensitive=true) }}"),
            "[1, 2, 3]|[3, 2, 1]|['A', 'a', 'b']|['A', 'a', 'b']");
  EXPECT_EQ(render("{{ msgs|sort(attribute='content')|map(attribute='content')|list }}", ctx()),
            "['hi', 'ok', 'yo']");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|dictsort }}|{{ {'b': 1, 'a': 2}|dictsort(by='value', "
                   "reverse=true) }}"),
            "[('a', 2), ('b', 1)]|[('a', 2), ('b', 1)]");
  EXPECT_EQ(
      render("{{ [1, 2, 2, 1]|unique|list }}|{{ ['A', 'a']|unique|list }}|{{ xs|reverse|list }}",
             ctx()),
      "[1, 2]|['A']|[3, 2, 1]");
  EXPECT_EQ(
      render(
          "{{ xs|batch(2)|list }}|{{ xs|batch(2, 'x')|list }}|{{ [1, 2, 3, 4, 5]|slice(3)|list }}",
          ctx()),
      "[[1, 2], [3]]|[[1, 2], [3, 'x']]|[[1, 2], [3, 4], [5]]");
  EXPECT_EQ(render("{{ d|items|list }}|{{ d|list }}|{{ 'ab'|list }}|{{ x|list }}", ctx()),
            "[('a', 1), ('b', 'two')]|['a', 'b']|['a', 'b']|[]");
  EXPECT_EQ(
      render("{% for g in msgs|groupby('role') %}{{ g.grouper }}:{{ g.list|length }};{% endfor %}",
             ctx()),
      "assistant:1;user:2;");
  EXPECT_EQ(
      render("{{ 'x'|default('y') }}{{ x|default('y') }}{{ ''|default('z', true) }}{{ x|d('w') }}"),
      "xyzw");
}

TEST(TemplateFilters, MapSelectReject) {
  EXPECT_EQ(render("{{ xs|map('string')|join(',') }}|{{ msgs|map(attribute='role')|list }}", ctx()),
            "1,2,3|['user', 'assistant', 'user']");
  EXPECT_EQ(render("{{ msgs|map(attribute='missing', default='dflt')|list }}", ctx()),
            "['dflt', 'dflt', 'dflt']");
  EXPECT_EQ(render("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}",
                   ctx()),
            "['hi', 'ok']");
  EXPECT_EQ(render("{{ msgs|rejectattr('role', 'eq', 'user')|list|length }}", ctx()), "1");
  EXPECT_EQ(render("{{ xs|select('odd')|list }}|{{ xs|reject('odd')|list }}|{{ [0, 1, none, "
                   "'']|select|list }}",
                   ctx()),
            "[1, 3]|[2]|[1]");
  EXPECT_EQ(
      render("{{ xs|select('greaterthan', 1)|list }}|{{ xs|select('in', [1, 3])|list }}", ctx()),
      "[2, 3]|[1, 3]");
  // jinja2 returns generators: always truthy, no len(), consumed once.
  EXPECT_EQ(render("{% if []|select('odd') %}T{% endif %}"), "T");
  EXPECT_EQ(render_error("{{ xs|unique|length }}", ctx()).kind(), TemplateError::Kind::Type);
  EXPECT_EQ(render("{% set g = xs|select %}{{ g|list }}{{ g|list }}", ctx()), "[1, 2, 3][]");
  EXPECT_EQ(render_error("{{ xs|map('nofilter')|list }}", ctx()).kind(),
            TemplateError::Kind::Runtime);
}

TEST(TemplateMethods, StrDictList) {
  EXPECT_EQ(render("{{ ' x '.strip() }}|{{ 'xyx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  "
                   "'.rstrip() }}|{{ 'a,,b'.rstrip(',b') }}"),
            "x|y|x|x|a");
  EXPECT_EQ(render("{{ 'a,b,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) "
                   "}}|{{ ' a  b '.split() }}|{{ ' a  b '.split(none, 1) }}"),
            "['a', 'b', 'c']|['a', 'b,c']|['a,b', 'c']|['a', 'b']|['a', 'b ']");
  EXPECT_EQ(render("{{ 'a\nb\r\nc'.splitlines() }}|{{ 'x'.startswith(('a', 'x')) }}{{ "
                   "'abc'.endswith('bc') }}{{ 'abc'.startswith('b', 1) }}"),
            "['a', 'b', 'c']|TrueTrueTrue");
  EXPECT_EQ(render("{{ 'abcabc'.find('c', 3) }}|{{ 'abcabc'.rfind('b') }}|{{ 'abcabc'.count('bc') "
                   "}}|{{ 'héllo'.find('l') }}|{{ 'x'.find('y') }}"),
            "5|4|2|2|-1");
  EXPECT_EQ(render("{{ 'they\\'re bill\\'s'.title() }}|{{ 'aBC'.capitalize() }}|{{ 'aB'.swapcase() "
                   "}}|{{ 'a-b'.replace('-', '+') }}"),
            "They'Re Bill'S|Abc|Ab|a+b");
  EXPECT_EQ(render("{{ '{} and {}'.format(1, 'b') }}|{{ '{:>5}'.format('x') }}|{{ "
                   "'{0:.2f}'.format(3.14159) }}|{{ '{x}!'.format(x=1) }}"),
            "1 and b|    x|3.14|1!");
  EXPECT_EQ(
      render("{{ '{:+d} {:,} {:08.3f} {!r} {:^7}'.format(5, 1234567, 3.14159, 'a', 'mid') }}"),
      "+5 1,234,567 0003.142 'a'   mid  ");
  EXPECT_EQ(render("{{ 'a=b=c'.partition('=') }}|{{ 'pre_x'.removeprefix('pre_') }}|{{ "
                   "'-'.join(['a', 'b']) }}|{{ '5'.zfill(3) }}"),
            "('a', '=', 'b=c')|x|a-b|005");
  EXPECT_EQ(render("{{ 'ab'.isalpha() }}{{ '12'.isdigit() }}{{ ' '.isspace() }}{{ 'AB'.isupper() "
                   "}}{{ ''.isalpha() }}"),
            "TrueTrueTrueTrueFalse");
  EXPECT_EQ(render("{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items()|list }}|{{ xs.index(2) "
                   "}}|{{ xs.count(1) }}",
                   ctx()),
            "['a', 'b']|[1, 'two']|[('a', 1), ('b', 'two')]|1|1");
}

TEST(TemplateMethods, SandboxRefusesMutation) {
  for (const char* t :
       {"{{ xs.append(1) }}", "{{ xs.pop() }}", "{{ d.update({}) }}", "{{ d.clear() }}"}) {
    EXPECT_EQ(render_error(t, ctx()).kind(), TemplateError::Kind::Security) << t;
  }
  // Accessing (not calling) a refused method is just undefined.
  EXPECT_EQ(render("[{{ d.clear }}]", ctx()), "[]");
}

TEST(TemplateGlobals, Builtins) {
  EXPECT_EQ(render("{{ range(3)|list }}|{{ range(2, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{{ "
                   "range(0)|list }}"),
            "[0, 1, 2]|[2, 5, 8]|[5, 3, 1]|[]");
  EXPECT_EQ(render_error("{{ range(100001) }}").kind(), TemplateError::Kind::Value);
  EXPECT_EQ(render("{{ dict(a=1) }}|{{ dict([('a', 1)], b=2) }}|{{ dict.fromkeys(['x'], 0) }}"),
            "{'a': 1}|{'a': 1, 'b': 2}|{'x': 0}");
  EXPECT_EQ(render("{{ namespace(a=1, b='x').b }}|{{ namespace({'k': 2}).k }}"), "x|2");
  EXPECT_EQ(
      render("{% set c = cycler(1, 2) %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}"),
      "1212");
  EXPECT_EQ(
      render("{% set j = joiner(', ') %}{% for i in [1, 2, 3] %}{{ j() }}{{ i }}{% endfor %}"),
      "1, 2, 3");
  // strftime_now reads the injected clock (tests and references use 2024-07-26 10:30).
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}|{{ "
                   "strftime_now('%A') }}"),
            "26 Jul 2024|2024-07-26 10:30|Friday");
  TemplateError e = render_error("\n  {{ raise_exception('Only user and assistant roles!') }}");
  EXPECT_EQ(e.kind(), TemplateError::Kind::Raised);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 6);
  EXPECT_EQ(e.message(), "raise_exception: Only user and assistant roles!");
}

}  // namespace
}  // namespace ollmlx::tmpl::test
