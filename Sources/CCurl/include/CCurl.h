#include <stddef.h>

/// libcurl's SMTP client, loaded at run time from libcurl.so.4 (the runtime is on every machine
/// of this kind; its headers are not, so the few functions and option numbers used are declared
/// in shim.c from libcurl's stable ABI).

/// 1 when libcurl.so.4 loads and has what vigil uses; 0 otherwise.
int vigil_curl_available(void);

/// One HTTP POST of `length` bytes of `content_type`, on a handle kept per thread (so its
/// connection is reused). Returns libcurl's result (0: answered); `*status` is the HTTP status
/// and `retry_after` the Retry-After header's value (empty if none).
int vigil_http_post(const char *url, const char *data, size_t length, const char *content_type, long timeout_ms,
                    long *status, char *retry_after, size_t ralen, char *err, size_t errlen);

/// One mail: `url` is smtp://host:port/HELLO or smtps://host:port/HELLO (implicit TLS), the
/// envelope `from` and `nto` recipients, optional `user`/`password` (PLAIN or LOGIN, libcurl
/// chooses), `cafile` (NULL: the system's), `require_tls` (STARTTLS or fail; 0: opportunistic),
/// the whole message in `data` (CRLF lines). Returns libcurl's result (0: sent); `*reply` is the
/// server's last reply code (0 if none) and `err` says why in words.
int vigil_smtp_send(const char *url, const char *from, const char *const *to, int nto,
                    const char *user, const char *password, const char *cafile, int require_tls,
                    long timeout_ms, const char *data, size_t length, long *reply, char *err, size_t errlen);
