// asyncio-cpp: SPDX-License-Identifier: MIT
// SSLContext, SSLObject and the SSL errors over OpenSSL 3. ≙ Lib/ssl.py and
// Modules/_ssl.c (the defaults, the checks and the messages are theirs).
#include <asyncio/ssl.hpp>

#include "detail/ssl_state.hpp"
#include "detail/uv_error.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace asyncio::ssl {

// ---- errors ------------------------------------------------------------------

namespace {

class SSLCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ssl"; }
  std::string message(int code) const override { return "SSL error " + std::to_string(code); }
};

}  // namespace

const std::error_category& ssl_category() noexcept {
  static const SSLCategory category;
  return category;
}

SSLError::SSLError(int code, std::string message, std::string library, std::string reason)
    : std::system_error(code, ssl_category()),
      message_(std::move(message)),
      library_(std::move(library)),
      reason_(std::move(reason)) {}

SSLCertVerificationError::SSLCertVerificationError(std::string message, long verify_code, std::string verify_message)
    : SSLError(SSL_ERROR_SSL, std::move(message), "SSL", "CERTIFICATE_VERIFY_FAILED"),
      verify_code_(verify_code),
      verify_message_(std::move(verify_message)) {}

namespace detail {

namespace {

/// Python's short library names (Modules/_ssl_data_300.h).
std::string library_name(int lib) {
  switch (lib) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_SYS: return "SYS";
    case ERR_LIB_BIO: return "BIO";
    case ERR_LIB_PKCS12: return "PKCS12";
    case ERR_LIB_RSA: return "RSA";
    case ERR_LIB_EC: return "EC";
    case ERR_LIB_CRYPTO: return "CRYPTO";
    case ERR_LIB_PROV: return "PROV";
    default: return {};
  }
}

/// Python's mnemonic is OpenSSL's reason text in upper case with
/// underscores ("wrong version number" -> WRONG_VERSION_NUMBER).
std::string mnemonic(const char* text) {
  std::string out = text ? text : "";
  for (char& c : out) c = c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// ≙ _ssl.c fill_and_set_sslerror's "[LIB: REASON] text".
struct ErrorText {
  std::string message, library, reason;
};

ErrorText describe(unsigned long code, const std::string& fallback) {
  ErrorText t;
  if (code == 0) {
    t.message = fallback;
    return t;
  }
  const char* text = ERR_reason_error_string(code);
  t.library = library_name(ERR_GET_LIB(code));
  t.reason = mnemonic(text);
  const std::string body = text ? text : fallback;
  if (!t.library.empty() && !t.reason.empty())
    t.message = "[" + t.library + ": " + t.reason + "] " + body;
  else if (!t.reason.empty())
    t.message = "[" + t.reason + "] " + body;
  else
    t.message = body;
  return t;
}

std::string verify_text(SSL* ssl, long code) {
  std::string host;
  if (const ConnectionState* c = connection_of(ssl); c && c->server_hostname) host = *c->server_hostname;
  if (code == X509_V_ERR_HOSTNAME_MISMATCH) return "Hostname mismatch, certificate is not valid for '" + host + "'.";
  if (code == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    const X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    char* ip = X509_VERIFY_PARAM_get1_ip_asc(const_cast<X509_VERIFY_PARAM*>(param));
    std::string text = "IP address mismatch, certificate is not valid for '" + std::string(ip ? ip : "") + "'.";
    OPENSSL_free(ip);
    return text;
  }
  return X509_verify_cert_error_string(code);
}

}  // namespace

std::exception_ptr make_ssl_error(SSL* ssl, int ssl_error) {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL &&
      ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const long verify = SSL_get_verify_result(ssl);
    std::string why = verify_text(ssl, verify);
    return std::make_exception_ptr(SSLCertVerificationError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + why, verify, why));
  }
  const char* fallback = ssl_error == SSL_ERROR_ZERO_RETURN ? "TLS/SSL connection has been closed (EOF)"
                         : ssl_error == SSL_ERROR_SYSCALL   ? "EOF occurred in violation of protocol"
                                                            : "A failure in the SSL library occurred";
  ErrorText t = describe(code, fallback);
  return std::make_exception_ptr(SSLError(ssl_error, std::move(t.message), std::move(t.library), std::move(t.reason)));
}

