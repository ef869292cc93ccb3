#include "template_test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace ollmlx::tmpl::test {

std::tm fixed_now() {
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_hour = 10;
  t.tm_min = 30;
  t.tm_sec = 0;
  t.tm_wday = 5;
  t.tm_yday = 207;
  return t;
}

RenderOptions test_options() {
  RenderOptions o;
  o.now = fixed_now;
  return o;
}

std::string render(std::string_view source, const ordered_json& context) {
  return Template::parse(source).render(context, test_options());
}

TemplateError render_error(std::string_view source, const ordered_json& context) {
  const Template t = Template::parse(source);
  try {
    const std::string out = t.render(context, test_options());
    ADD_FAILURE() << "expected an error rendering " << source.substr(0, 200) << ", got '" << out
                  << "'";
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError(TemplateError::Kind::Runtime, 0, 0, "no error");
}

TemplateError parse_error(std::string_view source) {
  try {
    Template::parse(source);
    ADD_FAILURE() << "expected a syntax error parsing " << source.substr(0, 200);
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError(TemplateError::Kind::Runtime, 0, 0, "no error");
}

std::string source_dir() {
  const char* src = std::getenv("OLLMLX_SOURCE_DIR");
  return src ? src : ".";
}

std::string fixtures_dir() {
  if (const char* e = std::getenv("OLLMLX_FIXTURES")) return e;
  return source_dir() + "/tests/fixtures/generated";
}

bool fixtures_required() {
  const char* e = std::getenv("OLLMLX_REQUIRE_FIXTURES");
  return e && std::string(e) == "1";
}

}  // namespace ollmlx::tmpl::test
