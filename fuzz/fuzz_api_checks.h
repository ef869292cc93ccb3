// The checks behind fuzz_api_json.cpp, shared with the unit test that replays the seed corpus
// (tests/unit/api/test_fuzz_corpus.cpp). Input layout: byte 0 picks the decoder, the rest is a
// request body:
//   'g' /api/generate  'c' /api/chat  's' show  'y' copy  'd' delete  'p' pull  'u' push
//   'r' create  'e' /api/embed  'm' /api/embeddings  'O' /v1/chat/completions
//   'C' /v1/completions  'E' /v1/embeddings  'o' an options object  'k' a keep_alive value
// Every body must decode or be refused with api::ApiError (never another exception, never a
// crash); decoded completions are answered through their wire format; any body that parses as
// JSON must survive a Go-style write/read round trip unchanged.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/completion_format.h"
#include "api/decode.h"
#include "api/go_json.h"
#include "api/keep_alive.h"
#include "api/openai.h"
#include "api/options.h"

#ifndef OLLMLX_FUZZ_FAIL
#define OLLMLX_FUZZ_FAIL(msg)                              \
  do {                                                     \
    std::fprintf(stderr, "fuzz check failed: %s\n", msg);  \
    std::abort();                                          \
  } while (0)
#endif

namespace ollmlx::api::fuzz {

// Answers a decoded completion with a chunk echoing its prompt / last message, streamed and
// whole, so the encoders see hostile strings too.
inline void answer(const CompletionRequest& r, CompletionFormat& f) {
  CompletionChunk c;
  c.content = r.prompt;
  if (!r.messages.empty()) {
    c.content += r.messages.back().content;
    c.thinking = r.messages.back().thinking;
    c.tool_calls = r.messages.back().tool_calls;
  }
  c.logprobs.push_back({c.content, -0.5, {1, 2}, {{c.thinking, -1.0, {}}}});
  CompletionResult res;
  res.done_reason = "stop";
  res.context = r.context;
  std::string out = f.chunk(c) + f.finish(res) + f.stream_error(500, c.content);
  f.add(c);
  out += f.whole(res).data;
  if (out.empty()) OLLMLX_FUZZ_FAIL("empty answer");
  (void)f.immediate(res);
}

inline void round_trip(std::string_view body) {
  Json v;
  try {
    v = parse_go_json(body);
  } catch (const ApiError&) {
    return;
  }
  const std::string once = go_json(v);
  const std::string twice = go_json(parse_go_json(once));
  if (once != twice) OLLMLX_FUZZ_FAIL("Go JSON write/read round trip changed the value");
}

inline void decode_one(char mode, std::string_view body) {
  switch (mode) {
    case 'g': {
      auto call = decode_generate(body);
      answer(call.request, *native_format(call.request));
      break;
    }
    case 'c': {
      auto call = decode_chat(body);
      answer(call.request, *native_format(call.request));
      break;
    }
    case 's': decode_show(body); break;
    case 'y': decode_copy(body); break;
    case 'd': decode_delete(body); break;
    case 'p': decode_pull(body); break;
    case 'u': decode_push(body); break;
    case 'r': decode_create(body); break;
    case 'e': decode_embed(body); break;
    case 'm': decode_embeddings(body); break;
    case 'O': {
      auto call = decode_openai_chat(body);
      answer(call.request, *openai_chat_format(call));
      break;
    }
    case 'C': {
      auto call = decode_openai_completion(body);
      answer(call.request, *openai_completion_format(call));
      break;
    }
    case 'E': decode_openai_embeddings(body); break;
    case 'o': decode_options(parse_go_json(body), "GenerateRequest"); break;
    case 'k': {
      const Json v = parse_go_json(body);
      if (!v.is_null()) parse_keep_alive(v);
      break;
    }
    default: break;
  }
}

inline void run_one(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const char mode = static_cast<char>(data[0]);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    decode_one(mode, body);
  } catch (const ApiError&) {
    // A refusal with a status and message, as the server answers it.
  }
  round_trip(body);
}

}  // namespace ollmlx::api::fuzz
