#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <string>

#include "dataplane/core/log.h"

namespace jsontcplb {

namespace asio = boost::asio;

/// Completion token for co_await on an operation whose error is ordinary control flow (EOF,
/// refused, timeout, cancelled): the error comes back as a value instead of an exception.
inline constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

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
