#include "gguf_builder.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "util/half.h"

namespace ollmlx::test {
namespace {

template <typename T>
void put(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s.append(b, sizeof(T));
}

void put_str(std::string& s, const std::string& v) {
  put<uint64_t>(s, v.size());
  s += v;
}

}  // namespace

void GgufBuilder::u32(const std::string& key, uint32_t v) {
  std::string b;
  put(b, v);
  raw(key, 4, b);
}
void GgufBuilder::i32(const std::string& key, int32_t v) {
  std::string b;
  put(b, v);
  raw(key, 5, b);
}
void GgufBuilder::u64(const std::string& key, uint64_t v) {
  std::string b;
  put(b, v);
  raw(key, 10, b);
}
void GgufBuilder::f32(const std::string& key, float v) {
  std::string b;
  put(b, v);
  raw(key, 6, b);
}
void GgufBuilder::boolean(const std::string& key, bool v) { raw(key, 7, std::string(1, v ? 1 : 0)); }
void GgufBuilder::str(const std::string& key, const std::string& v) {
  std::string b;
  put_str(b, v);
  raw(key, 8, b);
}
void GgufBuilder::strs(const std::string& key, const std::vector<std::string>& v) {
  std::string b;
  put<uint32_t>(b, 8);
  put<uint64_t>(b, v.size());
  for (const auto& s : v) put_str(b, s);
  raw(key, 9, b);
}
void GgufBuilder::i32s(const std::string& key, const std::vector<int32_t>& v) {
  std::string b;
  put<uint32_t>(b, 5);
  put<uint64_t>(b, v.size());
  for (int32_t x : v) put(b, x);
  raw(key, 9, b);
}
void GgufBuilder::f32s(const std::string& key, const std::vector<float>& v) {
  std::string b;
  put<uint32_t>(b, 6);
  put<uint64_t>(b, v.size());
  for (float x : v) put(b, x);
  raw(key, 9, b);
}
void GgufBuilder::raw(const std::string& key, uint32_t type, const std::string& value_bytes) {
  kv_.push_back({key, type, value_bytes});
}

void GgufBuilder::tensor(const std::string& name, const std::vector<int64_t>& ne, uint32_t type,
                         const std::string& data) {
  tensors_.push_back({name, ne, type, data});
}

bool GgufBuilder::drop(const std::string& name) {
  for (auto it = kv_.begin(); it != kv_.end(); ++it)
    if (it->key == name) {
      kv_.erase(it);
      return true;
    }
  for (auto it = tensors_.begin(); it != tensors_.end(); ++it)
    if (it->name == name) {
      tensors_.erase(it);
      return true;
    }
  return false;
}

std::string* GgufBuilder::data_of(const std::string& tensor_name) {
  for (T& t : tensors_)
    if (t.name == tensor_name) return &t.data;
  return nullptr;
}

std::string GgufBuilder::build(uint32_t version, uint32_t alignment, Layout* layout) const {
  Layout l;
  std::string s = "GGUF";
  put<uint32_t>(s, version);
  put<uint64_t>(s, tensors_.size());
  put<uint64_t>(s, kv_.size() + (alignment ? 1 : 0));
  l.kv_start = s.size();
  auto add_kv = [&](const std::string& key, uint32_t type, const std::string& value) {
    l.kv.push_back(s.size());
    put_str(s, key);
    put<uint32_t>(s, type);
    s += value;
  };
  if (alignment) {
    std::string b;
    put<uint32_t>(b, alignment);
    add_kv("general.alignment", 4, b);
  }
  for (const Kv& kv : kv_) add_kv(kv.key, kv.type, kv.value);
  const uint64_t align = alignment ? alignment : 32;
  l.tensors_start = s.size();
  uint64_t offset = 0;
  for (const T& t : tensors_) {
    l.tensor_records.push_back(s.size());
    put_str(s, t.name);
    put<uint32_t>(s, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<int64_t>(s, d);
    put<uint32_t>(s, t.type);
    put<uint64_t>(s, offset);
    offset += (t.data.size() + align - 1) / align * align;
  }
  s.resize((s.size() + align - 1) / align * align, '\0');
  l.data_start = s.size();
  for (const T& t : tensors_) {
    s += t.data;
    s.resize((s.size() + align - 1) / align * align, '\0');
  }
  if (layout) *layout = l;
  return s;
}

std::string byte_level_char(uint8_t b) {
  // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
  auto printable = [](int c) { return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255); };
  uint32_t cp = b;
  if (!printable(b)) {
    int n = 0;
    for (int c = 0; c < b; ++c)
      if (!printable(c)) ++n;
    cp = 256 + static_cast<uint32_t>(n);
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

std::vector<std::string> tiny_tokens() {
  std::vector<std::string> t = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (int b = 0; b < 256; ++b) t.push_back(byte_level_char(static_cast<uint8_t>(b)));
  for (const char* m : {"he", "ll", "llo", "hello"}) t.push_back(m);
  return t;
}

std::vector<SpmPiece> tiny_spm_pieces() {
  std::vector<SpmPiece> p = {{"<pad>", 0, 3}, {"<eos>", 0, 3}, {"<bos>", 0, 3}, {"<unk>", 0, 2},
                             {"<start_of_turn>", 0, 3}, {"<end_of_turn>", 0, 3}};
  for (int b = 0; b < 256; ++b) p.push_back({fmt::format("<0x{:02X}>", b), 0, 6});
  // USER_DEFINED as llama.cpp writes them: -1000, and "▁" pre-normalized to " ".
  p.push_back({"\n\n", -1000, 4});
  p.push_back({"  ", -1000, 4});
  float score = -1;
  for (const char* n : {"\xe2\x96\x81", "h", "e", "l", "o", "w", "r", "d", "ll", "he", "llo", "hello",
                        "\xe2\x96\x81hello", "\xe2\x96\x81w", "or", "ld", "\xe2\x96\x81wor",
                        "\xe2\x96\x81world", "\n"})
    p.push_back({n, score--, 1});
  return p;
}

void add_spm_tokenizer(GgufBuilder& g, const std::vector<SpmPiece>& pieces, bool add_space_prefix) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const SpmPiece& p : pieces) {
    tokens.push_back(p.text);
    scores.push_back(p.score);
    types.push_back(p.type);
  }
  g.str("tokenizer.ggml.model", "llama");
  g.str("tokenizer.ggml.pre", "default");
  g.strs("tokenizer.ggml.tokens", tokens);
  g.f32s("tokenizer.ggml.scores", scores);
  g.i32s("tokenizer.ggml.token_type", types);
  g.u32("tokenizer.ggml.bos_token_id", 2);
  g.u32("tokenizer.ggml.eos_token_id", 1);
  g.u32("tokenizer.ggml.unknown_token_id", 3);
  g.u32("tokenizer.ggml.padding_token_id", 0);
  g.boolean("tokenizer.ggml.add_bos_token", true);
  g.boolean("tokenizer.ggml.add_space_prefix", add_space_prefix);
}

std::string tiny_llama_gguf(const TinyLlama& t) {
  std::mt19937 rng(t.seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  const int H = t.hidden, F = t.ffn, NH = t.heads, NKV = t.kv_heads, HD = H / NH;
  const bool gemma = t.arch == "gemma2" || t.arch == "gemma3";
  const std::vector<std::string> tokens = tiny_tokens();
  const int64_t V = gemma ? static_cast<int64_t>(tiny_spm_pieces().size()) : static_cast<int64_t>(tokens.size());

  GgufBuilder g;
  const std::string A = t.arch + ".";
  g.str("general.architecture", t.arch);
  g.str("general.name", t.name);
  g.u32(A + "block_count", static_cast<uint32_t>(t.layers));
  g.u32(A + "context_length", 512);
  g.u32(A + "embedding_length", static_cast<uint32_t>(H));
  g.u32(A + "feed_forward_length", static_cast<uint32_t>(F));
  g.u32(A + "attention.head_count", static_cast<uint32_t>(NH));
  g.u32(A + "attention.head_count_kv", static_cast<uint32_t>(NKV));
  if (t.arch == "qwen3" || gemma) {
    g.u32(A + "attention.key_length", static_cast<uint32_t>(HD));
    g.u32(A + "attention.value_length", static_cast<uint32_t>(HD));
  } else {
    g.u32(A + "rope.dimension_count", static_cast<uint32_t>(HD));
  }
  g.f32(A + "attention.layer_norm_rms_epsilon", 1e-5f);
  g.f32(A + "rope.freq_base", gemma ? 1e6f : 10000.0f);
  if (gemma) {
    g.u32(A + "attention.sliding_window", 8);
    add_spm_tokenizer(g, tiny_spm_pieces(), false);
  } else {
    g.str("tokenizer.ggml.model", "gpt2");
    g.str("tokenizer.ggml.pre", "smollm");
    g.strs("tokenizer.ggml.tokens", tokens);
    std::vector<int32_t> types(tokens.size(), 1);
    types[0] = types[1] = types[2] = 3;
    g.i32s("tokenizer.ggml.token_type", types);
    g.strs("tokenizer.ggml.merges", {"h e", "l l", "ll o", "he llo"});
    g.u32("tokenizer.ggml.bos_token_id", 1);
    g.u32("tokenizer.ggml.eos_token_id", 2);
    g.u32("tokenizer.ggml.padding_token_id", 2);
    g.boolean("tokenizer.ggml.add_bos_token", false);
    if (t.chat_template)
      g.str("tokenizer.chat_template",
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
  }

  auto f16 = [&](float v) {
    std::string b(2, '\0');
    const uint16_t h = f32_to_f16(v);
    std::memcpy(b.data(), &h, 2);
    return b;
  };
  auto floats = [&](int64_t n, float scale, float offset, uint32_t type) {
    std::string s;
    for (int64_t i = 0; i < n; ++i) {
      const float v = offset + scale * uni(rng);
      if (type == 0) {
        s.append(reinterpret_cast<const char*>(&v), 4);
      } else if (type == 1) {
        s += f16(v);
      } else {  // 30: bf16
        const uint16_t h = f32_to_bf16(v);
        s.append(reinterpret_cast<const char*>(&h), 2);
      }
    }
    return s;
  };
  auto kblocks = [&](int64_t n, uint32_t type) {
    // K-quant super-blocks: random bytes with the f16 scale fields set to small positive values.
    struct K {
      int size;
      std::vector<int> d_offsets;
    };
    const K k = type == 10 ? K{84, {80, 82}} : type == 11 ? K{110, {108}} : type == 12 ? K{144, {0, 2}}
              : type == 13 ? K{176, {0, 2}} : K{210, {208}};
    std::string s;
    for (int64_t b = 0; b < n / 256; ++b) {
      std::string blk(static_cast<size_t>(k.size), '\0');
      for (char& c : blk) c = static_cast<char>(byte(rng));
      for (int off : k.d_offsets) blk.replace(static_cast<size_t>(off), 2, f16(0.0005f + 0.001f * (uni(rng) + 1.0f)));
      s += blk;
    }
    return s;
  };
  auto blocks = [&](int64_t n, uint32_t type) {
    if (type >= 10 && type <= 14) return kblocks(n, type);
    std::string s;
    for (int64_t b = 0; b < n / 32; ++b) {
      const float d = 0.002f + 0.004f * (uni(rng) + 1.0f);
      s += f16(d);
      int rest = 0;
      switch (type) {
        case 2: rest = 16; break;                                // Q4_0
        case 3: s += f16(-8.0f * d); rest = 16; break;           // Q4_1
        case 6: rest = 20; break;                                // Q5_0
        case 7: s += f16(-16.0f * d); rest = 20; break;          // Q5_1
        case 8: rest = 32; break;                                // Q8_0
        default: throw std::runtime_error("tiny_llama_gguf: unsupported block type");
      }
      for (int i = 0; i < rest; ++i) s += static_cast<char>(byte(rng));
    }
    return s;
  };
  auto weight = [&](const std::string& name, int64_t in, int64_t out, uint32_t type) {
    const int64_t n = in * out;
    if (t.all_f32) type = 0;
    g.tensor(name, {in, out}, type, type == 0 || type == 1 || type == 30 ? floats(n, 0.08f, 0.0f, type) : blocks(n, type));
  };
  weight("token_embd.weight", H, V, t.embed_type);
  g.tensor("output_norm.weight", {H}, 0, floats(H, 0.1f, 1.0f, 0));
  if (!t.tied) weight("output.weight", H, V, t.output_type);
  for (int i = 0; i < t.layers; ++i) {
    const uint32_t* ty = t.layer_types.data() + 7 * (i % 2);
    const std::string p = "blk." + std::to_string(i) + ".";
    g.tensor(p + "attn_norm.weight", {H}, 0, floats(H, 0.1f, 1.0f, 0));
    g.tensor(p + "ffn_norm.weight", {H}, 0, floats(H, 0.1f, 1.0f, 0));
    if (gemma) {
      g.tensor(p + "post_attention_norm.weight", {H}, 0, floats(H, 0.1f, 1.0f, 0));
      g.tensor(p + "post_ffw_norm.weight", {H}, 0, floats(H, 0.1f, 1.0f, 0));
    }
    weight(p + "attn_q.weight", H, NH * HD, ty[0]);
    weight(p + "attn_k.weight", H, NKV * HD, ty[1]);
    weight(p + "attn_v.weight", H, NKV * HD, ty[2]);
    weight(p + "attn_output.weight", NH * HD, H, ty[3]);
    weight(p + "ffn_gate.weight", H, F, ty[4]);
    weight(p + "ffn_up.weight", H, F, ty[5]);
    weight(p + "ffn_down.weight", F, H, ty[6]);
    if (t.arch == "qwen2") {
      auto bias = [&](int64_t n) { return t.zero_bias ? std::string(static_cast<size_t>(n) * 4, '\0') : floats(n, 0.05f, 0.0f, 0); };
      g.tensor(p + "attn_q.bias", {NH * HD}, 0, bias(NH * HD));
      g.tensor(p + "attn_k.bias", {NKV * HD}, 0, bias(NKV * HD));
      g.tensor(p + "attn_v.bias", {NKV * HD}, 0, bias(NKV * HD));
    }
    if (t.arch == "qwen3" || t.arch == "gemma3") {
      g.tensor(p + "attn_q_norm.weight", {HD}, 0, floats(HD, 0.1f, 1.0f, 0));
      g.tensor(p + "attn_k_norm.weight", {HD}, 0, floats(HD, 0.1f, 1.0f, 0));
    }
  }
  if (t.arch == "phi3") {
    // The same function as the llama model of the same seed: Q/K rows back in Hugging Face
    // order (GGUF row h*hd + 2b + a -> HF row h*hd + a*hd/2 + b), then fused as llama.cpp
    // writes phi3: attn_qkv = Q | K | V, ffn_up = gate | up.
    auto take = [&](const std::string& name) {
      const std::string d = *g.data_of(name);
      g.drop(name);
      return d;
    };
    auto unpermute = [&](const std::string& d, int heads) {
      const size_t rows = static_cast<size_t>(heads * HD), row = d.size() / rows;
      std::string hf(d.size(), '\0');
      for (size_t r = 0; r < rows; ++r) {
        const size_t h = r / HD, a = (r % HD) / (HD / 2), b = r % (HD / 2);
        std::memcpy(hf.data() + r * row, d.data() + (h * HD + 2 * b + a) * row, row);
      }
      return hf;
    };
    for (int i = 0; i < t.layers; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      const uint32_t* ty = t.layer_types.data() + 7 * (i % 2);
      if (!t.all_f32 && (ty[0] != ty[1] || ty[1] != ty[2] || ty[4] != ty[5]))
        throw std::runtime_error("tiny_llama_gguf: phi3 needs one type for q/k/v and one for gate/up");
      const uint32_t qkv_type = t.all_f32 ? 0 : ty[0], gu_type = t.all_f32 ? 0 : ty[4];
      const std::string q = unpermute(take(p + "attn_q.weight"), NH), k = unpermute(take(p + "attn_k.weight"), NKV);
      g.tensor(p + "attn_qkv.weight", {H, (NH + 2 * NKV) * HD}, qkv_type, q + k + take(p + "attn_v.weight"));
      const std::string gate = take(p + "ffn_gate.weight");
      g.tensor(p + "ffn_up.weight", {H, 2 * F}, gu_type, gate + take(p + "ffn_up.weight"));
    }
    if (t.rope_factors) {
      g.tensor("rope_factors_long.weight", {HD / 2}, 0, floats(HD / 2, 0.5f, 2.0f, 0));
      g.tensor("rope_factors_short.weight", {HD / 2}, 0, floats(HD / 2, 0.1f, 1.0f, 0));
      g.u32(A + "rope.scaling.original_context_length", 256);
    }
  }
  if (t.edit) t.edit(g);
  return g.build();
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::path temp_dir(const std::string& prefix) {
  static int counter = 0;
  const std::filesystem::path p = std::filesystem::temp_directory_path() /
                                  (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace ollmlx::test
