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

std::string fleet_state_name(v1::DataPlaneStatus::State state) {
  switch (state) {
    case v1::DataPlaneStatus::SYNCED:
      return "synced";
    case v1::DataPlaneStatus::PENDING:
      return "pending";
    case v1::DataPlaneStatus::REJECTED:
      return "rejected";
    case v1::DataPlaneStatus::UNREACHABLE:
      return "unreachable";
    default:
      return "-";
  }
}

std::string num(std::uint64_t n) { return str_cat(n); }

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

// "1 target", "2 targets".
std::string count_of(std::uint64_t n, std::string_view noun) {
  return str_cat(n, " ", noun, n == 1 ? "" : "s");
}

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
             human_bytes(s.unacked_bytes()), ", retained ", human_bytes(s.retained_bytes()), "\n");
  str_append(out, "clients ", s.client_connections(), " connected, ", t.client_connections(),
             " since start\n");
  str_append(out, "received ", t.received_lines(), " lines (", human_bytes(t.received_bytes()),
             "), sent ", t.sent_lines(), " lines (", human_bytes(t.sent_bytes()), "), resent ",
             t.resent_lines(), " (unacked ", t.resent_unacked_lines(), ", maybe unread ",
             t.resent_maybe_unread_lines(), "), rejected long lines ", t.rejected_long_lines(),
             "\n");
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

std::string format_fleet_status(const v1::FleetStatus& s) {
  const v1::DataPlaneConfig& desired = s.desired();
  std::string out;
  str_append(out, "lb-controlplane ", s.version().empty() ? "(unknown version)" : s.version(),
             ", up ", format_proto_duration(s.uptime(), true), ", desired config version ",
             or_dash(desired.config_version()), " (", count_of(desired.targets_size(), "target"),
             ", ",
             desired.connections() == 0 ? "the data planes' own default connections"
                                        : str_cat("default connections ", desired.connections()));
  if (desired.has_failback_interval()) {
    str_append(out, ", failback interval ",
               format_proto_duration(desired.failback_interval(), false));
  }
  out += ")\n\n";

  Table table({{"DATA PLANE"},
               {"STATE"},
               {"REPORTED VERSION"},
               {"GENERATION", Align::kRight},
               {"RECEIVED", Align::kRight},
               {"SENT", Align::kRight},
               {"QUEUE", Align::kRight},
               {"CLIENTS", Align::kRight},
               {"LAST ERROR"}});
  for (const auto& d : s.data_planes()) {
    table.add_row({d.address(), fleet_state_name(d.state()), or_dash(d.reported_config_version()),
                   num(d.generation()), num(d.received_lines()), num(d.sent_lines()),
                   human_bytes(d.queue_bytes()), num(d.client_connections()),
                   or_dash(d.last_error())});
  }
  out += table.render();

  const v1::FleetTotals& t = s.totals();
  str_append(out, "\ntotal ", count_of(t.data_planes(), "data plane"), " (", t.synced(),
             " synced), received ", t.received_lines(), " lines, sent ", t.sent_lines(),
             " lines, queue ", human_bytes(t.queue_bytes()), ", clients ", t.client_connections(),
             "\n");
  for (const std::string& condition : s.conditions())
    str_append(out, "condition: ", condition, "\n");
  return out;
}

std::string format_fleet_targets(const v1::FleetStatus& status) {
  const v1::DataPlaneConfig& desired = status.desired();
  // 0 means the default, which may itself be each data plane's own.
  const std::string by_default =
      desired.connections() == 0 ? "default" : str_cat(desired.connections(), " (default)");
  auto connections = [&](std::uint32_t n) { return n == 0 ? by_default : num(n); };
  std::string out;
  if (status.target_entries_size() > 0) {
    Table entries({{"TARGET ENTRY"}, {"CONNECTIONS", Align::kRight}});
    for (const auto& e : status.target_entries()) {
      entries.add_row(
          {e.has_dns() ? str_cat("dns:", e.dns()) : e.address(), connections(e.connections())});
    }
    out = entries.render();
    out += status.targets_overridden() ? "(a runtime override of the config file's targets)\n\n"
                                       : "(from the config file)\n\n";
  }
  Table table({{"TARGET"}, {"CONNECTIONS", Align::kRight}});
  for (const auto& t : desired.targets())
    table.add_row({t.address(), connections(t.connections())});
  return out + table.render();
}

std::string format_change(const v1::FleetChangeResponse& response) {
  return str_cat(response.message().empty() ? "done" : response.message(), " (config version ",
                 or_dash(response.config_version()), ")\n");
}

}  // namespace jsontcplb::cli
