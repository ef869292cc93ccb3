// Helpers shared by the template engine tests: render with a fixed clock, capture errors,
// locate the generated fixtures.
#pragma once

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "template/jinja.h"

namespace ollmlx::tmpl::test {

using ordered_json = nlohmann::ordered_json;

// 2024-07-26 10:30:00 (a Friday), the clock tools/make_template_refs.py gives strftime_now.
std::tm fixed_now();
RenderOptions test_options();

std::string render(std::string_view source, const ordered_json& context = ordered_json::object());
// Renders and returns the TemplateError; fails the test when rendering succeeds.
TemplateError render_error(std::string_view source,
                           const ordered_json& context = ordered_json::object());
// Parses and returns the TemplateError; fails the test when parsing succeeds.
TemplateError parse_error(std::string_view source);

// $OLLMLX_FIXTURES, else <source>/tests/fixtures/generated.
std::string fixtures_dir();
// OLLMLX_REQUIRE_FIXTURES=1: missing fixtures fail instead of skipping.
bool fixtures_required();
std::string source_dir();

}  // namespace ollmlx::tmpl::test
