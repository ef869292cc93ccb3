#include "service/engine_service.h"

#include <fmt/format.h>

#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "service/options.h"
#include "tokenizer/stream_decoder.h"
#include "util/error.h"
#include "util/log.h"

namespace ollmlx::service {
namespace {

using Json = nlohmann::ordered_json;
using SteadyClock = std::chrono::steady_clock;

std::chrono::nanoseconds since(SteadyClock::time_point t) { return SteadyClock::now() - t; }

bool is_false(const std::optional<Json>& v) { return v && v->is_boolean() && !v->get<bool>(); }

// Rejects what this build cannot do yet, naming the feature (never silently ignored).
void check_supported(const api::CompletionRequest& r, const std::string& name) {
  if (!r.format.is_null() && !(r.format.is_string() && r.format.get<std::string>().empty()))
    throw api::ApiError(400, "format (structured outputs) is not supported by ollmlx yet");
  if (r.tools.is_array() && !r.tools.empty()) throw api::ApiError(400, name + " does not support tools");
  if (r.think && !r.think->is_null() && !is_false(r.think))
    throw api::ApiError(400, "\"" + name + "\" does not support thinking");
  if (r.suffix && !r.suffix->empty()) throw api::ApiError(400, name + " does not support insert");
  bool images = !r.images.empty();
  for (const auto& m : r.messages) images = images || !m.images.empty();
  if (images) throw api::ApiError(400, name + " does not support vision");
  if (r.template_override && !r.template_override->empty())
    throw api::ApiError(400,
                        "the template field is a Go template, which ollmlx does not run; the model's "
                        "own chat template (Jinja) is used");
  if (r.raw && ((r.template_override && !r.template_override->empty()) || (r.system && !r.system->empty()) ||
                !r.context.empty()))
    throw api::ApiError(400, "raw mode does not support template, system, or context");
}

Json message_json(const api::Message& m) {
  Json j = {{"role", m.role}, {"content", m.content}};
  if (!m.thinking.empty()) j["thinking"] = m.thinking;
  if (m.tool_calls.is_array() && !m.tool_calls.empty()) j["tool_calls"] = m.tool_calls;
  if (!m.tool_name.empty()) j["tool_name"] = m.tool_name;
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  return j;
}

// The conversation a request renders: Modelfile SYSTEM/MESSAGEs plus the request's.
Json conversation(const api::CompletionRequest& r, const Json& modelfile) {
  Json messages = Json::array();
  const std::string model_system =
      modelfile.contains("system") && modelfile["system"].is_string() ? modelfile["system"].get<std::string>() : "";
  const Json model_messages =
      modelfile.contains("messages") && modelfile["messages"].is_array() ? modelfile["messages"] : Json::array();
  if (r.kind == api::CompletionRequest::Kind::Chat) {
    const bool has_system = !r.messages.empty() && r.messages.front().role == "system";
    if (!has_system && !model_system.empty()) messages.push_back({{"role", "system"}, {"content", model_system}});
    for (const auto& m : model_messages) messages.push_back(m);
    for (const auto& m : r.messages) messages.push_back(message_json(m));
  } else {
    const std::string system = r.system.value_or(model_system);
    if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
    if (r.context.empty())
      for (const auto& m : model_messages) messages.push_back(m);
    messages.push_back({{"role", "user"}, {"content", r.prompt}});
  }
  return messages;
}

// Output chunks handed from the runner thread to the request's thread.
struct Channel {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<api::CompletionChunk> chunks;
  bool ended = false;
  SequenceEnd end;
};

api::TokenLogprob token_logprob(const tok::Tokenizer& t, const TokenEvent& ev) {
  auto piece = [&](int32_t id) { return t.decode({id}, false); };
  api::TokenLogprob lp;
  lp.token = piece(ev.id);
  lp.logprob = ev.logprob;
  lp.bytes.assign(lp.token.begin(), lp.token.end());
  for (const TopToken& top : ev.top) {
    api::TopLogprob tl;
    tl.token = piece(top.id);
    tl.logprob = top.logprob;
    tl.bytes.assign(tl.token.begin(), tl.token.end());
    lp.top.push_back(std::move(tl));
  }
  return lp;
}

}  // namespace

EngineService::EngineService(std::unique_ptr<ModelCatalog> catalog, ResidencyConfig config)
    : catalog_(std::move(catalog)), residency_(std::move(config)) {}

CatalogEntry EngineService::find_or_404(const std::string& name, bool generate_style) {
  std::optional<CatalogEntry> e;
  try {
    e = catalog_->find(name);
  } catch (const api::ApiError&) {
    throw;
  } catch (const std::exception& ex) {
    throw api::ApiError(400, ex.what());
  }
  if (!e) {
    if (generate_style) throw api::ApiError(404, "model '" + name + "' not found");
    throw api::ApiError(404, "model \"" + name + "\" not found, try pulling it first");
  }
  return *e;
}

api::CompletionResult EngineService::complete(const api::CompletionRequest& r, const api::ChunkSink& sink) {
  const auto t_start = SteadyClock::now();
  const CatalogEntry entry = find_or_404(r.model, true);
  check_supported(r, entry.name);
  const bool chat = r.kind == api::CompletionRequest::Kind::Chat;
  const bool empty = chat ? r.messages.empty() : (r.prompt.empty() && r.context.empty());
  api::CompletionResult result;

  // Load / unload requests.
  const bool unload = r.keep_alive && !r.keep_alive->forever && r.keep_alive->duration.count() == 0;
  if (empty && unload && !r.debug_render_only) {
    residency_.unload(entry.name);
    result.done_reason = "unload";
    result.total_duration = since(t_start);
    return result;
  }

  std::chrono::nanoseconds load_time{0};
  std::shared_ptr<LoadedModel> m = residency_.acquire(entry, r.keep_alive, load_time, r.cancelled);
  struct Release {
    Residency& res;
    std::shared_ptr<LoadedModel> m;
    ~Release() { res.release(m); }
  } release{residency_, m};
  result.load_duration = load_time;
  if (empty && !r.debug_render_only) {
    result.done_reason = "load";
    result.total_duration = since(t_start);
    return result;
  }

  const ResolvedOptions opt = resolve_options(r.options, entry.modelfile, residency_.config(), m->context);
  const tok::Tokenizer& tokenizer = *m->text.tokenizer;

  // Prompt tokens.
  std::vector<int32_t> prompt;
  Json messages = Json::array();
  if (!chat && r.raw) {
    prompt = m->text.raw_tokens(r.prompt);
    if (r.debug_render_only) result.rendered = r.prompt;
  } else {
    messages = conversation(r, entry.modelfile);
    std::string rendered;
    try {
      rendered = m->text.render(messages, nullptr, true);
    } catch (const Error& e) {
      throw api::ApiError(400, e.what());
    }
    if (r.debug_render_only) {
      result.rendered = rendered;
      result.total_duration = since(t_start);
      return result;
    }
    prompt = tokenizer.encode(rendered, false, true);
    // Chat history truncation: drop the oldest non-system messages (never the last) to fit.
    while (chat && r.truncate && static_cast<int64_t>(prompt.size()) >= opt.num_ctx) {
      size_t drop = messages.size();
      for (size_t i = 0; i + 1 < messages.size(); ++i)
        if (messages[i].value("role", "") != "system") {
          drop = i;
          break;
        }
      if (drop == messages.size()) break;
      messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(drop));
      prompt = tokenizer.encode(m->text.render(messages, nullptr, true), false, true);
    }
    if (!r.context.empty()) prompt.insert(prompt.begin(), r.context.begin(), r.context.end());
  }
  if (r.debug_render_only) {
    result.total_duration = since(t_start);
    return result;
  }
  if (prompt.empty()) throw api::ApiError(400, "the prompt is empty after tokenization");
  if (static_cast<int64_t>(prompt.size()) >= opt.num_ctx)
    throw api::ApiError(400, fmt::format("the input length ({} tokens) exceeds the context length (num_ctx {})",
                                         prompt.size(), opt.num_ctx));

