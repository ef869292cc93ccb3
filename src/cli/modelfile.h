// The Modelfile, parsed on the client as Ollama's CLI does (parser.ParseFile): FROM, PARAMETER,
// TEMPLATE, SYSTEM, LICENSE, MESSAGE, ADAPTER, DRAFT, RENDERER, PARSER, REQUIRES; case-insensitive
// instructions, `#` comments, values in "..." or """...""" (multi-line), Ollama's error texts
// ("(line 3): command must be one of ...", "no FROM line", "unexpected EOF"). Then turned into an
// /api/create request: FROM a model name, or a local MLX directory sent as its absolute path;
// PARAMETERs typed as api.FormatParams types them.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ollmlx::cli {

using Json = nlohmann::ordered_json;

struct ModelfileCommand {
  std::string name;  // "model" (FROM), "template", "system", "license", "message", or a parameter
  std::string args;  // unquoted value; messages are "role: content"
};

struct Modelfile {
  std::vector<ModelfileCommand> commands;
};

class ModelfileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Modelfile parse_modelfile(std::string_view text);

// api.FormatParams for one parameter: int options -> integer, float options -> number (float32
// precision, integral values written as integers as Go's json does), use_mmap -> bool, stop ->
// array of strings. Throws ModelfileError("unknown parameter 'x'"), ("invalid float value [x]").
Json format_param(const std::string& name, const std::vector<std::string>& values);
// Parameters Ollama removed: a Modelfile using them gets "warning: parameter x is deprecated".
bool deprecated_parameter(const std::string& name);

// Expands a FROM/ADAPTER path as Ollama does: absolute kept, "~" and "~user" expanded, anything
// else relative to `relative_dir`; returns an absolute, cleaned path.
std::string expand_path(const std::string& path, const std::string& relative_dir);

// Whether a TEMPLATE is Go text/template syntax ({{ .Prompt }}, {{ if .System }}, ...) rather
// than a Jinja chat template.
bool looks_like_go_template(const std::string& tmpl);

// A local file the server must receive as a blob before /api/create (FROM ./model.gguf): the
// caller hashes and uploads it, then sets body["files"][name] = "sha256:<hex>".
struct LocalFile {
  std::string name;  // the file name in "files"
  std::string path;  // absolute path on this machine
};

// The /api/create body (without "model") for a parsed Modelfile whose relative paths are
// relative to `relative_dir`. Warnings (deprecated parameters) are appended to `warnings`; a
// GGUF file (or a folder holding exactly one) is appended to `files` instead of being named in
// the body. Throws ModelfileError for what ollmlx cannot create (adapters, Go templates, a GGUF
// when `files` is null).
Json create_request(const Modelfile& mf, const std::string& relative_dir,
                    std::vector<std::string>* warnings, std::vector<LocalFile>* files = nullptr);

}  // namespace ollmlx::cli
