/* fixlua — TLS contexts for the engine's connections (see fl_tls.h). */
#include "fl_tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Appends OpenSSL's queued reasons to buf and clears the queue. */
static void queue_reasons(char *buf, size_t n)
{
    unsigned long e;
    size_t len = strlen(buf);
    while ((e = ERR_get_error()) != 0 && len + 4 < n) {
        char r[256];
        ERR_error_string_n(e, r, sizeof r);
        /* "error:0A000086:SSL routines::certificate verify failed" -> keep the reason part */
        const char *reason = strrchr(r, ':');
        snprintf(buf + len, n - len, "%s%s", len ? "; " : "", reason ? reason + 1 : r);
        len = strlen(buf);
    }
}

static int fail(char *errbuf, size_t errlen, const char *what, const char *file)
{
    if (errbuf && errlen) {
        snprintf(errbuf, errlen, "%s%s%s: ", what, file ? " " : "", file ? file : "");
        size_t len = strlen(errbuf);
        char reasons[256] = "";
        queue_reasons(reasons, sizeof reasons);
        snprintf(errbuf + len, errlen - len, "%s", reasons[0] ? reasons : "unknown reason");
    }
    ERR_clear_error();
    return FL_ETLS;
}

int fl_tls_ctx_new(const struct fl_tls_config *cfg, int server, SSL_CTX **out, char *errbuf,
                   size_t errlen)
{
    *out = NULL;
    if (server && (!cfg->cert || !cfg->key)) {
        snprintf(errbuf, errlen, "TLS acceptor needs 'cert' and 'key'");
        return FL_EINVAL;
    }
    if ((cfg->cert && !cfg->key) || (!cfg->cert && cfg->key)) {
        snprintf(errbuf, errlen, "TLS 'cert' and 'key' go together");
        return FL_EINVAL;
    }
    int verify = server ? cfg->verify_peer > 0 : cfg->verify_peer >= 0;
    if (verify && !cfg->ca) {
        snprintf(errbuf, errlen, "TLS peer verification needs 'ca' (or verify_peer = false)");
        return FL_EINVAL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return fail(errbuf, errlen, "cannot create a TLS context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* FIX sessions are long-lived and latency-sensitive: no renegotiation, no compression. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (cfg->ciphers && SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1) {
        SSL_CTX_free(ctx);
        return fail(errbuf, errlen, "bad TLS cipher list", cfg->ciphers);
    }
    if (cfg->cert && SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
        SSL_CTX_free(ctx);
        return fail(errbuf, errlen, "cannot load certificate", cfg->cert);
    }
    if (cfg->key && SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
        int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        SSL_CTX_free(ctx);
        return fail(errbuf, errlen,
                    mismatch ? "private key does not match certificate" : "cannot load private key",
                    cfg->key);
    }
    if (cfg->cert && SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return fail(errbuf, errlen, "private key does not match certificate", cfg->cert);
    }
    if (cfg->ca && SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
        SSL_CTX_free(ctx);
        return fail(errbuf, errlen, "cannot load CA bundle", cfg->ca);
    }
    if (verify)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    *out = ctx;
    return FL_OK;
}

void fl_tls_ctx_free(SSL_CTX *ctx)
{
    if (ctx)
        SSL_CTX_free(ctx);
}

SSL *fl_tls_new_ssl(SSL_CTX *ctx, const struct fl_tls_config *cfg, int server, const char *host,
                    char *errbuf, size_t errlen)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        fail(errbuf, errlen, "cannot create a TLS connection", NULL);
        return NULL;
    }
    if (!server) {
        const char *name = cfg->server_name && *cfg->server_name ? cfg->server_name : host;
        if (name && *name) {
            /* SNI only for names, never for address literals (RFC 6066). */
            int literal = strspn(name, "0123456789.") == strlen(name) || strchr(name, ':');
            if (!literal)
                SSL_set_tlsext_host_name(ssl, name);
            if (cfg->verify_peer >= 0) {
                X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
                int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(p, name)
                                 : X509_VERIFY_PARAM_set1_host(p, name, 0);
                if (ok != 1) {
                    SSL_free(ssl);
                    fail(errbuf, errlen, "bad TLS server name", name);
                    return NULL;
                }
            }
        }
    }
    return ssl;
}

void fl_tls_describe_error(SSL *ssl, unsigned long first_error, char *buf, size_t n)
{
    buf[0] = '\0';
    if (first_error) {
        char r[256];
        ERR_error_string_n(first_error, r, sizeof r);
        const char *reason = strrchr(r, ':');
        snprintf(buf, n, "%s", reason ? reason + 1 : r);
    }
    queue_reasons(buf, n);
    if (ssl) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            size_t len = strlen(buf);
            snprintf(buf + len, n - len, "%scertificate: %s", len ? "; " : "",
                     X509_verify_cert_error_string(v));
        }
    }
    if (!buf[0])
        snprintf(buf, n, "TLS handshake failed");
}
