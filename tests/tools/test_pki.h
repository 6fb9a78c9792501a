#pragma once

#include <string>

namespace lbtest {

/// PEM files of a throwaway PKI: one CA, and a server and a client certificate it signed,
/// both for IP:127.0.0.1 and DNS:localhost.
struct TestPki {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
};

/// Creates the PKI in `dir` (which must exist) with the `openssl` command line tool. Throws
/// std::runtime_error naming the failed step; dir/openssl.log has the tool's output.
TestPki make_test_pki(const std::string& dir);

}  // namespace lbtest
