#include "CCurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// libcurl's ABI (curl/curl.h, stable since 7.x): option numbers are TYPE + N, with LONG 0,
// OBJECTPOINT 10000, FUNCTIONPOINT 20000; CURLINFO_LONG is 0x200000.
enum {
    OPT_URL = 10002, OPT_READDATA = 10009, OPT_ERRORBUFFER = 10010, OPT_READFUNCTION = 20012,
    OPT_UPLOAD = 46, OPT_NOSIGNAL = 99, OPT_CAINFO = 10065, OPT_USE_SSL = 119,
    OPT_TIMEOUT_MS = 155, OPT_CONNECTTIMEOUT_MS = 156, OPT_USERNAME = 10173, OPT_PASSWORD = 10174,
    OPT_MAIL_FROM = 10186, OPT_MAIL_RCPT = 10187, OPT_POSTFIELDS = 10015, OPT_POSTFIELDSIZE = 60,
    OPT_HTTPHEADER = 10023, OPT_WRITEFUNCTION = 20011, OPT_HEADERFUNCTION = 20079, OPT_HEADERDATA = 10029,
    OPT_WRITEDATA = 10001, OPT_CUSTOMREQUEST = 10036, OPT_NOPROGRESS = 43, OPT_XFERINFODATA = 10057,
    OPT_XFERINFOFUNCTION = 20219, OPT_ACCEPT_ENCODING = 10102, OPT_FOLLOWLOCATION = 52, OPT_MAXREDIRS = 68,
    OPT_PROTOCOLS = 181, OPT_REDIR_PROTOCOLS = 182, PROTO_HTTP = 1, PROTO_HTTPS = 2,
    INFO_RESPONSE_CODE = 0x200002, USESSL_TRY = 1, USESSL_ALL = 3, GLOBAL_DEFAULT = 3, ERROR_SIZE = 256
};

struct slist;
static void *(*easy_init)(void);
static int (*easy_setopt)(void *, int, ...);
static int (*easy_perform)(void *);
static int (*easy_getinfo)(void *, int, ...);
static void (*easy_cleanup)(void *);
static void (*easy_reset)(void *);
static const char *(*easy_strerror)(int);
static struct slist *(*slist_append)(struct slist *, const char *);
static void (*slist_free_all)(struct slist *);
static int (*global_init)(long);
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    easy_init = dlsym(h, "curl_easy_init");
    easy_setopt = dlsym(h, "curl_easy_setopt");
    easy_perform = dlsym(h, "curl_easy_perform");
    easy_getinfo = dlsym(h, "curl_easy_getinfo");
    easy_cleanup = dlsym(h, "curl_easy_cleanup");
    easy_reset = dlsym(h, "curl_easy_reset");
    easy_strerror = dlsym(h, "curl_easy_strerror");
    slist_append = dlsym(h, "curl_slist_append");
    slist_free_all = dlsym(h, "curl_slist_free_all");
    global_init = dlsym(h, "curl_global_init");
    if (easy_init && easy_setopt && easy_perform && easy_getinfo && easy_cleanup && easy_reset && easy_strerror && slist_append
        && slist_free_all && global_init && global_init(GLOBAL_DEFAULT) == 0) loaded = 1;
}

int vigil_curl_available(void) {
    pthread_once(&once, load);
    return loaded;
}

struct source { const char *data; size_t length, offset; };

static size_t discard(char *p, size_t size, size_t count, void *user) { (void)p; (void)user; return size * count; }

struct header_out { char *retry_after; size_t ralen; char *content_type; size_t ctlen; };

/// Copies the value of header `name` (with its colon) out of the line `p` of `n` bytes, trimmed.
static void header_value(const char *p, size_t n, const char *name, char *value, size_t room) {
    size_t k = strlen(name);
    if (n <= k || room == 0 || strncasecmp(p, name, k) != 0) return;
    size_t i = k, j = n;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) j--;
    size_t m = j - i < room - 1 ? j - i : room - 1;
    memcpy(value, p + i, m);
    value[m] = 0;
}