  // The sequence.
  auto seq = std::make_shared<SequenceRequest>();
  seq->prompt = prompt;
  seq->sampling = opt.sampling;
  const int64_t room = opt.num_ctx - static_cast<int64_t>(prompt.size());
  seq->max_tokens = opt.num_predict >= 0 ? std::min(opt.num_predict, room) : room;
  seq->stop_ids = tokenizer.eos_ids().empty() ? m->model->info().config_eos_ids : tokenizer.eos_ids();
  seq->logprobs = r.logprobs;
  seq->top_logprobs = r.top_logprobs;
  auto channel = std::make_shared<Channel>();
  auto decoder = std::make_shared<tok::StreamDecoder>(tokenizer, /*skip_special_tokens=*/true);
  auto stops = std::make_shared<tok::StopMatcher>(opt.stop);
  const tok::Tokenizer* tk = &tokenizer;
  const bool want_logprobs = r.logprobs || r.top_logprobs > 0;
  seq->on_token = [channel, decoder, stops, tk, want_logprobs](const TokenEvent& ev, FinishReason& why) {
    api::CompletionChunk c;
    c.content = stops->push(decoder->push(ev.id));
    if (want_logprobs) c.logprobs.push_back(token_logprob(*tk, ev));
    {
      std::lock_guard<std::mutex> lock(channel->mutex);
      if (!c.content.empty() || !c.logprobs.empty()) channel->chunks.push_back(std::move(c));
    }
    channel->cv.notify_all();
    if (stops->stopped()) {
      why = FinishReason::Stop;
      return false;
    }
    return true;
  };
  seq->on_end = [channel](const SequenceEnd& end) {
    {
      std::lock_guard<std::mutex> lock(channel->mutex);
      channel->ended = true;
      channel->end = end;
    }
    channel->cv.notify_all();
  };
  m->runner->submit(seq);

