#include "tests/tools/delivery.h"

namespace lbtest {

Report wait_for_run(const Sink& sink, const LoadGenOptions& o, std::chrono::milliseconds timeout) {
  auto report = [&] {
    return sink.verifier().report(o.run_id, o.connections, o.lines_per_connection, o.first_stream);
  };
  sink.wait_until([&] { return report().missing == 0; }, timeout);
  return report();
}

bool delivered_once(const Report& r, const LoadGenOptions& o) {
  return r.ok == std::uint64_t{o.connections} * o.lines_per_connection && r.missing == 0 &&
         r.duplicate == 0 && r.malformed == 0;
}

bool wait_until_sink_drained(const Sink& sink, std::chrono::milliseconds timeout) {
  return sink.wait_until(
      [&] {
        for (std::size_t i = 0; i < sink.port_count(); ++i) {
          if (sink.connections(i) != 0) return false;
        }
        return true;
      },
      timeout);
}

}  // namespace lbtest
