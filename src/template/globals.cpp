// Global functions of transformers' chat-template environment: jinja2's range (sandboxed to
// 100000 items), cycler and joiner, and transformers' dict, namespace, raise_exception and
// strftime_now. Nothing here touches files, the environment or the network.
#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "template/builtins.h"
#include "template/failure.h"
#include "template/interp.h"
#include "template/objects.h"

namespace ollmlx::tmpl {

namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

int64_t range_arg(const Value& v) {
  if (v.is_integral()) return v.as_int();
  if (v.is_undefined()) fail_undefined(v);
  failf(ErrorKind::Type, "'{}' object cannot be interpreted as an integer", type_name(v));
}

Value g_range(Interp& in, CallArgs& args) {
  if (!args.kw.empty()) fail(ErrorKind::Type, "range() takes no keyword arguments");
  if (args.pos.empty() || args.pos.size() > 3) {
    failf(ErrorKind::Type, "range expected at most 3 arguments, got {}", args.pos.size());
  }
  int64_t start = 0, stop = 0, step = 1;
  if (args.pos.size() == 1) {
    stop = range_arg(args.pos[0]);
  } else {
    start = range_arg(args.pos[0]);
    stop = range_arg(args.pos[1]);
    if (args.pos.size() == 3) step = range_arg(args.pos[2]);
  }
  if (step == 0) fail(ErrorKind::Value, "range() arg 3 must not be zero");
  const long double span =
      step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  const long double count_ld = span <= 0 ? 0
                                         : (span + std::abs(static_cast<long double>(step)) - 1) /
                                               std::abs(static_cast<long double>(step));
  const auto count = static_cast<int64_t>(count_ld);
  if (count > kMaxRange) {
    failf(ErrorKind::Value, "Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).",
          kMaxRange);
  }
  in.charge(static_cast<uint64_t>(count));
  auto data = std::make_shared<ListData>();
  data->kind = ListKind::Range;
  data->range[0] = start;
  data->range[1] = stop;
  data->range[2] = step;
  for (int64_t i = 0; i < count; ++i) data->items.push_back(Value::integer(start + i * step));
  return Value::list(std::move(data));
}

// dict(*args, **kwargs) as Python builds it.
std::shared_ptr<DictData> build_dict(Interp& in, const CallArgs& args, std::string_view what) {
  if (args.pos.size() > 1)
    failf(ErrorKind::Type, "{} expected at most 1 argument, got {}", what, args.pos.size());
  auto d = std::make_shared<DictData>();
  if (!args.pos.empty()) {
    const Value& src = args.pos[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : src.dict().items()) d->set(k, v);
    } else {
      size_t i = 0;
      for (const Value& item : in.iterate(src)) {
        std::vector<Value> kv = in.iterate(item);
        if (kv.size() != 2) {
          failf(ErrorKind::Value,
                "dictionary update sequence element #{} has length {}; 2 is required", i,
                kv.size());
        }
        hash_key(kv[0]);
        d->set(kv[0], kv[1]);
        ++i;
      }
    }
  }
  for (const auto& [k, v] : args.kw) d->set(Value::string(k), v);
  return d;
}

Value g_dict(Interp& in, CallArgs& args) { return Value::dict(build_dict(in, args, "dict")); }

Value g_fromkeys(Interp& in, CallArgs& args) {
  auto a = bind_args(args, "fromkeys", {"iterable", "value"}, 1);
  auto d = std::make_shared<DictData>();
  const Value value = a[1] ? *a[1] : Value::none();
  for (const Value& k : in.iterate(*a[0])) {
    hash_key(k);
    d->set(k, value);
  }
  return Value::dict(std::move(d));
}

Value g_namespace(Interp& in, CallArgs& args) {
  auto d = build_dict(in, args, "namespace");
  auto ns = std::make_shared<Namespace>();
  in.track(ns);
  for (const auto& [k, v] : d->items()) {
    if (!k.is_str()) fail(ErrorKind::Type, "namespace attribute names must be strings");
    ns->set(k.str(), v);
  }
  return Value::object(std::move(ns));
}

Value g_cycler(Interp& in, CallArgs& args) {
  if (args.pos.empty()) fail(ErrorKind::Runtime, "at least one item has to be provided");
  auto c = std::make_shared<Cycler>(args.pos);
  in.track(c);
  return Value::object(std::move(c));
}

Value g_joiner(Interp&, CallArgs& args) {
  auto a = bind_args(args, "joiner", {"sep"});
  return Value::object(std::make_shared<Joiner>(a[0] ? to_str(*a[0]) : ", "));
}

Value g_raise_exception(Interp&, CallArgs& args) {
  auto a = bind_args(args, "raise_exception", {"message"}, 1);
  fail(ErrorKind::Raised, to_str(*a[0]));
}

std::tm local_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

Value g_strftime_now(Interp& in, CallArgs& args) {
  auto a = bind_args(args, "strftime_now", {"format"}, 1);
  if (!a[0]->is_str())
    failf(ErrorKind::Type, "strftime() argument 1 must be str, not {}", type_name(*a[0]));
  // datetime.strftime handles %f, %z and %Z itself (a naive datetime: empty zone).
  std::string format;
  const std::string& src = a[0]->str();
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '%' && i + 1 < src.size()) {
      const char c = src[i + 1];
      if (c == 'f') {
        format += "000000";
        ++i;
        continue;
      }
      if (c == 'z' || c == 'Z') {
        ++i;
        continue;
      }
      format += src.substr(i, 2);
      ++i;
      continue;
    }
    format += src[i];
  }
  const std::tm tm = in.options().now ? in.options().now() : local_now();
  if (format.empty()) return Value::string("");
  in.check_size(format.size() * 64);
  for (size_t cap = 256; cap <= std::max<size_t>(4096, format.size() * 64); cap *= 2) {
    std::string buf(cap, '\0');
    const size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
    if (n > 0) {
      buf.resize(n);
      return Value::string(std::move(buf));
    }
  }
  return Value::string("");
}

}  // namespace

void add_globals(DictData& globals) {
  auto add = [&](const char* name, BuiltinFunction::Fn fn) {
    auto f = std::make_shared<BuiltinFunction>(name, std::move(fn));
    globals.set(Value::string(name), Value::object(f));
    return f;
  };
  add("range", g_range);
  add("dict", g_dict)
      ->add_attribute("fromkeys",
                      Value::object(std::make_shared<BuiltinFunction>("fromkeys", g_fromkeys)));
  add("namespace", g_namespace);
  add("cycler", g_cycler);
  add("joiner", g_joiner);
  add("raise_exception", g_raise_exception);
  add("strftime_now", g_strftime_now);
}

}  // namespace ollmlx::tmpl
