#pragma once

#include <ostream>

#include "dataplane/core/batch.h"
#include "dataplane/core/flag_parser.h"
#include "dataplane/core/live_config.h"
#include "dataplane/core/log.h"
#include "dataplane/core/options.h"
#include "dataplane/core/target_address.h"

namespace jsontcplb {

// Readable GoogleTest failure messages for core types (found by argument-dependent lookup).
inline void PrintTo(const TargetAddress& address, std::ostream* os) {
  *os << "TargetAddress{host=\"" << address.host << "\", port=" << address.port << "}";
}

inline void PrintTo(const TargetSpec& spec, std::ostream* os) {
  *os << "TargetSpec{" << spec.address.to_string() << ", connections=" << spec.connections << "}";
}

inline void PrintTo(const Batch& batch, std::ostream* os) {
  *os << "Batch{lines=" << batch.lines() << ", bytes=\"";
  for (char c : batch.bytes()) {
    if (c == '\n') {
      *os << "\\n";
    } else if (c == '\r') {
      *os << "\\r";
    } else {
      *os << c;
    }
  }
  *os << "\"}";
}

inline void PrintTo(ParsedOptions::Kind kind, std::ostream* os) {
  switch (kind) {
    case ParsedOptions::Kind::kRun:
      *os << "kRun";
      return;
    case ParsedOptions::Kind::kHelp:
      *os << "kHelp";
      return;
    case ParsedOptions::Kind::kError:
      *os << "kError";
      return;
  }
  *os << "Kind(" << static_cast<int>(kind) << ")";
}

inline void PrintTo(FlagParser::Outcome::Kind kind, std::ostream* os) {
  switch (kind) {
    case FlagParser::Outcome::Kind::kOk:
      *os << "kOk";
      return;
    case FlagParser::Outcome::Kind::kHelp:
      *os << "kHelp";
      return;
    case FlagParser::Outcome::Kind::kError:
      *os << "kError";
      return;
  }
  *os << "Kind(" << static_cast<int>(kind) << ")";
}

inline void PrintTo(LogLevel level, std::ostream* os) {
  static constexpr const char* kNames[] = {"kError", "kWarn", "kInfo", "kDebug"};
  int i = static_cast<int>(level);
  *os << (i >= 0 && i < 4 ? kNames[i] : "LogLevel(?)");
}

}  // namespace jsontcplb
