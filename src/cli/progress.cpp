#include "cli/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "cli/format.h"

namespace ollmlx::cli {
namespace {

constexpr const char* kFrames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
constexpr auto kTick = std::chrono::milliseconds(100);

std::string trim_spaces(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string spaces(int n) { return n > 0 ? std::string(static_cast<size_t>(n), ' ') : ""; }

std::string repeat(const char* s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Right-aligns `s` in 6 bytes, as the bar's `repeat(" ", 6-len(s)) + s`.
std::string pad6(const std::string& s) { return spaces(6 - static_cast<int>(s.size())) + s; }

// Go's Duration.Round(time.Second).Seconds() (halves away from zero).
double round_seconds(SteadyClock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  return std::round(s);
}

}  // namespace

Spinner::Spinner(std::string message, SteadyClock::time_point start)
    : message_(std::move(message)), start_(start) {}

void Spinner::stop(SteadyClock::time_point) { stopped_ = true; }

void Spinner::set_message(std::string message) { message_ = std::move(message); }

std::string Spinner::render(int, SteadyClock::time_point now) const {
  std::string out;
  const std::string msg = trim_spaces(message_);
  if (!msg.empty()) out += msg + " ";
  if (!stopped_) {
    const auto ticks = std::max<int64_t>(0, (now - start_) / kTick);
    out += kFrames[ticks % 10];
    out += " ";
  }
  return out;
}

std::string format_eta(int64_t seconds) {
  if (seconds >= 100 * 3600) return "99h+";
  if (seconds >= 3600) return fmt::format("{}h{}m", seconds / 3600, (seconds / 60) % 60);
  return go_duration(seconds * 1000000000LL);
}

Bar::Bar(std::string message, int64_t total, int64_t initial, SteadyClock::time_point start)
    : message_(std::move(message)), total_(total), initial_(initial), current_(initial),
      start_(start) {
  if (initial >= total) {
    stopped_ = true;
    stopped_at_ = start;
  }
}

void Bar::set(int64_t value, SteadyClock::time_point now) {
  if (value >= total_) value = total_;
  current_ = value;
  if (current_ >= total_ && !stopped_) {
    stopped_ = true;
    stopped_at_ = now;
  }
  // At most one bucket per second, the last 10 kept.
  if (buckets_.empty() || now - buckets_.back().updated > std::chrono::seconds(1)) {
    buckets_.push_back({now, value});
    if (buckets_.size() > 10) buckets_.erase(buckets_.begin());
  }
}

double Bar::percent() const {
  return total_ > 0 ? static_cast<double>(current_) / static_cast<double>(total_) * 100 : 0;
}

double Bar::rate() const {
  double num = 0, den = 0;
  if (stopped_) {
    num = static_cast<double>(current_ - initial_);
    den = round_seconds(stopped_at_ - start_);
  } else if (buckets_.size() == 1) {
    num = static_cast<double>(buckets_[0].value - initial_);
    den = round_seconds(buckets_[0].updated - start_);
  } else if (buckets_.size() > 1) {
    num = static_cast<double>(buckets_.back().value - buckets_.front().value);
    den = round_seconds(buckets_.back().updated - buckets_.front().updated);
  }
  return den != 0 ? num / den : 0;
}

std::string Bar::render(int term_width, SteadyClock::time_point) const {
  std::string pre;
  const std::string msg = trim_spaces(message_);
  if (!msg.empty()) pre += msg + " ";
  pre += fmt::format("{:3.0f}%", percent());

  std::string suf;
  if (!stopped_) {
    suf += pad6(human_bytes(current_)) + "/" + pad6(human_bytes(total_));
  } else {
    suf += pad6(human_bytes(total_)) + spaces(7);
  }
  const double r = rate();
  if (!stopped_ && r > 0) {
    suf += "  " + pad6(human_bytes(static_cast<int64_t>(r))) + "/s";
    const int64_t remaining = static_cast<int64_t>(static_cast<double>(total_ - current_) / r);
    suf += "  " + pad6(format_eta(remaining));
  } else {
    suf += spaces(10) + spaces(8);
  }

  const int f = term_width - static_cast<int>(pre.size()) - static_cast<int>(suf.size()) - 5;
  const int n = static_cast<int>(f * percent() / 100);
  std::string mid = " ▕";
  mid += repeat("█", n);
  mid += spaces(f - n);
  mid += "▏ ";
  return pre + mid + suf;
}

int terminal_width(int fd) {
  struct winsize ws {};
  if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

int terminal_height(int fd) {
  struct winsize ws {};
  if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_row;
}

Progress::Progress(FILE* out) : Progress(out, isatty(fileno(out)) != 0) {}

Progress::Progress(FILE* out, bool tty) : out_(out), tty_(tty) {
  thread_ = std::thread([this] { loop(); });
}

Progress::~Progress() { stop(); }

Spinner* Progress::add_spinner(const std::string& message) {
  auto s = std::make_unique<Spinner>(message);
  Spinner* p = s.get();
  std::lock_guard<std::mutex> lock(mu_);
  states_.push_back(std::move(s));
  printed_.push_back(false);
  return p;
}

Bar* Progress::add_bar(const std::string& message, int64_t total, int64_t initial) {
  auto b = std::make_unique<Bar>(message, total, initial);
  Bar* p = b.get();
  std::lock_guard<std::mutex> lock(mu_);
  states_.push_back(std::move(b));
  printed_.push_back(false);
  return p;
}

void Progress::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!done_) {
    cv_.wait_for(lock, kTick, [this] { return done_; });
    if (done_) break;
    if (tty_) render_locked();
    else flush_finished_locked(false);
  }
}

void Progress::render_locked() {
  const int fd = fileno(out_);
  int width = terminal_width(fd);
  if (width <= 0) width = 80;
  int height = terminal_height(fd);
  if (height <= 0) height = 24;
  const auto now = SteadyClock::now();
  std::string buf = "\033[?2026h\033[?25l";
  for (size_t i = 1; i < pos_; ++i) buf += "\033[A";
  buf += "\033[1G";
  const size_t shown = std::min(states_.size(), static_cast<size_t>(height));
  for (size_t i = states_.size() - shown; i < states_.size(); ++i) {
    buf += states_[i]->render(width, now);
    buf += "\033[K";
    if (i + 1 < states_.size()) buf += "\n";
  }
  buf += "\033[?25h\033[?2026l";
  std::fwrite(buf.data(), 1, buf.size(), out_);
  std::fflush(out_);
  pos_ = states_.size();
}

void Progress::flush_finished_locked(bool all) {
  const auto now = SteadyClock::now();
  for (size_t i = 0; i < states_.size(); ++i) {
    if (printed_[i]) continue;
    if (!all && !states_[i]->finished()) break;  // keep the lines in order
    printed_[i] = true;
    std::string line = states_[i]->render(80, now);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.empty()) continue;
    line += "\n";
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  std::fflush(out_);
}

bool Progress::halt() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return false;
    stopped_ = true;
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : states_) {
    if (auto* sp = dynamic_cast<Spinner*>(s.get())) sp->stop();
  }
  if (tty_) render_locked();
  else flush_finished_locked(true);
  return true;
}

void Progress::stop() {
  if (!halt()) return;
  if (tty_) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fputs("\n", out_);
    std::fflush(out_);
  }
}

void Progress::stop_and_clear() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (!tty_) return;  // nothing was drawn
  std::string buf = "\033[?25l";
  for (size_t i = 0; i < pos_; ++i) {
    if (i > 0) buf += "\033[A";
    buf += "\033[2K\033[1G";
  }
  buf += "\033[?25h";
  std::fwrite(buf.data(), 1, buf.size(), out_);
  std::fflush(out_);
  pos_ = 0;
}

}  // namespace ollmlx::cli