void throw_ssl_error(const char* fallback) {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  ErrorText t = describe(code, fallback);
  throw SSLError(SSL_ERROR_SSL, std::move(t.message), std::move(t.library), std::move(t.reason));
}

// ---- the context state ---------------------------------------------------------

namespace {

int ex_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

ConnectionState* connection_of(SSL* ssl) { return static_cast<ConnectionState*>(SSL_get_ex_data(ssl, ex_index())); }

namespace {

/// A server picks the first of its own protocols the client offers (≙
/// _ssl.c _selectALPN_cb).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void* arg) noexcept {
  auto* s = static_cast<ContextState*>(arg);
  if (s->alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  const int rc =
      SSL_select_next_proto(&chosen, outlen, s->alpn.data(), static_cast<unsigned>(s->alpn.size()), in, inlen);
  if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

/// ≙ _ssl.c _servername_callback: no exception leaves this OpenSSL callback.
int on_servername(SSL* ssl, int* alert, void* arg) noexcept {
  auto* s = static_cast<ContextState*>(arg);
  ConnectionState* c = connection_of(ssl);
  if (!c || !s->servername_callback) return SSL_TLSEXT_ERR_OK;
  try {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSLObject object(std::shared_ptr<ConnectionState>(std::shared_ptr<ConnectionState>(), c));
    SSLContext context = c->context;
    const int result = s->servername_callback(object, name ? std::string_view(name) : std::string_view(), context);
    if (result == 0) return SSL_TLSEXT_ERR_OK;
    *alert = result;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  } catch (...) {
    c->callback_error = std::current_exception();
    *alert = ALERT_DESCRIPTION_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
}

}  // namespace

ContextState::ContextState(ProtocolKind p) : protocol(p) {
  if (p != PROTOCOL_TLS_CLIENT && p != PROTOCOL_TLS_SERVER) throw std::invalid_argument("invalid protocol version");
  ctx = SSL_CTX_new(p == PROTOCOL_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
  if (!ctx) throw_ssl_error("failed to allocate SSL context");
  // ≙ _ssl.c _ssl__SSLContext_impl's defaults, plus no renegotiation
  // (docs/design-notes.md, "TLS").
  SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_clear_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Not SSL_MODE_RELEASE_BUFFERS (CPython sets it): freeing and
  // reallocating OpenSSL's record buffers around every message was 8 % of a
  // TLS echo (docs/design-notes.md, "TLS").
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  if (p == PROTOCOL_TLS_CLIENT) {
    check_hostname = true;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, this);
  SSL_CTX_set_tlsext_servername_arg(ctx, this);
}

ContextState::~ContextState() { SSL_CTX_free(ctx); }

ConnectionState::ConnectionState(SSLContext c, bool server, std::optional<std::string> hostname)
    : context(std::move(c)), server_side(server), server_hostname(std::move(hostname)) {
  const ContextState& s = *context.state();
  if (server_side && s.protocol == PROTOCOL_TLS_CLIENT)
    throw SSLError(SSL_ERROR_SSL, "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
  if (!server_side && s.protocol == PROTOCOL_TLS_SERVER)
    throw SSLError(SSL_ERROR_SSL, "Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
  if (server_side && server_hostname)
    throw std::invalid_argument("server_hostname can only be specified in client mode");
  if (!server_side && s.check_hostname && !server_hostname)
    throw std::invalid_argument("check_hostname requires server_hostname");
  ssl = SSL_new(s.ctx);
  if (!ssl) throw_ssl_error("failed to allocate SSL object");
  SSL_set_ex_data(ssl, ex_index(), this);
  if (server_side) {
    SSL_set_accept_state(ssl);
    return;
  }
  SSL_set_connect_state(ssl);
  if (!server_hostname) return;
  // ≙ _ssl.c _ssl_configure_hostname: no SNI for an IP address, which is
  // checked as an address.
  const std::string& name = *server_hostname;
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  if (!ip) {
    if (!SSL_set_tlsext_host_name(ssl, name.c_str())) throw_ssl_error("invalid server_hostname");
  } else {
    ASN1_OCTET_STRING_free(ip);
  }
  if (s.check_hostname) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (!ok) throw_ssl_error("invalid server_hostname");
  }
}

ConnectionState::~ConnectionState() { SSL_free(ssl); }

}  // namespace detail

// ---- SSLContext ------------------------------------------------------------------

namespace {

void require_file(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) asyncio::detail::throw_errno(errno);
}

int password_cb(char* buf, int size, int, void* userdata) noexcept {
  const auto* pw = static_cast<const std::string*>(userdata);
  if (!pw || static_cast<int>(pw->size()) > size) return -1;
  pw->copy(buf, pw->size());
  return static_cast<int>(pw->size());
}

int to_openssl(TLSVersion v) {
  return v == TLSVersion::MINIMUM_SUPPORTED || v == TLSVersion::MAXIMUM_SUPPORTED ? 0 : static_cast<int>(v);
}

TLSVersion from_openssl(long v, TLSVersion none) { return v == 0 ? none : static_cast<TLSVersion>(v); }

}  // namespace

SSLContext::SSLContext(ProtocolKind protocol) : s_(std::make_shared<detail::ContextState>(protocol)) {}

void SSLContext::load_cert_chain(const std::string& certfile, const std::string& keyfile,
                                 const std::string& password) {
  SSL_CTX* ctx = s_->ctx;
  require_file(certfile);
  if (!keyfile.empty()) require_file(keyfile);
  SSL_CTX_set_default_passwd_cb(ctx, &password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&password));
  struct Reset {
    SSL_CTX* ctx;
    ~Reset() {
      SSL_CTX_set_default_passwd_cb(ctx, nullptr);
      SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    }
  } reset{ctx};
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, certfile.c_str()) != 1) detail::throw_ssl_error("PEM lib");
  const std::string& key = keyfile.empty() ? certfile : keyfile;
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) detail::throw_ssl_error("PEM lib");
  if (SSL_CTX_check_private_key(ctx) != 1) detail::throw_ssl_error("key values mismatch");
}

