// Ollama's native routes (§1.1): index, version, generate/chat, model management, and clear
// "not available yet" answers for what the engine and store do not do yet (embeddings, pull,
// push, create, blobs).

#include <algorithm>
#include <cctype>

#include "api/decode.h"
#include "api/encode.h"
#include "api/go_json.h"
#include "server/context.h"
#include "util/version.h"

namespace ollmlx::server {
namespace {

using api::ApiError;

void send_json(Context& ctx, const std::string& json) {
  ctx.res.status = 200;
  ctx.res.set_content(json, api::kJsonUtf8);
}

void index(Context& ctx, const std::string&) {
  ctx.res.status = 200;
  ctx.res.set_content("Ollama is running", "text/plain; charset=utf-8");
}

void version(Context& ctx, const std::string&) {
  ctx.res.set_header("X-Ollmlx-Version", kVersion);
  send_json(ctx, api::encode_version(ctx.config.ollama_version));
}

void generate(Context& ctx, const std::string&) {
  api::NativeCompletion call = api::decode_generate(ctx.req.body);
  auto format = api::native_format(call.request);
  serve_completion(ctx, std::move(call.request), call.stream, std::move(format));
}

void chat(Context& ctx, const std::string&) {
  api::NativeCompletion call = api::decode_chat(ctx.req.body);
  auto format = api::native_format(call.request);
  serve_completion(ctx, std::move(call.request), call.stream, std::move(format));
}

void tags(Context& ctx, const std::string&) {
  send_json(ctx, api::encode_tags(ctx.service.list_models()));
}

void show(Context& ctx, const std::string&) {
  const api::ShowCall call = api::decode_show(ctx.req.body);
  request_log().model = call.model;
  send_json(ctx, api::encode_show(ctx.service.show(call.model, call.verbose), call.system));
}

void ps(Context& ctx, const std::string&) { send_json(ctx, api::encode_ps(ctx.service.running())); }

void copy(Context& ctx, const std::string&) {
  const api::CopyCall call = api::decode_copy(ctx.req.body);
  request_log().model = call.source;
  ctx.service.copy(call.source, call.destination);
  ctx.res.status = 200;
}

void remove(Context& ctx, const std::string&) {
  const api::ModelCall call = api::decode_delete(ctx.req.body);
  request_log().model = call.model;
  ctx.service.remove(call.model);
  ctx.res.status = 200;
}

// Embedding models are not run yet: answer as Ollama does for a model without the capability
// (after the same "not found" check), so clients show a sensible message.
[[noreturn]] void no_embeddings(Context& ctx, const std::string& model) {
  request_log().model = model;
  try {
    ctx.service.show(model, false);
  } catch (const ApiError& e) {
    if (e.status() == 404) {
      throw ApiError(404, "model " + api::go_quote(model) + " not found, try pulling it first");
    }
    throw;
  }
  throw ApiError(400, api::go_quote(model) + " does not support embeddings");
}

void embed(Context& ctx, const std::string&) {
  no_embeddings(ctx, api::decode_embed(ctx.req.body).model);
}

void embeddings(Context& ctx, const std::string&) {
  no_embeddings(ctx, api::decode_embeddings(ctx.req.body).model);
}

constexpr const char* kNoStore = " is not available yet in ollmlx";

void pull(Context& ctx, const std::string&) {
  const api::ModelCall call = api::decode_pull(ctx.req.body);
  request_log().model = call.model;
  api::PullRequest request;
  request.model = call.model;
  serve_progress(ctx, call.stream,
                 [svc = &ctx.service, request](const api::ProgressSink& sink) { svc->pull(request, sink); });
}

void push(Context& ctx, const std::string&) {
  request_log().model = api::decode_push(ctx.req.body).model;
  throw ApiError(501, std::string("push") + kNoStore +
                          ": models come from Hugging Face; upload them with huggingface-cli");
}

void create(Context& ctx, const std::string&) {
  const bool stream = api::decode_create(ctx.req.body).stream;
  const api::CreateRequest request = api::decode_create_request(ctx.req.body);
  request_log().model = request.model;
  serve_progress(ctx, stream,
                 [svc = &ctx.service, request](const api::ProgressSink& sink) { svc->create(request, sink); });
}

// HEAD: 200 if the blob exists, else 404. POST: the raw body (streamed) becomes the blob: 201
// when created, 200 when it already existed, 400 `digest mismatch, expected "…", got "…"`.
void blob(Context& ctx, const std::string& digest) {
  // sha256:<64 hex> or sha256-<64 hex>
  const bool ok = digest.size() == 71 && digest.compare(0, 6, "sha256") == 0 &&
                  (digest[6] == ':' || digest[6] == '-') &&
                  std::all_of(digest.begin() + 7, digest.end(),
                              [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
  if (!ok) throw ApiError(400, "invalid digest format");
  if (ctx.req.method == "HEAD") {
    if (!ctx.service.has_blob(digest)) throw ApiError(404, "blob " + api::go_quote(digest) + " not found");
    ctx.res.status = 200;
    return;
  }
  ctx.res.status = ctx.service.put_blob(digest, request_body(ctx)) ? 201 : 200;
}

Route route(std::vector<std::string> methods, std::string path,
            std::function<void(Context&, const std::string&)> handler) {
  Route r;
  r.methods = std::move(methods);
  r.path = std::move(path);
  r.handler = std::move(handler);
  return r;
}

}  // namespace

std::vector<Route> native_routes() {
  std::vector<Route> r;
  r.push_back(route({"GET", "HEAD"}, "/", index));
  r.push_back(route({"GET", "HEAD"}, "/api/version", version));
  r.push_back(route({"POST"}, "/api/generate", generate));
  r.push_back(route({"POST"}, "/api/chat", chat));
  r.push_back(route({"GET", "HEAD"}, "/api/tags", tags));
  r.push_back(route({"POST"}, "/api/show", show));
  r.push_back(route({"GET"}, "/api/ps", ps));
  r.push_back(route({"POST"}, "/api/copy", copy));
  r.push_back(route({"DELETE"}, "/api/delete", remove));
  r.push_back(route({"POST"}, "/api/embed", embed));
  r.push_back(route({"POST"}, "/api/embeddings", embeddings));
  r.push_back(route({"POST"}, "/api/pull", pull));
  r.push_back(route({"POST"}, "/api/push", push));
  r.push_back(route({"POST"}, "/api/create", create));
  Route b = route({"POST", "HEAD"}, "/api/blobs/", blob);
  b.param = true;
  r.push_back(std::move(b));
  return r;
}

}  // namespace ollmlx::server
