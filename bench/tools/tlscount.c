/* tlscount.c: an LD_PRELOAD shim for wrk (bench/proxy.py).
 *
 * Counts wrk's completed TLS handshakes and how many of them resumed a
 * session, and writes "handshakes N resumed M" to $TLSCOUNT_OUT at exit.
 *
 * wrk keeps one SSL object per connection slot: on "Connection: close" it
 * calls SSL_shutdown + SSL_clear and connects the same object again.
 * SSL_clear keeps the session, so the next handshake offers it and the
 * server may resume it (an abbreviated handshake: no certificate, no
 * signature). With TLSCOUNT_FRESH=1 the shim drops that session right after
 * SSL_clear, so every connection makes a full handshake.
 *
 * Build: gcc -O2 -Wall -shared -fPIC -o tlscount.so tlscount.c -ldl
 * Only OpenSSL symbols are interposed; libssl itself is found with dlsym.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static unsigned long handshakes, resumed;

static void *next(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "tlscount: %s not found\n", name);
        abort();
    }
    return f;
}

int SSL_connect(SSL *ssl) {
    static int (*real)(SSL *);
    static int (*reused)(const SSL *);
    if (!real) {
        reused = (int (*)(const SSL *))next("SSL_session_reused");
        real = (int (*)(SSL *))next("SSL_connect");
    }
    int r = real(ssl);
    if (r == 1) {
        __atomic_fetch_add(&handshakes, 1, __ATOMIC_RELAXED);
        if (reused(ssl))
            __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
    }
    return r;
}

int SSL_clear(SSL *ssl) {
    static int (*real)(SSL *);
    static int (*set_session)(SSL *, SSL_SESSION *);
    if (!real) {
        set_session = (int (*)(SSL *, SSL_SESSION *))next("SSL_set_session");
        real = (int (*)(SSL *))next("SSL_clear");
    }
    int r = real(ssl);
    const char *fresh = getenv("TLSCOUNT_FRESH");
    if (fresh && strcmp(fresh, "1") == 0)
        set_session(ssl, NULL);
    return r;
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("TLSCOUNT_OUT");
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "handshakes %lu resumed %lu\n", __atomic_load_n(&handshakes, __ATOMIC_RELAXED),
            __atomic_load_n(&resumed, __ATOMIC_RELAXED));
    fclose(f);
}