void SSLContext::load_verify_locations(const std::string& cafile, const std::string& capath, std::string_view cadata) {
  if (cafile.empty() && capath.empty() && cadata.empty())
    throw std::invalid_argument("cafile, capath and cadata cannot be all omitted");
  ERR_clear_error();
  if (!cafile.empty() || !capath.empty()) {
    if (!cafile.empty()) require_file(cafile);
    if (SSL_CTX_load_verify_locations(s_->ctx, cafile.empty() ? nullptr : cafile.c_str(),
                                      capath.empty() ? nullptr : capath.c_str()) != 1)
      detail::throw_ssl_error("unknown error");
  }
  if (cadata.empty()) return;
  BIO* bio = BIO_new_mem_buf(cadata.data(), static_cast<int>(cadata.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(s_->ctx);
  int loaded = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
    ++loaded;
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the PEM data
  if (loaded == 0) throw SSLError(SSL_ERROR_SSL, "[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found",
                                  "X509", "NO_CERTIFICATE_OR_CRL_FOUND");
}

void SSLContext::load_default_certs(Purpose) { set_default_verify_paths(); }

void SSLContext::set_default_verify_paths() {
  if (SSL_CTX_set_default_verify_paths(s_->ctx) != 1) detail::throw_ssl_error("unknown error");
}

void SSLContext::set_alpn_protocols(std::span<const std::string_view> protocols) {
  std::vector<unsigned char> wire;
  for (std::string_view p : protocols) {
    if (p.empty() || p.size() > 255) throw std::invalid_argument("ALPN protocols must be 1 to 255 in length");
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  if (SSL_CTX_set_alpn_protos(s_->ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0)
    detail::throw_ssl_error("failed to set ALPN protocols");
  s_->alpn = std::move(wire);
}

void SSLContext::set_ciphers(const std::string& ciphers) {
  if (SSL_CTX_set_cipher_list(s_->ctx, ciphers.c_str()) != 1) {
    ERR_clear_error();
    throw SSLError(SSL_ERROR_SSL, "No cipher can be selected.");
  }
}

bool SSLContext::check_hostname() const { return s_->check_hostname; }

void SSLContext::check_hostname(bool value) {
  if (value && verify_mode() == CERT_NONE) verify_mode(CERT_REQUIRED);
  s_->check_hostname = value;
}

VerifyMode SSLContext::verify_mode() const {
  const int mode = SSL_CTX_get_verify_mode(s_->ctx);
  if (!(mode & SSL_VERIFY_PEER)) return CERT_NONE;
  return mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT ? CERT_REQUIRED : CERT_OPTIONAL;
}

void SSLContext::verify_mode(VerifyMode mode) {
  if (mode == CERT_NONE && s_->check_hostname)
    throw std::invalid_argument("Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  const int flags = mode == CERT_NONE       ? SSL_VERIFY_NONE
                    : mode == CERT_OPTIONAL ? SSL_VERIFY_PEER
                                            : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(s_->ctx, flags, nullptr);
}

TLSVersion SSLContext::minimum_version() const {
  return from_openssl(SSL_CTX_get_min_proto_version(s_->ctx), TLSVersion::MINIMUM_SUPPORTED);
}
void SSLContext::minimum_version(TLSVersion v) {
  if (!SSL_CTX_set_min_proto_version(s_->ctx, to_openssl(v)))
    throw std::invalid_argument("Unsupported TLS/SSL version");
}
TLSVersion SSLContext::maximum_version() const {
  return from_openssl(SSL_CTX_get_max_proto_version(s_->ctx), TLSVersion::MAXIMUM_SUPPORTED);
}
void SSLContext::maximum_version(TLSVersion v) {
  if (!SSL_CTX_set_max_proto_version(s_->ctx, to_openssl(v)))
    throw std::invalid_argument("Unsupported TLS/SSL version");
}

ProtocolKind SSLContext::protocol() const { return s_->protocol; }

void SSLContext::set_servername_callback(ServernameCallback fn) {
  if (s_->protocol == PROTOCOL_TLS_CLIENT)
    throw std::invalid_argument("sni_callback cannot be set on TLS_CLIENT context");
  s_->servername_callback = std::move(fn);
  if (s_->servername_callback)
    SSL_CTX_set_tlsext_servername_callback(s_->ctx, &detail::on_servername);
  else
    SSL_CTX_set_tlsext_servername_callback(s_->ctx, nullptr);
}

SSLContext create_default_context(Purpose purpose, const std::string& cafile, const std::string& capath,
                                  std::string_view cadata) {
  SSLContext ctx(purpose == Purpose::SERVER_AUTH ? PROTOCOL_TLS_CLIENT : PROTOCOL_TLS_SERVER);
  if (!cafile.empty() || !capath.empty() || !cadata.empty())
    ctx.load_verify_locations(cafile, capath, cadata);
  else if (ctx.verify_mode() != CERT_NONE)
    ctx.load_default_certs(purpose);
  // ≙ 3.13's VERIFY_X509_PARTIAL_CHAIN | VERIFY_X509_STRICT.
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx.state()->ctx),
                              X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
  return ctx;
}

// ---- SSLObject -------------------------------------------------------------------

namespace {

PeerCertificate::Name name_of(const X509_NAME* name) {
  // ≙ _ssl.c _create_tuple_for_X509_NAME: entries of one set grouped.
  PeerCertificate::Name out;
  int last_set = -1;
  for (int i = 0, n = X509_NAME_entry_count(name); i < n; ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const int set = X509_NAME_ENTRY_set(e);
    if (set != last_set || out.empty()) out.emplace_back();
    last_set = set;
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const char* key = nid != NID_undef ? OBJ_nid2ln(nid) : "";
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    out.back().emplace_back(key, len > 0 ? std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len))
                                         : std::string());
    OPENSSL_free(utf8);
  }
  return out;
}

std::string asn1_time(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

PeerCertificate decode(X509* cert) {
  PeerCertificate c;
  c.subject = name_of(X509_get_subject_name(cert));
  c.issuer = name_of(X509_get_issuer_name(cert));
  c.version = static_cast<int>(X509_get_version(cert)) + 1;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    char* hex = BN_bn2hex(bn);
    c.serialNumber = hex;
    OPENSSL_free(hex);
    BN_free(bn);
  }
  c.notBefore = asn1_time(X509_get0_notBefore(cert));
  c.notAfter = asn1_time(X509_get0_notAfter(cert));
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      c.subjectAltName.emplace_back("DNS", reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)));
    } else if (g->type == GEN_IPADD) {
      char* ip = nullptr;
      const ASN1_OCTET_STRING* a = g->d.iPAddress;
      // ≙ Python's "IP Address" text: dotted IPv4, upper-case IPv6 groups.
      std::string text;
      if (a->length == 4) {
        for (int k = 0; k < 4; ++k) {
          // Appended piece by piece: g++ -O3 reports a false -Wrestrict on
          // operator+ chains (GCC PR 105329).
          if (k) text += '.';
          text += std::to_string(a->data[k]);
        }
      } else if (a->length == 16) {
        static const char digits[] = "0123456789ABCDEF";
        for (int k = 0; k < 16; k += 2) {
          if (k) text += ':';
          const unsigned v = (a->data[k] << 8) | a->data[k + 1];
          std::string group;
          for (int sh = 12; sh >= 0; sh -= 4) group += digits[(v >> sh) & 15];
          const auto first = group.find_first_not_of('0');
          text += first == std::string::npos ? "0" : group.substr(first);
        }
      }
      (void)ip;
      c.subjectAltName.emplace_back("IP Address", text);
    } else if (g->type == GEN_EMAIL) {
      c.subjectAltName.emplace_back("email", reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.rfc822Name)));
    }
  }
  GENERAL_NAMES_free(names);
  return c;
}

}  // namespace

