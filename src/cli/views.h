// What `list`, `ps` and `show` print, from the server's JSON answers (pure, so golden-tested):
//
//   NAME               ID              SIZE      MODIFIED
//   llama3.2:latest    a80c4f17acd5    2.0 GB    2 days ago
//
//     Model
//       architecture        llama
//       ...
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "cli/format.h"

namespace ollmlx::cli {

using Json = nlohmann::ordered_json;

// `ollmlx list [prefix]` from /api/tags (the prefix matches names case-insensitively).
std::string render_list(const Json& tags, const std::string& prefix, const Instant& now);
// `ollmlx ps [prefix]` from /api/ps.
std::string render_ps(const Json& ps, const std::string& prefix, const Instant& now);
// `ollmlx show MODEL` (and the REPL's /show info) from /api/show.
std::string render_show_info(const Json& show, bool verbose);

// Go's %g of a float64 (shortest digits; exponent form below 1e-4 and from 1e21... as fmt does:
// "2048", "1e-05", "1e+06").
std::string go_g(double v);

}  // namespace ollmlx::cli
