#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace jsontcplb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Proxy;
struct ClientLink;
class TlsStream;

/// Reads one client until it closes: splits its stream into whole-line batches, queues them,
/// and stops reading while the queue is full. A trailing fragment is delivered with '\n'.
/// Runs on `link->executor` (the data-plane thread, or a reader thread with -threads > 1);
/// `id` is its registration, which it removes when it ends.
asio::awaitable<void> run_client_session(std::shared_ptr<Proxy> proxy, tcp::socket socket,
                                         std::string peer, std::shared_ptr<ClientLink> link,
                                         std::uint64_t id);
/// The same over TLS, after a server handshake.
asio::awaitable<void> run_client_session(std::shared_ptr<Proxy> proxy,
                                         std::unique_ptr<TlsStream> stream, std::string peer,
                                         std::shared_ptr<ClientLink> link, std::uint64_t id);

}  // namespace jsontcplb
