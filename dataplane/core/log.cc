#include "dataplane/core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace jsontcplb {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

constexpr std::string_view kLevelNames[] = {"ERROR", "WARN", "INFO", "DEBUG"};

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(); }

void log_line(LogLevel level, std::string_view message) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t seconds = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[40];
  std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line(stamp, n);
  line += '.';
  line += static_cast<char>('0' + millis / 100);
  line += static_cast<char>('0' + millis / 10 % 10);
  line += static_cast<char>('0' + millis % 10);
  line += "Z ";
  line += kLevelNames[static_cast<int>(level)];
  line += ' ';
  line += message;
  line += '\n';
  // One write per line so lines from different threads never interleave.
  for (std::size_t off = 0; off < line.size();) {
    ssize_t w = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (w <= 0) break;
    off += static_cast<std::size_t>(w);
  }
}

bool parse_log_level(std::string_view text, LogLevel& level) {
  for (int i = 0; i < 4; ++i) {
    std::string lower(kLevelNames[i]);
    for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
    if (text == lower || text == kLevelNames[i] || (i == 1 && text == "warning")) {
      level = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

}  // namespace jsontcplb
