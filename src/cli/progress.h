// Ollama's progress display on stderr: spinner lines ("pulling manifest ⠋") and bars
// ("pulling 6a0746a1ec1a:  45% ▕███████         ▏ 2.1 GB/4.7 GB   12 MB/s   3m30s"), redrawn in
// place every 100 ms. Spinner and Bar render to a string for a given width and instant (unit
// tested); Progress owns the redraw thread. When stderr is not a terminal nothing is animated:
// each line is written once, when it is final (a spinner replaced or stopped, a bar complete).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ollmlx::cli {

using SteadyClock = std::chrono::steady_clock;

class ProgressState {
 public:
  virtual ~ProgressState() = default;
  virtual std::string render(int term_width, SteadyClock::time_point now) const = 0;
  // Whether the line will not change any more (a stopped spinner, a complete bar).
  virtual bool finished() const = 0;
};

class Spinner : public ProgressState {
 public:
  explicit Spinner(std::string message, SteadyClock::time_point start = SteadyClock::now());
  void stop(SteadyClock::time_point when = SteadyClock::now());
  void set_message(std::string message);
  const std::string& message() const { return message_; }
  // "message ⠋ " while running ("⠋ " without a message), "message " once stopped.
  std::string render(int term_width, SteadyClock::time_point now) const override;
  bool finished() const override { return stopped_; }

 private:
  std::string message_;
  SteadyClock::time_point start_;
  bool stopped_ = false;
};

class Bar : public ProgressState {
 public:
  Bar(std::string message, int64_t total, int64_t initial,
      SteadyClock::time_point start = SteadyClock::now());
  void set(int64_t value, SteadyClock::time_point now = SteadyClock::now());
  std::string render(int term_width, SteadyClock::time_point now) const override;
  bool finished() const override { return stopped_; }
  double rate() const;  // bytes per second over the last 10 one-second buckets

 private:
  struct Bucket {
    SteadyClock::time_point updated;
    int64_t value;
  };
  double percent() const;

  std::string message_;
  int64_t total_, initial_, current_;
  SteadyClock::time_point start_, stopped_at_;
  bool stopped_ = false;
  std::vector<Bucket> buckets_;
};

// Go's formatDuration of the progress bar (remaining time): "59m59s", "1h30m", "99h+".
std::string format_eta(int64_t seconds);

class Progress {
 public:
  // `out` is normally stderr; `tty` says whether to animate (default: isatty(fileno(out))).
  explicit Progress(FILE* out = stderr);
  Progress(FILE* out, bool tty);
  ~Progress();  // stop()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds a line (below the others). The returned pointer stays valid until destruction.
  Spinner* add_spinner(const std::string& message);
  Bar* add_bar(const std::string& message, int64_t total, int64_t initial);
  // Updates to states must hold this lock (the redraw thread reads them).
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mu_); }

  // Stops spinners, draws the final frame and ends the line.
  void stop();
  // Stops and erases every line it drew (used while waiting for a model's first token).
  void stop_and_clear();
  bool tty() const { return tty_; }

 private:
  void loop();
  void render_locked();
  void flush_finished_locked(bool all);
  bool halt();  // stops the thread; true the first time

  FILE* out_;
  bool tty_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<ProgressState>> states_;
  std::vector<bool> printed_;  // non-TTY: lines already written
  size_t pos_ = 0;             // lines drawn by the last render
  bool done_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

// Terminal width of a file descriptor (0 when it is not a terminal).
int terminal_width(int fd);
int terminal_height(int fd);

}  // namespace ollmlx::cli
