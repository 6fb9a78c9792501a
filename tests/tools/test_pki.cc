#include "tests/tools/test_pki.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace lbtest {
namespace {

constexpr const char* kKeyOptions =
    "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650";
constexpr const char* kSubjectAltName = "subjectAltName=IP:127.0.0.1,DNS:localhost";

// The path in single quotes for /bin/sh.
std::string quoted(const std::string& path) {
  std::string out = "'";
  for (char c : path) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

void run(const std::string& step, const std::string& command, const std::string& log) {
  const std::string line = command + " >>" + quoted(log) + " 2>&1";
  if (std::system(line.c_str()) != 0) {
    throw std::runtime_error("make_test_pki: " + step + " failed; see " + log);
  }
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out.flush()) throw std::runtime_error("make_test_pki: cannot write " + path);
}

// A leaf certificate for `usage` (serverAuth or clientAuth) signed by the CA.
void issue(const TestPki& pki, const std::string& dir, const std::string& name,
           const std::string& usage, const std::string& cert, const std::string& key,
           const std::string& log) {
  const std::string csr = dir + "/" + name + ".csr";
  const std::string extensions = dir + "/" + name + ".ext";
  write_file(extensions, std::string(kSubjectAltName) +
                             "\nbasicConstraints=critical,CA:FALSE\n"
                             "keyUsage=critical,digitalSignature\nextendedKeyUsage=" +
                             usage + "\n");
  run(name + " request",
      std::string("openssl req -new ") + kKeyOptions + " -subj /CN=lbtest-" + name + " -keyout " +
          quoted(key) + " -out " + quoted(csr),
      log);
  run(name + " certificate",
      "openssl x509 -req -days 3650 -in " + quoted(csr) + " -CA " + quoted(pki.ca_cert) +
          " -CAkey " + quoted(pki.ca_key) + " -CAcreateserial -CAserial " +
          quoted(dir + "/ca.srl") + " -extfile " + quoted(extensions) + " -out " + quoted(cert),
      log);
}

}  // namespace

TestPki make_test_pki(const std::string& dir) {
  TestPki pki{dir + "/ca.crt",     dir + "/ca.key",     dir + "/server.crt",
              dir + "/server.key", dir + "/client.crt", dir + "/client.key"};
  const std::string log = dir + "/openssl.log";
  run("CA certificate",
      std::string("openssl req -x509 ") + kKeyOptions + " -subj /CN=lbtest-ca -addext " +
          quoted(kSubjectAltName) + " -keyout " + quoted(pki.ca_key) + " -out " +
          quoted(pki.ca_cert),
      log);
  issue(pki, dir, "server", "serverAuth", pki.server_cert, pki.server_key, log);
  issue(pki, dir, "client", "clientAuth", pki.client_cert, pki.client_key, log);
  return pki;
}

}  // namespace lbtest
