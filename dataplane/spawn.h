#pragma once

#include <exception>
#include <string>

#include "dataplane/core/log.h"

namespace jsontcplb {

/// Completion handler for co_spawn: never a silent `detached`; an escaping exception is logged.
inline auto log_if_thrown(std::string what) {
  return [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      LB_LOG(kError, what, " stopped: ", ex.what());
    }
  };
}

}  // namespace jsontcplb
