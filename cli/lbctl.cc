#include "cli/lbctl.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <charconv>
#include <ctime>
#include <iostream>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "cli/control_client.h"
#include "cli/interrupt.h"
#include "cli/status_text.h"
#include "dataplane/core/flag_parser.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/text_file.h"
#include "dataplane/core/units.h"

namespace jsontcplb::cli {
namespace {

using Args = std::span<const char* const>;
using Kind = FlagParser::Outcome::Kind;
using google::protobuf::util::TimeUtil;
using std::chrono::nanoseconds;

constexpr std::string_view kDnsPrefix = "dns:";

enum class Output { kTable, kJson };

struct Globals {
  ConnectionOptions connection;
  Output output = Output::kTable;
};

struct Io {
  std::ostream& out;
  std::ostream& err;
};

constexpr std::string_view kSummary =
    R"(lbctl: operate a running json-tcp-lb, or lb-controlplane (which configures a fleet of them),
through its gRPC control API. lbctl asks the server which of the two it is, every time.

  lbctl [flags] COMMAND [arguments] [flags]

Commands:
  status                      targets, workers, queue and counters (lb-controlplane: the
                              desired config and each data plane's state and counters)
  watch                       the status again on every change, until Ctrl-C
  targets list                the targets with their connections and counters
  targets set ADDR[,ADDR...]  replace the whole target list
  targets add ADDR            add one target
  targets remove ADDR         remove one target (its unacknowledged lines go to the others)
  connections set N           worker connections per target (every target, or -target ADDR)
  failback                    failed-over connections dial their home target now
  drain                       stop accepting clients, deliver everything, then exit

ADDR is HOST:PORT (IPv6 as [::1]:PORT). lb-controlplane also takes dns:NAME:PORT: one target
IP:PORT for every A/AAAA record of NAME, resolved again as the records change. Against
lb-controlplane every change applies to every data plane; drain, -target of connections set
and -expect-generation are json-tcp-lb's alone.

"lbctl COMMAND --help" lists a command's flags. The flags below may come before the command
or after it. Exit status: 0 done; 1 the server refused or failed the request, or could not be
reached (the reason is on stderr); 2 usage error.)";

// ---- flag values -------------------------------------------------------------------------

template <typename T>
std::optional<T> parse_uint(std::string_view text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

FlagParser::Setter store(std::string& target) {
  return [&target](std::string_view value) -> std::optional<std::string> {
    target = value;
    return std::nullopt;
  };
}

FlagParser::Setter store(std::optional<std::string>& target) {
  return [&target](std::string_view value) -> std::optional<std::string> {
    target = std::string(value);
    return std::nullopt;
  };
}

template <typename T>
FlagParser::Setter store_uint(std::optional<T>& target, T min) {
  return [&target, min](std::string_view value) -> std::optional<std::string> {
    auto n = parse_uint<T>(value);
    if (!n) {
      return str_cat("must be a whole number from ", min, " to ", std::numeric_limits<T>::max());
    }
    if (*n < min) return str_cat("must be at least ", min);
    target = *n;
    return std::nullopt;
  };
}

FlagParser::Setter store_duration(std::optional<nanoseconds>& target) {
  return [&target](std::string_view value) -> std::optional<std::string> {
    auto d = parse_duration(value);
    if (!d) return std::string("must be a duration such as 500ms, 5s or 1m");
    if (d->count() <= 0) return std::string("must be positive");
    target = *d;
    return std::nullopt;
  };
}

// The flags every level accepts, so `lbctl status -o json` works as well as
// `lbctl -o json status`.
void add_global_flags(FlagParser& parser, Globals& g) {
  parser.add("server", "HOST:PORT", "127.0.0.1:9001",
             "control API address: json-tcp-lb's, or lb-controlplane's (its default is "
             "127.0.0.1:9011)",
             store(g.connection.server));
  parser.add("token-file", "FILE", "",
             "send the bearer token in FILE (the one the server's -control-token-file holds)",
             store(g.connection.token_file));
  parser.add("tls-ca", "FILE", "",
             "connect with TLS and verify the server against the CA certificates in FILE",
             store(g.connection.tls_ca));
  parser.add("tls-cert", "FILE", "", "client certificate for mutual TLS (with -tls-key)",
             store(g.connection.tls_cert));
  parser.add("tls-key", "FILE", "", "private key of -tls-cert", store(g.connection.tls_key));
  parser.add("o", "FORMAT", "table",
             "output: table (for people) or json (the protobuf JSON mapping, one object per line)",
             [&g](std::string_view value) -> std::optional<std::string> {
               if (value == "table") {
                 g.output = Output::kTable;
               } else if (value == "json") {
                 g.output = Output::kJson;
               } else {
                 return std::string("must be table or json");
               }
               return std::nullopt;
             });
  parser.add("timeout", "DURATION", "5s",
             "deadline of each call (json-tcp-lb's watch stream has none)",
             [&g](std::string_view value) -> std::optional<std::string> {
               auto d = parse_duration(value);
               if (!d) return std::string("must be a duration such as 500ms, 5s or 1m");
               if (d->count() <= 0) return std::string("must be positive");
               g.connection.timeout = *d;
               return std::nullopt;
             });
}

// Go's flag package stops at the first argument that is not a flag, but commands take flags
// after their arguments too ("targets add HOST:PORT -connections 2"): parse again after each
// argument. Everything after "--" is an argument.
FlagParser::Outcome parse_interspersed(const FlagParser& parser, Args args) {
  std::size_t flags_end = 0;
  while (flags_end < args.size() && std::string_view(args[flags_end]) != "--") ++flags_end;
  Args rest = args.first(flags_end);
  FlagParser::Outcome result;
  for (;;) {
    FlagParser::Outcome outcome = parser.parse(rest);
    if (outcome.kind != Kind::kOk) return outcome;
    if (outcome.positional.empty()) break;
    result.positional.push_back(std::move(outcome.positional.front()));
    rest = rest.last(outcome.positional.size() - 1);
  }
  for (std::size_t i = flags_end + 1; i < args.size(); ++i) result.positional.emplace_back(args[i]);
  return result;
}

int usage_error(Io& io, std::string_view command, std::string_view message) {
  io.err << "lbctl: " << message << " (see lbctl " << command << (command.empty() ? "" : " ")
         << "--help)\n";
  return kExitUsage;
}

// ---- commands ----------------------------------------------------------------------------

struct Spec {
  std::string_view path;       // "targets set"
  std::string_view arguments;  // "ADDR[,ADDR...]"
  std::string_view description;
  std::size_t min_args = 0;
  std::size_t max_args = 0;
};

// A command's arguments, or the exit code when it ends here (help, usage error).
using Parsed = std::variant<std::vector<std::string>, int>;

Parsed parse_command(const Spec& spec, FlagParser& parser, Globals& g, Args args, Io& io) {
  add_global_flags(parser, g);
  FlagParser::Outcome outcome = parse_interspersed(parser, args);
  const std::string name = str_cat("lbctl ", spec.path);
  if (outcome.kind == Kind::kHelp) {
    io.out << parser.usage(name, str_cat("  ", name, spec.arguments.empty() ? "" : " ",
                                         spec.arguments, " [flags]\n\n", spec.description));
    return kExitOk;
  }
  if (outcome.kind == Kind::kError) return usage_error(io, spec.path, outcome.message);
  const std::size_t n = outcome.positional.size();
  if (n > spec.max_args) {
    return usage_error(io, spec.path,
                       str_cat("unexpected argument \"", outcome.positional[spec.max_args], "\""));
  }
  if (n < spec.min_args) return usage_error(io, spec.path, str_cat("missing ", spec.arguments));
  return std::move(outcome.positional);
}

int fail(const ControlClient& client, const grpc::Status& status, Io& io) {
  io.err << "lbctl: " << client.describe_failure(status) << "\n";
  return kExitFailed;
}

// What the server cannot do, found out after asking which server it is: exit 1, not a usage
// error, since the same command line works against the other one.
int refuse(Io& io, std::string_view message) {
  io.err << "lbctl: " << message << "\n";
  return kExitFailed;
}

grpc::Status get_status(ControlClient& client, v1::Status* status) {
  v1::GetStatusRequest request;
  return client.unary([&](grpc::ClientContext* context) {
    return client.stub().GetStatus(context, request, status);
  });
}

grpc::Status get_fleet_status(ControlClient& client, v1::FleetStatus* status) {
  v1::GetFleetStatusRequest request;
  return client.unary([&](grpc::ClientContext* context) {
    return client.fleet_stub().GetFleetStatus(context, request, status);
  });
}

// The server a command talks to. lb-controlplane serves FleetControl and json-tcp-lb does not
// (gRPC answers UNIMPLEMENTED), so one GetFleetStatus tells them apart; for a control plane
// `fleet` keeps its answer, which is all that status and targets list need.
struct Server {
  std::unique_ptr<ControlClient> client;
  std::optional<v1::FleetStatus> fleet;
};

// The server, or the exit code when there is none to talk to (unreadable files, no answer).
std::variant<Server, int> connect(const Globals& g, Io& io) {
  auto created = ControlClient::create(g.connection);
  if (auto* error = std::get_if<std::string>(&created)) {
    io.err << "lbctl: " << *error << "\n";
    return kExitUsage;
  }
  Server server{std::move(std::get<std::unique_ptr<ControlClient>>(created)), std::nullopt};
  v1::FleetStatus fleet;
  grpc::Status probe = get_fleet_status(*server.client, &fleet);
  if (probe.ok()) {
    server.fleet = std::move(fleet);
  } else if (probe.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
    return fail(*server.client, probe, io);
  }
  return server;
}

int refuse_expect_generation(const Globals& g, Io& io) {
  return refuse(io, str_cat("--expect-generation is for a data plane; lb-controlplane at ",
                            g.connection.server,
                            " does not take it (its changes apply to every data plane)"));
}

// Calls one change RPC of `stub` with the deadline and prints its response (ChangeResponse or
// FleetChangeResponse), or the refusal.
template <typename Stub, typename Request, typename Response>
int run_change(const Globals& g, Io& io, ControlClient& client, Stub& stub,
               grpc::Status (Stub::*call)(grpc::ClientContext*, const Request&, Response*),
               const Request& request) {
  Response response;
  grpc::Status status = client.unary(
      [&](grpc::ClientContext* context) { return (stub.*call)(context, request, &response); });
  if (!status.ok()) return fail(client, status, io);
  io.out << (g.output == Output::kJson ? to_json(response) + "\n" : format_change(response));
  return kExitOk;
}

// The entries of `targets set` arguments; an argument may hold several, comma-separated.
std::vector<std::string> target_entries(const std::vector<std::string>& args) {
  std::vector<std::string> entries;
  // No checks here: the server validates and names what is wrong.
  for (const std::string& arg : args) {
    if (trim_space(arg).empty()) continue;  // `targets set ""`: an empty list, for the server
    std::string_view rest = arg;
    for (;;) {
      const auto comma = rest.find(',');
      entries.emplace_back(trim_space(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return entries;
}

// "dns:NAME:PORT" stands for every A/AAAA record of NAME; anything else is an address.
v1::FleetTarget fleet_target(std::string_view entry, std::uint32_t connections) {
  v1::FleetTarget target;
  if (entry.starts_with(kDnsPrefix)) {
    target.set_dns(std::string(entry.substr(kDnsPrefix.size())));
  } else {
    target.set_address(std::string(entry));
  }
  target.set_connections(connections);
  return target;
}

// json-tcp-lb would call "dns:name:5000" an IPv6 address without brackets; say what it is.
std::optional<int> refuse_dns_entry(const Globals& g, Io& io, std::string_view entry) {
  if (!entry.starts_with(kDnsPrefix)) return std::nullopt;
  return refuse(
      io,
      str_cat("\"", entry, "\": dns:NAME:PORT is for lb-controlplane; json-tcp-lb at ",
              g.connection.server, " takes HOST:PORT (it resolves a host name when it connects)"));
}

// Whether stdout is a terminal that a table watch redraws.
bool redraw_screen(const Globals& g, const Io& io) {
  return g.output == Output::kTable && io.out.rdbuf() == std::cout.rdbuf() &&
         ::isatty(STDOUT_FILENO) == 1;
}

// One table update of a watch, under the local time.
void print_table_update(Io& io, bool redraw, const std::string& table) {
  char when[32] = "";
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  if (::localtime_r(&now, &local) != nullptr) {
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
  }
  if (redraw) io.out << "\033[H\033[2J";  // cursor home, clear screen
  io.out << "=== " << when << "\n" << table << "\n";
}

// What a fleet watch compares: the status without the fields that move with the clock alone.
std::string without_clock(v1::FleetStatus status) {
  status.clear_uptime();
  for (v1::DataPlaneStatus& d : *status.mutable_data_planes()) d.clear_last_contact();
  return status.SerializeAsString();
}

// lb-controlplane has no status stream: ask every `interval` and print what changed.
int watch_fleet(const Globals& g, Io& io, ControlClient& client, v1::FleetStatus status,
                nanoseconds interval) {
  CancelOnInterrupt interrupt(nullptr);
  const bool redraw = redraw_screen(g, io);
  std::string shown;
  for (;;) {
    if (std::string now = without_clock(status); now != shown) {
      if (g.output == Output::kJson) {
        io.out << to_json(status) << "\n";
      } else {
        print_table_update(io, redraw, format_fleet_status(status));
      }
      io.out.flush();
      shown = std::move(now);
    }
    if (interrupt.wait_for(interval)) return kExitOk;
    auto context = client.make_context(true);
    interrupt.set_context(context.get());
    grpc::Status s =
        client.fleet_stub().GetFleetStatus(context.get(), v1::GetFleetStatusRequest(), &status);
    interrupt.set_context(nullptr);
    if (interrupt.interrupted()) return kExitOk;
    if (!s.ok()) return fail(client, s, io);
  }
}

int cmd_status(Globals& g, Args args, Io& io) {
  FlagParser parser;
  Parsed parsed = parse_command(
      {"status", "",
       "Shows the targets, the workers, the queue and the counters. Against lb-controlplane:\n"
       "its version and uptime, the desired config (version, targets, default connections,\n"
       "failback interval), one row per data plane (DATA PLANE, STATE synced, pending,\n"
       "rejected or unreachable, REPORTED VERSION, GENERATION, RECEIVED and SENT lines, QUEUE,\n"
       "CLIENTS, LAST ERROR), the totals and the conditions worth a look. With -o json: the\n"
       "Status or FleetStatus message."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  if (server.fleet) {
    io.out << (g.output == Output::kJson ? to_json(*server.fleet) + "\n"
                                         : format_fleet_status(*server.fleet));
    return kExitOk;
  }
  ControlClient& client = *server.client;
  v1::Status status;
  if (grpc::Status s = get_status(client, &status); !s.ok()) return fail(client, s, io);
  io.out << (g.output == Output::kJson ? to_json(status) + "\n" : format_status(status));
  return kExitOk;
}

int cmd_watch(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<nanoseconds> interval;
  parser.add("interval", "DURATION", "1s",
             "longest time between two updates (json-tcp-lb allows 100ms at least); "
             "lb-controlplane is asked this often",
             store_duration(interval));
  Parsed parsed = parse_command(
      {"watch", "",
       "Shows the status now and again on every change (and at least every -interval) until\n"
       "Ctrl-C or until the server ends the stream. Against lb-controlplane: asks for the\n"
       "fleet status every -interval and shows it when it changed, until Ctrl-C or until a\n"
       "call fails. With -o json: one object per line."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  if (server.fleet) {
    return watch_fleet(g, io, *server.client, *std::move(server.fleet),
                       interval.value_or(std::chrono::seconds(1)));
  }
  ControlClient& client = *server.client;
  v1::WatchStatusRequest request;
  if (interval) *request.mutable_interval() = TimeUtil::NanosecondsToDuration(interval->count());
  auto context = client.make_context(false);
  CancelOnInterrupt cancel(context.get());
  auto reader = client.stub().WatchStatus(context.get(), request);
  const bool redraw = redraw_screen(g, io);
  std::uint64_t updates = 0;
  for (v1::Status status; reader->Read(&status); ++updates) {
    if (g.output == Output::kJson) {
      io.out << to_json(status) << "\n";
    } else {
      print_table_update(io, redraw, format_status(status));
    }
    io.out.flush();
  }
  grpc::Status status = reader->Finish();
  if (status.ok() || cancel.interrupted()) return kExitOk;
  if (updates > 0) {
    // It was reachable: the server went away (it drained or stopped) or broke the stream.
    io.err << "lbctl: json-tcp-lb at " << g.connection.server
           << " ended the watch: " << status_code_name(status.error_code()) << ": "
           << status.error_message() << "\n";
    return kExitFailed;
  }
  return fail(client, status, io);
}

int cmd_targets_list(Globals& g, Args args, Io& io) {
  FlagParser parser;
  Parsed parsed = parse_command(
      {"targets list", "",
       "Lists the targets with their connections, health and counters. With -o json:\n"
       "{\"generation\": ..., \"targets\": [TargetStatus...]}. Against lb-controlplane: the\n"
       "desired targets (DNS names resolved) with their connections; with -o json:\n"
       "{\"configVersion\": ..., \"targets\": [Target...]}."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  if (server.fleet) {
    if (g.output == Output::kTable) {
      io.out << format_fleet_targets(*server.fleet);
      return kExitOk;
    }
    const v1::DataPlaneConfig& desired = server.fleet->desired();
    google::protobuf::Value version;  // a JSON string, quoted and escaped
    version.set_string_value(desired.config_version());
    std::string json = str_cat("{\"configVersion\":", to_json(version), ",\"targets\":[");
    for (int i = 0; i < desired.targets_size(); ++i) {
      if (i > 0) json += ",";
      json += to_json(desired.targets(i));
    }
    io.out << json << "]}\n";
    return kExitOk;
  }
  ControlClient& client = *server.client;
  v1::Status status;
  if (grpc::Status s = get_status(client, &status); !s.ok()) return fail(client, s, io);
  if (g.output == Output::kTable) {
    io.out << format_targets(status);
    return kExitOk;
  }
  std::string json = str_cat("{\"generation\":\"", status.generation(), "\",\"targets\":[");
  for (int i = 0; i < status.targets_size(); ++i) {
    if (i > 0) json += ",";
    json += to_json(status.targets(i));
  }
  io.out << json << "]}\n";
  return kExitOk;
}

int cmd_targets_set(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<std::uint32_t> connections;
  std::optional<nanoseconds> failback_interval;
  std::optional<std::string> config_version;
  std::optional<std::uint64_t> expected;
  parser.add("connections", "N", "unchanged", "default worker connections per target",
             store_uint<std::uint32_t>(connections, 1));
  parser.add("failback-interval", "DURATION", "unchanged",
             "how often a failed-over connection dials its home target",
             store_duration(failback_interval));
  parser.add("config-version", "TEXT", "",
             "version string to record with this configuration (json-tcp-lb only: "
             "lb-controlplane derives its own)",
             store(config_version));
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION; "
             "json-tcp-lb only)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"targets set", "ADDR[,ADDR...]",
       "Replaces the whole target list (HOST:PORT, IPv6 as [::1]:PORT; several arguments are\n"
       "joined). Targets no longer listed stop receiving; their unacknowledged lines go to the\n"
       "others. Connections and failback interval stay as they are unless given; they are\n"
       "read first, and the change then applies only if nothing else changed in between\n"
       "(unless -expect-generation says which generation to expect).\n\n"
       "Against lb-controlplane the list is the fleet's: every data plane gets it. There an\n"
       "entry may also be dns:NAME:PORT, one target IP:PORT for every A/AAAA record of NAME\n"
       "(resolved again as the records change).",
       1, std::numeric_limits<std::size_t>::max()},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::vector<std::string> entries =
      target_entries(std::get<std::vector<std::string>>(parsed));
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  ControlClient& client = *server.client;

  if (server.fleet) {
    if (expected) return refuse_expect_generation(g, io);
    if (config_version) {
      return refuse(
          io, str_cat("--config-version is for a data plane; lb-controlplane at ",
                      g.connection.server, " derives the config version from the config itself"));
    }
    v1::FleetSetTargetsRequest request;
    for (const std::string& entry : entries) *request.add_targets() = fleet_target(entry, 0);
    request.set_connections(connections.value_or(0));  // 0 keeps the fleet default
    if (failback_interval) {
      *request.mutable_failback_interval() =
          TimeUtil::NanosecondsToDuration(failback_interval->count());
    }
    return run_change(g, io, client, client.fleet_stub(), &v1::FleetControl::Stub::SetTargets,
                      request);
  }

  v1::SetTargetsRequest request;
  v1::DataPlaneConfig& config = *request.mutable_config();
  for (const std::string& entry : entries) {
    if (auto code = refuse_dns_entry(g, io, entry)) return *code;
    config.add_targets()->set_address(entry);
  }
  if (!connections || !failback_interval) {
    v1::Status current;
    if (grpc::Status s = get_status(client, &current); !s.ok()) return fail(client, s, io);
    if (!connections) connections = current.default_connections();
    if (!failback_interval) *config.mutable_failback_interval() = current.failback_interval();
    if (!expected) expected = current.generation();
  }
  config.set_connections(*connections);
  if (failback_interval)
    *config.mutable_failback_interval() =
        TimeUtil::NanosecondsToDuration(failback_interval->count());
  config.set_config_version(config_version.value_or(""));
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, client, client.stub(), &v1::DataPlaneControl::Stub::SetTargets, request);
}

int cmd_targets_add(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<std::uint32_t> connections;
  std::optional<std::uint64_t> expected;
  parser.add("connections", "N", "the default", "worker connections to this target",
             store_uint<std::uint32_t>(connections, 1));
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION; "
             "json-tcp-lb only)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"targets add", "ADDR",
       "Adds one target (HOST:PORT, IPv6 as [::1]:PORT). Against lb-controlplane: to every\n"
       "data plane, and ADDR may also be dns:NAME:PORT (one target for every A/AAAA record).",
       1, 1},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::string& entry = std::get<std::vector<std::string>>(parsed)[0];
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  ControlClient& client = *server.client;
  if (server.fleet) {
    if (expected) return refuse_expect_generation(g, io);
    v1::FleetAddTargetRequest request;
    *request.mutable_target() = fleet_target(entry, connections.value_or(0));
    return run_change(g, io, client, client.fleet_stub(), &v1::FleetControl::Stub::AddTarget,
                      request);
  }
  if (auto code = refuse_dns_entry(g, io, entry)) return *code;
  v1::AddTargetRequest request;
  request.mutable_target()->set_address(entry);
  request.mutable_target()->set_connections(connections.value_or(0));
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, client, client.stub(), &v1::DataPlaneControl::Stub::AddTarget, request);
}

int cmd_targets_remove(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<std::uint64_t> expected;
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION; "
             "json-tcp-lb only)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"targets remove", "ADDR",
       "Removes one target: its connections stop taking lines and close; what the target has\n"
       "not acknowledged goes to the other targets. Against lb-controlplane: from every data\n"
       "plane; ADDR is the entry as it was given, an address or dns:NAME:PORT.",
       1, 1},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::string& entry = std::get<std::vector<std::string>>(parsed)[0];
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  ControlClient& client = *server.client;
  if (server.fleet) {
    if (expected) return refuse_expect_generation(g, io);
    v1::FleetRemoveTargetRequest request;
    std::string_view target = entry;
    if (target.starts_with(kDnsPrefix)) target.remove_prefix(kDnsPrefix.size());
    request.set_target(std::string(target));
    return run_change(g, io, client, client.fleet_stub(), &v1::FleetControl::Stub::RemoveTarget,
                      request);
  }
  v1::RemoveTargetRequest request;
  request.set_address(entry);
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, client, client.stub(), &v1::DataPlaneControl::Stub::RemoveTarget,
                    request);
}

int cmd_connections_set(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::string target;
  std::optional<std::uint64_t> expected;
  parser.add("target", "ADDR", "every target",
             "change only this target (else every target and the default for new ones; "
             "json-tcp-lb only)",
             store(target));
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION; "
             "json-tcp-lb only)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"connections set", "N",
       "Sets the number of worker connections per target (the server allows 1 to 1024).\n"
       "Against lb-controlplane: the default of every data plane (targets set or targets add\n"
       "with -connections give one target its own).\n",
       1, 1},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::string& text = std::get<std::vector<std::string>>(parsed)[0];
  auto n = parse_uint<std::uint32_t>(text);
  if (!n) {
    return usage_error(io, "connections set",
                       str_cat("invalid connection count \"", text, "\": must be a whole number"));
  }
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  ControlClient& client = *server.client;
  if (server.fleet) {
    if (!target.empty()) {
      return refuse(io,
                    "--target is for a data plane; a control plane sets the fleet default (use "
                    "targets set/add --connections for one target)");
    }
    if (expected) return refuse_expect_generation(g, io);
    v1::FleetSetConnectionsRequest request;
    request.set_connections(*n);
    return run_change(g, io, client, client.fleet_stub(), &v1::FleetControl::Stub::SetConnections,
                      request);
  }
  v1::SetConnectionsRequest request;
  request.set_connections(*n);
  request.set_target(target);
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, client, client.stub(), &v1::DataPlaneControl::Stub::SetConnections,
                    request);
}

int cmd_failback(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::string target;
  parser.add("target", "ADDR", "every target", "only the workers whose home is this target",
             store(target));
  Parsed parsed = parse_command(
      {"failback", "",
       "Failed-over connections dial their home target now instead of at the next failback\n"
       "interval; each switches once its new connection is up. Against lb-controlplane: on\n"
       "every data plane."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  ControlClient& client = *server.client;
  v1::TriggerFailbackRequest request;
  request.set_target(target);
  if (server.fleet) {
    return run_change(g, io, client, client.fleet_stub(), &v1::FleetControl::Stub::TriggerFailback,
                      request);
  }
  return run_change(g, io, client, client.stub(), &v1::DataPlaneControl::Stub::TriggerFailback,
                    request);
}

int cmd_drain(Globals& g, Args args, Io& io) {
  FlagParser parser;
  Parsed parsed = parse_command(
      {"drain", "",
       "json-tcp-lb stops accepting clients, reads the connected ones to the end, delivers\n"
       "everything and exits 0, as on SIGTERM. For json-tcp-lb only: lb-controlplane refuses."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto connected = connect(g, io);
  if (auto* code = std::get_if<int>(&connected)) return *code;
  Server& server = std::get<Server>(connected);
  ControlClient& client = *server.client;
  if (server.fleet) {
    return refuse(io,
                  str_cat("drain is a data-plane command; lb-controlplane at ", g.connection.server,
                          " does not drain (run it against a json-tcp-lb)"));
  }
  return run_change(g, io, client, client.stub(), &v1::DataPlaneControl::Stub::Drain,
                    v1::DrainRequest());
}

// ---- dispatch ----------------------------------------------------------------------------

using Handler = int (*)(Globals&, Args, Io&);
struct Subcommand {
  std::string_view name;
  Handler handler;
};

// "targets" and "connections": a word that needs a subcommand.
int run_group(std::string_view group, std::string_view summary,
              std::initializer_list<Subcommand> subcommands, Globals& g, Args args, Io& io) {
  FlagParser parser;
  add_global_flags(parser, g);
  FlagParser::Outcome outcome = parser.parse(args);
  const std::string usage = parser.usage(str_cat("lbctl ", group), summary);
  if (outcome.kind == Kind::kHelp) {
    io.out << usage;
    return kExitOk;
  }
  if (outcome.kind == Kind::kError) return usage_error(io, group, outcome.message);
  if (outcome.positional.empty()) {
    return usage_error(io, group, str_cat(group, " needs a subcommand"));
  }
  std::vector<const char*> rest;
  for (std::size_t i = 1; i < outcome.positional.size(); ++i) {
    rest.push_back(outcome.positional[i].c_str());
  }
  for (const Subcommand& sub : subcommands) {
    if (sub.name == outcome.positional[0]) return sub.handler(g, rest, io);
  }
  return usage_error(io, group,
                     str_cat("unknown command \"", group, " ", outcome.positional[0], "\""));
}

}  // namespace

int run_lbctl(Args args, std::ostream& out, std::ostream& err) {
  Io io{out, err};
  Globals g;
  FlagParser parser;
  add_global_flags(parser, g);
  FlagParser::Outcome outcome = parser.parse(args);
  if (outcome.kind == Kind::kHelp) {
    out << parser.usage("lbctl", kSummary);
    return kExitOk;
  }
  if (outcome.kind == Kind::kError) return usage_error(io, "", outcome.message);
  if (outcome.positional.empty()) return usage_error(io, "", "missing COMMAND");
  const std::string& command = outcome.positional[0];
  std::vector<const char*> rest;
  for (std::size_t i = 1; i < outcome.positional.size(); ++i) {
    rest.push_back(outcome.positional[i].c_str());
  }
  if (command == "help") {
    out << parser.usage("lbctl", kSummary);
    return kExitOk;
  }
  if (command == "status") return cmd_status(g, rest, io);
  if (command == "watch") return cmd_watch(g, rest, io);
  if (command == "targets") {
    return run_group("targets",
                     "  lbctl targets list|set|add|remove ...\n\n"
                     "  list                        the targets with their counters\n"
                     "  set ADDR[,ADDR...]          replace the whole target list\n"
                     "  add ADDR                    add one target\n"
                     "  remove ADDR                 remove one target\n\n"
                     "\"lbctl targets COMMAND --help\" lists a command's flags.",
                     {{"list", cmd_targets_list},
                      {"set", cmd_targets_set},
                      {"add", cmd_targets_add},
                      {"remove", cmd_targets_remove}},
                     g, rest, io);
  }
  if (command == "connections") {
    return run_group("connections",
                     "  lbctl connections set N [-target ADDR] [-expect-generation G]\n\n"
                     "  set N                       worker connections per target\n\n"
                     "\"lbctl connections set --help\" lists its flags.",
                     {{"set", cmd_connections_set}}, g, rest, io);
  }
  if (command == "failback") return cmd_failback(g, rest, io);
  if (command == "drain") return cmd_drain(g, rest, io);
  return usage_error(io, "", str_cat("unknown command \"", command, "\""));
}

}  // namespace jsontcplb::cli