static size_t header_line(char *p, size_t size, size_t count, void *user) {
    struct header_out *out = user;
    size_t n = size * count;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { // a new response (after a 100 Continue): forget the last one's
        out->retry_after[0] = 0;
        out->content_type[0] = 0;
    }
    header_value(p, n, "retry-after:", out->retry_after, out->ralen);
    header_value(p, n, "content-type:", out->content_type, out->ctlen);
    return n;
}

/// What every transfer sets and does: the URL, no signals, the error buffer and the timeouts;
/// then the transfer, the server's last reply code into `*reply`, and why it failed into `err`.
static int perform(void *c, const char *url, long timeout_ms, long *reply, char *err, size_t errlen) {
    char buffer[ERROR_SIZE] = {0};
    easy_setopt(c, OPT_URL, url);
    easy_setopt(c, OPT_NOSIGNAL, 1L);
    easy_setopt(c, OPT_ERRORBUFFER, buffer);
    easy_setopt(c, OPT_TIMEOUT_MS, timeout_ms);
    easy_setopt(c, OPT_CONNECTTIMEOUT_MS, timeout_ms);
    int code = easy_perform(c);
    easy_getinfo(c, INFO_RESPONSE_CODE, reply);
    if (code != 0) snprintf(err, errlen, "%s", buffer[0] ? buffer : easy_strerror(code));
    easy_setopt(c, OPT_ERRORBUFFER, (void *)0); // the buffer ends here; a kept handle must not point at it
    return code;
}

/// Clears the outputs; false (with `err` saying why) when libcurl cannot be used.
static int ready(long *reply, char *err, size_t errlen) {
    *reply = 0;
    if (errlen) err[0] = 0;
    if (!vigil_curl_available()) {
        snprintf(err, errlen, "libcurl.so.4 cannot be loaded");
        return 0;
    }
    return 1;
}

// One handle per thread, so a delivery thread's requests reuse its connection; freed (with
// its connection) when the thread ends.
static pthread_key_t handle_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static void free_handle(void *h) { if (h && easy_cleanup) easy_cleanup(h); }
static void make_key(void) { pthread_key_create(&handle_key, free_handle); }

struct body_out { struct vigil_http_answer *answer; size_t max; };

static size_t keep_body(char *p, size_t size, size_t count, void *user) {
    struct body_out *out = user;
    size_t n = size * count;
    struct vigil_http_answer *a = out->answer;
    if (out->max == 0) return n;
    if (n > out->max - a->length) {
        a->too_large = 1;
        return 0; // libcurl stops the transfer (CURLE_WRITE_ERROR)
    }
    if (a->length + n > a->capacity) {
        size_t cap = a->capacity ? a->capacity : 16384;
        while (cap < a->length + n) cap = cap > out->max / 2 ? out->max : cap * 2;
        unsigned char *grown = realloc(a->body, cap);
        if (!grown) {
            a->too_large = 1;
            return 0;
        }
        a->body = grown;
        a->capacity = cap;
    }
    memcpy(a->body + a->length, p, n);
    a->length += n;
    return n;
}

static int cancelled(void *user, long long dt, long long dn, long long ut, long long un) {
    (void)dt; (void)dn; (void)ut; (void)un;
    return user && __atomic_load_n((const int *)user, __ATOMIC_RELAXED) ? 1 : 0; // non-zero: CURLE_ABORTED_BY_CALLBACK
}

void vigil_cancel(int *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELAXED); }