  // Deliver chunks on this thread; a client that goes away cancels the sequence.
  bool client_gone = false;
  for (;;) {
    std::deque<api::CompletionChunk> ready;
    bool ended = false;
    {
      std::unique_lock<std::mutex> lock(channel->mutex);
      channel->cv.wait_for(lock, std::chrono::milliseconds(50),
                           [&] { return !channel->chunks.empty() || channel->ended; });
      ready.swap(channel->chunks);
      ended = channel->ended;
    }
    for (auto& c : ready) {
      if (client_gone) break;
      if (!sink(c)) {
        client_gone = true;
        seq->cancelled.store(true);
      }
    }
    if (!client_gone && r.cancelled && r.cancelled()) {
      client_gone = true;
      seq->cancelled.store(true);
    }
    if (ended) break;
  }
  const SequenceEnd& end = channel->end;
  if (end.reason == FinishReason::Error) {
    if (end.error.find("exceeds the context") != std::string::npos) throw api::ApiError(400, end.error);
    throw api::ApiError(500, end.error);
  }
  if (client_gone || end.reason == FinishReason::Cancelled) throw api::ApiError(499, "request canceled");
  if (!stops->stopped()) {
    api::CompletionChunk tail;
    tail.content = stops->push(decoder->flush());
    tail.content += stops->flush();
    if (!tail.content.empty()) sink(tail);
  }
  result.done_reason = end.reason == FinishReason::Length ? "length" : "stop";
  result.prompt_eval_count = end.prompt_tokens;
  result.eval_count = end.generated_tokens;
  result.prompt_eval_duration = std::max(std::chrono::nanoseconds(1), end.prompt_eval);
  result.eval_duration = std::max(std::chrono::nanoseconds(1), end.eval);
  if (!chat && !r.raw) {
    result.context = prompt;
    result.context.insert(result.context.end(), end.tokens.begin(), end.tokens.end());
  }
  result.total_duration = since(t_start);
  return result;
}

std::vector<api::ModelEntry> EngineService::list_models() {
  std::vector<api::ModelEntry> out;
  for (const CatalogEntry& e : catalog_->list()) {
    api::ModelEntry me;
    me.name = e.name;
    me.modified_at = e.modified_at;
    me.size = e.size;
    me.digest = e.digest;
    try {
      ModelFacts f = read_model_facts(e.dir);
      me.details = f.details;
      me.capabilities = f.capabilities;
    } catch (const std::exception& ex) {
      log::warn("model {}: {}", e.name, ex.what());
    }
    out.push_back(std::move(me));
  }
  return out;
}

