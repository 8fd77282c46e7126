#include <stddef.h>

/// libcurl's HTTP and SMTP clients, loaded at run time from libcurl.so.4 (the runtime is on every machine
/// of this kind; its headers are not, so the few functions and option numbers used are declared
/// in shim.c from libcurl's stable ABI).

/// 1 when libcurl.so.4 loads and has what vigil uses; 0 otherwise.
int vigil_curl_available(void);

/// What an HTTP transfer got: the status, two headers, and (up to the caller's cap) the body,
/// which `vigil_http_answer_free` frees.
struct vigil_http_answer {
    long status;
    char retry_after[128];
    char content_type[128];
    unsigned char *body;
    size_t length, capacity;
    /// 1 when the body passed the cap (the transfer was stopped there).
    int too_large;
};

/// One HTTP request ("GET", "POST", …) on a handle kept per thread (so its connection is
/// reused), with `nheaders` "Name: value" lines and, for a POST, `length` bytes of `data`.
/// HTTP and HTTPS only; a GET follows up to 10 redirects, any other method none.
/// Keeps at most `max_body` bytes of the answer (0: reads none; more stops the transfer).
/// `cancel` (may be NULL) stops the transfer once `vigil_cancel` sets it. Returns libcurl's
/// result (0: answered) and says why not in `err`.
int vigil_http(const char *method, const char *url, const char *const *headers, int nheaders, const char *data,
               size_t length, long timeout_ms, size_t max_body, int *cancel, struct vigil_http_answer *answer,
               char *err, size_t errlen);
void vigil_http_answer_free(struct vigil_http_answer *answer);
/// Sets a cancel flag from any thread.
void vigil_cancel(int *flag);

/// One mail: `url` is smtp://host:port/HELLO or smtps://host:port/HELLO (implicit TLS), the
/// envelope `from` and `nto` recipients, optional `user`/`password` (PLAIN or LOGIN, libcurl
/// chooses), `cafile` (NULL: the system's), `require_tls` (STARTTLS or fail; 0: opportunistic),
/// the whole message in `data` (CRLF lines). Returns libcurl's result (0: sent); `*reply` is the
/// server's last reply code (0 if none) and `err` says why in words.
int vigil_smtp_send(const char *url, const char *from, const char *const *to, int nto,
                    const char *user, const char *password, const char *cafile, int require_tls,
                    long timeout_ms, const char *data, size_t length, long *reply, char *err, size_t errlen);
