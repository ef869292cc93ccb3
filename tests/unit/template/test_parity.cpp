// The chat-template parity test: every real template (shared/data/chat_templates) rendered with
// every conversation of tests/data/chat_conversations.json and every flag combination must
// match transformers + jinja2 byte for byte, and raise wherever jinja2 raises. References come
// from tools/make_template_refs.py ($OLLMLX_FIXTURES/templates/refs.json).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "template/chat.h"
#include "template_test_util.h"

namespace ollmlx::tmpl::test {
namespace {

std::string first_difference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  auto window = [&](const std::string& s) {
    const size_t b = i > 40 ? i - 40 : 0;
    return nlohmann::json(s.substr(b, 100))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::ostringstream ss;
  ss << "at byte " << i << "\n      want " << window(want) << "\n      got  " << window(got);
  return ss.str();
}

TEST(TemplateParity, RealTemplatesMatchTransformers) {
  const std::string path = fixtures_dir() + "/templates/refs.json";
  if (!std::filesystem::exists(path)) {
    if (fixtures_required()) FAIL() << "missing " << path << " (tools/make_template_refs.py)";
    GTEST_SKIP() << "no " << path << "; run tools/make_template_refs.py --out " << fixtures_dir();
  }
  std::ifstream in(path);
  const ordered_json refs = ordered_json::parse(in);
  const auto& templates = refs.at("templates");
  const auto& conversations = refs.at("conversations");

  std::vector<std::optional<Template>> parsed;
  std::vector<std::string> parse_errors;
  for (const auto& t : templates) {
    try {
      parsed.emplace_back(Template::parse(t.at("source").get<std::string>()));
      parse_errors.emplace_back();
    } catch (const TemplateError& e) {
      parsed.emplace_back(std::nullopt);
      parse_errors.emplace_back(e.what());
    }
  }

  struct Stats {
    int rendered_same = 0, raised_same = 0, mismatched = 0;
  };
  std::vector<Stats> per_template(templates.size());
  int total = 0, shown = 0;
  for (const auto& c : refs.at("cases")) {
    const size_t ti = c.at("template").get<size_t>();
    const auto& conv = conversations.at(c.at("conversation").get<size_t>());
    const bool agp = c.at("add_generation_prompt").get<bool>();
    const ordered_json tools = conv.contains("tools") ? conv["tools"] : ordered_json();
    std::optional<std::string> got;
    std::string error;
    if (!parsed[ti]) {
      error = parse_errors[ti];
    } else {
      try {
        got = render_chat_source(*parsed[ti], conv.at("messages"), tools, agp, c.at("kwargs"),
                                 test_options());
      } catch (const TemplateError& e) {
        error = e.what();
      }
    }
    ++total;
    Stats& st = per_template[ti];
    const std::string label = templates[ti].at("model").get<std::string>() + " x " +
                              conv.at("name").get<std::string>() + (agp ? " +gen" : "") + " " +
                              c.at("kwargs").dump();
    if (c.contains("output")) {
      const std::string want = c["output"].get<std::string>();
      if (got && *got == want) {
        ++st.rendered_same;
        continue;
      }
      ++st.mismatched;
      if (shown++ < 25) {
        ADD_FAILURE() << label << ": "
                      << (got ? "output differs " + first_difference(want, *got)
                              : "raised but jinja2 rendered: " + error);
      }
    } else {
      if (!got) {
        ++st.raised_same;
        continue;
      }
      ++st.mismatched;
      if (shown++ < 25) {
        ADD_FAILURE() << label << ": rendered but jinja2 raised " << c["error"].get<std::string>();
      }
    }
  }

  int all_same = 0, some_raise = 0, mismatching = 0, cases_same = 0, cases_raise = 0;
  for (size_t i = 0; i < per_template.size(); ++i) {
    const Stats& s = per_template[i];
    cases_same += s.rendered_same;
    cases_raise += s.raised_same;
    if (s.mismatched) {
      ++mismatching;
      std::cout << "  mismatch: " << templates[i].at("model").get<std::string>() << " ("
                << s.mismatched << " cases)\n";
    } else if (s.raised_same) {
      ++some_raise;
    } else {
      ++all_same;
    }
  }
  std::cout << "template parity: " << templates.size() << " templates, " << total
            << " cases: " << cases_same << " rendered identically, " << cases_raise
            << " raised where jinja2 raises, " << (total - cases_same - cases_raise)
            << " mismatched\n"
            << "  templates: " << all_same << " identical on every case, " << some_raise
            << " identical where jinja2 renders and raising where it raises, " << mismatching
            << " with mismatches\n";
  EXPECT_EQ(mismatching, 0);
}

}  // namespace
}  // namespace ollmlx::tmpl::test
