#include "CCurl.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
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
    INFO_RESPONSE_CODE = 0x200002, USESSL_TRY = 1, USESSL_ALL = 3, GLOBAL_DEFAULT = 3, ERROR_SIZE = 256
};

struct slist;
static void *(*easy_init)(void);
static int (*easy_setopt)(void *, int, ...);
static int (*easy_perform)(void *);
static int (*easy_getinfo)(void *, int, ...);
static void (*easy_cleanup)(void *);
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
    easy_strerror = dlsym(h, "curl_easy_strerror");
    slist_append = dlsym(h, "curl_slist_append");
    slist_free_all = dlsym(h, "curl_slist_free_all");
    global_init = dlsym(h, "curl_global_init");
    if (easy_init && easy_setopt && easy_perform && easy_getinfo && easy_cleanup && easy_strerror && slist_append
        && slist_free_all && global_init && global_init(GLOBAL_DEFAULT) == 0) loaded = 1;
}

int vigil_curl_available(void) {
    pthread_once(&once, load);
    return loaded;
}

struct source { const char *data; size_t length, offset; };

static size_t discard(char *p, size_t size, size_t count, void *user) { (void)p; (void)user; return size * count; }

struct header_out { char *value; size_t length; };

static size_t header_line(char *p, size_t size, size_t count, void *user) {
    struct header_out *out = user;
    size_t n = size * count;
    if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0 && out->length > 0) {
        size_t i = 12, j = n;
        while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) j--;
        size_t m = j - i < out->length - 1 ? j - i : out->length - 1;
        memcpy(out->value, p + i, m);
        out->value[m] = 0;
    }
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

int vigil_http_post(const char *url, const char *data, size_t length, const char *content_type, long timeout_ms,
                    long *status, char *retry_after, size_t ralen, char *err, size_t errlen) {
    if (ralen) retry_after[0] = 0;
    if (!ready(status, err, errlen)) return -1;
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
    char type[256];
    snprintf(type, sizeof type, "Content-Type: %s", content_type);
    struct slist *headers = slist_append(NULL, type);
    struct header_out out = { retry_after, ralen };
    easy_setopt(c, OPT_POSTFIELDS, data);
    easy_setopt(c, OPT_POSTFIELDSIZE, (long)length);
    easy_setopt(c, OPT_HTTPHEADER, headers);
    easy_setopt(c, OPT_WRITEFUNCTION, discard);
    easy_setopt(c, OPT_HEADERFUNCTION, header_line);
    easy_setopt(c, OPT_HEADERDATA, &out);
    int code = perform(c, url, timeout_ms, status, err, errlen);
    easy_setopt(c, OPT_HTTPHEADER, (void *)0);
    easy_setopt(c, OPT_HEADERDATA, (void *)0);
    slist_free_all(headers);
    return code;
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