std::optional<std::string> SSLObject::version() const {
  if (!SSL_is_init_finished(s_->ssl)) return std::nullopt;
  return std::string(SSL_get_version(s_->ssl));
}

std::optional<SSLObject::Cipher> SSLObject::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(s_->ssl);
  if (!c) return std::nullopt;
  return Cipher{SSL_CIPHER_get_name(c), SSL_CIPHER_get_version(c), SSL_CIPHER_get_bits(c, nullptr)};
}

std::optional<std::string> SSLObject::selected_alpn_protocol() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(s_->ssl, &p, &len);
  if (!p || !len) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(p), len);
}

std::optional<PeerCertificate> SSLObject::getpeercert() const {
  if (!SSL_is_init_finished(s_->ssl)) throw std::invalid_argument("handshake not done yet");
  X509* cert = SSL_get1_peer_certificate(s_->ssl);
  if (!cert) return std::nullopt;
  std::optional<PeerCertificate> out;
  // ≙ _ssl.c: {} when the certificate was not verified.
  if (SSL_get_verify_mode(s_->ssl) & SSL_VERIFY_PEER)
    out = decode(cert);
  else
    out = PeerCertificate{};
  X509_free(cert);
  return out;
}

std::optional<std::string> SSLObject::getpeercert_der() const {
  X509* cert = SSL_get1_peer_certificate(s_->ssl);
  if (!cert) return std::nullopt;
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len > 0 ? len : 0));
  OPENSSL_free(der);
  X509_free(cert);
  return out;
}

bool SSLObject::server_side() const { return s_->server_side; }
std::optional<std::string> SSLObject::server_hostname() const { return s_->server_hostname; }
SSLContext SSLObject::context() const { return s_->context; }

void SSLObject::set_context(const SSLContext& ctx) {
  SSL_set_SSL_CTX(s_->ssl, ctx.state()->ctx);
  s_->context = ctx;
}

}  // namespace asyncio::ssl
