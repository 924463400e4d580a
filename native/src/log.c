// SPDX-License-Identifier: Apache-2.0
/* libbpf log capture. libbpf reports the reason for a failed load or attach only through its
 * print callback; we keep the tail of it so an error thrown to JavaScript can say why. */
#define _GNU_SOURCE
#include "internal.h"
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define LOG_CAP 16384
static char log_buf[LOG_CAP];
static size_t log_len;
static bool verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (verbose) {
		va_list copy;
		va_copy(copy, args);
		vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	/* a verifier log arrives as one huge message: keep its end, where the reason is */
	char *line = NULL;
	int n = vasprintf(&line, fmt, args);
	if (n < 0)
		return 0;
	const char *text = line;
	if ((size_t)n >= LOG_CAP / 2) {
		text = line + n - (LOG_CAP / 2 - 1);
		n = LOG_CAP / 2 - 1;
	}
	if (log_len + n >= LOG_CAP) {
		size_t keep = LOG_CAP / 2 < log_len ? LOG_CAP / 2 : log_len;
		memmove(log_buf, log_buf + log_len - keep, keep);
		log_len = keep;
	}
	memcpy(log_buf + log_len, text, n);
	log_len += n;
	log_buf[log_len] = 0;
	free(line);
	return 0;
}

void ms_log_install(void) { libbpf_set_print(print_fn); }
const char *ms_log_tail(void) { return log_buf; }
void ms_log_clear(void) { log_len = 0; log_buf[0] = 0; }

napi_value ms_set_verbose(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 1 || !ms_get_bool(env, argv[0], &verbose))
		return NULL;
	return ms_undefined(env);
}
