// asyncio-cpp: SPDX-License-Identifier: MIT
// Private: what an SSLContext and an SSLObject handle refer to, over
// OpenSSL 3 (which only src/ssl*.cpp include).
#ifndef ASYNCIO_SRC_DETAIL_SSL_STATE_HPP
#define ASYNCIO_SRC_DETAIL_SSL_STATE_HPP

#include <asyncio/ssl.hpp>

#include <openssl/ssl.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace asyncio::ssl::detail {

/// ≙ the C part of ssl.SSLContext.
struct ContextState {
  explicit ContextState(ProtocolKind p);
  ~ContextState();
  ContextState(const ContextState&) = delete;
  ContextState& operator=(const ContextState&) = delete;

  SSL_CTX* ctx = nullptr;
  ProtocolKind protocol;
  bool check_hostname = false;
  std::vector<unsigned char> alpn;  ///< wire format: length-prefixed names
  SSLContext::ServernameCallback servername_callback;
};

/// ≙ the C part of ssl.SSLObject: one SSL*, kept until the last handle
/// (the connection, an SSLObject from get_extra_info) lets go.
struct ConnectionState {
  ConnectionState(SSLContext context, bool server_side, std::optional<std::string> server_hostname);
  ~ConnectionState();
  ConnectionState(const ConnectionState&) = delete;
  ConnectionState& operator=(const ConnectionState&) = delete;

  SSL* ssl = nullptr;
  SSLContext context;
  bool server_side;
  std::optional<std::string> server_hostname;
  /// What a servername callback threw: re-raised as the handshake's error.
  std::exception_ptr callback_error;
};

/// The connection `ssl` belongs to.
ConnectionState* connection_of(SSL* ssl);
/// The error for the OpenSSL error queue and `ssl_error` (SSL_get_error's
/// result) after an operation on `ssl` failed; clears the queue.
std::exception_ptr make_ssl_error(SSL* ssl, int ssl_error);
/// SSLError from the error queue alone (context set-up); clears it.
[[noreturn]] void throw_ssl_error(const char* fallback);

}  // namespace asyncio::ssl::detail

#endif  // ASYNCIO_SRC_DETAIL_SSL_STATE_HPP
