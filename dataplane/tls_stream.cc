#include "dataplane/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <new>

#include "dataplane/core/str_cat.h"
#include "dataplane/coro.h"

namespace jsontcplb {
namespace {

// OpenSSL's read-ahead buffer: several 16 KiB records per read system call.
constexpr std::size_t kReadAheadBytes = 64 * 1024;

// The write side of every TlsStream: a BIO that appends to the stream's output string and
// never blocks, so SSL_write always completes and the records leave in one send.
BIO_METHOD* output_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "json-tcp-lb out");
    BIO_meth_set_write_ex(
        m, [](BIO* bio, const char* data, std::size_t size, std::size_t* written) -> int {
          static_cast<std::string*>(BIO_get_data(bio))->append(data, size);
          *written = size;
          return 1;
        });
    BIO_meth_set_ctrl(m, [](BIO*, int command, long, void*) -> long {
      return command == BIO_CTRL_FLUSH ? 1 : 0;
    });
    BIO_meth_set_create(m, [](BIO* bio) -> int {
      BIO_set_init(bio, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

}  // namespace

bool is_end_of_stream(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

TlsStream::TlsStream(tcp::socket socket, asio::ssl::context& context, Role role)
    : socket_(std::move(socket)), flush_done_(socket_.get_executor()) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);  // OpenSSL reads the descriptor itself
  ssl_ = SSL_new(context.native_handle());
  BIO* in = BIO_new_socket(static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
  BIO* out = BIO_new(output_method());
  if (ssl_ == nullptr || in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(out, &out_);
  SSL_set_bio(ssl_, in, out);
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_default_read_buffer_len(ssl_, kReadAheadBytes);
  // An idle connection gives its record buffers back.
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  SSL_set_options(ssl_, SSL_OP_NO_RENEGOTIATION);
  if (role == Role::kClient) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::expect_host(const std::string& host, bool verify) {
  boost::system::error_code not_an_address;
  asio::ip::make_address(host, not_an_address);
  if (not_an_address) {
    SSL_set_tlsext_host_name(ssl_, host.c_str());  // SNI carries names only (RFC 6066)
    if (verify) SSL_set1_host(ssl_, host.c_str());
  } else if (verify) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  }
}

boost::system::error_code TlsStream::error_for(int result) const {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_NONE:
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return {};
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      if (unsigned long e = ERR_get_error(); e != 0) {
        return {static_cast<int>(e), asio::error::get_ssl_category()};
      }
      if (saved_errno != 0) return {saved_errno, boost::system::system_category()};
      return asio::ssl::error::stream_truncated;
    default: {
      const unsigned long e = ERR_get_error();
      // Results this configuration never asks for (async engines, callbacks) must still end
      // the connection rather than look like success.
      if (e == 0) return asio::ssl::error::unexpected_result;
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return asio::ssl::error::stream_truncated;  // closed without close_notify
      }
      return {static_cast<int>(e), asio::error::get_ssl_category()};
    }
  }
}

std::string TlsStream::negotiated() const {
  return str_cat(SSL_get_version(ssl_), " ", SSL_get_cipher_name(ssl_));
}

asio::awaitable<boost::system::error_code> TlsStream::handshake() {
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int result = SSL_do_handshake(ssl_);
    const bool want_read = result != 1 && SSL_get_error(ssl_, result) == SSL_ERROR_WANT_READ;
    const boost::system::error_code failed =
        result == 1 ? boost::system::error_code() : error_for(result);
    // Send what it wrote: the next flight, or the alert that tells the peer why it failed.
    const boost::system::error_code sent = co_await flush();
    if (failed) co_return failed;
    if (sent) co_return sent;
    if (result == 1) co_return boost::system::error_code();
    if (want_read) {
      auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, kUseAwaitable);
      if (ec) co_return ec;
    }
  }
}

bool TlsStream::has_pending() const { return SSL_has_pending(ssl_) == 1; }

