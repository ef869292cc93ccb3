// The OpenAI-compatible routes (§1b): chat and text completions mapped onto the engine, the
// model list and retrieval (names with '/' allowed), and embeddings answered as unsupported.
#include "api/go_json.h"
#include "api/openai.h"
#include "server/context.h"

namespace ollmlx::server {
namespace {

using api::ApiError;

void chat_completions(Context& ctx, const std::string&) {
  api::OpenAICompletion call = api::decode_openai_chat(ctx.req.body);
  auto format = api::openai_chat_format(call);
  serve_completion(ctx, std::move(call.request), call.stream, std::move(format));
}

void completions(Context& ctx, const std::string&) {
  api::OpenAICompletion call = api::decode_openai_completion(ctx.req.body);
  auto format = api::openai_completion_format(call);
  serve_completion(ctx, std::move(call.request), call.stream, std::move(format));
}

void embeddings(Context& ctx, const std::string&) {
  const api::OpenAIEmbed call = api::decode_openai_embeddings(ctx.req.body);
  request_log().model = call.model;
  try {
    ctx.service.show(call.model, false);
  } catch (const ApiError& e) {
    if (e.status() == 404) {
      throw ApiError(404,
                     "model " + api::go_quote(call.model) + " not found, try pulling it first");
    }
    throw;
  }
  throw ApiError(400, api::go_quote(call.model) + " does not support embeddings");
}

void models(Context& ctx, const std::string&) {
  ctx.res.status = 200;
  ctx.res.set_content(api::encode_openai_models(ctx.service.list_models()), "application/json");
}

void model(Context& ctx, const std::string& id) {
  request_log().model = id;
  const api::ModelShow show = ctx.service.show(id, false);
  ctx.res.status = 200;
  ctx.res.set_content(api::encode_openai_model(id, show), "application/json");
}

Route route(std::string method, std::string path,
            std::function<void(Context&, const std::string&)> handler) {
  Route r;
  r.methods = {std::move(method)};
  r.path = std::move(path);
  r.openai = true;
  r.handler = std::move(handler);
  return r;
}

}  // namespace

std::vector<Route> openai_routes() {
  std::vector<Route> r;
  r.push_back(route("POST", "/v1/chat/completions", chat_completions));
  r.push_back(route("POST", "/v1/completions", completions));
  r.push_back(route("POST", "/v1/embeddings", embeddings));
  r.push_back(route("GET", "/v1/models", models));
  Route m = route("GET", "/v1/models/", model);
  m.param = true;
  m.param_slashes = true;
  r.push_back(std::move(m));
  return r;
}

}  // namespace ollmlx::server
