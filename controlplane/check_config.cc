#include "controlplane/check_config.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <ostream>
#include <set>

#include "controlplane/core/desired_state.h"
#include "controlplane/core/fleet_config.h"
#include "dataplane/core/text_file.h"

namespace jsontcplb::controlplane {

int check_config(const std::string& path, std::ostream& out, std::ostream& err) {
  auto text = read_file(path);
  if (!text) {
    err << "lb-controlplane: config " << path << ": cannot read it\n";
    return 2;
  }
  auto config = parse_fleet_config(*text);
  if (!config.ok()) {
    err << "lb-controlplane: config " << path << ": " << config.status().message() << "\n";
    return 2;
  }
  // Resolve every name once, as the running control plane would.
  DnsAnswers answers;
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  for (const std::string& name : dns_names(*config, v1::FleetOverrides())) {
    const TargetAddress a = std::get<TargetAddress>(parse_target_address(name));
    boost::system::error_code ec;
    auto results = resolver.resolve(a.host, std::to_string(a.port),
                                    boost::asio::ip::tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      out << "warning: dns " << name << ": lookup failed: " << (ec ? ec.message() : "no addresses")
          << "\n";
      continue;
    }
    std::set<std::string> seen;
    for (const auto& r : results) {
      TargetAddress found{r.endpoint().address().to_string(), r.endpoint().port()};
      if (seen.insert(found.to_string()).second) answers[name].push_back(std::move(found));
    }
  }
  const Desired desired = compose(*config, v1::FleetOverrides(), answers);
  out << "config " << path << ": valid\n";
  out << "targets (" << desired.config.targets_size() << "):\n";
  for (const v1::Target& t : desired.config.targets()) {
    out << "  " << t.address();
    if (t.connections() != 0) out << "  connections " << t.connections();
    out << "\n";
  }
  const auto planes = data_plane_addresses(*config, answers);
  out << "data planes (" << planes.size() << "):\n";
  for (const TargetAddress& a : planes) out << "  " << a.to_string() << "\n";
  out << "desired config version " << desired.config.config_version() << "\n";
  return 0;
}

}  // namespace jsontcplb::controlplane