api::ModelShow EngineService::show(const std::string& name, bool verbose) {
  (void)verbose;
  std::optional<CatalogEntry> e = catalog_->find(name);
  if (!e) throw api::ApiError(404, "model '" + with_default_tag(name) + "' not found");
  api::ModelShow s;
  ModelFacts f = read_model_facts(e->dir);
  s.details = f.details;
  s.model_info = f.model_info;
  s.capabilities = f.capabilities;
  s.modified_at = e->modified_at;
  const Json& mf = e->modelfile;
  try {
    tmpl::ChatTemplates t = tmpl::load_chat_templates(e->dir);
    if (!t.empty()) s.template_text = t.sources.begin()->second;
    if (t.sources.count("default")) s.template_text = t.sources.at("default");
  } catch (const std::exception& ex) {
    log::warn("model {}: {}", e->name, ex.what());
  }
  if (mf.contains("template") && mf["template"].is_string()) s.template_text = mf["template"].get<std::string>();
  if (mf.contains("system") && mf["system"].is_string()) s.system = mf["system"].get<std::string>();
  if (mf.contains("license") && mf["license"].is_string()) s.license = mf["license"].get<std::string>();
  if (mf.contains("messages") && mf["messages"].is_array()) s.messages = mf["messages"];
  // parameters: one line per value, key padded to 30 columns, strings quoted (Go %#v style).
  std::string params;
  if (mf.contains("parameters") && mf["parameters"].is_object()) {
    for (const auto& [k, v] : mf["parameters"].items()) {
      const std::string key = k;  // clang 14 cannot capture a structured binding
      auto line = [&](const Json& x) {
        params += fmt::format("{:<30} {}\n", key, x.is_string() ? Json(x.get<std::string>()).dump() : x.dump());
      };
      if (v.is_array())
        for (const auto& x : v) line(x);
      else
        line(v);
    }
  }
  if (!params.empty()) params.pop_back();
  s.parameters = params;
  std::string mfile = "# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM " +
                      e->name + "\n\nFROM " + e->dir + "\n";
  if (!s.template_text.empty()) mfile += "TEMPLATE \"\"\"" + s.template_text + "\"\"\"\n";
  if (!s.system.empty()) mfile += "SYSTEM \"\"\"" + s.system + "\"\"\"\n";
  if (!params.empty()) {
    size_t pos = 0;
    std::string p = params + "\n";
    while (pos < p.size()) {
      size_t nl = p.find('\n', pos);
      std::string ln = p.substr(pos, nl - pos);
      // collapse the padding: "PARAMETER key value"
      size_t sp = ln.find(' ');
      size_t val = ln.find_first_not_of(' ', sp);
      mfile += "PARAMETER " + ln.substr(0, sp) + " " + ln.substr(val) + "\n";
      pos = nl + 1;
    }
  }
  if (!s.license.empty()) mfile += "LICENSE \"\"\"" + s.license + "\"\"\"\n";
  s.modelfile = mfile;
  return s;
}

std::vector<api::RunningModel> EngineService::running() { return residency_.running(); }

void EngineService::copy(const std::string& source, const std::string& destination) {
  catalog_->copy(source, destination);
}

void EngineService::remove(const std::string& name) {
  std::optional<CatalogEntry> e = catalog_->find(name);
  if (!e) throw api::ApiError(404, "model '" + name + "' not found");
  residency_.unload(e->name);
  catalog_->remove(name);
}

void EngineService::pull(const api::PullRequest& request, const api::ProgressSink& sink) {
  catalog_->pull(request, sink);
}

bool EngineService::has_blob(const std::string& digest) { return catalog_->has_blob(digest); }

bool EngineService::put_blob(const std::string& digest, const api::BodyReader& body) {
  return catalog_->put_blob(digest, body);
}

void EngineService::create(const api::CreateRequest& request, const api::ProgressSink& sink) {
  catalog_->create(request, sink);
}

}  // namespace ollmlx::service
