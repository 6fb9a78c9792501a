#pragma once

#include <chrono>
#include <cstdint>

#include "tests/tools/load_gen.h"
#include "tests/tools/sink.h"
#include "tests/tools/verifier.h"

namespace lbtest {

/// Waits until every line of run `o` has reached `sink` at least once (or `timeout` passed) and
/// returns the report.
Report wait_for_run(const Sink& sink, const LoadGenOptions& o,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Every line of run `o` exactly once, nothing malformed; lines of other runs are ignored.
bool delivered_once(const Report& r, const LoadGenOptions& o);

/// After the proxy exited: waits until the sink has closed every connection, i.e. has read
/// every byte its kernel acknowledged. False on timeout.
bool wait_until_sink_drained(const Sink& sink,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace lbtest
