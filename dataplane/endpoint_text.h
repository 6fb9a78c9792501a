#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace jsontcplb {

/// "1.2.3.4:5" or "[::1]:5", as targets are written.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace jsontcplb
