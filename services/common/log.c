/*  log.c — levelled logging to stderr, control characters escaped. */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static char s_ident [32] = "gridcall";     //  daemon name on every line
//  the level may change on a reload while other threads log
static _Atomic int s_level = GC_LOG_INFO;
static const char *s_names [] = { "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR" };

void
gc_log_init (const char *ident, gc_log_level_t level)
{
    snprintf (s_ident, sizeof s_ident, "%s", ident);
    atomic_store (&s_level, (int) level);
}

void
gc_log_set_level (gc_log_level_t level)
{
    atomic_store (&s_level, (int) level);
}

gc_log_level_t
gc_log_level (void)
{
    return (gc_log_level_t) atomic_load (&s_level);
}

const char *
gc_log_level_name (gc_log_level_t level)
{
    return level <= GC_LOG_ERROR ? s_names [level] : "?";
}

int
gc_log_level_parse (const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcasecmp (name, s_names [i]) == 0)
            return i;
    return -1;
}

int
gc_log_enabled (gc_log_level_t level)
{
    return (int) level >= atomic_load_explicit (&s_level, memory_order_relaxed);
}

void
gc_log_write (gc_log_level_t level, const char *fmt, ...)
{
    char line [2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday (&tv, NULL);
    gmtime_r (&tv.tv_sec, &tm);
    int n = snprintf (line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000), s_ident,
                      s_names [level]);
    char text [2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    gc_log_escape (text, line + n, sizeof line - n);
    //  one write per line so lines from threads do not interleave
    fprintf (stderr, "%s\n", line);
}

void
gc_log_escape (const char *text, char *out, size_t size)
{
    static const char hex [] = "0123456789abcdef";
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *) text; *c && k + 5 <= size; c++) {
        if (*c >= 0x20 && *c != 0x7F) {
            out [k++] = (char) *c;
            continue;
        }
        //  a control character from a peer (a "\n" in an id) must not
        //  start a line of its own that looks like ours
        out [k++] = '\\';
        if (*c == '\n')
            out [k++] = 'n';
        else
        if (*c == '\r')
            out [k++] = 'r';
        else
        if (*c == '\t')
            out [k++] = 't';
        else {
            out [k++] = 'x';
            out [k++] = hex [*c >> 4];
            out [k++] = hex [*c & 15];
        }
    }
    if (size)
        out [k < size ? k : size - 1] = 0;
}
