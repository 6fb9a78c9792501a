#include "cli/status_text.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <cstdio>

#include "cli/table.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb::cli {
namespace {

using Align = Table::Align;

std::string health_name(v1::TargetStatus::Health health) {
  switch (health) {
    case v1::TargetStatus::HEALTHY:
      return "healthy";
    case v1::TargetStatus::UNHEALTHY:
      return "unhealthy";
    default:
      return "-";
  }
}

std::string state_name(v1::WorkerStatus::State state) {
  switch (state) {
    case v1::WorkerStatus::CONNECTING:
      return "connecting";
    case v1::WorkerStatus::CONNECTED:
      return "connected";
    case v1::WorkerStatus::BACKOFF:
      return "backoff";
    case v1::WorkerStatus::STOPPING:
      return "stopping";
    default:
      return "-";
  }
}

std::string num(std::uint64_t n) { return str_cat(n); }

}  // namespace

std::string to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    // Only possible for messages with unresolvable Any fields, which the API does not use.
    return "{}";
  }
  return out;
}

std::string human_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return str_cat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

std::string format_proto_duration(const google::protobuf::Duration& duration, bool whole_seconds) {
  using google::protobuf::util::TimeUtil;
  return jsontcplb::format_duration(
      whole_seconds
          ? std::chrono::nanoseconds(std::chrono::seconds(TimeUtil::DurationToSeconds(duration)))
          : std::chrono::nanoseconds(TimeUtil::DurationToNanoseconds(duration)));
}

std::string format_targets(const v1::Status& status) {
  Table table({{"TARGET"},
               {"CONNECTIONS", Align::kRight},
               {"HEALTH"},
               {"SENT LINES", Align::kRight},
               {"SENT BYTES", Align::kRight},
               {"RESENT", Align::kRight},
               {"UNACKED", Align::kRight}});
  for (const auto& t : status.targets()) {
    table.add_row({t.address(), str_cat(t.connections_connected(), "/", t.connections_wanted()),
                   health_name(t.health()), num(t.sent_lines()), human_bytes(t.sent_bytes()),
                   num(t.resent_lines()), human_bytes(t.unacked_bytes())});
  }
  return table.render();
}

std::string format_status(const v1::Status& s) {
  const v1::Totals& t = s.totals();
  std::string out;
  str_append(out, "json-tcp-lb ", s.version().empty() ? "(unknown version)" : s.version(), ", up ",
             format_proto_duration(s.uptime(), true), s.draining() ? ", DRAINING" : "", "\n");
  str_append(out, "generation ", s.generation(), ", config version ",
             s.config_version().empty() ? "-" : s.config_version(), ", default connections ",
             s.default_connections(), ", failback interval ",
             format_proto_duration(s.failback_interval(), false), "\n");
  str_append(out, "queue ", human_bytes(s.queue_bytes()), " of ",
             human_bytes(s.queue_capacity_bytes()), " (", s.queue_lines(), " lines), unacked ",
             human_bytes(s.unacked_bytes()), "\n");
  str_append(out, "clients ", s.client_connections(), " connected, ", t.client_connections(),
             " since start\n");
  str_append(out, "received ", t.received_lines(), " lines (", human_bytes(t.received_bytes()),
             "), sent ", t.sent_lines(), " lines (", human_bytes(t.sent_bytes()), "), resent ",
             t.resent_lines(), ", rejected long lines ", t.rejected_long_lines(), "\n");
  str_append(out, "failovers ", t.failovers(), ", failbacks ", t.failbacks(), ", reconnects ",
             t.reconnects(), ", discarded target bytes ", t.discarded_target_bytes(), "\n");
  str_append(out, "\n", format_targets(s));

  Table workers({{"WORKER"}, {"HOME"}, {"CURRENT"}, {"STATE"}, {"UNACKED", Align::kRight}});
  for (const auto& w : s.workers()) {
    workers.add_row({w.name(), w.home_target(),
                     w.current_target().empty() ? "-" : w.current_target(), state_name(w.state()),
                     human_bytes(w.unacked_bytes())});
  }
  str_append(out, "\n", workers.render());
  return out;
}

std::string format_change(const v1::ChangeResponse& response) {
  return str_cat(response.message().empty() ? "done" : response.message(), " (generation ",
                 response.generation(), ")\n");
}

}  // namespace jsontcplb::cli
