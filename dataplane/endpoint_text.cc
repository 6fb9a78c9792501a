#include "dataplane/endpoint_text.h"

#include "dataplane/core/target_address.h"

namespace jsontcplb {

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  return TargetAddress{endpoint.address().to_string(), endpoint.port()}.to_string();
}

}  // namespace jsontcplb