asio::awaitable<boost::system::error_code> TlsStream::wait_readable() {
  if (has_pending()) co_return boost::system::error_code();
  auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, kUseAwaitable);
  co_return ec;
}

asio::awaitable<TlsStream::ReadResult> TlsStream::read_some(asio::mutable_buffer buffer,
                                                            bool wait) {
  auto* data = static_cast<char*>(buffer.data());
  std::size_t got = 0;
  // OpenSSL's error queue must be empty before a call whose result SSL_get_error judges. It
  // is cleared on entry and after every suspension (other connections on this thread may fail
  // meanwhile), not before each record: a successful call adds nothing, and clearing the
  // queue each time cost 1.4% of the proxy's time with TLS.
  ERR_clear_error();
  for (;;) {
    // SSL_read returns one record (at most 16 KiB) per call: keep going while records are
    // there, so a 64 KiB read stays one 64 KiB batch.
    errno = 0;
    std::size_t n = 0;
    const int result = SSL_read_ex(ssl_, data + got, buffer.size() - got, &n);
    got += n;
    const bool want_read = result != 1 && SSL_get_error(ssl_, result) == SSL_ERROR_WANT_READ;
    const boost::system::error_code failed =
        result == 1 ? boost::system::error_code() : error_for(result);
    // Reading may have produced output (a reply to a key update); send it.
    if (!out_.empty()) {
      if (auto ec = co_await flush(); ec && got == 0) co_return ReadResult{ec, 0};
      ERR_clear_error();
    }
    if (result == 1 && got < buffer.size()) continue;
    // Bytes already read are returned first; an error or end of stream shows on the next call.
    if (got > 0) co_return ReadResult{boost::system::error_code(), got};
    if (failed) co_return ReadResult{failed, 0};
    if (want_read) {
      if (!wait) co_return ReadResult{asio::error::would_block, 0};
      auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, kUseAwaitable);
      if (ec) co_return ReadResult{ec, 0};
      ERR_clear_error();
    }
  }
}

asio::awaitable<boost::system::error_code> TlsStream::write(
    std::span<const asio::const_buffer> buffers) {
  ERR_clear_error();  // once: nothing suspends before a failure ends the loop (see read_some)
  for (const asio::const_buffer& b : buffers) {
    const auto* data = static_cast<const char*>(b.data());
    std::size_t left = b.size();
    while (left > 0) {
      errno = 0;
      std::size_t n = 0;
      const int result = SSL_write_ex(ssl_, data, left, &n);
      if (result == 1) {
        data += n;
        left -= n;
        continue;
      }
      // The output BIO never blocks and renegotiation is off, so anything else is fatal.
      boost::system::error_code failed = error_for(result);
      if (!failed) failed = asio::ssl::error::unexpected_result;
      co_await flush();
      co_return failed;
    }
  }
  co_return co_await flush();
}

asio::awaitable<boost::system::error_code> TlsStream::shutdown() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  co_return co_await flush();
}

asio::awaitable<boost::system::error_code> TlsStream::flush() {
  // The reader and the writer may both flush; the second waits for the first, whose loop sends
  // everything appended meanwhile too.
  while (flushing_) {
    flush_done_.expires_at(asio::steady_timer::time_point::max());
    co_await flush_done_.async_wait(kUseAwaitable);
  }
  flushing_ = true;
  boost::system::error_code ec;
  while (out_sent_ < out_.size()) {
    const std::size_t n =
        socket_.send(asio::buffer(out_.data() + out_sent_, out_.size() - out_sent_), 0, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      auto [wait_ec] = co_await socket_.async_wait(tcp::socket::wait_write, kUseAwaitable);
      ec = wait_ec;
      if (ec) break;
      continue;
    }
    if (ec) break;
    out_sent_ += n;
    bytes_sent_ += n;
  }
  if (out_sent_ == out_.size()) {
    out_.clear();  // keeps its capacity for the next write
    out_sent_ = 0;
  }
  flushing_ = false;
  flush_done_.cancel();
  co_return ec;
}

}  // namespace jsontcplb