int vigil_http(const char *method, const char *url, const char *const *headers, int nheaders, const char *data,
               size_t length, long timeout_ms, size_t max_body, int *cancel, struct vigil_http_answer *answer,
               char *err, size_t errlen) {
    memset(answer, 0, sizeof *answer);
    if (!ready(&answer->status, err, errlen)) return -1;
    pthread_once(&key_once, make_key);
    void *c = pthread_getspecific(handle_key);
    if (!c) {
        c = easy_init();
        pthread_setspecific(handle_key, c);
    }
    if (!c) {
        snprintf(err, errlen, "libcurl could not start a transfer");
        return -1;
    }
    easy_reset(c); // every transfer starts from libcurl's defaults; the connection and DNS caches stay
    struct slist *list = NULL;
    for (int i = 0; i < nheaders; i++) list = slist_append(list, headers[i]);
    struct header_out out = { answer->retry_after, sizeof answer->retry_after, answer->content_type, sizeof answer->content_type };
    struct body_out body = { answer, max_body };
    if (strcmp(method, "POST") == 0) {
        easy_setopt(c, OPT_POSTFIELDS, data ? data : "");
        easy_setopt(c, OPT_POSTFIELDSIZE, (long)length);
    } else if (strcmp(method, "GET") == 0) {
        easy_setopt(c, OPT_FOLLOWLOCATION, 1L); // a probe or a scrape follows redirects, as Prometheus does; a POST never
        easy_setopt(c, OPT_MAXREDIRS, 10L);
    } else {
        easy_setopt(c, OPT_CUSTOMREQUEST, method);
    }
    easy_setopt(c, OPT_PROTOCOLS, (long)(PROTO_HTTP | PROTO_HTTPS)); // never file://, ftp://… whatever the URL says
    easy_setopt(c, OPT_REDIR_PROTOCOLS, (long)(PROTO_HTTP | PROTO_HTTPS));
    if (max_body > 0) easy_setopt(c, OPT_ACCEPT_ENCODING, ""); // what libcurl can decode: gzip, deflate
    if (list) easy_setopt(c, OPT_HTTPHEADER, list);
    easy_setopt(c, OPT_WRITEFUNCTION, keep_body);
    easy_setopt(c, OPT_WRITEDATA, &body);
    easy_setopt(c, OPT_HEADERFUNCTION, header_line);
    easy_setopt(c, OPT_HEADERDATA, &out);
    if (cancel) {
        easy_setopt(c, OPT_XFERINFOFUNCTION, cancelled);
        easy_setopt(c, OPT_XFERINFODATA, (void *)cancel);
        easy_setopt(c, OPT_NOPROGRESS, 0L);
    }
    int code = perform(c, url, timeout_ms, &answer->status, err, errlen);
    if (answer->too_large) snprintf(err, errlen, "the answer is larger than %zu bytes", max_body);
    easy_reset(c); // drops the pointers into this frame (headers, buffers) that a kept handle must not hold
    slist_free_all(list);
    return code;
}

void vigil_http_answer_free(struct vigil_http_answer *answer) {
    free(answer->body);
    answer->body = NULL;
    answer->length = answer->capacity = 0;
}

static size_t read_message(char *buffer, size_t size, size_t count, void *user) {
    struct source *s = user;
    size_t room = size * count, left = s->length - s->offset;
    size_t n = left < room ? left : room;
    memcpy(buffer, s->data + s->offset, n);
    s->offset += n;
    return n;
}

int vigil_smtp_send(const char *url, const char *from, const char *const *to, int nto,
                    const char *user, const char *password, const char *cafile, int require_tls,
                    long timeout_ms, const char *data, size_t length, long *reply, char *err, size_t errlen) {
    if (!ready(reply, err, errlen)) return -1;
    void *c = easy_init();
    if (!c) {
        snprintf(err, errlen, "libcurl could not start a transfer");
        return -1;
    }
    struct slist *rcpt = NULL;
    for (int i = 0; i < nto; i++) rcpt = slist_append(rcpt, to[i]);
    struct source src = { data, length, 0 };
    easy_setopt(c, OPT_MAIL_FROM, from);
    easy_setopt(c, OPT_MAIL_RCPT, rcpt);
    easy_setopt(c, OPT_READFUNCTION, read_message);
    easy_setopt(c, OPT_READDATA, &src);
    easy_setopt(c, OPT_UPLOAD, 1L);
    easy_setopt(c, OPT_USE_SSL, (long)(require_tls ? USESSL_ALL : USESSL_TRY));
    if (cafile) easy_setopt(c, OPT_CAINFO, cafile);
    if (user) easy_setopt(c, OPT_USERNAME, user);
    if (password) easy_setopt(c, OPT_PASSWORD, password);
    int code = perform(c, url, timeout_ms, reply, err, errlen);
    slist_free_all(rcpt);
    easy_cleanup(c);
    return code;
}
