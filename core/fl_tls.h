/* fixlua — TLS contexts for the engine's connections (OpenSSL 3).
 *
 * One SSL_CTX per acceptor listener and per initiator session, built from PEM files. Errors
 * name the file and OpenSSL's reason ("cannot load private key var/key.pem: bad decrypt"), a
 * failed handshake is reported with the peer's address and the verification result, and every
 * connection gets a fresh SSL object, so one bad handshake never poisons later reconnects. */
#ifndef FL_TLS_H
#define FL_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "fl_err.h"

struct fl_tls_config {
    int enabled;
    const char *cert;         /* our certificate chain (PEM); required for an acceptor */
    const char *key;          /* its private key (PEM, unencrypted) */
    const char *ca;           /* CA bundle (PEM) that must have signed the peer's certificate */
    int verify_peer;          /* acceptor: require a client certificate; initiator: verify the
                                 server (default on for initiators: set -1 to turn off) */
    const char *server_name;  /* initiator: SNI and the name the certificate must match
                                 (default: the host of the connect address) */
    const char *ciphers;      /* OpenSSL cipher list for TLS 1.2 (default: OpenSSL's) */
};

/* Builds a context; `server` 1 for an acceptor. Returns FL_OK, FL_EINVAL (bad combination),
 * FL_ETLS (a file or setting OpenSSL refused; detail in errbuf), FL_ENOMEM. */
FL_MUST_CHECK int fl_tls_ctx_new(const struct fl_tls_config *cfg, int server, SSL_CTX **out,
                                 char *errbuf, size_t errlen);
void fl_tls_ctx_free(SSL_CTX *ctx);

/* A new SSL object for one connection; an initiator's gets SNI and host-name checking for
 * `host` (cfg->server_name wins). NULL on failure with detail in errbuf. */
SSL *fl_tls_new_ssl(SSL_CTX *ctx, const struct fl_tls_config *cfg, int server, const char *host,
                    char *errbuf, size_t errlen);

/* Describes why a TLS connection failed, from the OpenSSL error queue (drained) and the
 * certificate verification result of `ssl` (may be NULL). */
void fl_tls_describe_error(SSL *ssl, unsigned long first_error, char *buf, size_t n);

#endif
