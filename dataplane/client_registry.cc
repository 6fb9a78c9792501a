#include "dataplane/client_registry.h"

#include <boost/asio/post.hpp>

namespace jsontcplb {

std::uint64_t ClientRegistry::add(std::shared_ptr<Link> link) {
  const std::uint64_t id = next_id_++;
  clients_.emplace(id, std::move(link));
  return id;
}

void ClientRegistry::remove(std::uint64_t id) {
  clients_.erase(id);
  if (clients_.empty() && on_last_gone_) on_last_gone_();
}

void ClientRegistry::cut_all() {
  cut_ = true;
  for (auto& [id, link] : clients_) {
    // On the session's own thread: only there may its socket be touched.
    asio::post(link->executor, [link] {
      boost::system::error_code ignored;
      if (link->socket != nullptr) link->socket->cancel(ignored);
    });
  }
}

}  // namespace jsontcplb
