// TlsStream against an OpenSSL server on memory BIOs whose records the test carries over a
// loopback socket itself, so it decides where a record is cut and what else happens meanwhile.

#include "dataplane/tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>

#include "tests/tools/temp_dir.h"
#include "tests/tools/test_pki.h"
#include "tests/unit/dataplane/io_rig.h"

namespace jsontcplb {
namespace {

using lbtest::TempDir;
using lbtest::TestPki;
using testing::IoRig;

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = new TempDir("lbtest-pki");
    pki_ = new TestPki(lbtest::make_test_pki(pki_dir_->path()));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete pki_dir_;
  }

  void SetUp() override {
    server_ctx_.reset(SSL_CTX_new(TLS_server_method()));
    ASSERT_TRUE(server_ctx_);
    ASSERT_EQ(SSL_CTX_use_certificate_chain_file(server_ctx_.get(), pki_->server_cert.c_str()), 1);
    ASSERT_EQ(
        SSL_CTX_use_PrivateKey_file(server_ctx_.get(), pki_->server_key.c_str(), SSL_FILETYPE_PEM),
        1);
    SSL_CTX_set_num_tickets(server_ctx_.get(), 0);  // nothing arrives that the test did not send
    server_.reset(SSL_new(server_ctx_.get()));
    server_in_ = BIO_new(BIO_s_mem());
    server_out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(server_.get(), server_in_, server_out_);
    SSL_set_accept_state(server_.get());

    tcp::acceptor acceptor(rig_.io, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client_socket(rig_.io);
    client_socket.connect(acceptor.local_endpoint());
    server_socket_ = acceptor.accept();
    server_socket_.non_blocking(true);
    client_ = std::make_unique<TlsStream>(std::move(client_socket), client_ctx_,
                                          TlsStream::Role::kClient);
  }

  // The server's records, as it wrote them.
  std::string server_output() {
    std::string out;
    char chunk[4096];
    for (int n; (n = BIO_read(server_out_, chunk, sizeof chunk)) > 0;) out.append(chunk, n);
    return out;
  }

  void send_to_client(const std::string& bytes) {
    asio::write(server_socket_, asio::buffer(bytes));
  }

  // Bytes waiting in the client's socket (not yet read by its TlsStream).
  int unread_by_client() const {
    int n = -1;
    ioctl(client_->socket().native_handle(), FIONREAD, &n);
    return n;
  }

  // Waits, without running the client, until `n` bytes wait in its socket.
  bool wait_unread_by_client(int n) const {
    const auto deadline = std::chrono::steady_clock::now() + IoRig::kWait;
    while (unread_by_client() != n) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }

  // Handshakes both ends: the client's coroutine on the rig, the server here, carrying what
  // each writes to the other.
  void handshake() {
    bool done = false;
    boost::system::error_code result;
    asio::co_spawn(
        rig_.io,
        [&]() -> asio::awaitable<void> {
          result = co_await client_->handshake();
          done = true;
        },
        asio::detached);
    ASSERT_TRUE(rig_.run_until([&] {
      char chunk[4096];
      boost::system::error_code ec;
      if (std::size_t n = server_socket_.read_some(asio::buffer(chunk), ec); n > 0) {
        BIO_write(server_in_, chunk, static_cast<int>(n));
      }
      SSL_do_handshake(server_.get());
      if (std::string out = server_output(); !out.empty()) send_to_client(out);
      return done && SSL_is_init_finished(server_.get());
    }));
    ASSERT_FALSE(result) << result.message();
  }

  static TempDir* pki_dir_;
  static TestPki* pki_;
  IoRig rig_;
  asio::ssl::context client_ctx_{asio::ssl::context::tls_client};  // verifies nothing
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> server_ctx_{nullptr, SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> server_{nullptr, SSL_free};
  BIO* server_in_ = nullptr;   // owned by server_
  BIO* server_out_ = nullptr;  // owned by server_
  tcp::socket server_socket_{rig_.io};
  std::unique_ptr<TlsStream> client_;
};
TempDir* TlsStreamTest::pki_dir_ = nullptr;
TestPki* TlsStreamTest::pki_ = nullptr;

// OpenSSL judges a failed call by its thread's error queue. A read that waited, while another
// connection on the same thread failed and left its error there, and then woke for half a
// record must wait for the rest rather than fail with the other connection's error.
TEST_F(TlsStreamTest, AnotherConnectionsErrorDoesNotFailAReadThatWaited) {
  ASSERT_NO_FATAL_FAILURE(handshake());
  ASSERT_EQ(SSL_write(server_.get(), "hello\n", 6), 6);
  const std::string record = server_output();
  ASSERT_GT(record.size(), 6u);

  char buffer[64];
  bool done = false;
  boost::system::error_code result;
  std::size_t got = 0;
  asio::co_spawn(
      rig_.io,
      [&]() -> asio::awaitable<void> {
        std::tie(result, got) = co_await client_->read_some(asio::buffer(buffer));
        done = true;
      },
      asio::detached);
  rig_.io.poll();  // the read starts, finds nothing and waits for the socket
  ASSERT_FALSE(done);

  // As another connection's failure would leave it.
  ERR_raise(ERR_LIB_SSL, SSL_R_BAD_PACKET_LENGTH);
  send_to_client(record.substr(0, 3));
  ASSERT_TRUE(wait_unread_by_client(3));  // the io_context is not running: they stay there
  ASSERT_TRUE(rig_.run_until([&] { return done || unread_by_client() == 0; }));
  EXPECT_FALSE(done) << "half a record ended the read: " << result.message();
  send_to_client(record.substr(3));
  ASSERT_TRUE(rig_.run_until([&] { return done; }));
  ERR_clear_error();
  EXPECT_FALSE(result) << result.message();
  EXPECT_EQ(std::string(buffer, got), "hello\n");
}

}  // namespace
}  // namespace jsontcplb
