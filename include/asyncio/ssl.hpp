// asyncio-cpp: SPDX-License-Identifier: MIT
// TLS contexts, the objects of a TLS connection and their errors, shaped as
// Python's `ssl` module (the parts asyncio uses). ≙ Lib/ssl.py over OpenSSL 3,
// which stays out of this header (as uv.h does).
//
// `ssl.create_default_context()` is `asyncio::ssl::create_default_context()`;
// give a context to create_connection() / create_server() / open_connection()
// / start_server() through their options' `.ssl` (see docs/ssl.md).
#ifndef ASYNCIO_SSL_HPP
#define ASYNCIO_SSL_HPP

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace asyncio::ssl {

/// ≙ ssl.Purpose: what the certificates a context loads by default are for.
enum class Purpose : std::uint8_t {
  SERVER_AUTH,  ///< a client context: it verifies servers
  CLIENT_AUTH,  ///< a server context: it may verify clients
};

/// ≙ ssl.PROTOCOL_TLS_CLIENT / PROTOCOL_TLS_SERVER (the only two 3.13 keeps
/// undeprecated). Unscoped, so that `ssl::PROTOCOL_TLS_CLIENT` reads as Python.
enum ProtocolKind : std::uint8_t { PROTOCOL_TLS_CLIENT = 16, PROTOCOL_TLS_SERVER = 17 };

/// ≙ ssl.VerifyMode (CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED).
enum VerifyMode : std::uint8_t { CERT_NONE = 0, CERT_OPTIONAL = 1, CERT_REQUIRED = 2 };

/// ≙ ssl.TLSVersion. MINIMUM_SUPPORTED / MAXIMUM_SUPPORTED are "no bound".
enum class TLSVersion : int {
  MINIMUM_SUPPORTED = -2,
  SSLv3 = 0x0300,
  TLSv1 = 0x0301,
  TLSv1_1 = 0x0302,
  TLSv1_2 = 0x0303,
  TLSv1_3 = 0x0304,
  MAXIMUM_SUPPORTED = -1,
};

/// ≙ ssl.SSLError (an OSError): a TLS protocol or OpenSSL failure.
/// `what()` is Python's str(): "[SSL: WRONG_VERSION_NUMBER] wrong version
/// number" (without CPython's trailing "(_ssl.c:NNNN)"); library() ("SSL",
/// "X509", "PEM", ...) and reason() ("WRONG_VERSION_NUMBER") are its
/// `library` and `reason` attributes, empty when OpenSSL gave none.
class SSLError : public std::system_error {
 public:
  SSLError(int code, std::string message, std::string library = {}, std::string reason = {});
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& library() const noexcept { return library_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string message_;
  std::string library_;
  std::string reason_;
};

/// ≙ ssl.SSLCertVerificationError (also ssl.CertificateError): the peer's
/// certificate failed verification. verify_code() is OpenSSL's X509_V_ERR_*
/// code, verify_message() its text, or for a name that does not match
/// "Hostname mismatch, certificate is not valid for 'example.com'." (CPython's
/// wording; "IP address mismatch, ..." for an address).
class SSLCertVerificationError : public SSLError {
 public:
  SSLCertVerificationError(std::string message, long verify_code, std::string verify_message);
  long verify_code() const noexcept { return verify_code_; }
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

/// The error category of SSLError codes (OpenSSL's SSL_ERROR_* numbers,
/// as Python's SSLError.errno: 1 for SSL_ERROR_SSL).
const std::error_category& ssl_category() noexcept;

/// A peer certificate as getpeercert() gives it (Python's dict, as far as
/// C++ allows): each relative distinguished name is a list of
/// (attribute, value) pairs with Python's attribute names ("commonName",
/// "organizationName", ...); dates in OpenSSL's text form ("Jan  5 09:34:43
/// 2018 GMT"), as Python's notBefore / notAfter.
struct PeerCertificate {
  using Name = std::vector<std::vector<std::pair<std::string, std::string>>>;
  Name subject;
  Name issuer;
  int version = 0;              ///< 3 for an X.509v3 certificate
  std::string serialNumber;     ///< upper-case hex, as Python's
  std::string notBefore;
  std::string notAfter;
  /// ("DNS", "example.com"), ("IP Address", "127.0.0.1"), ...
  std::vector<std::pair<std::string, std::string>> subjectAltName;
};

namespace detail {
struct ContextState;
struct ConnectionState;
}  // namespace detail

class SSLObject;

/// ≙ ssl.SSLContext: the settings and certificates shared by TLS
/// connections. A copyable handle: copies refer to the same context, which
/// every connection made with it keeps alive. Configure it before the
/// connections that use it start, as with Python.
class SSLContext {
 public:
  /// ≙ ssl.SSLContext(protocol). PROTOCOL_TLS_CLIENT: check_hostname() true
  /// and CERT_REQUIRED; PROTOCOL_TLS_SERVER: CERT_NONE. Both: TLS 1.2 at
  /// least, no compression, no renegotiation (departure: CPython allows
  /// TLS 1.2 renegotiation unless OP_NO_RENEGOTIATION is set).
  explicit SSLContext(ProtocolKind protocol);

  /// ≙ load_cert_chain(certfile, keyfile=None, password=None): the
  /// certificate (with its chain) and private key this side presents.
  /// std::system_error (≙ FileNotFoundError) for a missing file, SSLError
  /// ("[SSL] PEM lib", "[X509: KEY_VALUES_MISMATCH] key values mismatch")
  /// for a bad one.
  void load_cert_chain(const std::string& certfile, const std::string& keyfile = {},
                       const std::string& password = {});
  /// ≙ load_verify_locations(cafile=None, capath=None, cadata=None): trust
  /// these CA certificates (cadata: PEM text). std::invalid_argument("cafile,
  /// capath and cadata cannot be all omitted") when all are empty.
  void load_verify_locations(const std::string& cafile = {}, const std::string& capath = {},
                             std::string_view cadata = {});
  /// ≙ load_default_certs(purpose): the system's CA certificates.
  void load_default_certs(Purpose purpose = Purpose::SERVER_AUTH);
  /// ≙ set_default_verify_paths(): OpenSSL's default CA file and directory.
  void set_default_verify_paths();
  /// ≙ set_alpn_protocols(["h2", "http/1.1"]): offered by a client, chosen
  /// from (in the server's order of preference) by a server.
  /// std::invalid_argument("protocol too long") for one over 255 bytes.
  void set_alpn_protocols(std::span<const std::string_view> protocols);
  void set_alpn_protocols(std::initializer_list<std::string_view> protocols) {
    set_alpn_protocols(std::span<const std::string_view>(protocols.begin(), protocols.size()));
  }
  /// ≙ set_ciphers("ECDHE+AESGCM"): the TLS 1.2 cipher list (OpenSSL's
  /// syntax). SSLError("No cipher can be selected.") when nothing matches.
  void set_ciphers(const std::string& ciphers);
  /// ≙ the check_hostname property. Setting it true also sets
  /// CERT_REQUIRED when the mode was CERT_NONE, as Python.
  bool check_hostname() const;
  void check_hostname(bool value);
  /// ≙ the verify_mode property. CERT_NONE while check_hostname() is true:
  /// std::invalid_argument("Cannot set verify_mode to CERT_NONE when
  /// check_hostname is enabled.").
  VerifyMode verify_mode() const;
  void verify_mode(VerifyMode mode);
  /// ≙ the minimum_version / maximum_version properties.
  TLSVersion minimum_version() const;
  void minimum_version(TLSVersion v);
  TLSVersion maximum_version() const;
  void maximum_version(TLSVersion v);
  /// ≙ the protocol property.
  ProtocolKind protocol() const;
  /// ≙ set_servername_callback(fn) (SNI, server side): `fn(ssl_object,
  /// server_name, context)` runs during the handshake with the name the
  /// client asked for (empty when none); it may switch the connection to
  /// another context with `ssl_object.set_context(other)`. Return 0 to go
  /// on, or a TLS alert number (ALERT_DESCRIPTION_*) to fail the handshake.
  /// An exception fails the handshake (ALERT_DESCRIPTION_HANDSHAKE_FAILURE)
  /// and goes to the loop's exception handler. An empty `fn` removes it.
  using ServernameCallback = std::function<int(SSLObject&, std::string_view, SSLContext&)>;
  void set_servername_callback(ServernameCallback fn);

  /// The shared state (library use).
  const std::shared_ptr<detail::ContextState>& state() const noexcept { return s_; }
  explicit SSLContext(std::shared_ptr<detail::ContextState> s) noexcept : s_(std::move(s)) {}
  friend bool operator==(const SSLContext& a, const SSLContext& b) noexcept { return a.s_ == b.s_; }

 private:
  std::shared_ptr<detail::ContextState> s_;
};

/// ≙ ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE and friends used by servername
/// callbacks.
inline constexpr int ALERT_DESCRIPTION_HANDSHAKE_FAILURE = 40;
inline constexpr int ALERT_DESCRIPTION_UNRECOGNIZED_NAME = 112;
inline constexpr int ALERT_DESCRIPTION_INTERNAL_ERROR = 80;

/// ≙ ssl.create_default_context(purpose, cafile=None, capath=None,
/// cadata=None): SERVER_AUTH gives a client context (CERT_REQUIRED,
/// check_hostname, and the given CA or else the system's);
/// CLIENT_AUTH a server context (CERT_NONE). As Python 3.13, both set
/// VERIFY_X509_PARTIAL_CHAIN and VERIFY_X509_STRICT.
SSLContext create_default_context(Purpose purpose = Purpose::SERVER_AUTH, const std::string& cafile = {},
                                  const std::string& capath = {}, std::string_view cadata = {});

/// ≙ ssl.SSLObject: one TLS connection, as a transport's
/// get_extra_info("ssl_object") gives it (a std::shared_ptr<SSLObject>).
/// Every query answers None (an empty value) once the connection is gone.
class SSLObject {
 public:
  /// ≙ version(): "TLSv1.3"; empty before the handshake.
  std::optional<std::string> version() const;
  /// ≙ cipher(): (name, protocol, secret bits), e.g.
  /// ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128).
  struct Cipher {
    std::string name;
    std::string protocol;
    int secret_bits = 0;
  };
  std::optional<Cipher> cipher() const;
  /// ≙ compression(): always None (compression is disabled).
  std::optional<std::string> compression() const { return std::nullopt; }
  /// ≙ selected_alpn_protocol().
  std::optional<std::string> selected_alpn_protocol() const;
  /// ≙ getpeercert(): the verified peer certificate; an empty
  /// PeerCertificate when the certificate was not verified (CERT_NONE), as
  /// Python's {}; nullopt when the peer sent none.
  std::optional<PeerCertificate> getpeercert() const;
  /// ≙ getpeercert(binary_form=True): the DER bytes, verified or not.
  std::optional<std::string> getpeercert_der() const;
  /// ≙ server_side / server_hostname.
  bool server_side() const;
  std::optional<std::string> server_hostname() const;
  /// ≙ the context property (SNI callbacks switch it).
  SSLContext context() const;
  void set_context(const SSLContext& ctx);

  explicit SSLObject(std::shared_ptr<detail::ConnectionState> s) noexcept : s_(std::move(s)) {}

 private:
  std::shared_ptr<detail::ConnectionState> s_;
};

}  // namespace asyncio::ssl

#endif  // ASYNCIO_SSL_HPP
