/* Internal to httpd/. */
#ifndef CRIO_HTTPD_INTERNAL_H
#define CRIO_HTTPD_INTERNAL_H

#include "httpd/httpd.h"

/* Reads one HTTP/1.1 request from fd (blocking, with a timeout), answers
 * it from the status endpoint, and returns; the caller closes fd. */
void httpd_serve_http1(int fd, const struct httpd_status_source *status);

/* Answer GET path with one of the answer functions, for any endpoint. */
typedef int (*httpd_answer_fn)(void *data, const char *path, char **body,
                               const char **content_type);
/* The request/response exchange on a connected fd (shared by the status
 * endpoint and the metrics endpoint). */
void httpd_exchange(int fd, httpd_answer_fn answer, void *data);

#endif
