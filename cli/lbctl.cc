#include "cli/lbctl.h"

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
    R"(lbctl: operate a running json-tcp-lb through its gRPC control API.

  lbctl [flags] COMMAND [arguments] [flags]

Commands:
  status                      targets, workers, queue and counters
  watch                       the status again on every change, until Ctrl-C
  targets list                the targets with their connections and counters
  targets set ADDR[,ADDR...]  replace the whole target list
  targets add ADDR            add one target
  targets remove ADDR         remove one target (its unacknowledged lines go to the others)
  connections set N           worker connections per target (every target, or -target ADDR)
  failback                    failed-over connections dial their home target now
  drain                       stop accepting clients, deliver everything, then exit

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
  parser.add("server", "HOST:PORT", "127.0.0.1:9001", "json-tcp-lb's control API address",
             store(g.connection.server));
  parser.add("token-file", "FILE", "",
             "send the bearer token in FILE (the one json-tcp-lb's -control-token-file holds)",
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
  parser.add("timeout", "DURATION", "5s", "deadline of each call (watch: of none)",
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

std::unique_ptr<ControlClient> connect(const Globals& g, Io& io) {
  auto created = ControlClient::create(g.connection);
  if (auto* error = std::get_if<std::string>(&created)) {
    io.err << "lbctl: " << *error << "\n";
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<ControlClient>>(created));
}

int fail(const ControlClient& client, const grpc::Status& status, Io& io) {
  io.err << "lbctl: " << client.describe_failure(status) << "\n";
  return kExitFailed;
}

grpc::Status get_status(ControlClient& client, v1::Status* status) {
  v1::GetStatusRequest request;
  return client.unary([&](grpc::ClientContext* context) {
    return client.stub().GetStatus(context, request, status);
  });
}

int print_change(const Globals& g, Io& io, const v1::ChangeResponse& response) {
  io.out << (g.output == Output::kJson ? to_json(response) + "\n" : format_change(response));
  return kExitOk;
}

// Calls one change RPC with the deadline and prints its ChangeResponse (or the refusal).
template <typename Request, typename Call>
int run_change(const Globals& g, Io& io, ControlClient& client, const Request& request, Call call) {
  v1::ChangeResponse response;
  grpc::Status status = client.unary([&](grpc::ClientContext* context) {
    return (client.stub().*call)(context, request, &response);
  });
  if (!status.ok()) return fail(client, status, io);
  return print_change(g, io, response);
}

int cmd_status(Globals& g, Args args, Io& io) {
  FlagParser parser;
  Parsed parsed =
      parse_command({"status", "", "Shows the targets, the workers, the queue and the counters."},
                    parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::Status status;
  if (grpc::Status s = get_status(*client, &status); !s.ok()) return fail(*client, s, io);
  io.out << (g.output == Output::kJson ? to_json(status) + "\n" : format_status(status));
  return kExitOk;
}

int cmd_watch(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<nanoseconds> interval;
  parser.add("interval", "DURATION", "1s",
             "longest time between two updates (the server allows 100ms at least)",
             store_duration(interval));
  Parsed parsed = parse_command(
      {"watch", "",
       "Shows the status now and again on every change (and at least every -interval) until\n"
       "Ctrl-C or until the server ends the stream. With -o json: one object per line."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::WatchStatusRequest request;
  if (interval) *request.mutable_interval() = TimeUtil::NanosecondsToDuration(interval->count());
  auto context = client->make_context(false);
  CancelOnInterrupt cancel(context.get());
  auto reader = client->stub().WatchStatus(context.get(), request);
  const bool redraw = g.output == Output::kTable && io.out.rdbuf() == std::cout.rdbuf() &&
                      ::isatty(STDOUT_FILENO) == 1;
  std::uint64_t updates = 0;
  for (v1::Status status; reader->Read(&status); ++updates) {
    if (g.output == Output::kJson) {
      io.out << to_json(status) << "\n";
    } else {
      char when[32] = "";
      const std::time_t now = std::time(nullptr);
      std::tm local{};
      if (::localtime_r(&now, &local) != nullptr) {
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
      }
      if (redraw) io.out << "\033[H\033[2J";  // cursor home, clear screen
      io.out << "=== " << when << "\n" << format_status(status) << "\n";
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
  return fail(*client, status, io);
}

int cmd_targets_list(Globals& g, Args args, Io& io) {
  FlagParser parser;
  Parsed parsed = parse_command(
      {"targets list", "",
       "Lists the targets with their connections, health and counters. With -o json:\n"
       "{\"generation\": ..., \"targets\": [TargetStatus...]}."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::Status status;
  if (grpc::Status s = get_status(*client, &status); !s.ok()) return fail(*client, s, io);
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
  parser.add("config-version", "TEXT", "", "version string to record with this configuration",
             store(config_version));
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"targets set", "ADDR[,ADDR...]",
       "Replaces the whole target list (HOST:PORT, IPv6 as [::1]:PORT; several arguments are\n"
       "joined). Targets no longer listed stop receiving; their unacknowledged lines go to the\n"
       "others. Connections and failback interval stay as they are unless given; they are\n"
       "read first, and the change then applies only if nothing else changed in between\n"
       "(unless -expect-generation says which generation to expect).",
       1, std::numeric_limits<std::size_t>::max()},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;

  v1::SetTargetsRequest request;
  v1::DataPlaneConfig& config = *request.mutable_config();
  // No checks here: the server validates and names what is wrong.
  for (const std::string& arg : std::get<std::vector<std::string>>(parsed)) {
    if (trim_space(arg).empty())
      continue;  // `targets set ""`: an empty list, for the server to judge
    std::string_view rest = arg;
    for (;;) {
      const auto comma = rest.find(',');
      config.add_targets()->set_address(std::string(trim_space(rest.substr(0, comma))));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (!connections || !failback_interval) {
    v1::Status current;
    if (grpc::Status s = get_status(*client, &current); !s.ok()) return fail(*client, s, io);
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
  return run_change(g, io, *client, request, &v1::DataPlaneControl::Stub::SetTargets);
}

int cmd_targets_add(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<std::uint32_t> connections;
  std::optional<std::uint64_t> expected;
  parser.add("connections", "N", "the default", "worker connections to this target",
             store_uint<std::uint32_t>(connections, 1));
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"targets add", "ADDR", "Adds one target (HOST:PORT, IPv6 as [::1]:PORT).", 1, 1}, parser, g,
      args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::AddTargetRequest request;
  request.mutable_target()->set_address(std::get<std::vector<std::string>>(parsed)[0]);
  request.mutable_target()->set_connections(connections.value_or(0));
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, *client, request, &v1::DataPlaneControl::Stub::AddTarget);
}

int cmd_targets_remove(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::optional<std::uint64_t> expected;
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"targets remove", "ADDR",
       "Removes one target: its connections stop taking lines and close; what the target has\n"
       "not acknowledged goes to the other targets.",
       1, 1},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::RemoveTargetRequest request;
  request.set_address(std::get<std::vector<std::string>>(parsed)[0]);
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, *client, request, &v1::DataPlaneControl::Stub::RemoveTarget);
}

int cmd_connections_set(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::string target;
  std::optional<std::uint64_t> expected;
  parser.add("target", "ADDR", "every target",
             "change only this target (else every target and the default for new ones)",
             store(target));
  parser.add("expect-generation", "G", "",
             "change only if the server is at generation G (else FAILED_PRECONDITION)",
             store_uint<std::uint64_t>(expected, 0));
  Parsed parsed = parse_command(
      {"connections set", "N",
       "Sets the number of worker connections per target (the server allows 1 to 1024).\n", 1, 1},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::string& text = std::get<std::vector<std::string>>(parsed)[0];
  auto n = parse_uint<std::uint32_t>(text);
  if (!n) {
    return usage_error(io, "connections set",
                       str_cat("invalid connection count \"", text, "\": must be a whole number"));
  }
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::SetConnectionsRequest request;
  request.set_connections(*n);
  request.set_target(target);
  if (expected) request.set_expected_generation(*expected);
  return run_change(g, io, *client, request, &v1::DataPlaneControl::Stub::SetConnections);
}

int cmd_failback(Globals& g, Args args, Io& io) {
  FlagParser parser;
  std::string target;
  parser.add("target", "ADDR", "every target", "only the workers whose home is this target",
             store(target));
  Parsed parsed = parse_command(
      {"failback", "",
       "Failed-over connections dial their home target now instead of at the next failback\n"
       "interval; each switches once its new connection is up."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  v1::TriggerFailbackRequest request;
  request.set_target(target);
  return run_change(g, io, *client, request, &v1::DataPlaneControl::Stub::TriggerFailback);
}

int cmd_drain(Globals& g, Args args, Io& io) {
  FlagParser parser;
  Parsed parsed = parse_command(
      {"drain", "",
       "json-tcp-lb stops accepting clients, reads the connected ones to the end, delivers\n"
       "everything and exits 0, as on SIGTERM."},
      parser, g, args, io);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto client = connect(g, io);
  if (!client) return kExitUsage;
  return run_change(g, io, *client, v1::DrainRequest(), &v1::DataPlaneControl::Stub::Drain);
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
